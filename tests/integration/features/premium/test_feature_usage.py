"""`/premium` and the premium page count what a guild uses of the giveaways', the live alerts'
and the assistant's limits (their `usage` modules), from PostgreSQL."""

from __future__ import annotations

import datetime
import typing

import pytest

from townsquare.core.guilds.models import Guild
from townsquare.core.premium import guild_usage
from townsquare.features.assistant.domain.models import KnowledgeDocument
from townsquare.features.giveaways.domain.models import Giveaway, GiveawayState
from townsquare.features.streams.domain.models import Creator, Feed, Platform, SubscriptionState

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("orm")]

GUILD, OTHER = 5101, 5102


async def test_giveaways_feeds_and_documents_are_counted_per_guild(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    for guild_id in (GUILD, OTHER):
        await Guild.create(id=guild_id, name=str(guild_id))
    creator = await Creator.create(
        platform=Platform.TWITCH,
        platform_id="41",
        login="river",
        display_name="River",
        state=SubscriptionState.ENABLED,
    )
    for channel_id in (7, 8, 9):
        await Feed.create(
            guild_id=GUILD, creator=creator, channel_id=channel_id, template="{title}", created_by=1
        )
    await Feed.create(guild_id=OTHER, creator=creator, channel_id=7, template="-", created_by=1)
    await KnowledgeDocument.create(guild_id=GUILD, title="Rules", body="Be kind.", source="written")
    # An indexed message is not a document the admins wrote: it does not count.
    await KnowledgeDocument.create(
        guild_id=GUILD,
        title="#rules",
        body="No spam.",
        source="message",
        message_id=1,
        channel_id=2,
    )

    now = datetime.datetime.now(datetime.UTC)
    for state in (GiveawayState.RUNNING, GiveawayState.SCHEDULED, GiveawayState.ENDED):
        await Giveaway.create(
            guild_id=GUILD,
            channel_id=7,
            host_id=1,
            prize="Nitro",
            winner_count=1,
            state=state,
            starts_at=now,
            ends_at=now + datetime.timedelta(days=1),
            requirements={},
            claim_window_seconds=3600,
            max_rerolls=2,
            seed="0" * 64,
            seed_hash="1" * 64,
        )

    usage = await guild_usage(GUILD, redis=redis, keyspace=keyspace)
    assert usage["giveaways.active"] == 2  # the ended one no longer counts
    assert usage["streams.feeds"] == 3
    assert usage["assistant.documents"] == 1
    assert usage["assistant.tokens_per_day"] == 0  # no question asked today
    assert (await guild_usage(OTHER, redis=redis, keyspace=keyspace))["streams.feeds"] == 1
