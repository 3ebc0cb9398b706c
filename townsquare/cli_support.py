"""What the `townsquare` command and the features' command groups share: settings, services.

A feature's command group (`FEATURE.cli`) builds on these, so every subcommand loads and
validates settings, configures logging and starts or attaches to the embedded services the
same way.
"""

from __future__ import annotations

import contextlib
import typing
from pathlib import Path
from typing import Annotated

import typer

from townsquare.core.embedded import EmbeddedServiceError, embedded_services
from townsquare.core.logs import configure_logging, secret_values
from townsquare.core.settings import Settings, SettingsError, load_settings

if typing.TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["SettingsOption", "fail", "services", "settings_from"]

SettingsOption = Annotated[
    Path | None,
    typer.Option(
        "--settings",
        help="YAML file whose keys override settings.yaml (also TOWNSQUARE_SETTINGS_FILE).",
        dir_okay=False,
    ),
]


def fail(message: str, code: int = 1) -> typing.NoReturn:
    """Print `message` to stderr and exit with `code`."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


def settings_from(path: Path | None) -> Settings:
    """Load and validate the settings (exit 2 naming each problem), then configure logging."""
    try:
        settings = load_settings(path)
    except SettingsError as error:
        lines = "\n".join(f"  {problem}" for problem in error.problems)
        fail(f"invalid configuration:\n{lines}", 2)
    configure_logging(
        level=settings.logging.level,
        fmt=settings.logging.format,
        secrets=secret_values(settings),
    )
    return settings


@contextlib.contextmanager
def services(settings: Settings, *, small: bool = False) -> Iterator[tuple[str, str]]:
    """The Redis and PostgreSQL URLs, embedded servers started if the settings say so
    (`small`: the embedded PostgreSQL with its small-footprint settings)."""
    try:
        with embedded_services(settings, small=small) as urls:
            yield urls.redis_url, urls.database_url
    except EmbeddedServiceError as error:
        fail(f"could not start an embedded service: {error}")
