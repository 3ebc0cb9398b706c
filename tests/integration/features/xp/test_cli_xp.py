"""`townsquare xp import-mee6` end to end: a file in, totals in Redis, an audit row out."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from townsquare.core.audit.models import AuditEntry

GUILD = 81_384_788_765_712_384


@pytest.fixture
def env(tmp_path: Path, redis_url, database_url, keyspace) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("TOWNSQUARE")},
        "TOWNSQUARE__REDIS__URL": redis_url,
        "TOWNSQUARE__DATABASE__URL": database_url,
        "TOWNSQUARE__REDIS__NAMESPACE": keyspace.namespace,
        "TOWNSQUARE__PATHS__VAR_DIR": str(tmp_path / "var"),
    }


@pytest.mark.usefixtures("orm")
async def test_import_mee6_sets_totals_and_audits(tmp_path: Path, env, redis, keyspace) -> None:
    leaderboard = tmp_path / "mee6.json"
    players = [{"id": str(10**17 + n), "xp": 100 * n, "message_count": n} for n in range(1, 6)]
    leaderboard.write_text(json.dumps({"players": players}))
    result = await _invoke(env, ["xp", "import-mee6", str(leaderboard), "--guild", str(GUILD)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "imported 5 member(s)" in (result.stdout + result.stderr)
    totals = await redis.hgetall(keyspace.key("xp", GUILD))
    assert {int(k): int(v) for k, v in totals.items()} == {10**17 + n: 100 * n for n in range(1, 6)}
    assert await AuditEntry.filter(guild_id=GUILD).exists()


@pytest.mark.usefixtures("orm")
async def test_a_bad_file_is_refused_with_its_place(tmp_path: Path, env, redis, keyspace) -> None:
    leaderboard = tmp_path / "bad.json"
    leaderboard.write_text(json.dumps({"players": [{"id": "12", "xp": -5}]}))
    result = await _invoke(env, ["xp", "import-mee6", str(leaderboard), "--guild", str(GUILD)])
    assert result.returncode == 2
    assert "players.0" in (result.stdout + result.stderr)
    assert not await redis.exists(keyspace.key("xp", GUILD))


async def _invoke(env: dict[str, str], args: list[str]) -> subprocess.CompletedProcess[str]:
    # The real command in its own process, as an operator runs it.
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "townsquare.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
