"""The dashboard's guild alerts page: a guild's open alerts, acknowledged by its managers."""

from __future__ import annotations

import typing

from townsquare.core.alerts import open_alerts, raise_alert

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace

OTHER_GUILD = 987_654_321_987_654_322


async def test_a_guild_sees_its_open_alerts_and_acknowledges_them(
    sheriff: QuartClient, admin: str, bot_in_demo: int, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    page_url = f"/dashboard/guilds/{bot_in_demo}/bot-alerts"
    empty = await (await sheriff.get(page_url)).get_data(as_text=True)
    assert 'id="no-alerts"' in empty
    role_alert = await raise_alert(
        redis,
        keyspace,
        source="xp.apply_level",
        level="warning",
        guild_id=bot_in_demo,
        message="cannot give level reward role 42: Missing Permissions",
    )
    await raise_alert(redis, keyspace, source="up/http", message="operators' business")
    other = await raise_alert(
        redis, keyspace, source="s", message="elsewhere", guild_id=OTHER_GUILD
    )
    page = await (await sheriff.get(page_url)).get_data(as_text=True)
    assert "cannot give level reward role 42" in page
    assert "operators&#39; business" not in page and "elsewhere" not in page

    # Another guild's alert, a malformed id, a missing token: refused, nothing acknowledged.
    ack = f"{page_url}/acknowledge"
    refused = [
        await sheriff.post(ack, form={"csrf_token": admin, "alert_id": other}),
        await sheriff.post(ack, form={"csrf_token": admin, "alert_id": "x"}),
        await sheriff.post(ack, form={"alert_id": role_alert}),
    ]
    assert [r.status_code for r in refused] == [404, 400, 403]
    assert len(await open_alerts(redis, keyspace, bot_in_demo)) == 1

    done = await sheriff.post(ack, form={"csrf_token": admin, "alert_id": role_alert})
    assert done.status_code == 303
    page = await (await sheriff.get(done.headers["Location"])).get_data(as_text=True)
    assert "Alert acknowledged." in page
    assert 'id="no-alerts"' in page
    assert not await open_alerts(redis, keyspace, bot_in_demo)
