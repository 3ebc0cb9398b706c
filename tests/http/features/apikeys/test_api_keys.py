"""The dashboard's API key page: created once-shown, stored hashed, revoked, audited."""

from __future__ import annotations

import hashlib
import json
import re
import typing

import pytest

from tests.support.web import log_in
from townsquare.core.audit.models import AuditEntry
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.apikeys.domain.models import ApiKey

if typing.TYPE_CHECKING:
    import aiohttp
    import redis.asyncio as aioredis
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox

OTHER_GUILD = 987_654_321_987_654_322
TOKEN = re.compile(r"tsk_[a-z0-9]{10}_[A-Za-z0-9_-]{43}")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def admin_page(
    client: QuartClient, browser: aiohttp.ClientSession, sandbox: Sandbox, bot_in_demo: int
) -> str:
    """Logged in as the demo guild's admin; returns the API key page's CSRF token."""
    await log_in(client, browser, sandbox, "sheriff")
    page = await client.get(f"/dashboard/guilds/{bot_in_demo}/api-keys")
    assert page.status_code == 200, await page.get_data(as_text=True)
    match = CSRF.search(await page.get_data(as_text=True))
    assert match
    return match.group(1)


async def _create(client: QuartClient, guild_id: int, csrf: str, name: str) -> tuple[int, str]:
    response = await client.post(
        f"/dashboard/guilds/{guild_id}/api-keys", form={"csrf_token": csrf, "name": name}
    )
    return response.status_code, await response.get_data(as_text=True)


async def test_a_new_key_is_shown_once_and_stored_hashed(
    client: QuartClient, admin_page: str, bot_in_demo: int
) -> None:
    status, page = await _create(client, bot_in_demo, admin_page, "website widget")
    assert status == 201, page
    tokens = TOKEN.findall(page)
    assert len(tokens) == 1
    token = tokens[0]
    row = await ApiKey.get(guild_id=bot_in_demo)
    assert row.name == "website widget"
    assert token.startswith(f"tsk_{row.prefix}_")
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps(await ApiKey.all().values(), default=str)
    entry = await AuditEntry.get(action="api_key.create")
    assert entry.guild_id == bot_in_demo  # type: ignore[attr-defined]
    assert entry.after["prefix"] == row.prefix
    assert token not in json.dumps(entry.after)

    again = await (await client.get(f"/dashboard/guilds/{bot_in_demo}/api-keys")).get_data(
        as_text=True
    )
    assert token not in again
    assert f"tsk_{row.prefix}_" in again
    assert "website widget" in again


async def test_a_key_needs_a_name_and_the_csrf_token(
    client: QuartClient, admin_page: str, bot_in_demo: int
) -> None:
    status, page = await _create(client, bot_in_demo, admin_page, "   ")
    assert status == 400
    assert 'id="k-name-error"' in page
    status, page = await _create(client, bot_in_demo, admin_page, "x" * 101)
    assert status == 400
    assert 'id="k-name-error"' in page
    status, _ = await _create(client, bot_in_demo, "wrong", "widget")
    assert status == 403
    response = await client.post(
        f"/dashboard/guilds/{bot_in_demo}/api-keys", form={"name": "widget"}
    )
    assert response.status_code == 403
    assert not await ApiKey.exists()


async def test_revoking_a_key_is_audited_and_immediate(
    client: QuartClient,
    admin_page: str,
    bot_in_demo: int,
    redis: aioredis.Redis,
    keyspace: Keyspace,
) -> None:
    _, page = await _create(client, bot_in_demo, admin_page, "bot site")
    token = TOKEN.findall(page)[0]
    url = f"/public/v1/guilds/{bot_in_demo}/leaderboard"
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get(url, headers=headers)).status_code == 200
    row = await ApiKey.get(guild_id=bot_in_demo)

    response = await client.post(
        f"/dashboard/guilds/{bot_in_demo}/api-keys/revoke",
        form={"csrf_token": admin_page, "key_id": str(row.id)},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/api-keys?revoked=1")
    await row.refresh_from_db()
    assert row.revoked_at is not None
    assert row.revoked_by == row.created_by  # the same admin
    assert await AuditEntry.filter(action="api_key.revoke", guild_id=bot_in_demo).exists()
    cached = await redis.get(keyspace.key("api_key", row.prefix))
    assert cached is not None
    assert json.loads(cached) == {"revoked": True}
    assert (await client.get(url, headers=headers)).status_code == 401
    page_after = await (await client.get(response.headers["Location"])).get_data(as_text=True)
    assert "Key revoked" in page_after
    assert "revoked 20" in page_after


async def test_another_guilds_key_cannot_be_revoked_from_this_guild(
    client: QuartClient, admin_page: str, bot_in_demo: int
) -> None:
    from townsquare.core.audit.service import Actor
    from townsquare.features.apikeys.domain.service import create_key

    await ensure_guild(OTHER_GUILD)
    other = await create_key(OTHER_GUILD, "theirs", Actor.system())
    response = await client.post(
        f"/dashboard/guilds/{bot_in_demo}/api-keys/revoke",
        form={"csrf_token": admin_page, "key_id": str(other.info.id)},
    )
    assert response.status_code == 404
    assert (await ApiKey.get(id=other.info.id)).revoked_at is None
    # And the other guild's page is refused outright.
    page = await client.get(f"/dashboard/guilds/{OTHER_GUILD}/api-keys")
    assert page.status_code == 403


async def test_a_plain_member_cannot_open_the_page(
    client: QuartClient, browser: aiohttp.ClientSession, sandbox: Sandbox, bot_in_demo: int
) -> None:
    await log_in(client, browser, sandbox, "alder")
    page = await client.get(f"/dashboard/guilds/{bot_in_demo}/api-keys")
    assert page.status_code == 403


async def test_the_page_needs_a_login(client: QuartClient, bot_in_demo: int) -> None:
    page = await client.get(f"/dashboard/guilds/{bot_in_demo}/api-keys")
    assert page.status_code == 302
    assert "/auth/login" in page.headers["Location"]


async def test_a_guild_has_at_most_so_many_active_keys(
    client: QuartClient, admin_page: str, bot_in_demo: int
) -> None:
    from townsquare.core.audit.service import Actor
    from townsquare.features.apikeys.domain.service import MAX_ACTIVE_KEYS, create_key

    for n in range(MAX_ACTIVE_KEYS):
        await create_key(bot_in_demo, f"key {n}", Actor.system())
    status, page = await _create(client, bot_in_demo, admin_page, "one too many")
    assert status == 409
    assert f"at most {MAX_ACTIVE_KEYS} active keys" in page
    assert not TOKEN.findall(page)
