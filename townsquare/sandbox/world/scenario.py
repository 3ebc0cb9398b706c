"""Scenario files: the YAML that seeds a world.

A scenario names the bot application, then each guild's roles (highest first), channels,
members (username -> role keys) and voice states. Ids are snowflakes from a clock that starts
at the scenario's `epoch` and advances one millisecond per id, so a scenario always yields the
same ids, and consecutive guilds land on different shards.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import importlib.resources
import typing

import pydantic
import yaml

from townsquare.sandbox.intents import Intent
from townsquare.sandbox.snowflakes import SnowflakeFactory
from townsquare.sandbox.world.models import (
    Application,
    Channel,
    ChannelType,
    Guild,
    Member,
    Overwrite,
    Role,
    User,
    VoiceState,
)
from townsquare.sandbox.world.permissions import Permission
from townsquare.sandbox.world.state import World

if typing.TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["Scenario", "build_world", "load_scenario"]

# Application flags for an app under 100 guilds with the members and content intents enabled.
_FLAG_GUILD_MEMBERS_LIMITED = 1 << 15
_FLAG_MESSAGE_CONTENT_LIMITED = 1 << 19
_FLAG_PRESENCE_LIMITED = 1 << 13
_CHANNEL_TYPES = {
    "text": ChannelType.GUILD_TEXT,
    "voice": ChannelType.GUILD_VOICE,
    "category": ChannelType.GUILD_CATEGORY,
}


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class ApplicationSpec(_Model):
    name: str
    """The application's (and its bot's) name."""
    description: str = ""
    bot_username: str
    """The bot user's username."""
    owner: str
    """Username of the application owner (a member of some guild)."""
    privileged_intents: list[str] = []
    """Privileged intents enabled in the developer portal, e.g. GUILD_MEMBERS."""
    redirect_uris: list[str] = []
    """OAuth2 redirect URIs; empty accepts any http(s) URI (convenient on loopback)."""


class RoleSpec(_Model):
    key: str
    name: str
    permissions: list[str] = []
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    bot: bool = False
    """The bot's managed role: the bot member gets it."""


class OverwriteSpec(_Model):
    role: str
    """A role key, or `everyone`."""
    allow: list[str] = []
    deny: list[str] = []


class ChannelSpec(_Model):
    key: str
    type: typing.Literal["text", "voice", "category"]
    name: str
    parent: str | None = None
    topic: str | None = None
    overwrites: list[OverwriteSpec] = []
    user_limit: int = 0


class VoiceSpec(_Model):
    user: str
    channel: str
    self_mute: bool = False
    self_deaf: bool = False


class GuildSpec(_Model):
    name: str
    owner: str
    everyone_permissions: list[str]
    roles: list[RoleSpec]
    """Highest first."""
    channels: list[ChannelSpec]
    members: dict[str, list[str]]
    """Username -> role keys."""
    afk_channel: str | None = None
    afk_timeout: int = 300
    system_channel: str | None = None
    voice_states: list[VoiceSpec] = []


class Scenario(_Model):
    epoch: datetime.datetime
    application: ApplicationSpec
    guilds: list[GuildSpec]


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name (`demo`) or a YAML file by path."""
    text: str
    if isinstance(name_or_path, str) and "/" not in name_or_path and "." not in name_or_path:
        resource = (
            importlib.resources.files("townsquare.sandbox") / "scenarios" / f"{name_or_path}.yaml"
        )
        if not resource.is_file():
            msg = f"no shipped sandbox scenario named {name_or_path!r}"
            raise ValueError(msg)
        text = resource.read_text(encoding="utf-8")
    else:
        with open(name_or_path, encoding="utf-8") as file:
            text = file.read()
    return Scenario.model_validate(yaml.safe_load(text))


def build_world(scenario: Scenario, *, clock: Callable[[], datetime.datetime]) -> World:
    """A fresh world seeded from `scenario`; runtime ids come from `clock`."""
    ticks = iter(range(1_000_000_000))
    epoch = scenario.epoch.astimezone(datetime.UTC)
    seeding = SnowflakeFactory(lambda: epoch + datetime.timedelta(milliseconds=next(ticks)))
    spec = scenario.application
    users: dict[str, User] = {}

    def user(username: str, *, bot: bool = False) -> User:
        if username not in users:
            users[username] = User(seeding.next(), username, username.title(), bot=bot)
        return users[username]

    application_id = seeding.next()
    # A bot user's id is its application's id.
    bot = users[spec.bot_username] = User(application_id, spec.bot_username, spec.name, bot=True)
    guilds = [_build_guild(g, seeding, user, bot, epoch) for g in scenario.guilds]
    owner = users.get(spec.owner)
    if owner is None:
        msg = f"application owner {spec.owner!r} is not a member of any guild"
        raise ValueError(msg)
    privileged = Intent.parse(spec.privileged_intents)
    flags = 0
    if privileged & Intent.GUILD_MEMBERS:
        flags |= _FLAG_GUILD_MEMBERS_LIMITED
    if privileged & Intent.MESSAGE_CONTENT:
        flags |= _FLAG_MESSAGE_CONTENT_LIMITED
    if privileged & Intent.GUILD_PRESENCES:
        flags |= _FLAG_PRESENCE_LIMITED
    seed = f"townsquare-sandbox:{application_id}"  # keyspace: not a key (a hash seed)
    digest = hashlib.sha256(seed.encode()).hexdigest()
    token_id = base64.b64encode(str(application_id).encode()).decode().rstrip("=")
    application = Application(
        id=application_id,
        name=spec.name,
        description=spec.description,
        bot_user_id=bot.id,
        owner_id=owner.id,
        bot_token=f"{token_id}.SandBx.{digest[:38]}",
        client_secret=digest[38:64],
        verify_key=digest,
        flags=flags,
        privileged_intents=privileged,
        redirect_uris=tuple(spec.redirect_uris),
        sku_id=seeding.next(),  # made last, so every other seeded id stays as it was
    )
    return World(
        application=application,
        users={u.id: u for u in users.values()},
        guilds={g.id: g for g in guilds},
        snowflakes=SnowflakeFactory(clock),
        clock=clock,
    )


def _build_guild(
    spec: GuildSpec,
    ids: SnowflakeFactory,
    user: Callable[..., User],
    bot: User,
    epoch: datetime.datetime,
) -> Guild:
    owner = user(spec.owner)
    guild = Guild(id=ids.next(), name=spec.name, owner_id=owner.id, afk_timeout=spec.afk_timeout)
    roles: dict[str, Role] = {
        "everyone": Role(
            guild.id, guild.id, "@everyone", Permission.parse(spec.everyone_permissions), 0
        )
    }
    for index, role_spec in enumerate(spec.roles):
        roles[role_spec.key] = Role(
            id=ids.next(),
            guild_id=guild.id,
            name=role_spec.name,
            permissions=Permission.parse(role_spec.permissions),
            position=len(spec.roles) - index,
            color=role_spec.color,
            hoist=role_spec.hoist,
            managed=role_spec.bot,
            mentionable=role_spec.mentionable,
            bot_id=bot.id if role_spec.bot else None,
        )
    guild.roles = {r.id: r for r in roles.values()}
    channels: dict[str, Channel] = {}
    for position, channel_spec in enumerate(spec.channels):
        parent = _find(channels, channel_spec.parent, "channel").id if channel_spec.parent else None
        channels[channel_spec.key] = Channel(
            id=ids.next(),
            guild_id=guild.id,
            type=_CHANNEL_TYPES[channel_spec.type],
            name=channel_spec.name,
            position=position,
            parent_id=parent,
            topic=channel_spec.topic,
            user_limit=channel_spec.user_limit,
            overwrites=[
                Overwrite(
                    _find(roles, o.role, "role").id,
                    0,
                    Permission.parse(o.allow),
                    Permission.parse(o.deny),
                )
                for o in channel_spec.overwrites
            ],
        )
    guild.channels = {c.id: c for c in channels.values()}
    if spec.afk_channel:
        guild.afk_channel_id = _find(channels, spec.afk_channel, "channel").id
    if spec.system_channel:
        guild.system_channel_id = _find(channels, spec.system_channel, "channel").id
    bot_roles = [r.id for r in roles.values() if r.bot_id is not None]
    for offset, (username, role_keys) in enumerate(
        [(bot.username, []), *spec.members.items()], start=1
    ):
        member_user = bot if username == bot.username else user(username)
        role_ids = (
            bot_roles if member_user is bot else [_find(roles, k, "role").id for k in role_keys]
        )
        joined_at = epoch + datetime.timedelta(days=offset)
        guild.members[member_user.id] = Member(member_user.id, guild.id, joined_at, role_ids)
    for voice in spec.voice_states:
        voice_user = user(voice.user)
        guild.voice_states[voice_user.id] = VoiceState(
            guild_id=guild.id,
            channel_id=_find(channels, voice.channel, "channel").id,
            user_id=voice_user.id,
            session_id=f"{voice_user.id:x}",
            self_mute=voice.self_mute,
            self_deaf=voice.self_deaf,
        )
    return guild


def _find[T](entities: dict[str, T], key: str, kind: str) -> T:
    try:
        return entities[key]
    except KeyError:
        msg = f"scenario refers to unknown {kind} {key!r}; known: {', '.join(entities)}"
        raise ValueError(msg) from None
