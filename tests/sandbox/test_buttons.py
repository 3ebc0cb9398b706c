"""The sandbox checks buttons as Discord does, style by style (`rest/buttons.py`)."""

from __future__ import annotations

import typing

import pytest

from townsquare.sandbox.rest.embeds import check_components
from townsquare.sandbox.rest.errors import DiscordError

SKU = "1300000000000000001"


def _row(**button: typing.Any) -> list[dict[str, typing.Any]]:
    return [{"type": 1, "components": [{"type": 2, **button}]}]


@pytest.mark.parametrize(
    "button",
    [
        {"style": 6, "sku_id": SKU},
        {"style": 6, "sku_id": int(SKU)},
        {"style": 5, "url": "https://example.test/", "label": "See premium"},
        {"style": 1, "custom_id": "confirm", "label": "Confirm"},
    ],
)
def test_valid_buttons_pass(button: dict[str, typing.Any]) -> None:
    check_components(_row(**button))


@pytest.mark.parametrize(
    ("button", "field"),
    [
        ({"style": 6}, "sku_id"),
        ({"style": 6, "sku_id": "premium"}, "sku_id"),
        ({"style": 6, "sku_id": SKU, "label": "Buy"}, "label"),
        ({"style": 6, "sku_id": SKU, "custom_id": "buy"}, "custom_id"),
        ({"style": 5, "label": "Go"}, "url"),
        ({"style": 5, "url": "https://example.test/", "custom_id": "x"}, "custom_id"),
        ({"style": 2, "label": "No id"}, "custom_id"),
        ({"style": 7, "custom_id": "x"}, "style"),
    ],
)
def test_a_button_its_style_does_not_allow_is_a_400_naming_the_field(
    button: dict[str, typing.Any], field: str
) -> None:
    with pytest.raises(DiscordError) as refused:
        check_components(_row(**button))
    assert refused.value.status == 400
    errors = refused.value.errors or {}
    assert field in errors["components"]["0"]["components"]["0"]
