"""Workers for the tests (a pytest plugin: fixtures `worker`, `producers` and `producer`, built
from the test module's `settings` fixture): a real worker in the test's event loop, settings
for it, producers for the pipelines, and a doomed worker in a child process that the test
kills."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import typing

import pytest

from tests.support.paths import ROOT
from tests.support.settings import settings_in
from townsquare.core.keyspace import Keyspace
from townsquare.tasks.brokers import make_brokers
from townsquare.tasks.worker import run_worker

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence
    from pathlib import Path

    import redis.asyncio as aioredis

    from townsquare.core.settings import Settings
    from townsquare.tasks.brokers import PipelineBroker
    from townsquare.tasks.registry import TaskRegistry

__all__ = [
    "Worker",
    "doomed_worker",
    "producing",
    "read_until",
    "run_doomed",
    "running_worker",
    "settings_with",
]

type Worker = Callable[..., contextlib.AbstractAsyncContextManager[asyncio.Task[None]]]


def settings_with(**overrides: object) -> Settings:
    """Default settings with `tasks` keys overridden, e.g. `jobs__max_attempts=4`."""
    return settings_in("tasks", **overrides)


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings,
    redis_url: str,
    keyspace: Keyspace,
    registry: TaskRegistry,
    pipelines: Sequence[str] = ("jobs",),
) -> AsyncIterator[asyncio.Task[None]]:
    """A real worker in this event loop, stopped cleanly (and checked for errors) on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_worker(settings, redis_url, keyspace, pipelines, shutdown=stop, registry=registry)
    )
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


@contextlib.asynccontextmanager
async def producing(
    settings: Settings, redis_url: str, keyspace: Keyspace, pipeline: str = "jobs"
) -> AsyncIterator[PipelineBroker]:
    """A started broker that queues jobs on `pipeline`, as a producer process has one."""
    broker = make_brokers(settings, redis_url, keyspace, [pipeline])[pipeline]
    await broker.startup()
    try:
        yield broker
    finally:
        await broker.shutdown()


@pytest.fixture
def worker(settings: Settings, redis_url: str, keyspace: Keyspace) -> Worker:
    """`worker(registry, pipelines=("jobs",))`: `running_worker` with the module's settings."""

    def start(
        registry: TaskRegistry, pipelines: Sequence[str] = ("jobs",)
    ) -> contextlib.AbstractAsyncContextManager[asyncio.Task[None]]:
        return running_worker(settings, redis_url, keyspace, registry, pipelines)

    return start


@pytest.fixture
async def producers(
    settings: Settings, redis_url: str, keyspace: Keyspace, redis: aioredis.Redis
) -> AsyncIterator[dict[str, PipelineBroker]]:
    """Started brokers for `jobs` and `xp`, built from the module's `settings` fixture."""
    async with (
        producing(settings, redis_url, keyspace, "jobs") as jobs,
        producing(settings, redis_url, keyspace, "xp") as xp,
    ):
        yield {"jobs": jobs, "xp": xp}


@pytest.fixture
def producer(producers: dict[str, PipelineBroker]) -> PipelineBroker:
    """The started `jobs` broker."""
    return producers["jobs"]


@contextlib.asynccontextmanager
async def doomed_worker(
    module: str, *args: str, log: Path, stdout: int | None = asyncio.subprocess.PIPE
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m module args...` as a child process (stderr, and stdout unless piped, into
    `log`), SIGKILLed when the block ends: no cleanup, no acknowledgement."""
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            *args,
            cwd=ROOT,
            stdout=output if stdout is None else stdout,
            stderr=output,
        )
        try:
            yield process
        finally:
            process.kill()
            await process.communicate()


def run_doomed(registry: TaskRegistry, pipeline: str) -> None:
    """The child's side of `doomed_worker`: `python -m MODULE REDIS_URL NAMESPACE` runs a
    worker for `registry` on `pipeline` until it is killed. It never reclaims while the test
    watches: what it holds must stay pending."""
    redis_url, namespace = sys.argv[1:3]
    settings = settings_with(reclaim_interval_seconds=600)
    asyncio.run(run_worker(settings, redis_url, Keyspace(namespace), [pipeline], registry=registry))


async def read_until(
    process: asyncio.subprocess.Process, marker: bytes, *, times: int = 1, within: float = 30
) -> None:
    """Until the process has printed the line `marker` on its stdout `times` times."""
    assert process.stdout is not None

    async def read() -> None:
        assert process.stdout is not None
        seen = 0
        while line := await process.stdout.readline():
            if line.strip() == marker:
                seen += 1
                if seen == times:
                    return
        raise AssertionError(f"the worker exited after printing {marker!r} {seen} times")

    await asyncio.wait_for(read(), within)
