"""`townsquare status`: the one-screen summary and its exit code, from a real process against
real Redis (0 all well, 1 something needs attention, 2 Redis unreachable)."""

from __future__ import annotations

import asyncio
import os
import sys
import typing

import pytest

from tests.support.console import write_shard_health
from tests.support.redis_cluster import ON_CLUSTER_TOO
from townsquare.core.alerts import acknowledge_alert, raise_alert
from townsquare.core.features import pipeline_names
from townsquare.core.processes import free_port
from townsquare.core.status import read_status

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]


async def status(redis_url: str, keyspace: Keyspace) -> tuple[int, str]:
    """Run `townsquare status` against `redis_url` and the test's namespace."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("TOWNSQUARE")}
    env |= {
        "TOWNSQUARE__REDIS__URL": redis_url,
        "TOWNSQUARE__REDIS__NAMESPACE": keyspace.namespace,
        "TOWNSQUARE__DATABASE__URL": "postgres://nobody@127.0.0.1:1/unused",
        "TOWNSQUARE__LOGGING__FORMAT": "json",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "townsquare.cli",
        "status",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_status_exits_by_what_needs_attention(
    redis_url: str, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    await write_shard_health(redis, keyspace, 0)
    await raise_alert(
        redis,
        keyspace,
        source="xp.apply_level",
        message="role",
        level="error",
        guild_id=123456789012345678,
    )  # the guild's business, not the operators'
    code, screen = await status(redis_url, keyspace)
    assert code == 0, screen
    assert "shard 0    connected" in screen
    assert "0 open for operators, 1 for guilds" in screen
    assert screen.rstrip().endswith("OK")

    await raise_alert(redis, keyspace, source="up/worker", message="worker exited")
    await redis.xadd(keyspace.key("dead_letter", "jobs"), {"task_name": "x", "error": "boom"})
    await write_shard_health(redis, keyspace, 1, state="connecting")
    code, screen = await status(redis_url, keyspace)
    assert code == 1, screen
    assert "shard 1 is connecting" in screen
    assert "1 dead letter(s) in jobs" in screen
    assert "1 open operator alert(s)" in screen
    assert "up/worker: worker exited" in screen


async def test_status_exits_2_when_redis_cannot_be_reached(keyspace: Keyspace) -> None:
    code, screen = await status(f"redis://127.0.0.1:{free_port()}/0", keyspace)
    assert code == 2, screen
    assert "Redis cannot be reached" in screen


async def test_no_shard_reporting_and_acknowledged_alerts(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    crash = await raise_alert(redis, keyspace, source="up/worker", message="worker exited")
    report = await read_status(redis, keyspace, pipeline_names())
    assert report.problems == [
        "no shard is reporting (are the shards running?)",
        "1 open operator alert(s) of level error or worse; acknowledge them in the console "
        "once handled",
    ]
    await write_shard_health(redis, keyspace, 0)
    await acknowledge_alert(redis, keyspace, crash)
    report = await read_status(redis, keyspace, pipeline_names())
    assert (report.problems, report.exit_code) == ([], 0)
