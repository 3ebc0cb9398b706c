"""Gateway sessions in Redis, so that a restarted shard process resumes instead of identifying.

Per shard id, two keys (docs/redis-keys.md):

- `shard_lease:<id>`: which process runs the shard, as `host:pid:token`, for
  :data:`LEASE_SECONDS`; the holder renews it every :data:`RENEW_SECONDS`. Only the holder
  may resume the shard's recorded session or record a new one, so two processes never resume
  the same session: a process that finds the lease held waits for it (a killed holder's lease
  runs out within :data:`LEASE_SECONDS`; one on this host whose pid is gone is taken over at
  once), and if it is still held after that, a live process runs the shard: this one starts a
  new session without resuming or recording, and takes the lease when it is freed.
- `shard_session:<id>`: the session to resume: `session_id`, `resume_url`, `seq`, `user_id`,
  and what the session was identified with: `shard_count` and `identity` (the REST URL,
  application id and intents). A record whose shard count or identity differs from this
  process's is not resumed (a new sandbox on another port, changed intents). `seq` is the
  newest sequence all of whose records the publisher has delivered
  (`BatchPublisher.delivered_marks`), written after the delivery, never before: a resume
  replays from there, so nothing is lost, and what was delivered but not yet recorded (one
  round trip's worth, after a kill) arrives twice and is deduplicated downstream. Every lease
  renewal also renews the record's TTL, so a quiet shard's record stays.

A process that finds its lease held by another owner while it runs (its renewals failed for
:data:`LEASE_SECONDS` and another process took the shard) sets `SessionRecorder.lease_lost`;
the cluster then stops with :class:`ShardLeaseLostError`, so that the two never resume the
same session in turn.

Every script touches two keys: its cost does not grow with anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import typing

import structlog

from townsquare.core.redis_client import run_script_calls
from townsquare.shards.resume import GatewaySession

if typing.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.shards.publisher import BatchPublisher

__all__ = [
    "LEASE_SECONDS",
    "RENEW_SECONDS",
    "WRITE_EVERY_SECONDS",
    "SessionRecorder",
    "SessionStore",
    "ShardLeaseLostError",
    "gateway_mark",
    "session_identity",
]

_log = structlog.get_logger(__name__)

LEASE_SECONDS: typing.Final = 10
"""How long a shard's lease lasts unless renewed: the longest a restarted process waits for
the lease of a killed one (on another host)."""
RENEW_SECONDS: typing.Final = 3.0
"""How often the holder renews its leases (and retries a failed session write)."""
WRITE_EVERY_SECONDS: typing.Final = 0.05
"""The shortest time between two session writes. A busy shard's position changes with every
dispatch, and writing it as often as Redis answers cost a tenth of the shard's CPU under
2,000 clicks a second (docs/performance.md, "Giveaways"); at most 20 writes a second widen what
a SIGKILL makes the gateway replay by at most this much (a clean stop writes the last
position)."""
SESSION_TTL_FALLBACK: typing.Final = 600

# KEYS[1] lease, KEYS[2] session; ARGV[1] owner, ARGV[2] lease ms, ARGV[3] a holder that may
# be replaced (""), ARGV[4] session TTL s. Returns "" when the lease is (now) the owner's (and
# renews the session's TTL), else its holder.
_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] or (ARGV[3] ~= '' and holder == ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  return ''
end
return holder
"""

# KEYS[1] lease, KEYS[2] session; ARGV[1] owner, ARGV[2] session TTL s, ARGV[3..] field, value.
# Writes only while the owner holds the lease; returns 1 if written.
_RECORD = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""

# KEYS[1] lease; ARGV[1] owner.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


class ShardLeaseLostError(RuntimeError):
    """Another process took the lease of a shard this process runs."""


GatewayMark = tuple[str, str, int, int]
"""What the shards hand the publisher per dispatch: session id, resume URL, seq, user id."""


def session_identity(rest_url: str, application_id: int, intents: int) -> str:
    """What a session was identified with, beside the shard: a record with another identity
    (another Discord or sandbox, another application, other intents) is not resumed."""
    return f"{rest_url} {application_id} {intents}"


def gateway_mark(session: GatewaySession) -> GatewayMark:
    return (session.session_id, session.resume_url, session.seq, session.user_id)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _process_label() -> str:
    """`host:pid:token`, the value of a lease: which process holds it, and which run."""
    host, pid, token = socket.gethostname(), os.getpid(), secrets.token_hex(4)
    return f"{host}:{pid}:{token}"  # keyspace: not a key (a lease's value)


def _process_gone(holder: str) -> bool:
    """Whether `holder` (`host:pid:token`) names a process of this host that no longer exists."""
    parts = holder.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class SessionStore:
    """The leases and session records of one process's shards."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keyspace: Keyspace,
        *,
        shard_count: int,
        identity: str = "",
        owner: str | None = None,
    ) -> None:
        self._redis = redis
        self._keyspace = keyspace
        self._shard_count = shard_count
        self._identity = identity
        self._ttl = keyspace.ttl("shard_session") or SESSION_TTL_FALLBACK
        self.owner = owner or _process_label()
        self._claim = redis.register_script(_CLAIM)
        self._record = redis.register_script(_RECORD)
        self._release = redis.register_script(_RELEASE)

    def _lease_key(self, shard_id: int) -> str:
        return self._keyspace.key("shard_lease", shard_id)

    def _session_key(self, shard_id: int) -> str:
        return self._keyspace.key("shard_session", shard_id)

    async def claim(self, shard_id: int, *, replacing: str = "") -> str:
        """Take or renew the lease of `shard_id`: "" if this process holds it, else the holder."""
        holder = await self._claim(
            keys=[self._lease_key(shard_id), self._session_key(shard_id)],
            args=[self.owner, LEASE_SECONDS * 1000, replacing, self._ttl],
        )
        return holder.decode() if isinstance(holder, bytes) else str(holder)

    async def acquire(
        self, shard_ids: Sequence[int], *, wait: float = LEASE_SECONDS + 1.0
    ) -> set[int]:
        """Claim every shard's lease, waiting up to `wait` s for leases held by others.

        A lease whose holder is a process of this host that no longer exists is taken over at
        once. Returns the shard ids claimed; the others are run by a live process.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        claimed: set[int] = set()
        waiting = list(shard_ids)
        logged = False
        while True:
            holders = {}
            for shard_id in list(waiting):
                holder = await self.claim(shard_id)
                if holder and _process_gone(holder):
                    holder = await self.claim(shard_id, replacing=holder)
                if holder:
                    holders[shard_id] = holder
                else:
                    claimed.add(shard_id)
                    waiting.remove(shard_id)
            if not waiting or loop.time() >= deadline:
                return claimed
            if not logged:
                _log.info("waiting for shard leases held by other processes", holders=holders)
                logged = True
            await asyncio.sleep(0.5)

    async def load(self, shard_id: int) -> GatewaySession | None:
        """The recorded session of `shard_id` if it was recorded with this shard count and
        identity."""
        raw = await self._redis.hgetall(self._session_key(shard_id))
        fields = {_text(k): _text(v) for k, v in raw.items()}
        try:
            if (
                int(fields["shard_count"]) != self._shard_count
                or fields["identity"] != self._identity
            ):
                return None
            return GatewaySession(
                session_id=fields["session_id"],
                resume_url=fields["resume_url"],
                seq=int(fields["seq"]),
                user_id=int(fields["user_id"]),
            )
        except (KeyError, ValueError):
            return None

    async def record(self, marks: Mapping[int, GatewayMark]) -> set[int]:
        """Write each shard's session as of its mark, where this process holds the lease."""
        if not marks:
            return set()
        written: list[int] = []
        calls: list[tuple[list[str], list[str | int]]] = []
        for shard_id, (session_id, resume_url, seq, user_id) in marks.items():
            fields: list[str | int] = [
                *("session_id", session_id, "resume_url", resume_url, "seq", seq),
                *("shard_count", self._shard_count, "user_id", user_id),
                *("identity", self._identity),
            ]
            keys = [self._lease_key(shard_id), self._session_key(shard_id)]
            calls.append((keys, [self.owner, self._ttl, *fields]))
            written.append(shard_id)
        results = await run_script_calls(self._redis, self._record, calls)
        return {shard_id for shard_id, ok in zip(written, results, strict=True) if ok}

    async def release(self, shard_ids: Iterable[int]) -> None:
        calls = [([self._lease_key(shard_id)], [self.owner]) for shard_id in shard_ids]
        await run_script_calls(self._redis, self._release, calls)


class SessionRecorder:
    """Writes each shard's delivered gateway position and keeps the process's leases.

    Runs beside the publisher: whenever `delivered_marks` changes it writes the changed shards
    in one round trip (later changes wait for it and for :data:`WRITE_EVERY_SECONDS`, so
    writes never queue up and a busy shard writes at most 20 times a second), and every
    :data:`RENEW_SECONDS` it renews its leases, claims any lease that has come free, and
    retries what failed.
    """

    def __init__(
        self, store: SessionStore, publisher: BatchPublisher, shard_ids: Sequence[int]
    ) -> None:
        self.store = store
        self._publisher = publisher
        self._shard_ids = tuple(shard_ids)
        self.owned: set[int] = set()
        """Shard ids whose lease this process holds."""
        self._written: dict[int, object] = {}
        self._failing = False
        self.lease_lost = asyncio.Event()
        """Set when another process took the lease of a shard this process held."""

    async def write(self) -> None:
        """Record every owned shard whose delivered mark changed since the last write."""
        self._publisher.marks_changed.clear()
        changed = {
            shard_id: typing.cast("GatewayMark", mark)
            for shard_id, mark in self._publisher.delivered_marks.items()
            if shard_id in self.owned and self._written.get(shard_id) != mark
        }
        written = await self.store.record(changed)
        for shard_id in written:
            self._written[shard_id] = changed[shard_id]
        # A shard not written has lost its lease: the next renewal finds out to whom.

    async def renew(self) -> None:
        for shard_id in self._shard_ids:
            if not await self.store.claim(shard_id):
                if shard_id not in self.owned:
                    _log.info("shard lease taken", shard=shard_id)
                self.owned.add(shard_id)
            elif shard_id in self.owned:
                _log.error("shard lease lost to another process", shard=shard_id)
                self.owned.discard(shard_id)
                self.lease_lost.set()

    async def run(self) -> None:
        """Write and renew until cancelled."""
        loop = asyncio.get_running_loop()
        renew_at = loop.time() + RENEW_SECONDS
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, renew_at - loop.time())):
                    await self._publisher.marks_changed.wait()
            try:
                if loop.time() >= renew_at:
                    renew_at = loop.time() + RENEW_SECONDS
                    await self.renew()
                await self.write()
                await asyncio.sleep(WRITE_EVERY_SECONDS)  # pacing: changes meanwhile coalesce
            except Exception as error:  # Redis away: the publisher is retrying too
                if not self._failing:
                    _log.warning("gateway session write failed", error=str(error))
                self._failing = True
                await asyncio.sleep(min(RENEW_SECONDS, max(0.0, renew_at - loop.time())))
            else:
                self._failing = False
