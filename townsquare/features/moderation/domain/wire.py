"""The bodies of the moderation commands' `/internal/v1` calls (shards and HTTP service)."""

from __future__ import annotations

import datetime  # noqa: TC003 - pydantic reads the annotations at run time
import typing

from pydantic import Field

from townsquare.core.commands_api import Actor, Body
from townsquare.core.validation import Snowflake, Text  # noqa: TC001 - pydantic, as above

__all__ = [
    "MAX_REASON",
    "ActionBody",
    "ActionDone",
    "CaseBody",
    "CasePage",
    "CaseReason",
    "CommandAction",
]

MAX_REASON: typing.Final = 500
"""A reason's length: it goes into Discord's audit log (512) with the case number."""

type CommandAction = typing.Literal[
    "warn", "timeout", "untimeout", "kick", "ban", "unban", "purge", "note"
]


class ActionBody(Actor):
    """One moderation action asked for by a command (the guard decides)."""

    action: CommandAction
    target_id: typing.Annotated[int, Field(ge=0, le=2**63 - 1)]
    """The member or user; 0 for a purge of everyone's messages."""
    key: typing.Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9/._-]+$")]
    """Idempotency key, e.g. `command:<interaction id>`."""
    reason: typing.Annotated[Text, Field(max_length=MAX_REASON)] = ""
    duration_seconds: typing.Annotated[int, Field(ge=1, le=10 * 365 * 86_400)] | None = None
    delete_message_seconds: typing.Annotated[int, Field(ge=0, le=604_800)] = 0
    channel_id: Snowflake | None = None
    purge_count: typing.Annotated[int, Field(ge=1, le=100)] = 0


class StepDone(Body):
    case: int
    status: str
    detail: str
    action: str


class ActionDone(Body):
    case: int
    status: str
    """`executed`, `blocked`, `dry_run` or `failed`."""
    detail: str
    dm_status: str
    expires_at: datetime.datetime | None
    repeated: bool
    points: float
    """The member's active points after this case (0 when it carries none)."""
    escalation: StepDone | None


class CaseBody(Body):
    number: int
    action: str
    source: str
    status: str
    detail: str
    actor_id: int | None
    actor_name: str
    target_id: int
    target_name: str
    reason: str
    points: int
    pardoned: bool
    expires_at: datetime.datetime | None
    occurred_at: datetime.datetime
    message_link: str | None
    content: str | None
    dm_status: str


class CasePage(Body):
    page: int
    pages: int
    cases: list[CaseBody]


class CaseReason(Actor):
    reason: typing.Annotated[Text, Field(min_length=1, max_length=MAX_REASON)]


class PardonBody(Actor):
    key: typing.Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9/._-]+$")]
    reason: typing.Annotated[Text, Field(max_length=MAX_REASON)] = ""
