"""The world: every entity the sandbox knows, and the changes Discord would announce.

Each mutation changes the entities and hands one `Dispatch` per gateway event to the
subscribers (the gateway hub). Rule checks (permissions, limits) belong to the callers (REST
routes, control API); the world only keeps itself consistent.
"""

from __future__ import annotations

import copy
import dataclasses
import typing

from townsquare.sandbox.intents import Intent
from townsquare.sandbox.world import payloads
from townsquare.sandbox.world.mentions import pings
from townsquare.sandbox.world.models import (
    Channel,
    ChannelType,
    Guild,
    Interaction,
    Member,
    Message,
    User,
)

if typing.TYPE_CHECKING:
    import datetime
    from collections.abc import Callable

    from townsquare.sandbox.snowflakes import SnowflakeFactory
    from townsquare.sandbox.world.commands import Command
    from townsquare.sandbox.world.models import Application, Entitlement, Role

__all__ = ["Dispatch", "World", "number_components"]


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
        recommended_shards: int | None = None,
    ) -> None:
        self.application = application
        self.recommended_shards = recommended_shards
        """The shard count GET /gateway/bot recommends (the scenario's `shards`); None: one
        per 1,000 guilds, as Discord."""
        self.users = users
        self.guilds = guilds
        self.messages: dict[int, Message] = {}
        self.interactions: dict[int, Interaction] = {}
        self.command_ids: dict[str, int] = {}
        """Ids made up for slash commands used but never registered."""
        self.commands: dict[int | None, dict[tuple[int, str], Command]] = {}
        """Registered application commands by scope (guild id, None for global)."""
        self.dm_channels: dict[int, Channel] = {}
        self.entitlements: dict[int, Entitlement] = {}
        self.attachment_files: dict[int, tuple[str, bytes]] = {}
        """Attachment id -> (content type, bytes), served under `cdn_base`."""
        self.cdn_base = ""
        """The server's base URL, for attachment URLs; set once the server is bound."""
        self.snowflakes = snowflakes
        self.clock = clock
        self._listeners: list[Callable[[Dispatch], None]] = []
        self._channel_guild = {c: g.id for g in guilds.values() for c in g.channels}

    @property
    def bot_user(self) -> User:
        return self.users[self.application.bot_user_id]

    def create_user(self, username: str) -> User:
        """A new person (a member joining for the first time); ids from the sandbox clock."""
        user = User(self.snowflakes.next(), username, username.title())
        self.users[user.id] = user
        return user

    def user_named(self, username: str) -> User | None:
        return next((u for u in self.users.values() if u.username == username), None)

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

    def channel_payload(self, channel: Channel) -> payloads.JSON:
        others = [self.users[u] for u in channel.recipient_ids if u != self.application.bot_user_id]
        return payloads.channel_payload(channel, others)

    def open_dm(self, user: User) -> Channel:
        """The bot's DM channel with `user`, made on first use (one per user, as on Discord)."""
        bot_id = self.application.bot_user_id
        for channel in self.dm_channels.values():
            if channel.recipient_ids == [bot_id, user.id]:
                return channel
        channel = Channel(
            self.snowflakes.next(), None, ChannelType.DM, "", recipient_ids=[bot_id, user.id]
        )
        self.dm_channels[channel.id] = channel
        return channel

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
        flags: int = 0,
        allowed_mentions: payloads.JSON | None = None,
        attachments: list[payloads.JSON] | None = None,
        reply_to: int | None = None,
    ) -> Message:
        """A new message; an EPHEMERAL one (flag 64) is kept for its interaction but, as on
        Discord, neither announced nor listed in the channel. With `reply_to` (a message id
        in the channel) it is a reply (type 19, with its `message_reference`)."""
        guild = self.guild_of(channel)
        message = Message(
            id=self.snowflakes.next(),
            channel_id=channel.id,
            guild_id=None if guild is None else guild.id,
            author_id=author_id,
            content=content,
            timestamp=self.clock(),
            embeds=embeds or [],
            components=number_components(components or []),
            nonce=nonce,
            tts=tts,
            type=_REPLY_TYPE if reply_to is not None else message_type,
            flags=flags,
            allowed_mentions=allowed_mentions,
            attachments=attachments or [],
            referenced_message_id=reply_to,
        )
        self._resolve_mentions(message, guild)
        self.messages[message.id] = message
        if not message.ephemeral:
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
        allowed_mentions: payloads.JSON | None = None,
        attachments: list[payloads.JSON] | None = None,
    ) -> Message:
        """Change what is given; mentions are parsed again with the edit's `allowed_mentions`
        (or, without one, the message's)."""
        if allowed_mentions is not None:
            message.allowed_mentions = allowed_mentions
        if content is not None:
            message.content = content
            self._resolve_mentions(message, self.guilds.get(message.guild_id or 0))
        if embeds is not None:
            message.embeds = embeds
        if components is not None:
            message.components = number_components(components)
        if attachments is not None:
            message.attachments = attachments
        message.edited_timestamp = self.clock()
        if not message.ephemeral:
            self._emit_message("MESSAGE_UPDATE", message)
        return message

    def delete_message(self, message: Message) -> None:
        del self.messages[message.id]
        if message.ephemeral:
            return
        data: payloads.JSON = {"id": str(message.id), "channel_id": str(message.channel_id)}
        if message.guild_id is not None:
            data["guild_id"] = str(message.guild_id)
        self.emit(Dispatch("MESSAGE_DELETE", message.guild_id, _message_intent(message), data))

    def delete_messages(self, channel: Channel, messages: list[Message]) -> None:
        """Delete several messages of one channel: one MESSAGE_DELETE_BULK, as on Discord."""
        for message in messages:
            del self.messages[message.id]
        shown = [m for m in messages if not m.ephemeral]
        if not shown:
            return
        data: payloads.JSON = {
            "ids": [str(m.id) for m in shown],
            "channel_id": str(channel.id),
        }
        if channel.guild_id is not None:
            data["guild_id"] = str(channel.guild_id)
        intent = _message_intent(shown[0])
        self.emit(Dispatch("MESSAGE_DELETE_BULK", channel.guild_id, intent, data))

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
        roles = guild.roles if guild is not None else {}
        found = pings(message.content, self.users, roles, message.allowed_mentions)
        message.mention_ids, message.mention_role_ids, message.mention_everyone = found

    # ---- members -------------------------------------------------------------------------

    def add_member_role(self, guild: Guild, member: Member, role: Role) -> None:
        if role.id not in member.role_ids:
            member.role_ids.append(role.id)
            self.emit_member_update(guild, member)

    def remove_member_role(self, guild: Guild, member: Member, role: Role) -> None:
        if role.id in member.role_ids:
            member.role_ids.remove(role.id)
            self.emit_member_update(guild, member)

    def emit_member_update(self, guild: Guild, member: Member) -> None:
        """GUILD_MEMBER_UPDATE with the member as it is now."""
        data = self.member_payload(member) | {"guild_id": str(guild.id)}
        self.emit(Dispatch("GUILD_MEMBER_UPDATE", guild.id, Intent.GUILD_MEMBERS, data))


def number_components(components: list[payloads.JSON]) -> list[payloads.JSON]:
    """A copy with Discord's component ids: each component without `id` gets the next free
    integer, depth first from 1, as Discord fills them in (hikari requires them)."""
    if not components:
        return []
    copied = copy.deepcopy(components)
    flat: list[payloads.JSON] = []

    def walk(nodes: list[typing.Any]) -> None:
        for node in nodes:
            if isinstance(node, dict):
                flat.append(node)
                walk(node.get("components", []))

    walk(copied)
    taken = {c["id"] for c in flat if isinstance(c.get("id"), int)}
    next_id = 1
    for component in flat:
        if not isinstance(component.get("id"), int):
            while next_id in taken:
                next_id += 1
            component["id"] = next_id
            taken.add(next_id)
    return copied


_GUILD_MESSAGES: typing.Final[int] = int(Intent.GUILD_MESSAGES)
_DIRECT_MESSAGES: typing.Final[int] = int(Intent.DIRECT_MESSAGES)
_REPLY_TYPE: typing.Final[int] = 19
"""A reply: a message with a `message_reference` to an earlier one."""


def _message_intent(message: Message) -> int:
    return _GUILD_MESSAGES if message.guild_id is not None else _DIRECT_MESSAGES
