"""Memory of the whole platform: `up --single-process` against the normal multi-process `up`.

Each mode runs `townsquare up --no-console` in a fresh directory on the embedded PostgreSQL and
Valkey with the sandbox's demo crowd chatting (`sandbox.crowd_rate` from the defaults), one
mode after the other in the same run. The footprint is summed over `up` and every process
under it (the sandbox, the platform's processes or its one process, Valkey, PostgreSQL and
its backends), as RSS and as PSS (`/proc/<pid>/smaps_rollup`): RSS counts pages shared
between processes (the interpreter's and libraries' files, PostgreSQL's shared buffers) once
per process, PSS divides them among their sharers, so summed PSS is what the machine really
spends. Measured after start-up (the banner printed and 30 s settled) and after
`TOWNSQUARE_BENCH_FOOTPRINT_SECONDS` (default 300) of the crowd.
`TOWNSQUARE_BENCH_FOOTPRINT_MODES=single` runs the single-process mode alone (no baseline).

The result's value is the single-process total PSS at the end, its baseline the multi-process
one in the same run; the issue's target is at most 300 MiB for the single-process mode with
embedded PostgreSQL and Valkey, which the JSON line reports as `target_met` (by PSS and by RSS).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_SECONDS = float(os.environ.get("TOWNSQUARE_BENCH_FOOTPRINT_SECONDS", "300"))
SETTLE_SECONDS = 30.0
TARGET_MIB = 300.0
MODES: typing.Final = {"multi": [], "single": ["--single-process"]}
CHOSEN_MODES: typing.Final = os.environ.get("TOWNSQUARE_BENCH_FOOTPRINT_MODES", "multi,single")
"""Which modes to run, comma-separated (`single` alone: no baseline in the result line)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [root], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def _kind(pid: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "gone"
    if "/postgres " in cmdline or cmdline.startswith("postgres"):
        return "postgres"
    if "valkey" in cmdline:
        return "valkey"
    return "python"


def _memory(pid: int) -> tuple[int, int]:
    """RSS and PSS of `pid` in kB (0, 0 when it is gone)."""
    values = {"Rss:": 0, "Pss:": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(" ")
            if name in values:
                values[name] = int(rest.split()[0])
    except OSError:
        pass
    return values["Rss:"], values["Pss:"]


def measure(root: int) -> dict[str, typing.Any]:
    by_kind: dict[str, dict[str, float]] = {}
    for pid in _descendants(root):
        kind = _kind(pid)
        rss, pss = _memory(pid)
        entry = by_kind.setdefault(kind, {"processes": 0, "rss_mib": 0.0, "pss_mib": 0.0})
        entry["processes"] += 1
        entry["rss_mib"] += rss / 1024
        entry["pss_mib"] += pss / 1024
    by_kind.pop("gone", None)
    for entry in by_kind.values():
        entry["rss_mib"] = round(entry["rss_mib"], 1)
        entry["pss_mib"] = round(entry["pss_mib"], 1)
    return {
        "rss_mib": round(sum(e["rss_mib"] for e in by_kind.values()), 1),
        "pss_mib": round(sum(e["pss_mib"] for e in by_kind.values()), 1),
        "by_kind": by_kind,
    }


def run_mode(mode: str) -> dict[str, typing.Any]:
    home = Path(tempfile.mkdtemp(prefix=f"townsquare-footprint-{mode}-"))
    home.chmod(0o755)
    env = {name: value for name, value in os.environ.items() if not name.startswith("TOWNSQUARE")}
    env |= {
        "TOWNSQUARE__PATHS__VAR_DIR": str(home / "var"),
        "TOWNSQUARE__LOGGING__FORMAT": "json",
        "TOWNSQUARE__SANDBOX__PORT": str(_free_port()),
        "TOWNSQUARE__HTTP__PORT": str(_free_port()),
        "TOWNSQUARE__HTTP__METRICS_PORT": str(_free_port()),
        "TOWNSQUARE__METRICS__SHARDS_PORT": str(_free_port()),
        "TOWNSQUARE__METRICS__WORKER_PORT": str(_free_port()),
        "TOWNSQUARE__METRICS__SCHEDULER_PORT": str(_free_port()),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "townsquare.cli", "up", "--no-console", *MODES[mode]],
        cwd=home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "Ctrl-C stops everything" in line:
                break
        else:
            raise SystemExit(f"{mode}: up exited before it started")
        # Nobody reads the rest; in multi-process mode the children log to files, in single
        # mode the process does, so the pipe stays quiet.
        time.sleep(SETTLE_SECONDS)
        started = measure(process.pid)
        print(f"{mode} after start-up: {json.dumps(started)}", flush=True)
        time.sleep(RUN_SECONDS)
        ended = measure(process.pid)
        print(f"{mode} after {RUN_SECONDS:g} s of the crowd: {json.dumps(ended)}", flush=True)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        shutil.rmtree(home, ignore_errors=True)
    return {"start": started, "end": ended}


def main() -> None:
    results = {mode: run_mode(mode) for mode in MODES if mode in CHOSEN_MODES.split(",")}
    single = results["single"]["end"]
    multi = results["multi"]["end"] if "multi" in results else None
    print(
        json.dumps(
            {
                "benchmark": "footprint",
                "value": single["pss_mib"],
                "unit": "MiB PSS, whole platform, single-process mode",
                "baseline": multi["pss_mib"] if multi else None,
                "ratio": round(single["pss_mib"] / multi["pss_mib"], 3) if multi else None,
                "seconds": RUN_SECONDS,
                "single_rss_mib": single["rss_mib"],
                "multi_rss_mib": multi["rss_mib"] if multi else None,
                "single_start_pss_mib": results["single"]["start"]["pss_mib"],
                "single_start_rss_mib": results["single"]["start"]["rss_mib"],
                "multi_start_pss_mib": results["multi"]["start"]["pss_mib"] if multi else None,
                "target_mib": TARGET_MIB,
                "target_met": {
                    "pss": single["pss_mib"] <= TARGET_MIB,
                    "rss": single["rss_mib"] <= TARGET_MIB,
                },
            }
        )
    )


if __name__ == "__main__":
    main()
