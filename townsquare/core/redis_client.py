"""The one way Townsquare connects to Redis: a single server or a Redis Cluster.

`redis.url` is a single server's URL (`redis://host:6379/0`, `rediss://`, `unix://`) or a
cluster's: `redis+cluster://[user:password@]host:port[,host:port...]` (`rediss+cluster://`
with TLS). Any one reachable node is enough to start; the client learns the others from it.
:func:`connect_redis` returns a client with one interface for both: on a cluster every
command goes to the node of its key's slot, and every key a Lua script or a transaction
touches together shares a hash tag (`townsquare/core/keyspace.py`, docs/redis-keys.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import typing
import urllib.parse

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.exceptions import ConnectionError as RedisConnectionError

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.commands.core import AsyncScript

__all__ = [
    "CLUSTER_SCHEMES",
    "ClusterURL",
    "RedisURLError",
    "connect_redis",
    "describe_redis",
    "is_cluster_url",
    "parse_cluster_url",
    "run_script_calls",
    "slot_owner_url",
]

CLUSTER_SCHEMES: typing.Final = ("redis+cluster", "rediss+cluster")
"""URL schemes naming a Redis Cluster by some of its nodes."""


class RedisURLError(ValueError):
    """A Redis URL that cannot be used."""


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterURL:
    nodes: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    tls: bool


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def describe_redis(url: str) -> str:
    """Which mode `url` (a `redis.url` setting) uses, for `config check` and logs."""
    if url == "embedded":
        return "single server (the embedded Valkey)"
    if is_cluster_url(url):
        count = len(parse_cluster_url(url).nodes)
        return f"Redis Cluster ({count} seed node{'s' if count != 1 else ''})"
    return "single server"


def parse_cluster_url(url: str) -> ClusterURL:
    """The nodes and credentials of a `redis+cluster://` URL; :class:`RedisURLError` if bad."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in CLUSTER_SCHEMES:
        raise RedisURLError(f"not a cluster URL (expected {' or '.join(CLUSTER_SCHEMES)}://)")
    netloc = rest.split("/", 1)[0].split("?", 1)[0]
    credentials, _, hosts = netloc.rpartition("@")
    username, password = None, None
    if credentials:
        user, has_password, secret = credentials.partition(":")
        username = urllib.parse.unquote(user) or None
        password = urllib.parse.unquote(secret) if has_password else None
    nodes: list[tuple[str, int]] = []
    for node in filter(None, hosts.split(",")):
        host, _, port = node.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise RedisURLError(f"cluster node {node!r} is not host:port")
        nodes.append((host.strip("[]"), int(port)))
    if not nodes:
        raise RedisURLError("a cluster URL names at least one node: redis+cluster://host:port")
    return ClusterURL(tuple(nodes), username, password, scheme.lower().startswith("rediss"))


def wrote_to_closed_transport(error: BaseException) -> bool:
    """Whether `error` is asyncio failing a write to a transport that was already closed.

    Python 3.13.0 has no clean error for it: `writelines` on a transport closed by the client
    raises `TypeError: 'NoneType' object is not callable` (close() cleared `_write_ready`),
    and on one the server reset `AttributeError: 'NoneType' object has no attribute
    '_add_writer'` (cpython#136234). Recognised by where it was raised, not by its text:
    the innermost frame is a method of an asyncio transport that is closing.
    """
    if not isinstance(error, (TypeError, AttributeError)) or error.__traceback__ is None:
        return False
    innermost = error.__traceback__
    while innermost.tb_next is not None:
        innermost = innermost.tb_next
    transport = innermost.tb_frame.f_locals.get("self")
    return isinstance(transport, asyncio.BaseTransport) and transport.is_closing()


class _ReportsClosedWrites(AbstractConnection):
    """A connection whose write to a closed transport fails as the lost connection it is.

    A write can find its transport closed under it: the server reset the connection, or the
    cluster client closed every connection of its nodes (it does so to reinitialise after
    MOVED replies or CLUSTERDOWN) while this one was between connecting and sending. redis-py
    then drops the connection and re-raises asyncio's error (:func:`wrote_to_closed_transport`),
    which no retry policy knows; raised as redis's `ConnectionError` it is retried like any
    lost connection (the client's `retry`, the cluster client's reinitialisation).
    """

    async def send_packed_command(
        self, command: bytes | str | typing.Iterable[bytes], check_health: bool = True
    ) -> None:
        try:
            await super().send_packed_command(command, check_health)
        except (TypeError, AttributeError) as error:
            if not wrote_to_closed_transport(error):
                raise
            raise RedisConnectionError(
                "the connection closed while a command was written"
            ) from error


class TownsquareConnection(_ReportsClosedWrites, Connection):
    """A TCP connection (see :class:`_ReportsClosedWrites`)."""


class TownsquareSSLConnection(_ReportsClosedWrites, SSLConnection):
    """A TLS connection (see :class:`_ReportsClosedWrites`)."""


class TownsquareUnixConnection(_ReportsClosedWrites, UnixDomainSocketConnection):
    """A Unix socket connection (see :class:`_ReportsClosedWrites`)."""


_CONNECTION_CLASSES: typing.Final[dict[type[AbstractConnection], type[AbstractConnection]]] = {
    Connection: TownsquareConnection,
    SSLConnection: TownsquareSSLConnection,
    UnixDomainSocketConnection: TownsquareUnixConnection,
}


class TownsquareCluster(RedisCluster):
    """A cluster client with the single-server behaviour Townsquare relies on."""

    def __init__(self, **options: typing.Any) -> None:
        super().__init__(**options)
        # redis-py picks the connection class itself (no option for it); the nodes it creates
        # later read it from these shared keyword arguments.
        chosen = TownsquareSSLConnection if options.get("ssl") else TownsquareConnection
        self.connection_kwargs["connection_class"] = chosen
        for node in self.startup_nodes:
            node.connection_class = chosen

    async def execute_command(self, *args: typing.Any, **kwargs: typing.Any) -> typing.Any:
        """Learn the slots first: redis-py 8.1 routes a command that arrives before the client
        knows the cluster's slots (its first commands, or any after it reinitialised) to a
        random node, as if it had no key. Each such command is answered MOVED, and every fifth
        MOVED makes the client close all its connections, those of the other commands in
        flight too: many commands at once on a new client failed that way."""
        await self.initialize()
        return await super().execute_command(*args, **kwargs)

    async def mget(self, keys: typing.Any, *args: typing.Any) -> list[typing.Any]:
        """MGET across slots (cache reads, which need no atomicity), in the keys' order."""
        return await self.mget_nonatomic(keys, *args)


def connect_redis(
    url: str, *, wait_for_connection: float | None = None, **options: typing.Any
) -> Redis:
    """A client for `url`: a single server's, or (`redis+cluster://`) a cluster's.

    `options` are redis-py's connection options (timeouts, `retry`, `max_connections`, ...),
    passed to either. `wait_for_connection`: on a single server, a blocking pool whose callers
    wait up to that many seconds for a free connection (with `max_connections`) instead of
    failing at once. A cluster client's per-node pools cannot wait: each node's pool gets
    `max_connections` (redis-py's default there is 100) and fails past it. The cluster client
    has the single server's command interface for keys of one slot; it is typed as
    :class:`redis.asyncio.Redis` so that callers need not care.
    """
    if not is_cluster_url(url):
        pool: ConnectionPool
        if wait_for_connection is not None:
            pool = BlockingConnectionPool.from_url(url, timeout=wait_for_connection, **options)
        else:
            pool = ConnectionPool.from_url(url, **options)
        pool.connection_class = _CONNECTION_CLASSES.get(
            pool.connection_class, pool.connection_class
        )
        return Redis.from_pool(pool)
    parsed = parse_cluster_url(url)
    cluster = TownsquareCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes],
        username=parsed.username,
        password=parsed.password,
        ssl=parsed.tls,
        **options,
    )
    return typing.cast("Redis", cluster)


async def slot_owner_url(url: str, key: str) -> str:
    """The `redis://` URL of the cluster node (of cluster `url`) that owns `key`'s slot, for a
    library that talks to one server and touches only keys of that slot."""
    parsed = parse_cluster_url(url)
    cluster = typing.cast("RedisCluster", connect_redis(url))
    try:
        await cluster.initialize()
        node = cluster.get_node_from_key(key)
    finally:
        await cluster.aclose()
    if node is None:
        raise RedisURLError(f"no node of the cluster serves the slot of {key!r}")
    scheme = "rediss" if parsed.tls else "redis"
    auth = ""
    if parsed.password is not None:
        user = urllib.parse.quote(parsed.username or "", safe="")
        auth = f"{user}:{urllib.parse.quote(parsed.password, safe='')}@"  # keyspace: not a key
    return f"{scheme}://{auth}{node.host}:{node.port}"


async def run_script_calls(
    redis: Redis,
    script: AsyncScript,
    calls: Sequence[tuple[Sequence[str], Sequence[typing.Any]]],
) -> list[typing.Any]:
    """Run `script` once per `(keys, args)`; the replies in order.

    On a single server, in one round trip (a pipeline, not a transaction: each call is
    atomic on its own). A cluster pipeline refuses scripts (its calls may span nodes), so on
    a cluster the calls run concurrently instead.
    """
    if isinstance(redis, RedisCluster):
        return list(await asyncio.gather(*(script(keys=k, args=a) for k, a in calls)))
    async with redis.pipeline(transaction=False) as pipe:
        for keys, args in calls:
            await script(keys=keys, args=args, client=pipe)
        return list(await pipe.execute())
