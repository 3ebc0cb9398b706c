"""The world: every entity the sandbox knows, and the changes Discord would announce.

Each mutation changes the entities and hands one `Dispatch` per gateway event to the
subscribers (the gateway hub). Rule checks (permissions, limits) belong to the callers (REST
routes, control API); the world only keeps itself consistent.
"""

from __future__ import annotations

import dataclasses
import re
import typing

from townsquare.sandbox.intents import Intent
from townsquare.sandbox.world import payloads
from townsquare.sandbox.world.models import Channel, Guild, Interaction, Member, Message, User

if typing.TYPE_CHECKING:
    import datetime
    from collections.abc import Callable

    from townsquare.sandbox.snowflakes import SnowflakeFactory
    from townsquare.sandbox.world.models import Application, Role

__all__ = ["Dispatch", "World"]

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


@dataclasses.dataclass(frozen=True, slots=True)
class Dispatch:
    """One gateway dispatch about to be sent to every session that may see it.

    `intent` is the intent a session needs (0: every session); `content_gated` marks message
    payloads whose content the MESSAGE_CONTENT intent unlocks.
    """

    name: str
    guild_id: int | None
    intent: int
    data: payloads.JSON
    content_gated: bool = False
    mention_ids: frozenset[int] = frozenset()
    author_id: int | None = None


class World:
    """All guilds, users and messages, in memory."""

    def __init__(
        self,
        *,
        application: Application,
        users: dict[int, User],
        guilds: dict[int, Guild],
        snowflakes: SnowflakeFactory,
        clock: Callable[[], datetime.datetime],
    ) -> None:
        self.application = application
        self.users = users
        self.guilds = guilds
        self.messages: dict[int, Message] = {}
        self.interactions: dict[int, Interaction] = {}
        self.command_ids: dict[str, int] = {}
        self.dm_channels: dict[int, Channel] = {}
        self.snowflakes = snowflakes
        self.clock = clock
        self._listeners: list[Callable[[Dispatch], None]] = []
        self._channel_guild = {c: g.id for g in guilds.values() for c in g.channels}

    @property
    def bot_user(self) -> User:
        return self.users[self.application.bot_user_id]

    def subscribe(self, listener: Callable[[Dispatch], None]) -> None:
        """Call `listener` with every dispatch from now on."""
        self._listeners.append(listener)

    def emit(self, dispatch: Dispatch) -> None:
        for listener in self._listeners:
            listener(dispatch)

    # ---- lookups -------------------------------------------------------------------------

    def channel(self, channel_id: int) -> Channel | None:
        if (guild_id := self._channel_guild.get(channel_id)) is not None:
            return self.guilds[guild_id].channels.get(channel_id)
        return self.dm_channels.get(channel_id)

    def guild_of(self, channel: Channel) -> Guild | None:
        return None if channel.guild_id is None else self.guilds.get(channel.guild_id)

    def member_payload(self, member: Member) -> payloads.JSON:
        return payloads.member_payload(member, self.users[member.user_id])

    def message_payload(self, message: Message) -> payloads.JSON:
        mentions = [self.users[u] for u in message.mention_ids if u in self.users]
        return payloads.message_payload(message, self.users[message.author_id], mentions)

    def gateway_message_payload(self, message: Message) -> payloads.JSON:
        """A message as MESSAGE_CREATE/UPDATE carry it: with `guild_id` and partial `member`."""
        payload = self.message_payload(message)
        if message.guild_id is not None:
            payload["guild_id"] = str(message.guild_id)
            member = self.guilds[message.guild_id].members.get(message.author_id)
            if member is not None:
                payload["member"] = payloads.member_payload(member, None)
        return payload

    # ---- messages ------------------------------------------------------------------------

    def create_message(
        self,
        channel: Channel,
        author_id: int,
        content: str,
        *,
        embeds: list[payloads.JSON] | None = None,
        components: list[payloads.JSON] | None = None,
        nonce: str | int | None = None,
        tts: bool = False,
        message_type: int = 0,
    ) -> Message:
        guild = self.guild_of(channel)
        message = Message(
            id=self.snowflakes.next(),
            channel_id=channel.id,
            guild_id=None if guild is None else guild.id,
            author_id=author_id,
            content=content,
            timestamp=self.clock(),
            embeds=embeds or [],
            components=components or [],
            nonce=nonce,
            tts=tts,
            type=message_type,
        )
        self._resolve_mentions(message, guild)
        self.messages[message.id] = message
        channel.last_message_id = message.id
        self._emit_message("MESSAGE_CREATE", message)
        return message

    def edit_message(
        self,
        message: Message,
        *,
        content: str | None = None,
        embeds: list[payloads.JSON] | None = None,
        components: list[payloads.JSON] | None = None,
    ) -> Message:
        if content is not None:
            message.content = content
            self._resolve_mentions(message, self.guilds.get(message.guild_id or 0))
        if embeds is not None:
            message.embeds = embeds
        if components is not None:
            message.components = components
        message.edited_timestamp = self.clock()
        self._emit_message("MESSAGE_UPDATE", message)
        return message

    def delete_message(self, message: Message) -> None:
        del self.messages[message.id]
        data: payloads.JSON = {"id": str(message.id), "channel_id": str(message.channel_id)}
        if message.guild_id is not None:
            data["guild_id"] = str(message.guild_id)
        self.emit(Dispatch("MESSAGE_DELETE", message.guild_id, _message_intent(message), data))

    def _emit_message(self, name: str, message: Message) -> None:
        self.emit(
            Dispatch(
                name,
                message.guild_id,
                _message_intent(message),
                self.gateway_message_payload(message),
                content_gated=True,
                mention_ids=frozenset(message.mention_ids),
                author_id=message.author_id,
            )
        )

    def _resolve_mentions(self, message: Message, guild: Guild | None) -> None:
        message.mention_ids = [
            int(m)
            for m in dict.fromkeys(_USER_MENTION.findall(message.content))
            if int(m) in self.users
        ]
        roles = guild.roles if guild is not None else {}
        message.mention_role_ids = [
            int(r) for r in dict.fromkeys(_ROLE_MENTION.findall(message.content)) if int(r) in roles
        ]
        message.mention_everyone = "@everyone" in message.content

    # ---- members -------------------------------------------------------------------------

    def add_member_role(self, guild: Guild, member: Member, role: Role) -> None:
        if role.id not in member.role_ids:
            member.role_ids.append(role.id)
            self._emit_member_update(guild, member)

    def remove_member_role(self, guild: Guild, member: Member, role: Role) -> None:
        if role.id in member.role_ids:
            member.role_ids.remove(role.id)
            self._emit_member_update(guild, member)

    def _emit_member_update(self, guild: Guild, member: Member) -> None:
        data = self.member_payload(member) | {"guild_id": str(guild.id)}
        self.emit(Dispatch("GUILD_MEMBER_UPDATE", guild.id, Intent.GUILD_MEMBERS, data))


def _message_intent(message: Message) -> int:
    return Intent.GUILD_MESSAGES if message.guild_id is not None else Intent.DIRECT_MESSAGES
