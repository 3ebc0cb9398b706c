"""Counting members joining and leaving into the overview's hot counts, once per event.

Each record is counted by :func:`~townsquare.core.activity.counters.record_each_once` under an
`activity_done` marker of the event (in the guild's cluster slot), in the same script call
that counts it, so a record delivered twice (a redelivered batch, a worker killed before its
acknowledgement, a retry, or the gateway replaying the dispatch to a resumed session) counts
nothing twice:

- a join's marker is its guild, member and Discord's `joined_at` (the record's time); a
  member who leaves and joins again has a new `joined_at`;
- a leave's is its guild and the gateway dispatch it came in (session id and sequence
  number, unique per dispatch, and the same when a RESUME replays it): Discord's
  GUILD_MEMBER_REMOVE carries no time or id of its own. A leave record without a dispatch
  (from a shard that did not know its position) falls back to its member and the time the
  shard received it, which a replay does not repeat.

A join counts in the hour it happened, a leave in the hour the shard saw it.
"""

from __future__ import annotations

import typing

from townsquare.core.activity import MEMBER_JOINS, MEMBER_LEAVES
from townsquare.core.activity.counters import OnceCount, record_each_once
from townsquare.core.events import MemberJoinRecord, MemberLeaveRecord
from townsquare.core.events.routes import Route
from townsquare.core.features import KERNEL_PIPELINE

if typing.TYPE_CHECKING:
    from collections.abc import Iterable

    import redis.asyncio as aioredis

    from townsquare.core.events.records import AnyRecord
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings

__all__ = ["COUNT_TASK", "MEMBERS_ROUTE", "count_member_changes", "counts_members"]

COUNT_TASK: typing.Final = "members.count_changes"
"""Part of the wire format (queued messages and dead letters carry it): never rename."""
MEMBERS_ROUTE: typing.Final = Route(
    KERNEL_PIPELINE, COUNT_TASK, frozenset({"member_join", "member_leave"})
)
"""Members joining and leaving (only while the shards have the GUILD_MEMBERS intent)."""
_SCOPES: typing.Final = {
    "member_join": "member_join_counted",
    "member_leave": "member_leave_counted",
}


def counts_members(settings: Settings) -> bool:
    """The shards ask for GUILD_MEMBERS to count joins and leaves when the operator says the
    application has the Server Members intent (`discord.server_members_intent`)."""
    return settings.discord.server_members_intent


def _event_id(record: MemberJoinRecord | MemberLeaveRecord) -> str:
    """What tells this join or leave from every other of the guild (see the module's doc)."""
    if isinstance(record, MemberLeaveRecord) and record.gateway_session is not None:
        return f"dispatch-{record.gateway_session}-{record.gateway_seq}"
    return "-".join(str(part) for part in (record.guild_id, record.user_id, record.timestamp_ms))


def _count(keyspace: Keyspace, record: MemberJoinRecord | MemberLeaveRecord) -> OnceCount:
    event_id = _event_id(record)
    metric = MEMBER_JOINS if isinstance(record, MemberJoinRecord) else MEMBER_LEAVES
    return OnceCount(
        guild_id=record.guild_id,
        at_ms=record.timestamp_ms,
        marker=keyspace.key("activity_done", record.guild_id, _SCOPES[record.kind], event_id),
        metric=metric.name,
    )


async def count_member_changes(
    redis: aioredis.Redis, keyspace: Keyspace, records: Iterable[AnyRecord]
) -> int:
    """Count the batch's joins and leaves (other records are ignored); returns how many
    counted now, 0 for a batch counted before."""
    events = [
        _count(keyspace, record)
        for record in records
        if isinstance(record, (MemberJoinRecord, MemberLeaveRecord))
    ]
    return await record_each_once(redis, keyspace, events)
