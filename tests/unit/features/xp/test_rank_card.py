"""The rank card PNG: format, size, and that what it shows changes its pixels."""

from __future__ import annotations

import io

from PIL import Image, ImageChops

from townsquare.features.xp.domain.config import LevelCurve
from townsquare.features.xp.domain.curve import Curve
from townsquare.features.xp.domain.rank_card import (
    AVATAR_BOX,
    BAR_BOX,
    CARD_SIZE,
    RankCard,
    rank_card_for,
    render_rank_card,
)

CURVE = Curve(LevelCurve(kind="mee6", linear_step=100, table=[]), 100)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def region_differs(a: bytes, b: bytes, box: tuple[int, int, int, int]) -> bool:
    diff = ImageChops.difference(decode(a).crop(box), decode(b).crop(box))
    return diff.getbbox() is not None


def card(xp: int, *, name: str = "ada", rank: int | None = 1) -> RankCard:
    return rank_card_for(name, xp, rank, CURVE)


def test_a_valid_png_of_the_fixed_size() -> None:
    data = render_rank_card(card(300))
    assert data.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.size == CARD_SIZE


def test_progress_within_the_level_moves_the_bar() -> None:
    # Level 1 runs from 100 to 255 XP on the MEE6 curve.
    low, high = card(110), card(240)
    assert (low.level, high.level, low.level_start_xp, low.next_level_xp) == (1, 1, 100, 255)
    assert low.progress < high.progress
    assert region_differs(render_rank_card(low), render_rank_card(high), BAR_BOX)


def test_same_input_same_image() -> None:
    assert render_rank_card(card(500)) == render_rank_card(card(500))


def test_progress_is_clamped_and_full_at_the_maximum_level() -> None:
    top = rank_card_for(
        "ada", 10**9, 1, Curve(LevelCurve(kind="linear", linear_step=10, table=[]), 5)
    )
    assert (top.level, top.next_level_xp, top.progress) == (5, None, 1.0)
    assert render_rank_card(top).startswith(PNG_SIGNATURE)
    assert card(0).progress == 0.0


def test_the_avatar_is_drawn_from_bytes_and_bad_bytes_fall_back() -> None:
    red = io.BytesIO()
    Image.new("RGB", (64, 64), (255, 0, 0)).save(red, format="PNG")
    with_avatar = render_rank_card(card(300), red.getvalue())
    placeholder = render_rank_card(card(300))
    assert region_differs(with_avatar, placeholder, AVATAR_BOX)
    centre = ((AVATAR_BOX[0] + AVATAR_BOX[2]) // 2, (AVATAR_BOX[1] + AVATAR_BOX[3]) // 2 + 60)
    assert decode(with_avatar).getpixel(centre) == (255, 0, 0)
    assert render_rank_card(card(300), b"not an image") == placeholder


def test_name_and_rank_change_the_card() -> None:
    base = render_rank_card(card(300))
    assert base != render_rank_card(card(300, name="harper"))
    assert base != render_rank_card(card(300, rank=None))
    long_name = render_rank_card(card(300, name="x" * 300))
    assert decode(long_name).size == CARD_SIZE
