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
import contextlib
import contextvars
import dataclasses
import typing
import urllib.parse

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.exceptions import ConnectionError as RedisConnectionError

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from redis.commands.core import AsyncScript

__all__ = [
    "CLUSTER_SCHEMES",
    "DEFAULT_CONNECTION_WAIT_SECONDS",
    "DEFAULT_MAX_CONNECTIONS",
    "ClusterURL",
    "RedisURLError",
    "connect_redis",
    "describe_redis",
    "guard_connections",
    "is_cluster_url",
    "parse_cluster_url",
    "run_script_calls",
    "slot_owner_url",
]

CLUSTER_SCHEMES: typing.Final = ("redis+cluster", "rediss+cluster")
"""URL schemes naming a Redis Cluster by some of its nodes."""
DEFAULT_MAX_CONNECTIONS: typing.Final = 512
"""A client's connections (to each node, on a cluster) unless told otherwise; the default of
`redis.max_connections` (settings.yaml)."""
DEFAULT_CONNECTION_WAIT_SECONDS: typing.Final = 10.0
"""How long a command waits for a free connection unless told otherwise; the default of
`redis.connection_wait_seconds` (settings.yaml)."""
_NODE_POOL_HEADROOM: typing.Final = 2
"""A cluster node's pool may hold this many times the client's connection limit: a
connection being re-opened after a topology change still counts in its node's pool after
its command is done, and a command finding the pool full fails instead of waiting."""
_HOLDS_CONNECTION_PERMIT: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "holds_connection_permit", default=False
)


class RedisURLError(ValueError):
    """A Redis URL that cannot be used."""


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterURL:
    nodes: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    tls: bool

    def node_url(self, host: str, port: int) -> str:
        """The single-server URL (`redis://` or `rediss://`, with the cluster's credentials)
        of one node, for a library that talks to one server."""
        scheme = "rediss" if self.tls else "redis"
        auth = ""
        if self.password is not None:
            user = urllib.parse.quote(self.username or "", safe="")
            auth = f"{user}:{urllib.parse.quote(self.password, safe='')}@"  # keyspace: not a key
        return f"{scheme}://{auth}{host}:{port}"


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
    """A cluster client with the single-server behaviour Townsquare relies on.

    Its commands wait for a connection like a single server's blocking pool: redis-py's node
    pools cannot wait (past `max_connections` a command fails with `MaxConnectionsError`),
    so at most `max_connections` commands and pipelines run at once, each using at most one
    connection of each node, and the others wait up to `connection_wait` seconds for their
    turn (then `ConnectionError: No connection available.`, as the blocking pool says).
    """

    def __init__(
        self, *, max_connections: int, connection_wait: float, **options: typing.Any
    ) -> None:
        super().__init__(max_connections=max_connections * _NODE_POOL_HEADROOM, **options)
        self._permits = asyncio.Semaphore(max_connections)
        self._connection_wait = connection_wait
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
        async with self.connection_permit():
            await self.initialize()
            return await super().execute_command(*args, **kwargs)

    @contextlib.asynccontextmanager
    async def connection_permit(self) -> AsyncIterator[None]:
        """One of the `max_connections` turns (see the class); a command run while holding
        one (redis-py re-sends a pipeline's redirected commands one by one) takes no other."""
        if _HOLDS_CONNECTION_PERMIT.get():
            yield
            return
        try:
            async with asyncio.timeout(self._connection_wait):
                await self._permits.acquire()
        except TimeoutError:
            raise RedisConnectionError("No connection available.") from None
        holding = _HOLDS_CONNECTION_PERMIT.set(True)
        try:
            yield
        finally:
            _HOLDS_CONNECTION_PERMIT.reset(holding)
            self._permits.release()

    def pipeline(
        self, transaction: typing.Any | None = None, shard_hint: typing.Any | None = None
    ) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # refused by redis-py
        # mypy reads an attribute redis-py sets on its pipelines as abstract.
        return _TownsquareClusterPipeline(self, transaction)  # type: ignore[abstract]

    async def mget(self, keys: typing.Any, *args: typing.Any) -> list[typing.Any]:
        """MGET across slots (cache reads, which need no atomicity), in the keys' order."""
        return await self.mget_nonatomic(keys, *args)


class _TownsquareClusterPipeline(ClusterPipeline):
    """A cluster pipeline that takes one of its client's connection turns to run."""

    cluster_client: TownsquareCluster

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[typing.Any]:
        async with self.cluster_client.connection_permit():
            return await super().execute(raise_on_error, allow_redirections)


def guard_connections(pool: ConnectionPool) -> None:
    """Give `pool` (made by a library from a URL) the connections :func:`connect_redis`
    gives (see :class:`_ReportsClosedWrites`)."""
    pool.connection_class = _CONNECTION_CLASSES.get(pool.connection_class, pool.connection_class)


def connect_redis(
    url: str,
    *,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    wait_for_connection: float = DEFAULT_CONNECTION_WAIT_SECONDS,
    **options: typing.Any,
) -> Redis:
    """A client for `url`: a single server's, or (`redis+cluster://`) a cluster's.

    `options` are redis-py's connection options (timeouts, `retry`, ...), passed to either.
    At most `max_connections` commands run at once (on a cluster: to each node); the next
    one waits up to `wait_for_connection` seconds for a connection, then fails with
    `ConnectionError: No connection available.` (redis-py's own pools fail at once past 100,
    `MaxConnectionsError`). The cluster client has the single server's command interface for
    keys of one slot; it is typed as :class:`redis.asyncio.Redis` so that callers need not
    care.
    """
    if not is_cluster_url(url):
        pool = BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=wait_for_connection, **options
        )
        guard_connections(pool)
        return Redis.from_pool(pool)
    parsed = parse_cluster_url(url)
    cluster = TownsquareCluster(
        max_connections=max_connections,
        connection_wait=wait_for_connection,
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
    return parsed.node_url(node.host, int(node.port))


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
