"""A worker runs registered jobs: the built-in ping, log context, replay, idempotency."""

from __future__ import annotations

import asyncio
import json
import typing
import uuid

import pytest
import structlog
from taskiq import TaskiqDepends

from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.waiting import wait_until
from tests.support.workers import Worker, settings_with
from townsquare.tasks import TaskRegistry, TaskResources, load_tasks
from townsquare.tasks.brokers import CONSUMER_GROUP, make_brokers
from townsquare.tasks.dead_letters import replay_dead_letter
from townsquare.tasks.health import PING_TASK
from townsquare.tasks.idempotency import done_key, run_once
from townsquare.tasks.worker import run_worker

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.tasks.brokers import PipelineBroker

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

REGISTRY = TaskRegistry()
SEEN: dict[str, list[dict[str, typing.Any]]] = {}
FIXED: set[str] = set()


@REGISTRY.task("jobs", "tests.log_context")
async def log_context(key: str) -> None:
    SEEN.setdefault(key, []).append(structlog.contextvars.get_contextvars())


@REGISTRY.task("jobs", "tests.fails_until_fixed")
async def fails_until_fixed(key: str) -> None:
    SEEN.setdefault(key, []).append(structlog.contextvars.get_contextvars())
    if key not in FIXED:
        raise LookupError("not fixed yet")


@REGISTRY.task("xp", "tests.needs_resources")
async def needs_resources(
    key: str, resources: typing.Annotated[TaskResources, TaskiqDepends()]
) -> None:
    SEEN.setdefault(key, []).append({"namespace": resources.keyspace.namespace})


@REGISTRY.task("jobs", "tests.many_commands_at_once")
async def many_commands_at_once(
    key: str, count: int, resources: typing.Annotated[TaskResources, TaskiqDepends()]
) -> None:
    # Each BLPOP holds its connection until it times out: `count` connections at once.
    idle = resources.keyspace.key("ping", key)  # never pushed to
    try:
        await asyncio.gather(*(resources.redis.blpop([idle], timeout=1) for _ in range(count)))
    except Exception as error:  # the test reads what failed
        SEEN[key] = [{"failed": type(error).__name__}]
    else:
        SEEN[key] = [{"failed": None}]


@pytest.fixture
def settings() -> Settings:
    return settings_with(jobs__max_attempts=1, jobs__backoff_base_seconds=0.05)


async def test_ping_runs_once_on_the_jobs_pipeline(
    keyspace: Keyspace, redis: aioredis.Redis, producers: dict[str, PipelineBroker], worker: Worker
) -> None:
    token = uuid.uuid4().hex
    async with worker(load_tasks()):
        await producers["jobs"].enqueue(PING_TASK, token)

        async def pinged() -> bool:
            return await redis.get(keyspace.key("ping", token)) is not None

        await wait_until(pinged, within=10, what="ping")
    assert await redis.get(keyspace.key("ping", token)) == b"1"
    assert 0 < await redis.ttl(keyspace.key("ping", token)) <= 300


async def test_jobs_queued_before_any_worker_started_are_not_skipped(
    settings: Settings, redis_url: str, keyspace: Keyspace, redis: aioredis.Redis, worker: Worker
) -> None:
    # A producer writes to a stream that has no consumer group yet.
    broker = make_brokers(settings, redis_url, keyspace, ["jobs"])["jobs"]
    key = uuid.uuid4().hex
    await broker.enqueue("tests.log_context", key)
    await broker.shutdown()
    async with worker(REGISTRY):
        await wait_until(lambda: key in SEEN, within=10, what="backlog job")


async def test_every_log_line_of_a_job_carries_its_id(
    keyspace: Keyspace, producers: dict[str, PipelineBroker], worker: Worker
) -> None:
    key = uuid.uuid4().hex
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as logs:
        async with worker(REGISTRY):
            job_id = await producers["jobs"].enqueue("tests.fails_until_fixed", key)
            await wait_until(
                lambda: any(line["event"] == "tasks.dead_lettered" for line in logs),
                within=10,
                what="dead letter log line",
            )
    [context] = SEEN[key]
    assert context["job_id"] == job_id
    assert context["task_name"] == "tests.fails_until_fixed"
    assert context["pipeline"] == "jobs"
    assert context["attempt"] == 1
    [dead] = [line for line in logs if line["event"] == "tasks.dead_lettered"]
    assert dead["job_id"] == job_id
    assert dead["task_name"] == "tests.fails_until_fixed"
    # Lines of the worker itself carry no job.
    assert all("job_id" not in line for line in logs if line["event"] == "tasks.worker_started")


async def test_a_replayed_dead_letter_runs_again_from_its_first_attempt(
    keyspace: Keyspace, redis: aioredis.Redis, producers: dict[str, PipelineBroker], worker: Worker
) -> None:
    key = uuid.uuid4().hex
    dead_letters = keyspace.key("dead_letter", "jobs")
    async with worker(REGISTRY):
        job_id = await producers["jobs"].enqueue("tests.fails_until_fixed", key)

        async def dead_lettered() -> bool:
            return await redis.xlen(dead_letters) == 1

        await wait_until(dead_lettered, within=10, what="dead letter")
        [(entry_id, _)] = await redis.xrange(dead_letters)
        FIXED.add(key)
        assert await replay_dead_letter(redis, keyspace, "jobs", entry_id.decode()) is not None
        await wait_until(lambda: len(SEEN[key]) == 2, within=10, what="replayed run")

        async def settled() -> bool:
            pending = await redis.xpending(producers["jobs"].queue_name, CONSUMER_GROUP)
            return pending["pending"] == 0

        await wait_until(settled, within=5, what="acknowledgement")
    assert await redis.xlen(dead_letters) == 0
    assert [run["job_id"] for run in SEEN[key]] == [job_id, job_id]
    assert [run["attempt"] for run in SEEN[key]] == [1, 1]
    assert await replay_dead_letter(redis, keyspace, "jobs", entry_id.decode()) is None


async def test_a_worker_serves_only_its_pipelines_and_injects_resources(
    keyspace: Keyspace, producers: dict[str, PipelineBroker], worker: Worker
) -> None:
    key = uuid.uuid4().hex
    await producers["xp"].enqueue("tests.needs_resources", key)
    async with worker(REGISTRY, pipelines=["jobs"]):
        await producers["jobs"].enqueue("tests.log_context", f"{key}-jobs")
        await wait_until(lambda: f"{key}-jobs" in SEEN, within=10, what="jobs task")
        assert key not in SEEN
    async with worker(REGISTRY, pipelines=["xp"]):
        await wait_until(lambda: key in SEEN, within=10, what="xp task")
    assert SEEN[key] == [{"namespace": keyspace.namespace}]


async def test_tasks_may_run_more_redis_commands_at_once_than_redis_py_s_default_pool(
    producers: dict[str, PipelineBroker], worker: Worker
) -> None:
    # redis-py's pool fails the 101st command at once (MaxConnectionsError); the tasks' client
    # lets a worker with hundreds of questions in flight wait for a connection instead.
    key = uuid.uuid4().hex
    async with worker(REGISTRY, pipelines=["jobs"]):
        await producers["jobs"].enqueue("tests.many_commands_at_once", key, 150)
        await wait_until(lambda: key in SEEN, within=20, what="the commands")
    assert SEEN[key] == [{"failed": None}]


async def test_unknown_pipelines_are_refused_before_anything_starts(
    settings: Settings, redis_url: str, keyspace: Keyspace
) -> None:
    with pytest.raises(ValueError, match="unknown pipeline 'mail'"):
        await run_worker(settings, redis_url, keyspace, ["jobs", "mail"], registry=REGISTRY)


async def test_run_once_runs_work_once_per_event_and_again_after_a_failure(
    keyspace: Keyspace, redis: aioredis.Redis
) -> None:
    calls: list[str] = []

    async def work() -> str:
        calls.append("ran")
        return "result"

    assert await run_once(redis, keyspace, "xp_message", "123:456", work) == (True, "result")
    assert await run_once(redis, keyspace, "xp_message", "123:456", work) == (False, None)
    assert calls == ["ran"]
    marker = done_key(keyspace, "xp_message", "123:456")
    assert await redis.get(marker) == b"done"
    assert 0 < await redis.ttl(marker) <= 86_400

    async def broken() -> None:
        raise RuntimeError("Discord said no")

    with pytest.raises(RuntimeError):
        await run_once(redis, keyspace, "xp_message", "789", broken)
    assert await redis.get(done_key(keyspace, "xp_message", "789")) is None
    assert await run_once(redis, keyspace, "xp_message", "789", work) == (True, "result")

    # While one delivery runs the work, a concurrent redelivery waits, then skips it.
    gate = asyncio.Event()

    async def slow() -> str:
        await gate.wait()
        return "slow"

    first = asyncio.create_task(run_once(redis, keyspace, "xp_message", "slow", slow))
    await wait_until(
        lambda: redis.exists(done_key(keyspace, "xp_message", "slow")),  # type: ignore[arg-type, return-value]
        within=5,
        what="lease",
    )
    second = asyncio.create_task(run_once(redis, keyspace, "xp_message", "slow", slow))
    gate.set()
    assert await first == (True, "slow")
    assert await second == (False, None)


async def test_a_killed_worker_s_lease_lapses_and_the_redelivery_does_the_work(
    keyspace: Keyspace, redis: aioredis.Redis
) -> None:
    """Found by the chaos suite (issue 17): a worker SIGKILLed while answering an `/ask` left
    its lease; the job taken over after the idle timeout found it and skipped the work, so
    the question was never answered. The redelivery now waits for the lease to lapse."""
    marker = done_key(keyspace, "ai_ask", "42")
    await redis.set(marker, b"running:a-dead-worker", px=1500)

    async def answer() -> str:
        return "answered"

    assert await run_once(redis, keyspace, "ai_ask", "42", answer) == (True, "answered")
    assert await redis.get(marker) == b"done"


async def test_messages_no_task_here_can_run_are_dead_lettered_not_dropped(
    keyspace: Keyspace, redis: aioredis.Redis, producers: dict[str, PipelineBroker], worker: Worker
) -> None:
    jobs = producers["jobs"]
    dead_letters = keyspace.key("dead_letter", "jobs")
    job_id = await jobs.enqueue("tests.nobody_knows", 1, two=2)
    await redis.xadd(jobs.queue_name, {b"data": b"not a task"})
    await redis.xadd(jobs.queue_name, {b"something": b"else"})
    async with worker(REGISTRY):

        async def kept() -> bool:
            return await redis.xlen(dead_letters) == 2

        await wait_until(kept, within=10, what="dead letters")

        async def settled() -> bool:
            pending = await redis.xpending(jobs.queue_name, CONSUMER_GROUP)
            return pending["pending"] == 0

        await wait_until(settled, within=5, what="acknowledgements")

    # Unreadable entries are dead-lettered as they are read, jobs of unknown tasks by the
    # receiver: either may come first.
    letters = [fields for _, fields in await redis.xrange(dead_letters)]
    [unknown] = [fields for fields in letters if fields[b"task_name"]]
    [unreadable] = [fields for fields in letters if not fields[b"task_name"]]
    assert unknown[b"task_name"] == b"tests.nobody_knows"
    assert unknown[b"task_id"] == job_id.encode()
    assert unknown[b"error"].startswith(b"townsquare.tasks.errors.UnknownTaskError: no task")
    assert unknown[b"attempts"] == b"0"
    assert json.loads(unknown[b"args"]) == [1]
    assert json.loads(unknown[b"kwargs"]) == {"two": 2}
    assert unreadable[b"message"] == b"not a task"
    assert unreadable[b"error"].startswith(b"townsquare.tasks.errors.UnknownTaskError: not a task")
