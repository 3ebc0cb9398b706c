"""PostgreSQL through tortoise-orm: one app, its model modules, and its migrations.

The models are the kernel's and every enabled feature's (`Feature.models`), all in one
`townsquare` app, so the central migrations cover them all.

Migrations are tortoise's built-in ones, kept in the repository's top-level `migrations` folder;
an installed wheel carries them as `townsquare.migrations` (`townsquare.core.paths`). `migrate`
applies what is missing and is a no-op when everything is applied, so it is safe to run on
every start and from several processes in turn.

Pool connections keep no session state between uses: nothing here sets session variables,
LISTENs, holds advisory locks or cursors across a release, so a connection given back to the
pool is not reset (asyncpg's default runs `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
RESET ALL` at every release: one more round trip per query, measured as a twelfth of the
assistant worker's CPU per question). An open transaction is still rolled back. Code that
needs session state uses a transaction's `SET LOCAL` instead.
"""

from __future__ import annotations

import contextlib
import contextvars
import typing
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.cli.cli import tortoise_cli_context
from tortoise.migrations.api import migrate as tortoise_migrate
from tortoise.migrations.autodetector import MigrationAutodetector

from townsquare.core.features import enabled_features
from townsquare.core.paths import migrations_module

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = [
    "APP_LABEL",
    "KERNEL_MODEL_MODULES",
    "MIGRATIONS_MODULE",
    "connect",
    "make_migrations",
    "migrate",
    "model_modules",
    "tortoise_config",
]

APP_LABEL = "townsquare"
MIGRATIONS_MODULE = migrations_module()
"""`migrations` in a checkout, `townsquare.migrations` installed."""
KERNEL_MODEL_MODULES = (
    "townsquare.core.guilds.models",
    "townsquare.core.config.models",
    "townsquare.core.audit.models",
    "townsquare.core.activity.models",
)
"""The kernel's model modules; each enabled feature adds its own (`Feature.models`)."""


def model_modules() -> list[str]:
    """Every model module of the one `townsquare` app: the kernel's, then the features'."""
    return [*KERNEL_MODEL_MODULES, *(m for f in enabled_features() for m in f.models)]


def tortoise_config(
    database_url: str, *, pool_max: int = 10, idle_seconds: float | None = None
) -> dict[str, Any]:
    """The tortoise configuration for `database_url` (a `postgres://` URL); `idle_seconds`
    closes a pool connection idle that long (asyncpg's default: 300 s)."""
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme not in {"postgres", "postgresql"}:
        raise ValueError("database URL must start with postgres:// or postgresql://")
    separator = "&" if "?" in rest else "?"
    idle = "" if idle_seconds is None else f"&max_inactive_connection_lifetime={idle_seconds:g}"
    connection = expand_db_url(f"postgres://{rest}{separator}minsize=1&maxsize={pool_max}{idle}")
    connection["credentials"]["reset"] = _keep_session
    return {
        "connections": {"default": connection},
        "apps": {
            APP_LABEL: {
                "models": model_modules(),
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def _keep_session(connection: object) -> None:
    """A pool's `reset`: nothing beyond asyncpg's own rollback of an open transaction (see
    the module's doc)."""


_connected: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "townsquare_db_connected", default=None
)
"""The URL the ORM is connected to in this context (and the tasks started from it)."""


@contextlib.asynccontextmanager
async def connect(
    database_url: str, *, pool_max: int = 10, idle_seconds: float | None = None
) -> AsyncIterator[None]:
    """Open the ORM's connections for the duration of the block (`idle_seconds`: see
    :func:`tortoise_config`).

    Inside a block already connected to the same URL (in this task, or in the task that
    started this one) the connections are shared instead: `up --single-process` holds one
    pool for all its parts, each of which still says what it needs. Tortoise's own re-init
    would close the outer block's connections under it.
    """
    if _connected.get() == database_url:
        yield
        return
    config = tortoise_config(database_url, pool_max=pool_max, idle_seconds=idle_seconds)
    await Tortoise.init(config=config)
    token = _connected.set(database_url)
    try:
        yield
    finally:
        _connected.reset(token)
        await Tortoise.close_connections()


async def migrate(database_url: str) -> list[str]:
    """Apply every missing migration; returns the names applied (empty when up to date)."""
    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app_label}.{name}")

    try:
        await tortoise_migrate(config=tortoise_config(database_url, pool_max=2), progress=progress)
    finally:
        await Tortoise.close_connections()
    return applied


async def make_migrations(database_url: str, *, write: bool) -> list[str]:
    """Compare the models with the migrations on disk.

    Returns the names of the migrations the models need (empty when they agree); with
    `write`, also writes them into the migrations package. The autodetector only reads the
    migrations; the URL is needed because tortoise binds models to a dialect.
    """
    config = tortoise_config(database_url, pool_max=1)
    try:
        async with tortoise_cli_context(config) as context:
            assert context.apps is not None
            writers = await MigrationAutodetector(context.apps, config["apps"]).changes()
            if write:
                for writer in writers:
                    writer.write()
    finally:
        await Tortoise.close_connections()
    return [f"{writer.app_label}.{writer.name}" for writer in writers]
