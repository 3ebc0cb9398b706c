"""What a stopped platform must not leave behind: listening ports and Redis locks.

Ports are read from the kernel's socket tables (`/proc/net/tcp`, `/proc/net/tcp6`): a port is
left when a socket in LISTEN state still holds it after every process of the run has stopped.
The run's ports are those it chose (HTTP, every process's metrics port, Valkey, the sandbox,
the proxies) and those found listening in a child's open files just before the stop (anything
a child opened that no setting names).

Locks are read from Valkey after the children stop and before Valkey does: every key of the
run's namespace in a lock or lease family (`*_lock`, `*_lease`, a running XP load), and every
`run_once` lease (a `done` key still `running:<token>`). A clean stop releases all of them; one
left by a SIGKILLed holder lapses with its TTL: a key whose remaining TTL says it may have been
set before the last kill is excused (:func:`could_predate`), and listed.
"""

from __future__ import annotations

import contextlib
import os
import typing
from pathlib import Path

from townsquare.core.features import enabled_features
from townsquare.core.keyspace import FAMILIES
from townsquare.tasks.idempotency import DEFAULT_LEASE_SECONDS

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = [
    "could_predate",
    "held_locks",
    "holders",
    "listening_ports",
    "lock_families",
    "ports_of_processes",
]

_LISTEN: typing.Final = "0A"
"""The TCP state LISTEN in `/proc/net/tcp`."""
_TABLES: typing.Final = ("/proc/net/tcp", "/proc/net/tcp6")
_RUNNING_LEASE: typing.Final = b"running:"
"""The value of a `run_once` lease (`tasks/idempotency.py`); done markers hold `done`."""


def lock_families() -> frozenset[str]:
    """Key families that hold a lock or a lease (docs/redis-keys.md), the features' included."""
    enabled_features()  # registers the features' families
    return frozenset({f for f in FAMILIES if f.endswith(("_lock", "_lease"))} | {"xp_loading"})


def listening_ports() -> dict[int, set[int]]:
    """Every TCP port in LISTEN state on this machine -> the inodes of its sockets."""
    ports: dict[int, set[int]] = {}
    for table in _TABLES:
        with contextlib.suppress(OSError):
            for line in Path(table).read_text(encoding="ascii").splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == _LISTEN:
                    port = int(fields[1].rsplit(":", 1)[1], 16)
                    ports.setdefault(port, set()).add(int(fields[9]))
    return ports


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def ports_of_processes(pids: typing.Iterable[int]) -> dict[int, int]:
    """The listening ports held by `pids` -> the pid holding each."""
    held = {pid: _socket_inodes(pid) for pid in pids}
    found = {}
    for port, inodes in listening_ports().items():
        for pid, owned in held.items():
            if inodes & owned:
                found[port] = pid
    return found


def holders(port_inodes: set[int]) -> list[str]:
    """`pid (command)` of the processes holding these sockets (for a report)."""
    names = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _socket_inodes(int(entry)) & port_inodes:
            with contextlib.suppress(OSError):
                command = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[:3]
                names.append(f"{entry} ({b' '.join(command).decode(errors='replace')})")
    return names


def could_predate(key: str, ttl_ms: int, keyspace: Keyspace, seconds: float) -> bool:
    """Whether `key`, with `ttl_ms` to live, may have been set `seconds` ago or earlier (by a
    holder SIGKILLed then, whose lock lapses by its TTL): its remaining TTL is at most its
    family's full TTL less `seconds`. A lock a stopping process failed to release was set or
    renewed moments before, and has more left."""
    family = key.removeprefix(keyspace.prefix).split(":", 1)[0]
    full = DEFAULT_LEASE_SECONDS if family == "done" else FAMILIES[family].ttl.seconds
    return full is not None and 0 <= ttl_ms <= (full - seconds) * 1000


async def held_locks(redis: aioredis.Redis, keyspace: Keyspace) -> dict[str, int]:
    """The run's lock and lease keys still in Redis -> their remaining TTL (ms, -1: none)."""
    families = lock_families()
    found: dict[str, int] = {}
    prefix = keyspace.namespace + ":"
    async for raw in redis.scan_iter(match=prefix + "*", count=1000):
        key = raw.decode()
        family = key.removeprefix(prefix).split(":", 1)[0]
        if family in families:
            found[key] = int(await redis.pttl(key))
        elif family == "done":
            value = await redis.get(key)
            if value is not None and value.startswith(_RUNNING_LEASE):
                found[key] = int(await redis.pttl(key))
    return found
