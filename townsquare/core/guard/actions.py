"""The moderation actions the guard knows, what Discord permission each needs, and a request.

Every action — from a slash command, automod, anti-raid, anti-nuke, a scheduled unban or the
dashboard — is an :class:`ActionRequest` handed to `townsquare.core.guard.guard.guard_action`.
"""

from __future__ import annotations

import dataclasses
import enum
import typing

import hikari

if typing.TYPE_CHECKING:
    import datetime

__all__ = [
    "DESTRUCTIVE",
    "MEMBER_TARGETS",
    "NEEDED_PERMISSION",
    "Action",
    "ActionRequest",
    "ActorKind",
    "Source",
]


class Action(enum.StrEnum):
    WARN = "warn"
    TIMEOUT = "timeout"
    UNTIMEOUT = "untimeout"
    KICK = "kick"
    BAN = "ban"
    UNBAN = "unban"
    DELETE = "delete"
    """Delete one or more messages of the target (automod), bulk where Discord allows."""
    PURGE = "purge"
    NOTE = "note"
    PARDON = "pardon"
    OFFENSE = "offense"
    """Points on the ledger without any other effect (an automod rule whose action is `points`,
    or Discord's own AutoMod acting)."""
    STRIP_ROLES = "strip_roles"
    """Remove the target's roles that carry dangerous permissions (anti-nuke)."""


class Source(enum.StrEnum):
    COMMAND = "command"
    AUTOMOD = "automod"
    SCHEDULE = "schedule"
    ANTINUKE = "antinuke"
    ANTIRAID = "antiraid"
    DASHBOARD = "dashboard"
    DISCORD = "discord"
    """Discord's native AutoMod, recorded on the same ledger."""


class ActorKind(enum.StrEnum):
    USER = "user"
    """A member of the guild acting through a command or the dashboard."""
    SYSTEM = "system"
    """Townsquare itself (automod, schedules, anti-raid, anti-nuke)."""


NEEDED_PERMISSION: typing.Final[dict[Action, hikari.Permissions]] = {
    Action.WARN: hikari.Permissions.MODERATE_MEMBERS,
    Action.TIMEOUT: hikari.Permissions.MODERATE_MEMBERS,
    Action.UNTIMEOUT: hikari.Permissions.MODERATE_MEMBERS,
    Action.NOTE: hikari.Permissions.MODERATE_MEMBERS,
    Action.PARDON: hikari.Permissions.MODERATE_MEMBERS,
    Action.OFFENSE: hikari.Permissions.MODERATE_MEMBERS,
    Action.KICK: hikari.Permissions.KICK_MEMBERS,
    Action.BAN: hikari.Permissions.BAN_MEMBERS,
    Action.UNBAN: hikari.Permissions.BAN_MEMBERS,
    Action.DELETE: hikari.Permissions.MANAGE_MESSAGES,
    Action.PURGE: hikari.Permissions.MANAGE_MESSAGES,
    Action.STRIP_ROLES: hikari.Permissions.MANAGE_ROLES,
}
"""The Discord permission an actor needs (or a moderator role configured for the action)."""

DESTRUCTIVE: typing.Final = frozenset({Action.KICK, Action.BAN})
"""Actions counted by the anti-abuse rate limit."""

MEMBER_TARGETS: typing.Final = frozenset(
    {Action.WARN, Action.TIMEOUT, Action.UNTIMEOUT, Action.KICK, Action.STRIP_ROLES}
)
"""Actions that need the target to be a member of the guild."""

_DISCORD_ACTIONS: typing.Final = frozenset(
    {
        Action.TIMEOUT,
        Action.UNTIMEOUT,
        Action.KICK,
        Action.BAN,
        Action.UNBAN,
        Action.DELETE,
        Action.PURGE,
        Action.STRIP_ROLES,
    }
)


@dataclasses.dataclass(frozen=True, slots=True)
class ActionRequest:
    """One moderation action someone (or something) asks for."""

    guild_id: int
    action: Action
    target_id: int
    key: str
    """Idempotency key, unique per guild: the same key twice is one case and one action
    (`command:<interaction id>`, `automod:<message id>:<rule>`, `unban:<case id>`)."""
    source: Source
    actor_kind: ActorKind
    actor_id: int | None = None
    actor_name: str = ""
    reason: str = ""
    occurred_at: datetime.datetime | None = None
    """When it happened (a message's time for automod); None: now."""
    duration_seconds: int | None = None
    """A timeout's length, or a temporary ban's."""
    delete_message_seconds: int = 0
    """For bans: how far back the member's messages are deleted (at most 7 days)."""
    channel_id: int | None = None
    message_ids: tuple[int, ...] = ()
    """Messages to delete (`delete`), or the offending message (its link goes on the case)."""
    content: str | None = None
    """The offending content (automod), kept on the case."""
    points: int = 0
    purge_count: int = 0
    """For `purge`: how many recent messages of the channel to look at."""

    @classmethod
    def by_bot(
        cls,
        source: Source,
        name: str,
        *,
        guild_id: int,
        action: Action,
        target_id: int,
        key: str,
        reason: str,
        **more: typing.Any,
    ) -> ActionRequest:
        """An automatic action, taken by the bot itself for `source` (`name` on the case)."""
        return cls(
            guild_id=guild_id,
            action=action,
            target_id=target_id,
            key=key,
            source=source,
            actor_kind=ActorKind.SYSTEM,
            actor_name=name,
            reason=reason,
            **more,
        )

    @property
    def touches_discord(self) -> bool:
        return self.action in _DISCORD_ACTIONS

    def __post_init__(self) -> None:
        if not self.key or len(self.key) > 200:
            raise ValueError("an action needs an idempotency key of 1 to 200 characters")
        if self.actor_kind is ActorKind.USER and self.actor_id is None:
            raise ValueError("a user actor needs an id")
