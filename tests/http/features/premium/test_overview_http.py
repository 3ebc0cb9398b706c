"""`GET /api/v1/guilds/{id}/premium` (what `/premium` and the premium page show): every limit
that can be counted per guild comes with its usage, the assistant's tokens spent today among
them (read from its Redis counter through its `PERIOD_USAGE`)."""

from __future__ import annotations

import typing

from townsquare.core.premium import LIMITS, LimitKind
from townsquare.features.assistant.domain.limits import reserve_tokens

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace

NOT_PER_GUILD: typing.Final = {
    "apikeys.requests_per_minute",
    "giveaways.winners",
    "giveaways.requirement_types",
    "giveaways.duration_days",
}
"""Limits with no usage per guild: the public API's rate is counted per key and window, a
giveaway's winners, requirement kinds and duration per giveaway (docs/premium.md)."""


async def test_every_limit_shows_its_usage_with_the_tokens_spent_today(
    sheriff: QuartClient, bot_in_demo: int, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    # As the assistant's budget script does for a question (reserved, not yet settled).
    assert (await reserve_tokens(redis, keyspace, bot_in_demo, 1_234, 20_000)).reserved

    answer = await sheriff.get(f"/api/v1/guilds/{bot_in_demo}/premium")

    assert answer.status_code == 200, await answer.get_data(as_text=True)
    limits = {limit["name"]: limit for limit in (await answer.get_json())["limits"]}
    assert set(limits) == set(LIMITS)
    unused = {name for name, limit in limits.items() if limit["usage"] is None}
    booleans = {name for name, limit in LIMITS.items() if limit.kind is LimitKind.BOOLEAN}
    assert unused == NOT_PER_GUILD | booleans
    tokens = limits["assistant.tokens_per_day"]
    assert (tokens["usage"], tokens["value"], tokens["percent"]) == (1_234, 20_000, 6)
    assert tokens["explain"] == "1,234 of 20,000 assistant tokens this day on Free."
    assert not tokens["over"]
