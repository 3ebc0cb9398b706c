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

`TOWNSQUARE_BENCH_FOOTPRINT_MODES` chooses the modes, comma-separated (default `multi,single`):
`multi`, `single`, and `single-discord`, the single-process mode as a self-hoster runs it: a
bot token, and the sandbox playing Discord from a process of its own outside the measured
tree (in `single` the sandbox, Discord's stand-in with its whole world in memory, runs inside
the measured process; in `multi` it is one of `up`'s children).

The result's value is the single-process total PSS at the end, its baseline the multi-process
one in the same run; the issue's target is at most 300 MiB for the single-process mode with
embedded PostgreSQL and Valkey, which the JSON line reports per mode as `target_met` (by PSS
and by RSS).
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
MODES: typing.Final = {
    "multi": [],
    "single": ["--single-process"],
    "single-discord": ["--single-process"],
}
"""`single-discord`: the single-process mode as a self-hoster runs it, with a bot token; the
sandbox plays Discord from a process of its own, outside the measured tree (Discord's servers
are not on the self-hoster's machine), so no demo is set up either."""
CHOSEN_MODES: typing.Final = os.environ.get("TOWNSQUARE_BENCH_FOOTPRINT_MODES", "multi,single")
"""Which modes to run, comma-separated (without `multi`: no baseline in the result line)."""


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


def _discord_from_a_sandbox(home: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start `townsquare sandbox` on its own and point `env` at it with its bot token."""
    sandbox_env = env | {"TOWNSQUARE__PATHS__VAR_DIR": str(home / "discord")}
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "townsquare.cli", "sandbox"],
        cwd=home,
        env=sandbox_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    info_path = home / "discord" / "sandbox.json"
    deadline = time.monotonic() + 60
    while not info_path.exists():
        if time.monotonic() > deadline or sandbox.poll() is not None:
            sandbox.kill()
            raise SystemExit("the sandbox did not start")
        time.sleep(0.2)  # polling a bounded wait
    time.sleep(0.5)  # written whole by then (a rename would be nicer; a benchmark can wait)
    info = json.loads(info_path.read_text())
    http_url = f"http://127.0.0.1:{env['TOWNSQUARE__HTTP__PORT']}"
    env |= {
        "TOWNSQUARE__DISCORD__BOT_TOKEN": info["bot_token"],
        "TOWNSQUARE__DISCORD__REST_URL": info["rest_url"],
        "TOWNSQUARE__DISCORD__APPLICATION_ID": str(info["application_id"]),
        "TOWNSQUARE__DISCORD__OAUTH_CLIENT_ID": str(info["oauth_client_id"]),
        "TOWNSQUARE__DISCORD__OAUTH_CLIENT_SECRET": info["oauth_client_secret"],
        "TOWNSQUARE__HTTP__JWT_SIGNING_KEY": "k" * 64,
        "TOWNSQUARE__HTTP__SERVICE_TOKEN": "s" * 48,
        "TOWNSQUARE__HTTP__PUBLIC_URL": http_url,
        "TOWNSQUARE__HTTP__INTERNAL_URL": http_url,
    }
    return sandbox


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
    sandbox = _discord_from_a_sandbox(home, env) if mode == "single-discord" else None
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
        if sandbox is not None:
            sandbox.send_signal(signal.SIGINT)
            sandbox.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    return {"start": started, "end": ended}


def main() -> None:
    results = {mode: run_mode(mode) for mode in MODES if mode in CHOSEN_MODES.split(",")}
    # The value: the single-process mode with the sandbox in it (as `make bench` runs it), else
    # the first other mode chosen.
    primary = next(mode for mode in ("single", "single-discord", "multi") if mode in results)
    single = results[primary]["end"]
    multi = results["multi"]["end"] if "multi" in results else None
    line: dict[str, typing.Any] = {
        "benchmark": "footprint",
        "value": single["pss_mib"],
        "unit": f"MiB PSS, whole platform, {primary} mode",
        "baseline": multi["pss_mib"] if multi else None,
        "ratio": round(single["pss_mib"] / multi["pss_mib"], 3) if multi else None,
        "seconds": RUN_SECONDS,
    }
    for mode, result in results.items():
        for moment in ("start", "end"):
            for unit in ("rss", "pss"):
                line[f"{mode.replace('-', '_')}_{moment}_{unit}_mib"] = result[moment][
                    f"{unit}_mib"
                ]
    line["target_mib"] = TARGET_MIB
    line["target_met"] = {
        mode: {unit: result["end"][f"{unit}_mib"] <= TARGET_MIB for unit in ("pss", "rss")}
        for mode, result in results.items()
        if mode != "multi"
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
