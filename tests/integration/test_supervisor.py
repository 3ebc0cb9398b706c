from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.waiting import wait_until
from townsquare.core.processes import process_alive
from townsquare.supervisor import ChildSpec, Supervisor

SLEEPER = "import time\nwhile True: time.sleep(1)"


def _crasher(starts: Path) -> str:
    return textwrap.dedent(
        f"""
        import sys, time
        with open({str(starts)!r}, "a") as f:
            f.write(f"{{time.monotonic()}}\\n")
        sys.exit(3)
        """
    )


async def test_crashed_children_restart_with_growing_delays_and_stop_cleanly(
    tmp_path: Path,
) -> None:
    starts = tmp_path / "starts.txt"
    crashes: list[tuple[str, int, float]] = []

    async def on_crash(name: str, code: int, delay: float) -> None:
        crashes.append((name, code, delay))

    supervisor = Supervisor(
        [
            ChildSpec("crasher", (sys.executable, "-c", _crasher(starts))),
            ChildSpec("sleeper", (sys.executable, "-c", SLEEPER)),
        ],
        log_dir=tmp_path / "log",
        cwd=tmp_path,
        env=os.environ,
        on_crash=on_crash,
        backoff_base_seconds=0.1,
        backoff_max_seconds=0.4,
        stable_seconds=60,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop))
    await wait_until(lambda: len(crashes) >= 5, within=20, what="five crashes")
    sleeper_pid = supervisor.pids()["sleeper"]
    stop.set()
    await asyncio.wait_for(running, timeout=20)

    assert [delay for _, _, delay in crashes[:5]] == [0.1, 0.2, 0.4, 0.4, 0.4]
    assert all(name == "crasher" and code == 3 for name, code, _ in crashes)
    times = [float(line) for line in starts.read_text().split()]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(gap >= delay for gap, (_, _, delay) in zip(gaps, crashes, strict=False))
    assert supervisor.restarts()["sleeper"] == 0
    assert not process_alive(sleeper_pid)
    assert (tmp_path / "log" / "sleeper.log").exists()


def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    child = f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n{SLEEPER}"
    script = textwrap.dedent(
        f"""
        import asyncio, os, sys
        from pathlib import Path
        from townsquare.supervisor import ChildSpec, Supervisor
        supervisor = Supervisor(
            [ChildSpec("child", (sys.executable, "-c", {child!r}))],
            log_dir=Path({str(tmp_path)!r}), cwd=Path({str(tmp_path)!r}), env=os.environ,
        )
        asyncio.run(supervisor.run(asyncio.Event()))
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "child never started"
            time.sleep(0.05)  # bounded poll
        child_pid = int(pid_file.read_text())
        assert process_alive(child_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while process_alive(child_pid):
            if time.monotonic() > deadline:
                pytest.fail("the child outlived its supervisor")
            time.sleep(0.05)  # bounded poll
    finally:
        if parent.poll() is None:
            parent.kill()


async def test_a_crash_becomes_an_operator_alert(redis, redis_url, keyspace) -> None:
    from townsquare.supervisor import crash_alerts

    await crash_alerts(redis_url, keyspace)("worker", 3, 2.0)
    [(_, fields)] = await redis.xrange(keyspace.key("alerts"))
    assert fields[b"source"] == b"up/worker"
    assert fields[b"level"] == b"error"
    assert fields[b"message"] == b"worker exited with code 3; restarting in 2 s"
