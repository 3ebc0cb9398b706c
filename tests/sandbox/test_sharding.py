"""4 shards run as 2 processes of 2 shard ids, and every guild reaches exactly one shard."""

from __future__ import annotations

import asyncio
import json
import sys
import typing
from pathlib import Path

from tests.support.paths import SCENARIOS
from townsquare.sandbox import Sandbox, SandboxSettings
from townsquare.sandbox.gateway import GatewaySettings

HERE = Path(__file__).resolve().parent
SCENARIO = SCENARIOS / "four_shards.yaml"
WORKER = HERE.parent / "support" / "shard_worker.py"
SHARD_COUNT = 4


class WorkerResult(typing.NamedTuple):
    ready: dict[int, list[int]]
    """Shard id -> the guild ids its READY listed."""
    guild_creates: list[tuple[int, int]]
    """(shard id, guild id) of every GUILD_CREATE, in arrival order."""


async def run_worker(rest_url: str, token: str, shard_ids: list[int]) -> WorkerResult:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        rest_url,
        token,
        str(SHARD_COUNT),
        *map(str, shard_ids),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()[-2000:]
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    return WorkerResult(
        ready={int(shard): [int(g) for g in ids] for shard, ids in result["ready"].items()},
        guild_creates=[(int(shard), int(guild)) for shard, guild in result["guild_creates"]],
    )


async def test_four_shards_in_two_processes_each_guild_reaches_exactly_one_shard() -> None:
    # max_concurrency 2: hikari identifies both shards of a process in one startup window.
    settings = SandboxSettings(gateway=GatewaySettings(max_concurrency=2))
    sandbox = Sandbox(scenario=SCENARIO, settings=settings)
    async with sandbox as info:
        results = await asyncio.gather(
            run_worker(info.rest_url, info.bot_token, [0, 1]),
            run_worker(info.rest_url, info.bot_token, [2, 3]),
        )
    guilds = sorted(sandbox.world.guilds)
    assert len(guilds) == 8

    def owner(guild_id: int) -> int:
        return (guild_id >> 22) % SHARD_COUNT

    creates = [(shard, guild) for result in results for shard, guild in result.guild_creates]
    # Every guild arrived exactly once, on the shard Discord's formula assigns it.
    assert sorted(g for _, g in creates) == guilds
    assert all(shard == owner(guild) for shard, guild in creates)
    assert {s for s, _ in creates} == {0, 1, 2, 3}  # every shard owned some guild
    # Each process identified exactly its own shards, and READY listed exactly their guilds.
    for result, shard_ids in zip(results, ([0, 1], [2, 3]), strict=True):
        assert sorted(result.ready) == shard_ids
        assert {s for s, _ in result.guild_creates} == set(shard_ids)
        for shard, listed in result.ready.items():
            assert listed == [g for g in guilds if owner(g) == shard]
