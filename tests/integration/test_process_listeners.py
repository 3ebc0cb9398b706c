"""Each process kind's own listener, scraped and parsed: a worker's task outcomes and queue
gauges, the scheduler's due jobs, and `/readyz` following the dependencies (docs/metrics.md).
The shards' listener is scraped in the platform run of test_up.py."""

from __future__ import annotations

import asyncio
import contextlib
import typing

import aiohttp
import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from tests.support.pipeline import enqueue
from tests.support.tcp_proxy import proxied_url, tcp_proxy
from tests.support.waiting import wait_until
from tests.support.workers import settings_with
from townsquare.core.features import Schedule
from townsquare.core.observability import ProcessListener, redis_check
from townsquare.core.processes import free_port
from townsquare.tasks import TaskRegistry
from townsquare.tasks.errors import PermanentJobError
from townsquare.tasks.health import PING_TASK, ping
from townsquare.tasks.registry import TaskSpec
from townsquare.tasks.schedule_sources import install_schedules, make_schedule_source
from townsquare.tasks.scheduler import run_scheduler
from townsquare.tasks.worker import run_worker

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable

    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration

REGISTRY = TaskRegistry()
REGISTRY.add(TaskSpec(PING_TASK, "jobs", ping))


@REGISTRY.task("jobs", "tests.always_fails")
async def always_fails() -> None:
    raise PermanentJobError("this job can never work")


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the listener's `/metrics`, by name and labels ({} while it starts)."""
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            return _parsed(response.status, response.headers["Content-Type"], await response.text())
    except aiohttp.ClientConnectorError:
        return {}


def _parsed(
    status: int, content_type: str, text: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    assert status == 200
    assert content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def ready(port: int) -> tuple[int, dict[str, typing.Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/readyz") as response,
    ):
        return response.status, await response.json()


@contextlib.asynccontextmanager
async def running(work: Awaitable[None], stop: asyncio.Event) -> AsyncIterator[None]:
    task = asyncio.ensure_future(work)
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


async def test_a_worker_counts_outcomes_and_is_ready(
    redis_url: str, redis: aioredis.Redis, keyspace: Keyspace, orm: None
) -> None:
    settings, port, stop = settings_with(), free_port(), asyncio.Event()
    work = run_worker(
        settings, redis_url, keyspace, ["jobs"], shutdown=stop, registry=REGISTRY, metrics_port=port
    )
    async with running(work, stop):
        await enqueue(redis, keyspace, "jobs", PING_TASK, token="metrics")
        await enqueue(redis, keyspace, "jobs", "tests.always_fails")
        labels = (("pipeline", "jobs"), ("task", PING_TASK))
        ok = ("townsquare_tasks_total", (("outcome", "success"), *labels))
        dead = (
            "townsquare_tasks_total",
            (("outcome", "dead_letter"), ("pipeline", "jobs"), ("task", "tests.always_fails")),
        )
        gauge = ("townsquare_dead_letters", (("pipeline", "jobs"),))

        async def counted() -> bool:
            samples = await scrape(port)
            return samples.get(ok) == 1 and samples.get(dead) == 1 and samples.get(gauge) == 1

        await wait_until(counted, within=15, what="both outcomes and the dead letter")
        assert (await scrape(port))[("townsquare_task_seconds_count", labels)] == 1
        assert await ready(port) == (
            200,
            {
                "status": "ready",
                "checks": {"redis": "ok", "postgresql": "ok"},
                "failing": [],
                "process": "worker",
            },
        )


async def test_readyz_follows_a_dependency_that_goes_away(redis_url: str) -> None:
    port = free_port()
    async with tcp_proxy(redis_url) as proxy:
        client = aioredis.Redis.from_url(proxied_url(redis_url, proxy), socket_timeout=1)
        listener = ProcessListener("test", CollectorRegistry(), {"redis": redis_check(client)})
        assert await listener.start("127.0.0.1", port) == port
        try:
            assert await ready(port) == (
                200,
                {"status": "ready", "checks": {"redis": "ok"}, "failing": [], "process": "test"},
            )
            await proxy.cut()
            await wait_until(lambda: _failing(port, ["redis"]), within=10, what="unavailable")
            await proxy.restore()
            await wait_until(lambda: _failing(port, []), within=10, what="ready again")
            # A second listener on a taken port: logged, no listener, nothing raised.
            taken = ProcessListener("second", CollectorRegistry(), {})
            assert await taken.start("127.0.0.1", port) is None
        finally:
            await listener.stop()
            await client.aclose()


async def _failing(port: int, names: list[str]) -> bool:
    status, body = await ready(port)
    return status == (503 if names else 200) and body["failing"] == names


async def test_the_scheduler_counts_the_jobs_it_queues(
    redis_url: str, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    settings, port, stop = settings_with(), free_port(), asyncio.Event()
    source = await make_schedule_source(redis_url, keyspace)
    try:
        await install_schedules(source, [Schedule("ping-often", PING_TASK, interval_seconds=1)])
    finally:
        await source.shutdown()
    work = run_scheduler(
        settings,
        redis_url,
        keyspace,
        shutdown=stop,
        registry=REGISTRY,
        update_interval_seconds=0.5,
        metrics_port=port,
    )
    async with running(work, stop):
        due = ("townsquare_scheduler_jobs_due_total", (("task", PING_TASK),))

        async def fired() -> bool:
            samples = await scrape(port)
            return samples.get(due, 0) >= 1 and samples[("townsquare_scheduler_active", ())] == 1

        await wait_until(fired, within=15, what="a due job counted")
        assert (await ready(port))[0] == 200
    assert await redis.xlen(keyspace.key("stream", "jobs")) >= 1
