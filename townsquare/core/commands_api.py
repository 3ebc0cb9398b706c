"""The internal commands API's common wire format and its service token (shards and http).

The shards ask the HTTP service's `/internal/v1` routes (flow 2) with
`Authorization: Bearer <service token>`; both sides describe bodies with these models. The
token is `http.service_token` from the environment. Against the sandbox with none set, one is
generated once and kept in `<var_dir>/dev-service.token` (mode 600), so the two processes
agree; with a bot token the settings refuse to load without it. A feature's own bodies live in
its domain (e.g. `townsquare.features.xp.domain.wire`) and build on :class:`Body` and
:class:`Actor`.

Every write the shards send carries an `Idempotency-Key` (:data:`IDEMPOTENCY_HEADER`, its
value :func:`idempotency_header_value`), one per call and the same on its retries; the service
answers a retry with the first request's answer (`townsquare.http.idempotency`).
"""

from __future__ import annotations

import os
import secrets
import typing

from pydantic import BaseModel, ConfigDict, Field

from townsquare.core.validation import Snowflake, Text

if typing.TYPE_CHECKING:
    from townsquare.core.settings import Settings

__all__ = [
    "DEV_SERVICE_FILE",
    "IDEMPOTENCY_HEADER",
    "KEY_IN_USE",
    "PREFIX",
    "Actor",
    "Body",
    "ConfigShown",
    "idempotency_header_value",
    "service_token",
]

PREFIX: typing.Final = "/internal/v1"
DEV_SERVICE_FILE: typing.Final = "dev-service.token"
IDEMPOTENCY_HEADER: typing.Final = "Idempotency-Key"
KEY_IN_USE: typing.Final = "idempotency_key_in_use"
"""The code of the 409 a request gets while another with its key has not answered yet."""


def idempotency_header_value(key: str) -> str:
    """`key` as the header's value: an RFC 8941 string (quoted; `"` and `\\` escaped)."""
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def service_token(settings: Settings) -> str:
    """The token the shards present and the HTTP service expects (see the module docs)."""
    if settings.http.service_token is not None:
        return settings.http.service_token.get_secret_value()
    if not settings.uses_sandbox:
        msg = "TOWNSQUARE__HTTP__SERVICE_TOKEN is required with a bot token"
        raise RuntimeError(msg)
    path = settings.paths.var_dir / DEV_SERVICE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()


class Body(BaseModel):
    """A request or answer body: unknown keys are errors, and it is frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Actor(Body):
    """The Discord user acting through a command, for the audit entry."""

    actor_id: Snowflake
    actor_name: typing.Annotated[Text, Field(min_length=1, max_length=100)]


class ConfigShown(Body):
    """The guild's configuration document and its version."""

    guild_id: int
    version: int
    config: dict[str, typing.Any]
