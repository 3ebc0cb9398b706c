"""The rank card: a PNG with a member's avatar, name, level, progress bar and rank.

Rendered with Pillow in memory; the font is the one Pillow ships (`ImageFont.load_default`
with a size: FreeType's Aileron Regular), so nothing is read from disk or the network. The
caller passes the avatar's image bytes, or None for a generated placeholder (a coloured disc
with the name's initial). The card is always :data:`CARD_SIZE`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import typing

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

if typing.TYPE_CHECKING:
    from townsquare.features.xp.domain.curve import Curve

__all__ = [
    "AVATAR_BOX",
    "BAR_BOX",
    "CARD_SIZE",
    "RankCard",
    "rank_card_for",
    "render_rank_card",
]

CARD_SIZE: typing.Final = (934, 282)
AVATAR_BOX: typing.Final = (40, 41, 240, 241)
"""Left, top, right, bottom of the round avatar."""
BAR_BOX: typing.Final = (280, 180, 894, 220)
"""Left, top, right, bottom of the progress bar."""

_BACKGROUND = (35, 39, 42)
_PANEL = (24, 26, 28)
_PANEL_ALPHA: typing.Final = 205
"""How opaque the panel is over a custom background: the text stays readable."""
_TRACK = (72, 75, 78)
_FILL = (88, 101, 242)
_TEXT = (255, 255, 255)
_MUTED = (170, 174, 178)
_PALETTE = ((88, 101, 242), (87, 242, 135), (254, 231, 92), (235, 69, 158), (237, 66, 69))
_SUPERSAMPLE = 4


@dataclasses.dataclass(frozen=True, slots=True)
class RankCard:
    """What one card shows."""

    name: str
    level: int
    xp: int
    """The member's total XP."""
    level_start_xp: int
    """Total XP at which `level` was reached."""
    next_level_xp: int | None
    """Total XP at which the next level is reached; None at the curve's maximum level."""
    rank: int | None
    """Place on the guild's leaderboard; None when the member has no XP."""

    @property
    def progress(self) -> float:
        """How far into the current level, 0.0 to 1.0 (1.0 at the maximum level)."""
        if self.next_level_xp is None:
            return 1.0
        span = self.next_level_xp - self.level_start_xp
        return min(1.0, max(0.0, (self.xp - self.level_start_xp) / span)) if span > 0 else 1.0


def rank_card_for(name: str, xp: int, rank: int | None, curve: Curve) -> RankCard:
    """The card of a member with `xp` total XP on `curve`."""
    level = curve.level_for(xp)
    next_level = curve.xp_for_level(level + 1) if level < curve.max_level else None
    return RankCard(name, level, xp, curve.xp_for_level(level), next_level, rank)


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _placeholder(name: str, size: int) -> Image.Image:
    digest = hashlib.sha256(name.encode()).digest()
    colour = _PALETTE[digest[0] % len(_PALETTE)]
    image = Image.new("RGB", (size, size), colour)
    initial = (name.strip()[:1] or "?").upper()
    ImageDraw.Draw(image).text(
        (size / 2, size / 2), initial, font=_font(size // 2), fill=_TEXT, anchor="mm"
    )
    return image


def _avatar(avatar: bytes | None, name: str, size: int) -> Image.Image:
    if avatar is not None:
        try:
            with Image.open(io.BytesIO(avatar)) as opened:
                return opened.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
        except (UnidentifiedImageError, OSError, ValueError):
            pass  # an unreadable avatar is no reason to fail the card
    return _placeholder(name, size)


def _round_mask(size: int) -> Image.Image:
    big = Image.new("L", (size * _SUPERSAMPLE, size * _SUPERSAMPLE), 0)
    ImageDraw.Draw(big).ellipse((0, 0, *big.size), fill=255)
    return big.resize((size, size), Image.Resampling.LANCZOS)


def _fit(text: str, width: int, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> str:
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _compact(number: int) -> str:
    if number >= 1_000_000:
        return f"{number / 1_000_000:.1f}M"
    if number >= 10_000:
        return f"{number / 1000:.1f}K"
    return f"{number:,}"


def render_rank_card(
    card: RankCard, avatar: bytes | None = None, background: bytes | None = None
) -> bytes:
    """The card as PNG bytes, :data:`CARD_SIZE` pixels; `background` (a guild's custom image,
    already the card's size) shows around and, dimmed, behind the panel."""
    panel = (16, 16, CARD_SIZE[0] - 16, CARD_SIZE[1] - 16)
    if background is None:
        image = Image.new("RGB", CARD_SIZE, _BACKGROUND)
        ImageDraw.Draw(image).rounded_rectangle(panel, 24, fill=_PANEL)
    else:
        with Image.open(io.BytesIO(background)) as custom:
            base = ImageOps.fit(custom.convert("RGB"), CARD_SIZE).convert("RGBA")
        overlay = Image.new("RGBA", CARD_SIZE, (0, 0, 0, 0))
        ImageDraw.Draw(overlay).rounded_rectangle(panel, 24, fill=(*_PANEL, _PANEL_ALPHA))
        image = Image.alpha_composite(base, overlay).convert("RGB")
    draw = ImageDraw.Draw(image)

    left, top, right, _ = AVATAR_BOX
    size = right - left
    image.paste(_avatar(avatar, card.name, size), (left, top), _round_mask(size))

    bar_left, bar_top, bar_right, bar_bottom = BAR_BOX
    radius = (bar_bottom - bar_top) // 2
    draw.rounded_rectangle(BAR_BOX, radius, fill=_TRACK)
    filled = round((bar_right - bar_left) * card.progress)
    if filled > 0:
        draw.rounded_rectangle(
            (bar_left, bar_top, bar_left + max(filled, 2 * radius), bar_bottom), radius, fill=_FILL
        )

    rank = "unranked" if card.rank is None else f"RANK #{card.rank}"
    level = f"LEVEL {card.level}"
    big, small = _font(44), _font(28)
    header_right = bar_right
    draw.text((header_right, 60), level, font=big, fill=_FILL, anchor="rs")
    level_width = draw.textlength(level, font=big)
    draw.text((header_right - level_width - 24, 60), rank, font=small, fill=_MUTED, anchor="rs")

    if card.next_level_xp is None:
        progress = f"{_compact(card.xp)} XP (max level)"
    else:
        into = card.xp - card.level_start_xp
        needed = card.next_level_xp - card.level_start_xp
        progress = f"{_compact(into)} / {_compact(needed)} XP"
    draw.text((bar_right, bar_top - 14), progress, font=small, fill=_MUTED, anchor="rs")
    progress_width = draw.textlength(progress, font=small)
    name_width = int(bar_right - bar_left - progress_width - 24)
    draw.text(
        (bar_left, bar_top - 14),
        _fit(card.name, name_width, _font(40)),
        font=_font(40),
        fill=_TEXT,
        anchor="ls",
    )

    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()
