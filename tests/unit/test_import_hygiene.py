"""Each process loads only its own frameworks, whatever the features' adapters import.

Static contracts (import-linter) cannot see the runtimes' imports by dotted path, so each
process's entry point is imported here in a fresh interpreter, with what it loads at start
(the enabled features' adapters of its kind), and `sys.modules` is inspected.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

WEB = ("quart", "quart_schema", "hypercorn")
UI = ("textual",)
COMMANDS = ("arc", "miru")
WORKER = ("taskiq", "taskiq_redis")

# Each process: the code its command runs at start, and the packages it must never load.
PROCESSES = {
    "worker": (
        """
        from townsquare.tasks.worker import run_worker
        from townsquare.tasks.scheduler import run_scheduler
        from townsquare.tasks.registry import load_tasks
        load_tasks()
        """,
        WEB + UI + COMMANDS,
    ),
    "http": (
        """
        from townsquare.http import run_http, create_app
        from townsquare.core.features import adapter_modules
        adapter_modules("web")
        """,
        UI + COMMANDS + WORKER,
    ),
    "shards": (
        """
        from townsquare.shards import run_shards
        from townsquare.shards.commands.client import feature_plugins
        from townsquare.shards.routes import feature_routes
        feature_plugins()
        feature_routes()
        """,
        WEB + UI + WORKER,
    ),
    "console": (
        """
        from townsquare.console import run_console
        from townsquare.core.features import adapter_modules
        adapter_modules("console")
        """,
        WEB + COMMANDS + WORKER,
    ),
    "cli": (
        """
        import townsquare.cli
        """,
        WEB + UI + COMMANDS + WORKER + ("hikari",),
    ),
    "migrate": (
        """
        from townsquare.core import db
        db.model_modules()
        """,
        WEB + UI + COMMANDS + WORKER + ("hikari",),
    ),
}


def loaded_packages(code: str) -> set[str]:
    probe = textwrap.dedent(code) + textwrap.dedent(
        """
        import json, sys
        print(json.dumps(sorted({name.partition(".")[0] for name in sys.modules})))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_a_process_never_loads_another_process_framework(process: str) -> None:
    code, forbidden = PROCESSES[process]
    loaded = loaded_packages(code)
    assert "townsquare" in loaded
    assert not loaded & set(forbidden), f"{process} loads {sorted(loaded & set(forbidden))}"


@pytest.mark.long
def test_each_process_loads_its_own_framework() -> None:
    """The probe sees what it should: otherwise the test above would pass for nothing."""
    assert {"taskiq"} <= loaded_packages(PROCESSES["worker"][0])
    assert {"quart"} <= loaded_packages(PROCESSES["http"][0])
    assert {"arc", "miru", "hikari"} <= loaded_packages(PROCESSES["shards"][0])
    assert {"textual"} <= loaded_packages(PROCESSES["console"][0])
