"""Gateway intents: which dispatches a connection receives."""

from __future__ import annotations

import enum
import functools
import operator
import typing

__all__ = ["ALL_INTENTS", "PRIVILEGED_INTENTS", "Intent"]


class Intent(enum.IntFlag):
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MODERATION = 1 << 2
    GUILD_EXPRESSIONS = 1 << 3
    GUILD_INTEGRATIONS = 1 << 4
    GUILD_WEBHOOKS = 1 << 5
    GUILD_INVITES = 1 << 6
    GUILD_VOICE_STATES = 1 << 7
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    GUILD_MESSAGE_TYPING = 1 << 11
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    DIRECT_MESSAGE_TYPING = 1 << 14
    MESSAGE_CONTENT = 1 << 15
    GUILD_SCHEDULED_EVENTS = 1 << 16
    AUTO_MODERATION_CONFIGURATION = 1 << 20
    AUTO_MODERATION_EXECUTION = 1 << 21
    GUILD_MESSAGE_POLLS = 1 << 24
    DIRECT_MESSAGE_POLLS = 1 << 25

    @classmethod
    def parse(cls, names: typing.Iterable[str]) -> int:
        """The bitfield of intent names."""
        try:
            return functools.reduce(operator.or_, (int(cls[name]) for name in names), 0)
        except KeyError as exc:
            msg = f"unknown intent {exc.args[0]!r}"
            raise ValueError(msg) from None


ALL_INTENTS: typing.Final[int] = functools.reduce(operator.or_, (int(i) for i in Intent), 0)
PRIVILEGED_INTENTS: typing.Final[int] = (
    Intent.GUILD_MEMBERS | Intent.GUILD_PRESENCES | Intent.MESSAGE_CONTENT
)
