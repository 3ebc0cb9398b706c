"""The giveaways' dashboard pages and internal API through the app's test client: create (and
its refusals: bad input, the premium limits as 402), list, and the detail page's draw proof."""

from __future__ import annotations

import datetime
import json
import typing

from tortoise import Tortoise

from tests.support.web import HTML, error_code, page_text, service_bearer
from tests.support.world import channel_named, user_named
from townsquare.core.events.wire import DATA_FIELD
from townsquare.features.giveaways.domain.config import GiveawaysSection
from townsquare.features.giveaways.domain.lifecycle import end_giveaway, one_by_one
from townsquare.features.giveaways.domain.models import Giveaway, GiveawayState
from townsquare.features.giveaways.domain.service import GiveawaySpec, create_giveaway

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.sandbox import Sandbox

_INSERT = """
INSERT INTO giveaway_entries (giveaway_id, user_id, weight, active, entered_at, updated_at)
SELECT $1, t.user_id, t.weight, true, now(), now()
FROM unnest($2::bigint[], $3::int[]) AS t(user_id, weight)
"""


def _form(csrf: str, channel: int, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "prize": "Mug",
        "duration": "2h",
        "channel_id": str(channel),
    } | fields


async def test_creating_a_giveaway_queues_its_message_and_refusals_say_why(
    sandbox: Sandbox,
    sheriff: QuartClient,
    redis: aioredis.Redis,
    keyspace: Keyspace,
    admin: str,
    bot_in_demo: int,
) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/giveaways"
    general = channel_named(sandbox.world.guilds[bot_in_demo], "general")
    listing = await page_text(sheriff, url)
    assert "New giveaway" in listing and "#general" in listing

    bad = await sheriff.post(url, form=_form(admin, general, duration="soon"), headers=HTML)
    assert bad.status_code == 400
    assert "is not a duration" in await bad.get_data(as_text=True)
    assert not await Giveaway.exists()

    made = await sheriff.post(url, form=_form(admin, general, winners="2"), headers=HTML)
    assert made.status_code == 303, await made.get_data(as_text=True)
    giveaway = await Giveaway.get()
    assert made.headers["Location"].endswith(f"/giveaways/{giveaway.id}")
    assert (giveaway.state, giveaway.winner_count, giveaway.channel_id) == (
        GiveawayState.SCHEDULED,
        2,
        general,
    )
    [(_, job)] = await redis.xrange(keyspace.key("stream", "jobs"))
    message = json.loads(job[DATA_FIELD.encode()])
    assert (message["task_name"], message["args"]) == ("giveaways.publish", [giveaway.id])

    # The free tier: one requirement kind, five winners.
    two_kinds = _form(admin, general, min_level="3", member_for="1d")
    refused = await sheriff.post(url, form=two_kinds, headers=HTML)
    assert refused.status_code == 402
    assert "2 of 1 requirement types on Free" in await refused.get_data(as_text=True)
    month = await sheriff.post(url, form=_form(admin, general, duration="30d1h"), headers=HTML)
    assert month.status_code == 402
    assert "31 of 30 days per giveaway on Free; Plus allows 90." in await month.get_data(
        as_text=True
    )
    later = _form(admin, general, starts_at="2000-01-01T00:00")
    past = await sheriff.post(url, form=later, headers=HTML)
    assert past.status_code == 400
    assert "the scheduled start lies in the past" in await past.get_data(as_text=True)
    assert await Giveaway.all().count() == 1


async def test_the_internal_api_counts_running_giveaways_against_the_limit(
    client: QuartClient, settings: Settings, bot_in_demo: int, sandbox: Sandbox
) -> None:
    body = {
        "prize": "Sticker",
        "duration_seconds": 600,
        "winners": 1,
        "channel_id": channel_named(sandbox.world.guilds[bot_in_demo], "general"),
        "host_id": user_named(sandbox, "mayor"),
    }
    url = f"/internal/v1/guilds/{bot_in_demo}/giveaways"
    for _ in range(2):  # the free tier allows two at once
        made = await client.post(url, json=body, headers=service_bearer(settings))
        assert made.status_code == 201, await made.get_json()
        assert "seed" not in await made.get_json()
    third = await client.post(url, json=body, headers=service_bearer(settings))
    assert third.status_code == 402
    assert await error_code(third) == "premium_required"
    assert (await third.get_json())["error"]["limit"]["name"] == "giveaways.active"
    invalid = await client.post(url, json=body | {"winners": 0}, headers=service_bearer(settings))
    assert invalid.status_code == 400


async def test_the_detail_page_shows_the_draw_and_its_proof(
    sheriff: QuartClient,
    bot_in_demo: int,
    settings: Settings,
    redis: aioredis.Redis,
    keyspace: Keyspace,
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    spec = GiveawaySpec(prize="Hoodie", duration_seconds=60, winners=2, channel_id=1, host_id=2)
    giveaway = await create_giveaway(
        bot_in_demo, spec, settings.guild_defaults.section(GiveawaysSection), now
    )
    await Giveaway.filter(id=giveaway.id).update(state=GiveawayState.RUNNING)
    users = [10**15 + n for n in range(30)]
    await Tortoise.get_connection("default").execute_query(
        _INSERT, [giveaway.id, users, [1 + u % 3 for u in users]]
    )

    async def eligible(user_id: int) -> str | None:
        return "left the server" if user_id % 2 else None

    ended = await end_giveaway(redis, keyspace, giveaway.id, one_by_one(eligible), now, force=True)
    assert ended is not None
    page = await page_text(sheriff, f"/dashboard/guilds/{bot_in_demo}/giveaways/{giveaway.id}")
    assert "verified: the recorded draw is the seed" in page, page[page.find("Draw proof") :]
    assert ended.seed in page and ended.seed_hash in page
    assert page.count("waiting for claim") == 2
