"""PostgreSQL through tortoise-orm: one app, its model modules, and its migrations.

The models are the kernel's and every enabled feature's (`Feature.models`), all in one
`townsquare` app, so the central migrations cover them all.

Migrations are tortoise's built-in ones, kept in the repository's top-level `migrations` folder;
an installed wheel carries them as `townsquare.migrations` (`townsquare.core.paths`). `migrate`
applies what is missing and is a no-op when everything is applied, so it is safe to run on
every start and from several processes in turn.
"""

from __future__ import annotations

import contextlib
import typing
from typing import Any

from tortoise import Tortoise
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


def tortoise_config(database_url: str, *, pool_max: int = 10) -> dict[str, Any]:
    """The tortoise configuration for `database_url` (a `postgres://` URL)."""
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme not in {"postgres", "postgresql"}:
        raise ValueError("database URL must start with postgres:// or postgresql://")
    separator = "&" if "?" in rest else "?"
    return {
        "connections": {
            "default": f"postgres://{rest}{separator}minsize=1&maxsize={pool_max}",
        },
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


@contextlib.asynccontextmanager
async def connect(database_url: str, *, pool_max: int = 10) -> AsyncIterator[None]:
    """Open the ORM's connections for the duration of the block."""
    await Tortoise.init(config=tortoise_config(database_url, pool_max=pool_max))
    try:
        yield
    finally:
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
