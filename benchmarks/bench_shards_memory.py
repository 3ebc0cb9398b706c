"""Memory of a shard per 1,000 guilds: our trimmed hikari cache against hikari's defaults.

A sandbox (in its own process) serves a generated scenario of small guilds: 6 roles, 8 channels
(a category, 5 text, 2 voice), 12 members, 2 of them in voice. Each measurement runs in a fresh
process: a real `hikari.GatewayBot` connects, receives every guild, and reports the Python heap
(tracemalloc, after a full GC) and the RSS. Per 1,000 guilds = (heap with 1,000 guilds - heap
with 1 guild) scaled to 1,000. The baseline is hikari's defaults (`CacheSettings()`, every
component; `Intents.ALL_UNPRIVILEGED`); ours is `townsquare.shards.make_gateway_bot`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import yaml

GUILDS = 1000
VARIANTS = ("ours", "hikari_default")


def scenario(guilds: int) -> dict[str, object]:
    people = [f"person{n}" for n in range(11)]
    return {
        "epoch": "2024-01-01T00:00:00Z",
        "application": {
            "name": "Bench",
            "bot_username": "benchbot",
            "owner": "owner",
            "privileged_intents": ["MESSAGE_CONTENT"],
        },
        "guilds": [
            {
                "name": f"Guild {g}",
                "owner": "owner",
                "afk_channel": "afk",
                "everyone_permissions": ["VIEW_CHANNEL", "SEND_MESSAGES", "CONNECT", "SPEAK"],
                "roles": [
                    {"key": "bot", "name": "Bot", "bot": True},
                    *({"key": f"r{r}", "name": f"Role {r}"} for r in range(5)),
                ],
                "channels": [
                    {"key": "cat", "type": "category", "name": "Main"},
                    *(
                        {"key": f"t{c}", "type": "text", "name": f"text-{c}", "parent": "cat"}
                        for c in range(5)
                    ),
                    {"key": "lounge", "type": "voice", "name": "Lounge", "parent": "cat"},
                    {"key": "afk", "type": "voice", "name": "AFK", "parent": "cat"},
                ],
                "members": {"owner": ["r0"]} | {p: [f"r{n % 5}"] for n, p in enumerate(people)},
                "voice_states": [
                    {"user": "person0", "channel": "lounge"},
                    {"user": "person1", "channel": "lounge", "self_mute": True},
                ],
            }
            for g in range(guilds)
        ],
    }


async def measure(
    variant: str, rest_url: str, token: str, guilds: int, *, trace: bool
) -> dict[str, float]:
    """The heap (with `trace`, through tracemalloc) or the RSS (without: tracemalloc's own
    bookkeeping would count) that the bot grew by once it holds every guild."""
    import hikari
    from pydantic import SecretStr

    from townsquare.core.discord import DiscordTarget
    from townsquare.core.settings import load_settings
    from townsquare.shards import make_gateway_bot

    gc.collect()
    if trace:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    rss_before = _rss_kib()
    if variant == "ours":
        target = DiscordTarget(rest_url, SecretStr(token), 0, is_sandbox=True)
        bot = make_gateway_bot(load_settings(env_file=None), target)
    else:
        bot = hikari.GatewayBot(
            token,
            rest_url=rest_url,
            banner=None,
            logs=None,
            suppress_optimization_warning=True,
        )
    await bot.start(check_for_updates=False)
    deadline = time.monotonic() + 120
    while len(bot.cache.get_guilds_view()) < guilds:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(bot.cache.get_guilds_view())} of {guilds} guilds")
        await asyncio.sleep(0.05)
    gc.collect()
    heap = tracemalloc.get_traced_memory()[0] - before
    rss = _rss_kib() - rss_before
    await bot.close()
    return {"heap_kib": heap / 1024} if trace else {"rss_kib": rss}


def _rss_kib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1])
    return 0.0


def run_sandbox(path: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    code = (
        "import asyncio, sys\n"
        "from townsquare.sandbox import run_sandbox\n"
        "asyncio.run(run_sandbox('127.0.0.1', 0, sys.argv[1], 0, 1, True))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())


def child(variant: str, guilds: int, info: dict[str, str]) -> dict[str, float]:
    """Heap and RSS, each from its own fresh process."""
    result: dict[str, float] = {}
    for mode in ("heap", "rss"):
        command = [sys.executable, "-m", "benchmarks.bench_shards_memory", "--measure", variant]
        run = subprocess.run(
            [*command, str(guilds), mode],
            input=json.dumps(info),
            capture_output=True,
            text=True,
            check=True,
        )
        result |= json.loads(run.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    results: dict[str, dict[int, dict[str, float]]] = {v: {} for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="townsquare-bench-shards-") as scratch:
        for guilds in (1, GUILDS):
            path = Path(scratch) / f"scenario-{guilds}.yaml"
            path.write_text(yaml.safe_dump(scenario(guilds)), encoding="utf-8")
            sandbox, info = run_sandbox(path)
            try:
                for variant in VARIANTS:
                    results[variant][guilds] = child(variant, guilds, info)
            finally:
                sandbox.terminate()
                sandbox.wait(timeout=30)
    per_1000 = {}
    for variant in VARIANTS:
        one, many = results[variant][1], results[variant][GUILDS]
        scale = 1000 / (GUILDS - 1)
        per_1000[variant] = {
            key: round((many[key] - one[key]) * scale) for key in ("heap_kib", "rss_kib")
        }
        print(
            f"{variant:15} per 1,000 guilds: heap {per_1000[variant]['heap_kib']:,} KiB, "
            f"RSS {per_1000[variant]['rss_kib']:,} KiB  (raw: {results[variant]})"
        )
    ours, theirs = per_1000["ours"]["heap_kib"], per_1000["hikari_default"]["heap_kib"]
    print(
        json.dumps(
            {
                "benchmark": "shard_memory_per_1000_guilds",
                "value": ours,
                "unit": "KiB heap per 1,000 guilds",
                "baseline": theirs,
                "ratio": round(ours / theirs, 3),
                "rss_kib": per_1000["ours"]["rss_kib"],
                "baseline_rss_kib": per_1000["hikari_default"]["rss_kib"],
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        details = json.loads(sys.stdin.read())
        outcome = asyncio.run(
            measure(
                sys.argv[2],
                details["rest_url"],
                details["bot_token"],
                int(sys.argv[3]),
                trace=sys.argv[4] == "heap",
            )
        )
        print(json.dumps(outcome))
    else:
        main()
