"""Modals: the bot answers with a form (callback type 9); the member submits it (type 5).

Discord's checks on the modal (`custom_id` and `title` lengths, 1-5 rows of text inputs) are
made here for the callback route; a submission fills every text input from `values` by
`custom_id`, checking `required`, `min_length` and `max_length` as Discord's client does.
"""

from __future__ import annotations

import typing

from townsquare.sandbox.world.interactions import MODAL_SUBMIT, announce, new_interaction
from townsquare.sandbox.world.state import number_components

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world.models import Interaction
    from townsquare.sandbox.world.payloads import JSON
    from townsquare.sandbox.world.state import World

__all__ = ["MODAL", "ModalError", "check_modal", "submit_modal", "text_inputs"]

MODAL: typing.Final[int] = 9
"""The callback type that opens a modal."""
_TEXT_INPUT: typing.Final[int] = 4
_LABEL: typing.Final[int] = 18


class ModalError(ValueError):
    """What is wrong with a modal or a submission, naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_modal(data: JSON) -> JSON:
    """The modal of a type 9 callback, checked, with Discord's component ids filled in."""
    custom_id, title = data.get("custom_id"), data.get("title")
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= 100:
        raise ModalError("data.custom_id", "Must be between 1 and 100 in length.")
    if not isinstance(title, str) or not 1 <= len(title) <= 45:
        raise ModalError("data.title", "Must be between 1 and 45 in length.")
    rows = data.get("components")
    if not isinstance(rows, list) or not 1 <= len(rows) <= 5:
        raise ModalError("data.components", "Must be between 1 and 5 in length.")
    modal = dict(data) | {"components": number_components(rows)}
    if not text_inputs(modal):
        raise ModalError("data.components", "A modal needs at least one text input.")
    return modal


def text_inputs(modal: JSON) -> list[JSON]:
    """The modal's text inputs, in order (in action rows or labels)."""
    found: list[JSON] = []
    for row in modal.get("components", []):
        children = row.get("components") or ([row["component"]] if "component" in row else [])
        found += [c for c in children if c.get("type") == _TEXT_INPUT]
    return found


def submit_modal(world: World, source: Interaction, values: dict[str, str]) -> Interaction:
    """The member who got `source`'s modal submits it with `values` by text input custom_id."""
    modal = source.response_data or {}
    rows: list[JSON] = []
    for field in text_inputs(modal):
        value = values.get(field["custom_id"], "")
        if field.get("required", True) and not value:
            raise ModalError(field["custom_id"], "This field is required.")
        if len(value) > field.get("max_length", 4000) or (
            value and len(value) < field.get("min_length", 0)
        ):
            raise ModalError(field["custom_id"], "The value's length is out of bounds.")
        submitted = {"type": _TEXT_INPUT, "id": field["id"], "custom_id": field["custom_id"]}
        rows.append(
            {"type": 1, "id": field["id"] + 1000, "components": [submitted | {"value": value}]}
        )
    interaction = new_interaction(
        world,
        source.guild_id,
        source.channel_id,
        source.user_id,
        type=MODAL_SUBMIT,
        custom_id=modal["custom_id"],
        message_id=source.message_id,
        submitted=rows,
    )
    return announce(world, interaction)
