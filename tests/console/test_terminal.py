"""The console in a real terminal: tmux at 80x24, its screen captured and read.

Needs the `tmux` binary (CI installs it); the test fails rather than skips without it, so a
missing tmux is noticed. The tmux server runs on a socket of its own and is killed afterwards.
"""

from __future__ import annotations

import asyncio
import datetime
import shutil
import subprocess
import sys
import tempfile
import typing
from pathlib import Path

import pytest

from tests.support.console import (
    add_dead_letter,
    feature_tab_keys,
    pending_stream,
    write_shard_health,
)
from tests.support.redis_cluster import ON_CLUSTER_TOO
from townsquare.core.alerts import raise_alert
from townsquare.core.guilds.models import Guild
from townsquare.features.premium.domain.models import (
    PremiumSource,
    PremiumSubscription,
    PremiumTier,
)

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("orm")]

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 80, 24


class Terminal:
    """One tmux server on a private socket, with one 80x24 session."""

    def __init__(self, tmux: str, socket: Path) -> None:
        self.tmux = tmux
        self.socket = socket
        self.session = "console"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.tmux, "-S", str(self.socket), *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=10,
        )

    def start(self, command: list[str]) -> None:
        self.run(
            "new-session", "-d", "-s", self.session, "-x", str(WIDTH), "-y", str(HEIGHT),
            "-c", str(ROOT), "-e", "TERM=xterm-256color", *command,
        )  # fmt: skip

    def screen(self) -> list[str]:
        return self.run("capture-pane", "-p", "-t", self.session).stdout.splitlines()

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def alive(self) -> bool:
        return self.run("has-session", "-t", self.session, check=False).returncode == 0

    def stop(self) -> None:
        self.run("kill-server", check=False)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    tmux = shutil.which("tmux")
    assert tmux, "tmux is needed for the real-terminal test: apt-get install -y tmux"
    # A socket of our own (not under tmp_path: a socket path must stay short).
    directory = Path(tempfile.mkdtemp(prefix="ts-tmux-"))
    terminal = Terminal(tmux, directory / "sock")
    try:
        yield terminal
    finally:
        terminal.stop()
        shutil.rmtree(directory, ignore_errors=True)


async def _until_screen(
    terminal: Terminal, check: Callable[[str], bool], what: str, within: float = 20.0
) -> str:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        text = "\n".join(terminal.screen())
        if check(text):
            return text
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not on screen within {within} s:\n{text}")
        await asyncio.sleep(0.1)


# The console as an operator runs it, also against the cluster (`--redis-url redis+cluster://`).
@ON_CLUSTER_TOO
async def test_the_console_fits_and_works_in_an_80x24_terminal(
    terminal: Terminal,
    redis_url: str,
    database_url: str,
    keyspace: Keyspace,
    redis: aioredis.Redis,
) -> None:
    await write_shard_health(redis, keyspace, 0, guilds=1200, events_per_second=12.5)
    await write_shard_health(redis, keyspace, 1, reported_ago=12.0)
    await pending_stream(redis, keyspace, "jobs", queued=7, delivered=4)
    await add_dead_letter(redis, keyspace, "jobs", "giveaways.end", 42)
    await raise_alert(redis, keyspace, source="shards", message="shard 1 is silent")
    await Guild.create(id=101, name="Harbour")
    await PremiumSubscription.create(
        guild_id=101,
        tier=PremiumTier.PRO,
        source=PremiumSource.MANUAL,
        starts_at=datetime.datetime.now(datetime.UTC),
        expires_at=datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=3),
    )
    terminal.start(
        [
            sys.executable, "-m", "townsquare.console",
            "--redis-url", redis_url,
            "--database-url", database_url,
            "--namespace", keyspace.namespace,
        ]
    )  # fmt: skip

    shards = await _until_screen(terminal, lambda s: "2 shards" in s, "the shards")
    lines = shards.splitlines()
    assert len(lines) <= HEIGHT and all(len(line) <= WIDTH for line in lines)
    assert "Townsquare console" in lines[0]
    keys = feature_tab_keys()
    assert "1 Shards" in lines[1] and f"{keys['alerts']} Alerts" in lines[1]
    assert "q Quit" in lines[-1]  # the footer is on the last row: everything fits
    assert "1 stale or disconnected" in shards
    assert any(line.split()[:2] == ["1", "STALE"] for line in lines if line.strip())
    assert any(line.split()[:3] == ["0", "connected", "42"] for line in lines if line.strip())

    terminal.keys("2")
    queues = await _until_screen(terminal, lambda s: "Pend" in s, "the queues")
    [jobs] = [line.split() for line in queues.splitlines() if line.strip().startswith("jobs")]
    assert jobs[1:4] == ["7", "4", "1"]  # length, pending, consumers

    terminal.keys("3")
    dead = await _until_screen(
        terminal, lambda s: "giveaways.end" in s and "r Replay" in s, "the dead letters"
    )
    assert "r Replay" in dead.splitlines()[-1]

    terminal.keys(keys["premium"])
    premium = await _until_screen(terminal, lambda s: "Harbour" in s, "premium")
    assert "expiring in 7 d 1" in premium

    terminal.keys(keys["alerts"])
    await _until_screen(terminal, lambda s: "shard 1 is silent" in s, "the alerts")

    terminal.keys("q")
    deadline = asyncio.get_running_loop().time() + 10
    while terminal.alive():
        assert asyncio.get_running_loop().time() < deadline, "the console did not quit on q"
        await asyncio.sleep(0.1)
