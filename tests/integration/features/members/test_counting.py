"""Members joining and leaving counted into the overview's rollups from known records: a
redelivered batch, and a join or a leave the gateway replays, count nothing twice; a rejoin
counts."""

from __future__ import annotations

import datetime
import typing

import pytest

from tests.support.activity import rollup_rows
from tests.support.redis_cluster import ON_CLUSTER_TOO
from townsquare.core.activity import MEMBER_JOINS, MEMBER_LEAVES
from townsquare.core.activity.rollup import daily_series, flush_counters
from townsquare.core.events import MemberJoinRecord, MemberLeaveRecord, VoiceStateRecord
from townsquare.features.members.domain.counting import count_member_changes

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

GUILD = 900_000_000_000_000_419
YESTERDAY = datetime.datetime.now(datetime.UTC).date() - datetime.timedelta(days=1)
TEN = datetime.datetime.combine(YESTERDAY, datetime.time(10), datetime.UTC)
ELEVEN = TEN + datetime.timedelta(hours=1)


def _ms(at: datetime.datetime, minutes: int = 0) -> int:
    return int((at + datetime.timedelta(minutes=minutes)).timestamp() * 1000)


def _join(user: int, at_ms: int) -> MemberJoinRecord:
    return MemberJoinRecord(
        guild_id=GUILD, user_id=user, is_bot=False, account_created_ms=0, timestamp_ms=at_ms
    )


def _leave(user: int, at_ms: int, seq: int | None = None) -> MemberLeaveRecord:
    """A leave, of the gateway dispatch numbered `seq` in one session if given."""
    return MemberLeaveRecord(
        guild_id=GUILD,
        user_id=user,
        is_bot=False,
        timestamp_ms=at_ms,
        gateway_session=None if seq is None else "c0ffee",
        gateway_seq=seq,
    )


@pytest.mark.usefixtures("orm")
async def test_joins_and_leaves_roll_up_once_per_event(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    voice = VoiceStateRecord(
        guild_id=GUILD,
        user_id=9,
        channel_id=None,
        is_bot=False,
        self_mute=False,
        self_deaf=False,
        mute=False,
        deaf=False,
        timestamp_ms=_ms(TEN),
    )
    first = [_join(1, _ms(TEN, 5)), _join(2, _ms(TEN, 6)), voice, _leave(1, _ms(ELEVEN, 1))]
    second = [_join(2, _ms(TEN, 6)), _leave(3, _ms(ELEVEN, 2)), _join(1, _ms(ELEVEN, 30))]

    assert await count_member_changes(redis, keyspace, first) == 3
    assert await count_member_changes(redis, keyspace, first) == 0  # redelivered
    # Member 2's join again (the gateway replays it to a resumed session: the same joined_at)
    # counts nothing; member 1 joining again after leaving is a new join.
    assert await count_member_changes(redis, keyspace, second) == 2
    assert await count_member_changes(redis, keyspace, second) == 0

    assert await flush_counters(redis, keyspace) == 2  # two hours
    hours = await rollup_rows(GUILD, "hour")
    assert hours[TEN, MEMBER_JOINS.name] == 2
    assert (TEN, MEMBER_LEAVES.name) not in hours
    assert hours[ELEVEN, MEMBER_JOINS.name] == 1
    assert hours[ELEVEN, MEMBER_LEAVES.name] == 2
    days = await rollup_rows(GUILD, "day")
    day = TEN.replace(hour=0)
    assert days[day, MEMBER_JOINS.name] == 3
    assert days[day, MEMBER_LEAVES.name] == 2

    joins, leaves = await daily_series(GUILD, (MEMBER_JOINS, MEMBER_LEAVES))
    assert joins.days[-2] == YESTERDAY
    assert (joins.values[-2], leaves.values[-2]) == (3, 2)
    assert sum(joins.values) == 3 and sum(leaves.values) == 2


async def test_a_leave_the_gateway_replays_counts_once(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    """A resumed session's replay is received again, so its record has a new time; the
    dispatch (session id and sequence number) is the same."""
    assert await count_member_changes(redis, keyspace, [_leave(3, _ms(TEN, 1), 41)]) == 1
    assert await count_member_changes(redis, keyspace, [_leave(3, _ms(TEN, 3), 41)]) == 0
    # The same member leaving again later (after a rejoin) is another dispatch.
    assert await count_member_changes(redis, keyspace, [_leave(3, _ms(TEN, 9), 57)]) == 1
