"""Supervised child processes for `townsquare up`.

Each process of the platform (sandbox, shards, workers, scheduler, HTTP) runs as a child
`townsquare <command>`. A child that exits while the supervisor is running is started again
after a delay that doubles with each crash in a row (1 s, 2 s, 4 s ... up to 30 s) and goes back
to 1 s once a run lasted `stable_seconds`; every crash is reported through `on_crash` (which
`up` turns into an operator alert). Children are in their own sessions, so a Ctrl-C on the
terminal reaches only the supervisor, which then stops them one by one in reverse start
order; they also get SIGTERM from the kernel if the supervisor itself dies
(PR_SET_PDEATHSIG), so no orphan survives it.
Each child's output goes to `<log_dir>/<name>.log`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
import time
import typing

import structlog

from townsquare.core.alerts import raise_alert
from townsquare.core.processes import spawn, terminate
from townsquare.core.redis_client import connect_redis

if typing.TYPE_CHECKING:
    import subprocess
    from collections.abc import Awaitable, Callable, Mapping, Sequence
    from pathlib import Path

    from townsquare.core.keyspace import Keyspace

__all__ = ["ChildSpec", "Supervisor", "child_environment", "crash_alerts", "platform_children"]

logger = structlog.get_logger(__name__)

STOP_PLAN = ((signal.SIGTERM, 10.0),)
"""Children get 10 s to stop cleanly after SIGTERM, then SIGKILL."""


@dataclasses.dataclass(frozen=True, slots=True)
class ChildSpec:
    name: str
    """Also the log file's name."""
    argv: tuple[str, ...]


@dataclasses.dataclass(slots=True)
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    crashes_in_a_row: int = 0
    restarts: int = 0


class Supervisor:
    """Runs children until told to stop, restarting crashed ones with backoff."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        *,
        log_dir: Path,
        cwd: Path,
        env: Mapping[str, str],
        on_crash: Callable[[str, int, float], Awaitable[None]] | None = None,
        backoff_base_seconds: float = 1.0,
        backoff_max_seconds: float = 30.0,
        stable_seconds: float = 30.0,
    ) -> None:
        self._children = {spec.name: _Child(spec) for spec in specs}
        self._log_dir = log_dir
        self._cwd = cwd
        self._env = dict(env)
        self._on_crash = on_crash
        self._backoff_base = backoff_base_seconds
        self._backoff_max = backoff_max_seconds
        self._stable = stable_seconds

    def pids(self) -> dict[str, int]:
        """Pid of every running child, by name."""
        return {
            name: child.process.pid
            for name, child in self._children.items()
            if child.process is not None and child.process.poll() is None
        }

    def restarts(self) -> dict[str, int]:
        return {name: child.restarts for name, child in self._children.items()}

    async def run(self, stop: asyncio.Event) -> None:
        """Start every child, keep them running until `stop` is set, then stop them all."""
        self._log_dir.mkdir(parents=True, exist_ok=True)
        try:
            async with asyncio.TaskGroup() as group:
                for child in self._children.values():
                    group.create_task(self._keep_running(child, stop))
        finally:
            await asyncio.to_thread(self._stop_all)

    async def _keep_running(self, child: _Child, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._start(child)
            process = child.process
            assert process is not None
            waiter = asyncio.create_task(asyncio.to_thread(process.wait))
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if stop.is_set():
                # `run` stops the children; just stop watching (the wait ends with them).
                waiter.cancel()
                return
            code = waiter.result()
            ran_for = time.monotonic() - child.started_at
            child.crashes_in_a_row = 1 if ran_for >= self._stable else child.crashes_in_a_row + 1
            delay = min(self._backoff_max, self._backoff_base * 2 ** (child.crashes_in_a_row - 1))
            logger.error(
                "supervisor.child_exited",
                child=child.spec.name,
                exit_code=code,
                ran_seconds=round(ran_for, 1),
                restart_in_seconds=delay,
            )
            if self._on_crash is not None:
                with contextlib.suppress(Exception):
                    await self._on_crash(child.spec.name, code, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            child.restarts += 1

    def _start(self, child: _Child) -> None:
        child.process, _ = spawn(
            child.spec.argv,
            log_path=self._log_dir / f"{child.spec.name}.log",
            cwd=self._cwd,
            death_signal=signal.SIGTERM,
            env=self._env,
        )
        child.started_at = time.monotonic()
        logger.info("supervisor.child_started", child=child.spec.name, pid=child.process.pid)

    def _stop_all(self) -> None:
        # Reverse start order: the sandbox (first) outlives the shards connected to it, so a
        # shard shuts down cleanly instead of seeing its gateway vanish.
        for child in reversed(self._children.values()):
            if child.process is None or child.process.poll() is not None:
                continue
            code = terminate(child.process, STOP_PLAN)
            logger.info("supervisor.child_stopped", child=child.spec.name, exit_code=code)


def platform_children(*, with_sandbox: bool) -> list[ChildSpec]:
    """What `townsquare up` runs, in start order (the sandbox first, so it stops last)."""
    command = (sys.executable, "-m", "townsquare.cli")
    names = ["shards", "worker", "scheduler", "http"]
    if with_sandbox:
        names.insert(0, "sandbox")
    return [ChildSpec(name, (*command, name)) for name in names]


def child_environment(
    *, redis_url: str, database_url: str, var_dir: Path, settings_file: Path | None
) -> dict[str, str]:
    """The children's environment: the servers `up` resolved, so none starts its own."""
    env = {
        **os.environ,
        "TOWNSQUARE__REDIS__URL": redis_url,
        "TOWNSQUARE__DATABASE__URL": database_url,
        "TOWNSQUARE__PATHS__VAR_DIR": str(var_dir),
    }
    if settings_file is not None:
        env["TOWNSQUARE_SETTINGS_FILE"] = str(settings_file.resolve())
    return env


def crash_alerts(
    redis_url: str, keyspace: Keyspace
) -> Callable[[str, int, float], Awaitable[None]]:
    """An `on_crash` callback that raises an operator alert for every crash."""

    async def on_crash(name: str, code: int, delay: float) -> None:
        client = connect_redis(redis_url)
        try:
            await raise_alert(
                client,
                keyspace,
                source=f"up/{name}",
                message=f"{name} exited with code {code}; restarting in {delay:g} s",
                key=f"up/{name}/exited",  # a crash loop is one message with a count
            )
        finally:
            await client.aclose()

    return on_crash
