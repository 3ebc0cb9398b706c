"""Custom rank-card backgrounds: what an upload may be, and what is stored and drawn."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from townsquare.features.xp.domain.backgrounds import (
    MAX_UPLOAD_BYTES,
    BackgroundError,
    prepare_background,
)
from townsquare.features.xp.domain.rank_card import CARD_SIZE, RankCard, render_rank_card


def encoded(fmt: str, size: tuple[int, int] = (1200, 800), color: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_png_and_jpeg_become_a_jpeg_of_the_cards_size(fmt: str) -> None:
    stored = prepare_background(encoded(fmt, (300, 2000)))
    with Image.open(io.BytesIO(stored)) as image:
        assert (image.format, image.size, image.mode) == ("JPEG", CARD_SIZE, "RGB")
        assert not image.info.get("exif")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "choose an image file"),
        (encoded("GIF"), "not a readable PNG or JPEG"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "not a readable PNG or JPEG"),
        (b"x" * (MAX_UPLOAD_BYTES + 1), "larger than 2 MiB"),
    ],
)
def test_anything_else_is_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(BackgroundError, match=reason):
        prepare_background(data)


def test_a_huge_canvas_in_a_small_file_is_refused_before_decoding() -> None:
    small = bytearray(encoded("PNG", (1, 1)))
    # The header claims 8000x6000 (the IHDR chunk: width, height, then its CRC).
    small[16:24] = struct.pack(">II", 8000, 6000)
    small[29:33] = struct.pack(">I", zlib.crc32(bytes(small[12:29])))
    with pytest.raises(BackgroundError, match="more than 40,000,000 pixels"):
        prepare_background(bytes(small))


def test_the_card_is_drawn_over_the_background() -> None:
    card = RankCard("Ada", 2, 300, 255, 475, 2)
    background = prepare_background(encoded("PNG", color="red"))
    plain, custom = render_rank_card(card), render_rank_card(card, None, background)
    with Image.open(io.BytesIO(custom)) as image:
        assert image.size == CARD_SIZE
        red, green, blue = image.convert("RGB").getpixel((4, 4))  # outside the panel
        assert red > 200 and green < 60 and blue < 60
    assert plain != custom
