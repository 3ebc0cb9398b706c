"""Discord's embed and component limits, checked as Discord checks them.

Per embed: title 256, description 4096, at most 25 fields with names of 256 and values of
1024, footer text 2048, author name 256. Across all embeds of one message, those texts
together may hold at most 6000 characters. A breach is a 400 Invalid Form Body naming the
field (`embeds.0.fields.3.value`). Components: at most 5 action rows of at most 5
components, each `custom_id` 1 to 100 characters (`components.0.components.2.custom_id`).
"""

from __future__ import annotations

import typing

from townsquare.sandbox.rest.buttons import check_button
from townsquare.sandbox.rest.errors import form_error

__all__ = ["MAX_CUSTOM_ID", "MAX_EMBED_TOTAL", "check_components", "check_embeds"]

MAX_CUSTOM_ID = 100
_MAX_ROWS = 5
_MAX_PER_ROW = 5

MAX_EMBED_TOTAL = 6000
_TEXT_LIMITS = {"title": 256, "description": 4096}
_NESTED_LIMITS = {("footer", "text"): 2048, ("author", "name"): 256}
_MAX_FIELDS = 25
_FIELD_LIMITS = {"name": 256, "value": 1024}


def check_embeds(embeds: list[typing.Any]) -> None:
    """Raise Discord's 400 for the first embed limit `embeds` breaks."""
    total = 0
    for index, embed in enumerate(embeds):
        if not isinstance(embed, dict):
            raise form_error(
                f"embeds.{index}", "MODEL_TYPE_CONVERT", "Only dictionaries may be used."
            )
        for name, limit in _TEXT_LIMITS.items():
            total += _checked(embed.get(name), f"embeds.{index}.{name}", limit)
        for (outer, inner), limit in _NESTED_LIMITS.items():
            part = embed.get(outer)
            if isinstance(part, dict):
                total += _checked(part.get(inner), f"embeds.{index}.{outer}.{inner}", limit)
        fields = embed.get("fields") or []
        if not isinstance(fields, list) or len(fields) > _MAX_FIELDS:
            raise form_error(
                f"embeds.{index}.fields",
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {_MAX_FIELDS} or fewer in length.",
            )
        for number, field in enumerate(fields):
            for name, limit in _FIELD_LIMITS.items():
                value = field.get(name) if isinstance(field, dict) else None
                if value is None:
                    raise form_error(
                        f"embeds.{index}.fields.{number}.{name}",
                        "BASE_TYPE_REQUIRED",
                        "This field is required",
                    )
                total += _checked(value, f"embeds.{index}.fields.{number}.{name}", limit)
        if total > MAX_EMBED_TOTAL:
            raise form_error(
                f"embeds.{index}",
                "MAX_EMBED_SIZE_EXCEEDED",
                f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}",
            )


def _checked(value: typing.Any, path: str, limit: int) -> int:
    if value is None:
        return 0
    if not isinstance(value, str):
        raise form_error(path, "BASE_TYPE_STRING", "Must be a string.")
    if len(value) > limit:
        raise form_error(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    return len(value)


def check_components(rows: list[typing.Any]) -> None:
    """Raise Discord's 400 for the first component limit `rows` breaks."""
    if len(rows) > _MAX_ROWS:
        raise form_error(
            "components", "BASE_TYPE_MAX_LENGTH", f"Must be {_MAX_ROWS} or fewer in length."
        )
    for index, row in enumerate(rows):
        children = row.get("components") if isinstance(row, dict) else None
        if not isinstance(children, list) or len(children) > _MAX_PER_ROW:
            raise form_error(
                f"components.{index}.components",
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {_MAX_PER_ROW} or fewer in length.",
            )
        for number, child in enumerate(children):
            check_button(child, f"components.{index}.components.{number}")
            custom_id = child.get("custom_id") if isinstance(child, dict) else None
            if custom_id is not None and (
                not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID
            ):
                raise form_error(
                    f"components.{index}.components.{number}.custom_id",
                    "BASE_TYPE_BAD_LENGTH",
                    f"Must be between 1 and {MAX_CUSTOM_ID} in length.",
                )
