"""The internal commands API's wire format and its service token, shared by shards and http.

The shards ask the HTTP service's `/internal/v1` routes (flow 2) with
`Authorization: Bearer <service token>`; both sides describe bodies with these models. The
token is `http.service_token` from the environment. Against the sandbox with none set, one is
generated once and kept in `<var_dir>/dev-service.token` (mode 600), so the two processes
agree; with a bot token the settings refuse to load without it.
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
    "MAX_AMOUNT",
    "PREFIX",
    "Actor",
    "ConfigShown",
    "GuildReset",
    "LeaderboardEntry",
    "LeaderboardPage",
    "MemberRank",
    "MemberReset",
    "XPChange",
    "XPChanged",
    "service_token",
]

PREFIX: typing.Final = "/internal/v1"
DEV_SERVICE_FILE: typing.Final = "dev-service.token"
MAX_AMOUNT: typing.Final = 1_000_000_000
"""The most XP one admin command may add, remove or set."""


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


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Actor(_Body):
    """The Discord user acting through a command, for the audit entry."""

    actor_id: Snowflake
    actor_name: typing.Annotated[Text, Field(min_length=1, max_length=100)]


class XPChange(Actor):
    """Body of `POST .../members/{user_id}/xp/{add|remove|set}`."""

    amount: typing.Annotated[int, Field(ge=0, le=MAX_AMOUNT)]


class XPChanged(_Body):
    user_id: int
    xp: int
    """The member's new total."""
    level: int


class MemberReset(_Body):
    user_id: int


class GuildReset(_Body):
    members: int
    """How many members were reset."""


class LeaderboardEntry(_Body):
    rank: int
    user_id: int
    xp: int
    level: int


class LeaderboardPage(_Body):
    page: int
    pages: int
    ranked: int
    entries: list[LeaderboardEntry]


class MemberRank(_Body):
    """What a rank card shows, but the member's name (the shard knows it)."""

    user_id: int
    xp: int
    level: int
    rank: int | None
    ranked: int
    level_start_xp: int
    next_level_xp: int | None


class ConfigShown(_Body):
    """The guild's configuration document and its version."""

    guild_id: int
    version: int
    config: dict[str, typing.Any]
