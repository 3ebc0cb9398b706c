"""The gate in the HTTP service: 402 `premium_required` naming the limit (level rewards through
`/api/v1`, API keys on the dashboard), the newest API keys paused after a downgrade, and each
key's public rate from the guild's tier."""

from __future__ import annotations

import re
import typing

import pytest

from tests.support.web import error_code, guild_config
from townsquare.core.audit.service import Actor
from townsquare.core.premium import store_guild_tier
from townsquare.features.apikeys.domain.service import create_key
from townsquare.features.xp.domain.config import XPSection
from townsquare.features.xp.domain.models import LevelReward

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


type SetTier = typing.Callable[[str], typing.Awaitable[None]]


@pytest.fixture
def set_tier(
    client: QuartClient, bot_in_demo: int, redis: aioredis.Redis, keyspace: Keyspace
) -> SetTier:
    """Put the demo guild on a tier, as the premium feature does, and make the app see it."""

    async def put(tier: str) -> None:
        await store_guild_tier(redis, keyspace, bot_in_demo, tier, free="free")
        client.app.extensions["townsquare"].require_gate().invalidate()

    return put


async def test_a_level_reward_past_the_tier_is_402_naming_the_limit(
    client: QuartClient,
    admin: str,
    bot_in_demo: int,
    sandbox: Sandbox,
    set_tier: SetTier,
) -> None:
    roles = {r.name: r.id for r in sandbox.world.guilds[bot_in_demo].roles.values()}
    role = roles["Level 10 · Familiar Face"]
    for level in range(1, 11):
        await LevelReward.create(guild_id=bot_in_demo, level=level, role_id=role)
    url = f"/api/v1/guilds/{bot_in_demo}/level-rewards"
    refused = await client.post(
        url, json={"level": 20, "role_id": role}, headers={"X-CSRF-Token": admin}
    )
    assert refused.status_code == 402
    body = await refused.get_json()
    assert body["error"]["message"] == "10 of 10 level rewards on Free; Plus allows 50."
    limit = body["error"]["limit"]
    assert (limit["name"], limit["tier"], limit["value"], limit["usage"]) == (
        "xp.level_rewards",
        "free",
        10,
        10,
    )
    assert limit["lowest_tier"] == "plus"
    assert limit["upgrade_url"].endswith(f"/dashboard/guilds/{bot_in_demo}/premium")
    await set_tier("plus")
    allowed = await client.post(
        url, json={"level": 20, "role_id": role}, headers={"X-CSRF-Token": admin}
    )
    assert allowed.status_code == 201, await allowed.get_data(as_text=True)


async def test_api_keys_past_the_tier_are_refused_then_paused_after_a_downgrade(
    client: QuartClient, admin: str, bot_in_demo: int, set_tier: SetTier
) -> None:
    page = await client.get(f"/dashboard/guilds/{bot_in_demo}/api-keys")
    csrf = CSRF.search(await page.get_data(as_text=True))
    assert csrf
    gate = client.app.extensions["townsquare"].require_gate()
    tokens = []
    for name in ("one", "two"):
        tokens.append((await create_key(bot_in_demo, name, Actor.system(), gate=gate)).token)
    third = await client.post(
        f"/dashboard/guilds/{bot_in_demo}/api-keys", form={"csrf_token": csrf.group(1), "name": "3"}
    )
    assert third.status_code == 402
    assert "2 of 2 API keys on Free; Plus allows 10." in await third.get_data(as_text=True)

    await set_tier("plus")
    tokens.append((await create_key(bot_in_demo, "three", Actor.system(), gate=gate)).token)
    url = f"/public/v1/guilds/{bot_in_demo}/leaderboard"
    for token in tokens:
        ok = await client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200, await ok.get_data(as_text=True)

    # Back on Free: the newest key is paused (402), the two oldest keep working.
    await set_tier("free")
    paused = await client.get(url, headers={"Authorization": f"Bearer {tokens[2]}"})
    assert paused.status_code == 402
    assert await error_code(paused) == "premium_required"
    body = await paused.get_json()
    assert body["error"]["message"].startswith("this API key is paused: 2 of 2 API keys on Free")
    assert body["error"]["limit"]["name"] == "apikeys.keys"
    for token in tokens[:2]:
        ok = await client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200


async def test_each_keys_public_rate_is_the_tiers(
    client: QuartClient, bot_in_demo: int, set_tier: SetTier
) -> None:
    token = (await create_key(bot_in_demo, "rate", Actor.system())).token
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/public/v1/guilds/{bot_in_demo}/leaderboard"
    statuses = [(await client.get(url, headers=headers)).status_code for _ in range(61)]
    assert statuses[:60] == [200] * 60  # Free: 60 per minute
    assert statuses[60] == 429
    await set_tier("plus")
    # Plus: 300 per minute, counted in the same window.
    assert (await client.get(url, headers=headers)).status_code == 200


async def test_xp_multiplier_rules_past_the_tier_are_402_and_paused_after_a_downgrade(
    client: QuartClient, admin: str, bot_in_demo: int, sandbox: Sandbox, set_tier: SetTier
) -> None:
    roles = sorted(
        r.id for r in sandbox.world.guilds[bot_in_demo].roles.values() if r.name != "@everyone"
    )
    url = f"/api/v1/guilds/{bot_in_demo}/config"
    headers = {"X-CSRF-Token": admin}

    async def put(rules: int) -> tuple[int, dict[str, typing.Any]]:
        current = await guild_config(client, bot_in_demo)
        config = current["config"]
        config["xp"]["role_multipliers"] = {str(role): 2.0 for role in roles[:rules]}
        response = await client.put(
            url, json={"expected_version": current["version"], "config": config}, headers=headers
        )
        return response.status_code, await response.get_json()

    assert (await put(3))[0] == 200  # Free allows 3
    status, body = await put(4)
    assert status == 402
    assert body["error"]["message"] == "4 of 3 XP multiplier rules on Free; Plus allows 25."
    assert body["error"]["limit"]["name"] == "xp.multiplier_rules"
    await set_tier("plus")
    assert (await put(5))[0] == 200
    # Back on Free: the 5 rules stay stored, and a change that does not add one goes through.
    await set_tier("free")
    assert (await put(5))[0] == 200
    section = XPSection.model_validate((await guild_config(client, bot_in_demo))["config"]["xp"])
    applied = section.with_multiplier_rules(3)
    assert list(applied.role_multipliers) == list(section.role_multipliers)[:3]
