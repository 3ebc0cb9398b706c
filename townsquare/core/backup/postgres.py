"""PostgreSQL's half of a backup: `pg_dump` in its custom format, `pg_restore` into an empty
database, and the schema's migration level.

The tools are found the way the embedded server's binaries are (`core.embedded`), and on the
machine (`PATH`, Debian's `/usr/lib/postgresql/<major>/bin`). `pg_dump` must be at least the
server's major version; among those that are, the closest one is used, so an external
PostgreSQL 15 is dumped by its own `pg_dump` 15 when the machine has it and by the embedded
one (18) otherwise. `pg_restore` must be at least the `pg_dump` that wrote the archive.
The password never goes on a command line (other users can read those): it is passed in
`PGPASSWORD`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import importlib
import os
import pkgutil
import re
import shutil
import subprocess
import typing
import urllib.parse
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]  # no stubs

from townsquare.core.embedded import EmbeddedServiceError, postgres_bin_dir
from townsquare.core.paths import migrations_module

__all__ = [
    "MIGRATIONS_TABLE",
    "BackupError",
    "PostgresTool",
    "applied_migrations",
    "dump",
    "find_tool",
    "known_migrations",
    "list_archive",
    "restore",
    "server_major",
    "user_relations",
]

MIGRATIONS_TABLE: typing.Final = "tortoise_migrations"
"""Where tortoise records the migrations applied (app, name)."""
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")
_DEBIAN_BINS = Path("/usr/lib/postgresql")


class BackupError(Exception):
    """A backup or a restore cannot go on; the message says why and what to do."""


@dataclasses.dataclass(frozen=True, slots=True)
class PostgresTool:
    path: Path
    major: int


@functools.cache
def _major_of(path: Path) -> int | None:
    try:
        result = subprocess.run(  # noqa: S603 - a PostgreSQL tool's own path
            [str(path), "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(result.stdout)
    return int(match.group(1)) if match else None


def _candidates(name: str) -> list[Path]:
    found: list[Path] = []
    with contextlib.suppress(EmbeddedServiceError):
        found.append(postgres_bin_dir() / name)
    if (on_path := shutil.which(name)) is not None:
        found.append(Path(on_path))
    if _DEBIAN_BINS.is_dir():
        found.extend(sorted(_DEBIAN_BINS.glob(f"*/bin/{name}")))
    return [path for path in dict.fromkeys(found) if path.is_file()]


def find_tool(name: str, at_least: int) -> PostgresTool:
    """The `name` tool (`pg_dump`, `pg_restore`) of the lowest major version >= `at_least`."""
    usable = [
        PostgresTool(path, major)
        for path in _candidates(name)
        if (major := _major_of(path)) is not None and major >= at_least
    ]
    if not usable:
        raise BackupError(
            f"no {name} of PostgreSQL {at_least} or newer was found (looked in the embedded "
            f"PostgreSQL, PATH and {_DEBIAN_BINS}); install the PostgreSQL {at_least} client "
            "tools (Debian: postgresql-client)"
        )
    return min(usable, key=lambda tool: tool.major)


def _connection(database_url: str) -> tuple[str, dict[str, str]]:
    """`database_url` without its password, and the environment that carries it."""
    parts = urllib.parse.urlsplit(database_url)
    env = {**os.environ}
    if parts.password is not None:
        env["PGPASSWORD"] = urllib.parse.unquote(parts.password)
    netloc = parts.hostname or ""
    if parts.username:
        netloc = f"{urllib.parse.quote(urllib.parse.unquote(parts.username))}@{netloc}"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"  # keyspace: not a key
    return urllib.parse.urlunsplit(("postgresql", netloc, parts.path, parts.query, "")), env


async def _run(argv: list[str], env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        tail = "\n".join(stderr.decode(errors="replace").strip().splitlines()[-5:])
        raise BackupError(f"{Path(argv[0]).name} failed (exit {process.returncode}): {tail}")
    return stdout.decode(errors="replace")


async def server_major(database_url: str) -> tuple[int, str]:
    """The server's major version and its full version string."""
    connection = await asyncpg.connect(database_url)
    try:
        number = int(await connection.fetchval("SHOW server_version_num"))
        text = str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()
    return number // 10_000, text


async def applied_migrations(database_url: str) -> list[str]:
    """The migrations recorded in the database (`app.name`), oldest first."""
    connection = await asyncpg.connect(database_url)
    try:
        exists = await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", MIGRATIONS_TABLE)
        if not exists:
            return []
        rows = await connection.fetch(
            f"SELECT app, name FROM {MIGRATIONS_TABLE} ORDER BY applied_at, app, name"  # noqa: S608 - a constant
        )
    finally:
        await connection.close()
    return [f"{row['app']}.{row['name']}" for row in rows]


def known_migrations() -> list[str]:
    """The migrations this Townsquare carries (`townsquare.<name>`), in order."""
    package = importlib.import_module(migrations_module())
    names = sorted(
        info.name for info in pkgutil.iter_modules(package.__path__) if info.name[:4].isdigit()
    )
    return [f"townsquare.{name}" for name in names]


async def user_relations(database_url: str) -> int:
    """How many tables, views and sequences the database has outside the system schemas."""
    connection = await asyncpg.connect(database_url)
    try:
        count = await connection.fetchval(
            """
            SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
            """
        )
    finally:
        await connection.close()
    return int(count)


async def dump(database_url: str, path: Path) -> tuple[PostgresTool, str]:
    """Write the database to `path` (custom format); the tool used and the server version."""
    major, version = await server_major(database_url)
    tool = find_tool("pg_dump", major)
    url, env = _connection(database_url)
    await _run(
        [
            str(tool.path),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--file={path}",
            f"--dbname={url}",
        ],
        env,
    )
    return tool, version


async def list_archive(path: Path, dumped_by: int) -> str:
    """`pg_restore --list` of the archive: proves it is whole and readable before a restore."""
    tool = find_tool("pg_restore", dumped_by)
    return await _run([str(tool.path), "--list", str(path)], {**os.environ})


async def restore(database_url: str, path: Path, dumped_by: int) -> None:
    """Restore the archive into the (empty) database in one transaction: all of it or none."""
    major, _ = await server_major(database_url)
    tool = find_tool("pg_restore", max(dumped_by, major))
    url, env = _connection(database_url)
    options = ["--no-owner", "--no-privileges"]
    if tool.major > major and major < _TRANSACTION_TIMEOUT_SINCE:
        await _restore_as_script(tool, path, url, env, options)
        return
    await _run(
        [
            str(tool.path),
            "--single-transaction",
            "--exit-on-error",
            *options,
            f"--dbname={url}",
            str(path),
        ],
        env,
    )


_TRANSACTION_TIMEOUT_SINCE: typing.Final = 17
"""pg_restore 17+ sets `transaction_timeout`, which older servers reject."""
_NEWER_SETTINGS: typing.Final = (b"SET transaction_timeout",)


async def _restore_as_script(
    tool: PostgresTool, path: Path, url: str, env: dict[str, str], options: list[str]
) -> None:
    """A newer pg_restore into an older server (say, the embedded 18's into an external 15):
    the archive as an SQL script, without the settings the server does not know, run by psql
    in one transaction that stops at the first error."""
    psql = tool.path.with_name("psql")
    if not psql.is_file():
        raise BackupError(
            f"{tool.path.name} {tool.major} cannot restore into PostgreSQL of an older major "
            f"version without psql beside it ({psql}); install that server's client tools"
        )
    script = await asyncio.create_subprocess_exec(
        str(tool.path), *options, "--file=-", str(path),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    runner = await asyncio.create_subprocess_exec(
        str(psql), "--no-psqlrc", "--quiet", "--single-transaction",
        "--set=ON_ERROR_STOP=1", f"--dbname={url}",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert script.stdout is not None
    assert runner.stdin is not None
    try:
        async for line in script.stdout:
            if not line.startswith(_NEWER_SETTINGS):
                runner.stdin.write(line)
                await runner.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # psql stopped at an error: its own message says which
    finally:
        runner.stdin.close()
    script_errors = await script.stderr.read() if script.stderr else b""
    runner_errors = await runner.stderr.read() if runner.stderr else b""
    await script.wait()
    await runner.wait()
    for process, errors, name in (
        (script, script_errors, tool.path.name),
        (runner, runner_errors, "psql"),
    ):
        if process.returncode != 0:
            tail = "\n".join(errors.decode(errors="replace").strip().splitlines()[-5:])
            raise BackupError(f"{name} failed (exit {process.returncode}): {tail}")
