"""The sandbox's in-memory Discord entities.

Plain mutable records: the `World` owns them, changes them and announces each change as a
gateway dispatch. Payload shapes live in `payloads`, rules in `permissions`.
"""

from __future__ import annotations

import dataclasses
import enum
import typing

if typing.TYPE_CHECKING:
    import datetime

__all__ = [
    "Application",
    "AuditEntry",
    "Ban",
    "Channel",
    "ChannelType",
    "Entitlement",
    "Guild",
    "Interaction",
    "Member",
    "Message",
    "Overwrite",
    "Role",
    "User",
    "VoiceState",
]


class ChannelType(enum.IntEnum):
    """Discord's channel types that the sandbox models."""

    GUILD_TEXT = 0
    DM = 1
    GUILD_VOICE = 2
    GUILD_CATEGORY = 4


@dataclasses.dataclass(slots=True)
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    avatar: str | None = None
    dms_closed: bool = False
    """The user accepts no DMs from server members (the bot's DMs fail with 50007)."""


@dataclasses.dataclass(slots=True)
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int
    color: int = 0
    hoist: bool = False
    managed: bool = False
    mentionable: bool = False
    bot_id: int | None = None


@dataclasses.dataclass(slots=True)
class Overwrite:
    """A channel permission overwrite; `type` 0 is a role, 1 a member."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0


@dataclasses.dataclass(slots=True)
class Channel:
    id: int
    guild_id: int | None
    type: ChannelType
    name: str
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    nsfw: bool = False
    overwrites: list[Overwrite] = dataclasses.field(default_factory=list)
    bitrate: int = 64_000
    user_limit: int = 0
    rate_limit_per_user: int = 0
    last_message_id: int | None = None
    recipient_ids: list[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(slots=True)
class Member:
    user_id: int
    guild_id: int
    joined_at: datetime.datetime
    role_ids: list[int] = dataclasses.field(default_factory=list)
    nick: str | None = None
    communication_disabled_until: datetime.datetime | None = None
    mute: bool = False
    deaf: bool = False


@dataclasses.dataclass(slots=True)
class Message:
    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str
    timestamp: datetime.datetime
    edited_timestamp: datetime.datetime | None = None
    embeds: list[dict[str, typing.Any]] = dataclasses.field(default_factory=list)
    components: list[dict[str, typing.Any]] = dataclasses.field(default_factory=list)
    mention_ids: list[int] = dataclasses.field(default_factory=list)
    mention_role_ids: list[int] = dataclasses.field(default_factory=list)
    mention_everyone: bool = False
    nonce: str | int | None = None
    tts: bool = False
    flags: int = 0
    pinned: bool = False
    type: int = 0
    allowed_mentions: dict[str, typing.Any] | None = None
    """As the author sent it; None: every mention pings."""
    attachments: list[dict[str, typing.Any]] = dataclasses.field(default_factory=list)
    """Attachment payloads (id, filename, size, url, ...); the bytes live in the world."""
    referenced_message_id: int | None = None
    """The message a reply (type 19) answers."""

    @property
    def ephemeral(self) -> bool:
        """Flag 64: seen only by the interaction's user; Discord neither announces nor lists it."""
        return bool(self.flags & 64)


@dataclasses.dataclass(slots=True)
class VoiceState:
    guild_id: int
    channel_id: int | None
    user_id: int
    session_id: str
    self_mute: bool = False
    self_deaf: bool = False
    self_video: bool = False
    mute: bool = False
    deaf: bool = False
    suppress: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Ban:
    user_id: int
    reason: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit-log entry: who (`user_id`) did what (`action_type`, Discord's numbers) to
    what (`target_id`), and why (the `X-Audit-Log-Reason` header)."""

    id: int
    action_type: int
    user_id: int | None
    target_id: int | None
    reason: str | None = None
    options: dict[str, str] | None = None


@dataclasses.dataclass(slots=True)
class Guild:
    id: int
    name: str
    owner_id: int
    afk_channel_id: int | None = None
    afk_timeout: int = 300
    system_channel_id: int | None = None
    roles: dict[int, Role] = dataclasses.field(default_factory=dict)
    channels: dict[int, Channel] = dataclasses.field(default_factory=dict)
    members: dict[int, Member] = dataclasses.field(default_factory=dict)
    voice_states: dict[int, VoiceState] = dataclasses.field(default_factory=dict)
    bans: dict[int, Ban] = dataclasses.field(default_factory=dict)
    verification_level: int = 1
    """0 none ... 4 very high (a verified phone)."""
    audit_log: list[AuditEntry] = dataclasses.field(default_factory=list)
    """Audit-log entries, oldest first (`world.audit`: the newest few thousand are kept)."""
    invites: dict[str, int] = dataclasses.field(default_factory=dict)
    """Invite codes to the guild -> the channel each leads to."""

    @property
    def everyone_role(self) -> Role:
        """The @everyone role, whose id is the guild's."""
        return self.roles[self.id]


@dataclasses.dataclass(slots=True)
class Application:
    """The bot application that the sandbox accepts."""

    id: int
    name: str
    description: str
    bot_user_id: int
    owner_id: int
    bot_token: str
    client_secret: str
    verify_key: str
    flags: int
    privileged_intents: int
    redirect_uris: tuple[str, ...] = ()
    """OAuth2 redirect URIs the consent page accepts; empty accepts any http(s) URI."""
    sku_id: int = 0
    """The application's one SKU (its premium subscription), for entitlements."""


@dataclasses.dataclass(slots=True)
class Entitlement:
    """Access to a SKU, for a user or (with `guild_id`) a guild. `type` is Discord's:
    1 purchase, 4 test-mode purchase, 8 application subscription, ..."""

    id: int
    sku_id: int
    user_id: int
    guild_id: int | None
    type: int = 8
    starts_at: datetime.datetime | None = None
    ends_at: datetime.datetime | None = None
    deleted: bool = False
    consumed: bool = False
    test: bool = False
    """Made with the test-entitlement route: no period, and deletable."""


@dataclasses.dataclass(slots=True)
class Interaction:
    """A slash command use or a component click, awaiting (or holding) the bot's response.

    `type` is Discord's interaction type: 2 application command (`command_name`, `options`),
    3 message component (`custom_id`, `component_type`, `values` on the bot's `message_id`),
    5 modal submit (the modal's `custom_id`, the `submitted` rows; `message_id` when the
    modal was opened from a component). `guild_id` is None for a click in the bot's DM with
    the user.
    """

    id: int
    token: str
    guild_id: int | None
    channel_id: int
    user_id: int
    created_at: datetime.datetime
    type: int = 2
    command_name: str | None = None
    options: list[dict[str, typing.Any]] = dataclasses.field(default_factory=list)
    custom_id: str | None = None
    component_type: int | None = None
    values: list[str] = dataclasses.field(default_factory=list)
    message_id: int | None = None
    response_type: int | None = None
    response_data: dict[str, typing.Any] | None = None
    response_message_id: int | None = None
    followup_message_ids: list[int] = dataclasses.field(default_factory=list)
    submitted: list[dict[str, typing.Any]] = dataclasses.field(default_factory=list)
    """A modal submission's rows of filled text inputs (type 5)."""
