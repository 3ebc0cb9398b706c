"""Buttons (component type 2) checked as Discord checks them, style by style.

Styles 1-4 need a `custom_id` and no `url` or `sku_id`; a link button (5) needs a `url` and no
`custom_id`; a premium button (6) needs an `sku_id` (a snowflake string or number) and may
carry no `custom_id`, `url`, `label` or `emoji` (Discord draws it from the SKU). A breach is a
400 Invalid Form Body naming the field (`components.0.components.1.sku_id`).
"""

from __future__ import annotations

import typing

from townsquare.sandbox.rest.errors import form_error

__all__ = ["check_button"]

_BUTTON: typing.Final = 2
_LINK, _PREMIUM = 5, 6
_STYLES: typing.Final = frozenset(range(1, 7))


def _snowflake(value: object) -> bool:
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    return text.isdigit() and 0 < int(text) < 2**64


def check_button(child: typing.Any, path: str) -> None:
    """Raise Discord's 400 if `child` (at `path`) is a button its style does not allow."""
    if not isinstance(child, dict) or child.get("type") != _BUTTON:
        return
    style = child.get("style")
    if style not in _STYLES or isinstance(style, bool):
        raise form_error(
            f"{path}.style", "BASE_TYPE_CHOICES", f"Value must be one of {sorted(_STYLES)}."
        )
    present = {
        key
        for key in ("custom_id", "url", "sku_id", "label", "emoji")
        if child.get(key) is not None
    }
    if style == _PREMIUM:
        if not _snowflake(child.get("sku_id")):
            raise form_error(f"{path}.sku_id", "BASE_TYPE_REQUIRED", "This field is required")
        forbidden = present & {"custom_id", "url", "label", "emoji"}
    elif style == _LINK:
        if "url" not in present:
            raise form_error(f"{path}.url", "BASE_TYPE_REQUIRED", "This field is required")
        forbidden = present & {"custom_id", "sku_id"}
    else:
        if "custom_id" not in present:
            raise form_error(f"{path}.custom_id", "BASE_TYPE_REQUIRED", "This field is required")
        forbidden = present & {"url", "sku_id"}
    if forbidden:
        field = sorted(forbidden)[0]
        raise form_error(
            f"{path}.{field}",
            "COMPONENT_INVALID_FIELD",
            f"A button of style {style} cannot have {field}.",
        )
