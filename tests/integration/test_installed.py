"""Townsquare installed from its wheel, run from an empty directory: no checkout in sight.

The wheel is built from this checkout with the development environment's own build backend
(`pip wheel --no-build-isolation`: hatchling is a dev dependency, so nothing is downloaded),
and installed with `pip install --no-index --no-deps` into a fresh virtualenv. That virtualenv
gets the dependencies from the development environment through one `.pth` line naming its
site-packages: a `.pth` file's *paths* are added to `sys.path`, but the `.pth` files inside the
named directory are not run, so the checkout's editable hook (`_townsquare.pth`) stays off and
`import townsquare` finds only the installed copy. The test needs no network beyond what
`make install` fetched.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import sysconfig
import time
import typing
import zipfile
from pathlib import Path

import asyncpg
import pytest

from tests.support.paths import ROOT
from tests.support.up import up_running

if typing.TYPE_CHECKING:
    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration

DEADLINE_SECONDS = 90


class Installed(typing.NamedTuple):
    wheel: Path
    python: Path
    command: Path
    workdir: Path
    """An empty directory to run it from."""
    data_home: Path
    """`XDG_DATA_HOME` of the runs: the per-user data directory is `<data_home>/townsquare`."""

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("TOWNSQUARE", "PYTHON", "COV_CORE", "VIRTUAL_ENV"))
        }
        env |= {"XDG_DATA_HOME": str(self.data_home), "HOME": str(self.workdir.parent / "home")}
        return env | extra

    def run(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        """The installed `townsquare ARGS...`, run from the empty directory, to its end."""
        return subprocess.run(
            [str(self.command), *args],
            cwd=self.workdir,
            env=self.env(**extra_env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("installed")
    dist = root / "dist"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-build-isolation"),
            *("--no-deps", "--no-index", "--wheel-dir", str(dist), str(ROOT)),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("townsquare-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "townsquare-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"),
            *("--no-index", "--no-deps", str(wheel)),
        ],
        check=True,
        capture_output=True,
    )
    workdir = root / "empty"
    workdir.mkdir()
    return Installed(wheel, python, venv / "bin" / "townsquare", workdir, root / "data")


def test_the_wheel_carries_defaults_and_migrations_inside_the_package(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    top_level = {name.split("/", 1)[0] for name in names if "/" in name}
    assert top_level == {"townsquare", installed.wheel.name.split("-py3")[0] + ".dist-info"}
    assert "townsquare/defaults/settings.yaml" in names
    on_disk = sorted(path.name for path in (ROOT / "migrations").glob("[0-9]*_*.py"))
    assert (
        sorted(
            name.rsplit("/", 1)[1]
            for name in names
            if name.startswith("townsquare/migrations/") and name[22].isdigit()
        )
        == on_disk
    )
    assert "townsquare/migrations/__init__.py" in names


def test_the_installed_package_is_the_one_imported_and_knows_it_is_not_a_checkout(
    installed: Installed,
) -> None:
    probe = (
        "import json, townsquare; from townsquare.core import paths; "
        "print(json.dumps([townsquare.__file__, str(paths.CHECKOUT_ROOT), "
        "str(paths.defaults_file()), paths.migrations_module(), str(paths.home_dir())]))"
    )
    found = json.loads(
        subprocess.run(
            [str(installed.python), "-c", probe],
            cwd=installed.workdir,
            env=installed.env(),
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    module, checkout, defaults, migrations, home = found
    assert Path(module).is_relative_to(installed.python.parents[1])
    assert checkout == "None"
    assert Path(defaults).is_file()
    assert Path(defaults).is_relative_to(installed.python.parents[1])
    assert migrations == "townsquare.migrations"
    assert Path(home) == installed.data_home / "townsquare"


def test_config_check_from_an_empty_directory_uses_the_packaged_defaults_and_the_data_dir(
    installed: Installed,
) -> None:
    result = installed.run("config", "check")
    assert result.returncode == 0, result.stderr
    assert "configuration is valid" in result.stderr
    var_dir = installed.data_home / "townsquare" / "var"
    assert f"var_dir: {var_dir}" in result.stdout
    assert list(installed.workdir.iterdir()) == []  # nothing written where it ran

    # The operator's settings file in the data directory is read when none is named, and
    # TOWNSQUARE_HOME moves the whole home (its var/ too).
    home = installed.workdir.parent / "elsewhere"
    home.mkdir()
    (home / "townsquare.yaml").write_text("logging:\n  level: warning\n")
    moved = installed.run("config", "check", TOWNSQUARE_HOME=str(home))
    assert moved.returncode == 0, moved.stderr
    assert "level: warning" in moved.stdout
    assert f"var_dir: {home / 'var'}" in moved.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _tables(database_url: str) -> set[str]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    return {row["tablename"] for row in rows}


@pytest.mark.long
@pytest.mark.timeout(180)
def test_up_runs_from_an_empty_directory_on_the_sandbox_and_stops_cleanly(
    installed: Installed,
    empty_database_url: str,
    redis_url: str,
    keyspace: Keyspace,
    redis: typing.Any,
) -> None:
    http_port = _free_port()
    env = installed.env(
        TOWNSQUARE__DATABASE__URL=empty_database_url,
        TOWNSQUARE__REDIS__URL=redis_url,
        TOWNSQUARE__REDIS__NAMESPACE=keyspace.namespace,
        TOWNSQUARE__LOGGING__FORMAT="json",
        TOWNSQUARE__SANDBOX__PORT=str(_free_port()),
        TOWNSQUARE__SANDBOX__CROWD_RATE="0",
        TOWNSQUARE__HTTP__PORT=str(http_port),
        TOWNSQUARE__HTTP__METRICS_PORT="0",
        TOWNSQUARE__METRICS__SHARDS_PORT="0",
        TOWNSQUARE__METRICS__WORKER_PORT="0",
        TOWNSQUARE__METRICS__SCHEDULER_PORT="0",
    )
    var_dir = installed.data_home / "townsquare" / "var"
    with up_running([str(installed.command)], cwd=installed.workdir, env=env) as up:
        # The packaged migrations were found and applied.
        assert {"guilds", "member_xp", "audit_entries"} <= asyncio.run(_tables(empty_database_url))
        assert "migration(s) applied" in up.output
        # The sandbox describes itself in the per-user data directory, not where it ran.
        assert (var_dir / "sandbox.json").is_file()
        # The HTTP child (started as `python -m townsquare.cli http` by the supervisor) serves.
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not _healthy(http_port):
            assert up.process.poll() is None, "up exited"
            assert time.monotonic() < deadline, "the dashboard never answered /healthz"
            time.sleep(0.2)  # polling interval of a bounded wait, not synchronisation
        # First run as a self-hoster does it, against the running sandbox: `init` writes .env
        # and townsquare.yaml into the per-user data directory, where `config check` finds them.
        sandbox = json.loads((var_dir / "sandbox.json").read_text())
        init = installed.run(
            *("init", "--token", sandbox["bot_token"], "--client-secret", "from-the-portal"),
            TOWNSQUARE__DISCORD__REST_URL=sandbox["rest_url"],
        )
        assert init.returncode == 0, init.stderr
        assert sandbox["bot_token"] not in init.stdout + init.stderr
        home = installed.data_home / "townsquare"
        assert stat.S_IMODE((home / ".env").stat().st_mode) == 0o600
        checked = installed.run("config", "check")
        assert checked.returncode == 0, checked.stderr
        assert f"application_id: {sandbox['application_id']}" in checked.stdout
        assert sandbox["bot_token"] not in checked.stdout
    assert up.process.returncode == 0, up.output
    assert "stopped" in up.output
    assert not (var_dir / "sandbox.json").exists()
    assert {"sandbox.log", "http.log", "shards.log"} <= {
        p.name for p in (var_dir / "log").iterdir()
    }
    assert list(installed.workdir.iterdir()) == []


def _healthy(port: int) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False
