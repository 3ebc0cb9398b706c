"""`townsquare status`: one screen about the deployment, and an exit code for scripts
(docs/metrics.md).

Read from Redis alone, with bounded commands: each shard's health hash, each pipeline's
stream (length, consumer group, pending), retry set and dead letters, and the newest
:data:`ALERTS_SCANNED` alerts. Something needs attention (exit 1) when:

- no shard reports, or a shard's gateway is not connected;
- a pipeline has dead letters;
- an operator alert (one without a guild) of level `error` or `critical` from the last
  :data:`OPEN_ALERT_HOURS` hours is not acknowledged.

Guild alerts are their admins' business (log channel, DM, dashboard): they are counted but
never fail the status. Redis unreachable is exit 2.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

from townsquare.core.alerts import acknowledged, parse_alert
from townsquare.core.replies import as_text

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    import redis.asyncio as aioredis

    from townsquare.core.alerts import Alert
    from townsquare.core.keyspace import Keyspace

__all__ = [
    "ALERTS_SCANNED",
    "OPEN_ALERT_HOURS",
    "PipelineState",
    "ShardState",
    "Status",
    "read_status",
]

ALERTS_SCANNED: typing.Final = 500
OPEN_ALERT_HOURS: typing.Final = 24
_SEVERE: typing.Final = frozenset({"error", "critical"})


@dataclasses.dataclass(frozen=True, slots=True)
class ShardState:
    shard_id: int
    state: str
    latency_ms: str
    events_per_second: str
    guilds: str


@dataclasses.dataclass(frozen=True, slots=True)
class PipelineState:
    pipeline: str
    length: int
    pending: int
    consumers: int
    retrying: int
    dead_letters: int


@dataclasses.dataclass(slots=True)
class Status:
    namespace: str
    at: datetime.datetime
    shards: list[ShardState]
    pipelines: list[PipelineState]
    open_alerts: list[Alert]
    """Unacknowledged alerts among the newest scanned, newest first."""
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0

    def render(self) -> str:
        """The one-screen summary."""
        lines = [
            f"Townsquare status · namespace {self.namespace} · {self.at:%Y-%m-%d %H:%M:%S} UTC"
        ]
        lines.append(f"shards     {len(self.shards)} reporting")
        lines += [
            f"  shard {s.shard_id:<4} {s.state:<11} latency {s.latency_ms or '-':>7} ms  "
            f"{s.events_per_second or '-':>7} ev/s  {s.guilds or '-'} guilds"
            for s in self.shards
        ]
        lines.append("queues     pipeline   length  pending  consumers  retrying  dead")
        lines += [
            f"           {p.pipeline:<9} {p.length:>7} {p.pending:>8} {p.consumers:>10} "
            f"{p.retrying:>9} {p.dead_letters:>5}"
            for p in self.pipelines
        ]
        operators = [a for a in self.open_alerts if a.guild_id is None]
        lines.append(
            f"alerts     {len(operators)} open for operators, "
            f"{len(self.open_alerts) - len(operators)} for guilds"
        )
        lines += [f"  {a.at} {a.level:<8} {a.source}: {a.message}"[:160] for a in operators[:5]]
        if self.problems:
            lines.append("NEEDS ATTENTION")
            lines += [f"  - {problem}" for problem in self.problems]
        else:
            lines.append("OK")
        return "\n".join(lines)


async def _shards(redis: aioredis.Redis, keyspace: Keyspace) -> list[ShardState]:
    keys = [as_text(key) async for key in redis.scan_iter(match=keyspace.pattern("shard_health"))]
    found = []
    for key in keys:
        raw = await redis.hgetall(key)
        fields = {as_text(name): as_text(value) for name, value in raw.items()}
        suffix = key.rsplit(":", 1)[-1]
        if fields and suffix.isdigit():
            found.append(
                ShardState(
                    int(suffix),
                    fields.get("state", "?"),
                    fields.get("latency_ms", ""),
                    fields.get("events_per_second", ""),
                    fields.get("guilds", ""),
                )
            )
    return sorted(found, key=lambda shard: shard.shard_id)


async def _pipeline(redis: aioredis.Redis, keyspace: Keyspace, pipeline: str) -> PipelineState:
    stream = keyspace.key("stream", pipeline)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xlen(stream)
        pipe.zcard(keyspace.key("retry", pipeline))
        pipe.xlen(keyspace.key("dead_letter", pipeline))
        length, retrying, dead = await pipe.execute()
    pending = consumers = 0
    if length:
        for group in await redis.xinfo_groups(stream):
            pending += int(group.get("pending") or 0)
            consumers += int(group.get("consumers") or 0)
    return PipelineState(pipeline, int(length), pending, consumers, int(retrying), int(dead))


async def _open_alerts(
    redis: aioredis.Redis, keyspace: Keyspace, since: datetime.datetime
) -> list[Alert]:
    entries = await redis.xrevrange(
        keyspace.key("alerts"), min=f"{int(since.timestamp() * 1000)}-0", count=ALERTS_SCANNED
    )
    alerts = [parse_alert(as_text(entry_id), raw or {}) for entry_id, raw in entries or []]
    seen = await acknowledged(redis, keyspace, [alert.alert_id for alert in alerts])
    return [alert for alert in alerts if alert.alert_id not in seen]


async def read_status(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    pipelines: Sequence[str],
    *,
    now: datetime.datetime | None = None,
) -> Status:
    """Read everything the summary shows and decide what needs attention."""
    at = now or datetime.datetime.now(datetime.UTC)
    status = Status(
        namespace=keyspace.namespace,
        at=at,
        shards=await _shards(redis, keyspace),
        pipelines=[await _pipeline(redis, keyspace, name) for name in pipelines],
        open_alerts=await _open_alerts(
            redis, keyspace, at - datetime.timedelta(hours=OPEN_ALERT_HOURS)
        ),
    )
    problems = status.problems
    if not status.shards:
        problems.append("no shard is reporting (are the shards running?)")
    problems += [
        f"shard {s.shard_id} is {s.state}" for s in status.shards if s.state != "connected"
    ]
    problems += [
        f"{p.dead_letters} dead letter(s) in {p.pipeline}"
        for p in status.pipelines
        if p.dead_letters
    ]
    severe = [a for a in status.open_alerts if a.guild_id is None and a.level in _SEVERE]
    if severe:
        problems.append(
            f"{len(severe)} open operator alert(s) of level error or worse; acknowledge them "
            "in the console once handled"
        )
    return status
