"""Custom rank-card backgrounds (premium: the boolean limit `xp.rank_card_background`).

An upload is a PNG or JPEG of at most :data:`MAX_UPLOAD_BYTES` (2 MiB) and
:data:`MAX_PIXELS`; Pillow decodes it (anything else is refused with the reason), drops its
metadata, crops it to the card's shape and resizes it to :data:`CARD_SIZE`, and re-encodes it
as JPEG, which is what is stored (`rank_card_backgrounds`, one row per guild) and drawn behind
`/rank`'s card. Storing or removing one commits with its audit entry. After a downgrade the
image is kept but not drawn (paused) until the tier includes it again.
"""

from __future__ import annotations

import io
import typing

from PIL import Image, ImageOps, UnidentifiedImageError
from tortoise.transactions import in_transaction

from townsquare.core.audit.service import record
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.xp.domain.models import RankCardBackground
from townsquare.features.xp.domain.rank_card import CARD_SIZE

if typing.TYPE_CHECKING:
    import datetime

    from townsquare.core.audit.service import Actor
    from townsquare.core.premium import Gate

__all__ = [
    "BACKGROUND_LIMIT",
    "MAX_PIXELS",
    "MAX_UPLOAD_BYTES",
    "BackgroundError",
    "background_version",
    "load_background",
    "prepare_background",
    "remove_background",
    "store_background",
]

BACKGROUND_LIMIT: typing.Final = "xp.rank_card_background"
MAX_UPLOAD_BYTES: typing.Final = 2 * 1024 * 1024
MAX_PIXELS: typing.Final = 40_000_000
"""Largest image decoded (a 2 MiB file can claim far more pixels than it holds)."""
_FORMATS: typing.Final = frozenset({"PNG", "JPEG"})
_QUALITY: typing.Final = 88


class BackgroundError(ValueError):
    """An upload that cannot be a background; the message says why (a 400 for its field)."""


def prepare_background(data: bytes) -> bytes:
    """`data` (PNG or JPEG) cropped and resized to the card, re-encoded as JPEG."""
    if not data:
        raise BackgroundError("choose an image file (PNG or JPEG)")
    if len(data) > MAX_UPLOAD_BYTES:
        raise BackgroundError(f"the image is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB")
    try:
        with Image.open(io.BytesIO(data), formats=sorted(_FORMATS)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise BackgroundError(
                    f"the image has more than {MAX_PIXELS:,} pixels ({image.width}x{image.height})"
                )
            image.load()
            oriented = ImageOps.exif_transpose(image) or image
            fitted = ImageOps.fit(oriented.convert("RGB"), CARD_SIZE, Image.Resampling.LANCZOS)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as error:
        raise BackgroundError(
            f"not a readable PNG or JPEG image ({type(error).__name__})"
        ) from None
    out = io.BytesIO()
    fitted.save(out, "JPEG", quality=_QUALITY, optimize=True)
    return out.getvalue()


async def store_background(
    guild_id: int, data: bytes, actor: Actor, *, gate: Gate
) -> datetime.datetime:
    """Check the tier (:class:`~townsquare.core.premium.PremiumRefused`), prepare `data`
    (:class:`BackgroundError`) and store it; returns when it was stored."""
    await gate.check(guild_id, BACKGROUND_LIMIT)
    image = prepare_background(data)
    async with in_transaction() as connection:
        await ensure_guild(guild_id, using_db=connection)
        row, created = await RankCardBackground.get_or_create(
            guild_id=guild_id,
            defaults={"image": image, "uploaded_by": actor.id},
            using_db=connection,
        )
        if not created:
            row.image, row.uploaded_by = image, actor.id
            await row.save(using_db=connection)
        await record(
            "rank_card_background.set",
            actor,
            guild_id=guild_id,
            target=f"rank-card background ({len(image):,} bytes)",
            using_db=connection,
        )
    return row.updated_at


async def remove_background(guild_id: int, actor: Actor) -> bool:
    """Remove the guild's background; whether there was one."""
    async with in_transaction() as connection:
        removed = await RankCardBackground.filter(guild_id=guild_id).using_db(connection).delete()
        if removed:
            await record(
                "rank_card_background.remove",
                actor,
                guild_id=guild_id,
                target="rank-card background",
                using_db=connection,
            )
    return bool(removed)


async def background_version(guild_id: int) -> str | None:
    """A token that changes with each upload (for caches), or None without a background."""
    stamps = await RankCardBackground.filter(guild_id=guild_id).values_list("updated_at", flat=True)
    return (
        None
        if not stamps
        else str(int(typing.cast("datetime.datetime", stamps[0]).timestamp() * 1000))
    )


async def load_background(guild_id: int) -> tuple[str, bytes] | None:
    """`(version, JPEG bytes)` of the guild's background, or None."""
    row = await RankCardBackground.filter(guild_id=guild_id).first()
    if row is None:
        return None
    return str(int(row.updated_at.timestamp() * 1000)), bytes(row.image)
