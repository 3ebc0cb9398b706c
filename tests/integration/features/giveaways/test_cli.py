"""`townsquare giveaways verify ID` as an operator runs it: a drawn giveaway verifies; a pick
changed behind the draw's back does not."""

from __future__ import annotations

import asyncio
import datetime
import os
import subprocess
import sys
import typing

import pytest
from tortoise import Tortoise

from townsquare.core.settings import load_settings
from townsquare.features.giveaways.domain.config import GiveawaysSection
from townsquare.features.giveaways.domain.lifecycle import end_giveaway, one_by_one
from townsquare.features.giveaways.domain.models import Giveaway, GiveawayPick, GiveawayState
from townsquare.features.giveaways.domain.service import GiveawaySpec, create_giveaway

if typing.TYPE_CHECKING:
    from pathlib import Path

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

GUILD = 81_384_788_765_712_384
_ENTRIES = """
INSERT INTO giveaway_entries (giveaway_id, user_id, weight, active, entered_at, updated_at)
SELECT $1, u, 1 + u % 2, true, now(), now() FROM unnest($2::bigint[]) AS u
"""


async def _eligible(_: int) -> str | None:
    return None


@pytest.mark.usefixtures("orm")
async def test_verify_recomputes_the_draw(
    tmp_path: Path, redis_url: str, database_url: str, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    defaults = load_settings(environ={}, env_file=None).guild_defaults.section(GiveawaysSection)
    spec = GiveawaySpec(prize="Cap", duration_seconds=60, winners=3, channel_id=1, host_id=2)
    giveaway = await create_giveaway(GUILD, spec, defaults, now)
    await Giveaway.filter(id=giveaway.id).update(state=GiveawayState.RUNNING)
    await Tortoise.get_connection("default").execute_query(
        _ENTRIES, [giveaway.id, [10**16 + n for n in range(50)]]
    )
    assert await end_giveaway(redis, keyspace, giveaway.id, one_by_one(_eligible), now, force=True)
    environ = {key: value for key, value in os.environ.items() if not key.startswith("TOWNSQUARE")}
    environ |= {
        "TOWNSQUARE__DATABASE__URL": database_url,
        "TOWNSQUARE__REDIS__URL": redis_url,
        "TOWNSQUARE__PATHS__VAR_DIR": str(tmp_path),
    }
    command = [sys.executable, "-m", "townsquare.cli", "giveaways", "verify", str(giveaway.id)]

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, env=environ, capture_output=True, text=True, check=False)

    verified = await asyncio.to_thread(verify)
    assert verified.returncode == 0, verified.stderr
    assert "verified: the recorded picks are the seed's draw" in verified.stdout
    assert giveaway.seed in verified.stdout

    await GiveawayPick.filter(giveaway_id=giveaway.id, position=1).update(user_id=10**16 + 99)
    tampered = await asyncio.to_thread(verify)
    assert tampered.returncode == 1
    assert "MISMATCH: position 1: recorded <@10000000000000099>" in tampered.stderr
