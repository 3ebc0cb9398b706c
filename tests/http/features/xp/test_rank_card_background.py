"""The dashboard's rank-card page: the upload is premium (402 inline on Free), takes images
above the service's general body limit up to 2 MiB, and is stored re-encoded and audited."""

from __future__ import annotations

import io
import os
import re
import typing

from PIL import Image

from townsquare.core.audit.models import AuditEntry
from townsquare.core.premium import store_guild_tier
from townsquare.features.xp.domain.models import RankCardBackground
from townsquare.features.xp.domain.rank_card import CARD_SIZE

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def noise_png(width: int, height: int) -> bytes:
    """A PNG that does not compress: about width * height * 3 bytes."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "PNG")
    return out.getvalue()


async def test_uploading_a_background_needs_the_tier_and_is_stored_re_encoded(
    client: QuartClient, admin: str, bot_in_demo: int, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/rank-card"
    page = await client.get(url)
    csrf = CSRF.search(await page.get_data(as_text=True))
    assert csrf
    image = noise_png(800, 620)  # ~1.5 MiB: above http.max_body_bytes (1 MiB)
    assert 1024 * 1024 < len(image) < 2 * 1024 * 1024

    async def upload(data: bytes) -> tuple[int, str]:
        response = await client.post(
            url,
            form={"csrf_token": csrf.group(1)},
            files={"image": _file(data)},
            headers={"Accept": "text/html"},
        )
        return response.status_code, await response.get_data(as_text=True)

    status, text = await upload(image)
    assert status == 402
    assert "Custom rank-card background is not included in Free; Plus includes it." in text
    assert not await RankCardBackground.exists(guild_id=bot_in_demo)

    await store_guild_tier(redis, keyspace, bot_in_demo, "plus", free="free")
    client.app.extensions["townsquare"].require_gate().invalidate()
    status, _ = await upload(image)
    assert status == 303
    row = await RankCardBackground.get(guild_id=bot_in_demo)
    with Image.open(io.BytesIO(bytes(row.image))) as stored:
        assert (stored.format, stored.size) == ("JPEG", CARD_SIZE)
    assert await AuditEntry.filter(action="rank_card_background.set").count() == 1

    status, text = await upload(b"GIF89a not really")
    assert status == 400
    assert "not a readable PNG or JPEG" in text
    shown = await client.get(f"{url}/background.jpg")
    assert shown.status_code == 200
    assert shown.content_type == "image/jpeg"


def _file(data: bytes) -> typing.Any:
    from werkzeug.datastructures import FileStorage

    return FileStorage(io.BytesIO(data), filename="background.png", content_type="image/png")
