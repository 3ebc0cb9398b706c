"""Scenario files: the YAML that seeds a world.

A scenario names the bot application, then each guild's roles (highest first), channels,
members (username -> role keys) and voice states. Ids are snowflakes from a clock that starts
at the scenario's `epoch` and advances one millisecond per id, so a scenario always yields the
same ids, and consecutive guilds land on different shards.

A scenario may also generate guilds by rule (`generated`: thousands of guilds from one
template, hundreds of thousands of members drawn from a pool of people; `generated.py` deals
them) and say how many shards GET /gateway/bot recommends (`shards`).
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
from townsquare.sandbox.world.generated import GeneratedShape, guild_sizes, member_people
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

__all__ = ["GeneratedSpec", "Scenario", "build_world", "load_scenario"]

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


class GuildFrameSpec(_Model):
    """A guild without its people: permissions, roles and channels."""

    everyone_permissions: list[str]
    roles: list[RoleSpec]
    """Highest first."""
    channels: list[ChannelSpec]
    afk_channel: str | None = None
    afk_timeout: int = 300
    system_channel: str | None = None


class GuildSpec(GuildFrameSpec):
    name: str
    owner: str
    members: dict[str, list[str]]
    """Username -> role keys."""
    voice_states: list[VoiceSpec] = []


class GeneratedSpec(_Model):
    """Guilds made by rule from one template (see `townsquare.sandbox.world.generated`).

    The people are users `person0` ... `person{people - 1}`; a guild's first member owns it.
    """

    guilds: int
    members: int
    """Human memberships over every guild; each guild also has the bot."""
    people: int
    seed: int = 0
    skew: float = pydantic.Field(default=0.9, ge=0.0, le=3.0)
    """Power-law exponent of the guild sizes: 0 makes them equal."""
    min_members: int = 2
    name: str = "Generated Guild"
    """Guild `n` (from 1) is named `{name} {n}`."""
    template: GuildFrameSpec
    role_every: int = pydantic.Field(default=4, ge=1)
    """Every `role_every`-th member of a guild has one of the template's roles (not the
    bot's), in turn."""
    voice_channel: str | None = None
    """A template channel key: the `in_voice` members after the owner sit in it."""
    in_voice: int = pydantic.Field(default=0, ge=0)

    def scaled(self, fraction: float) -> GeneratedSpec:
        """The same guilds at `fraction` of the numbers (guilds, members, people); the
        benchmarks' quick runs and the scenario's test build smaller copies this way."""
        if fraction <= 0:
            raise ValueError(f"a scenario's scale must be above 0, got {fraction}")
        return self.model_copy(
            update={
                "guilds": max(1, round(self.guilds * fraction)),
                "members": max(1, round(self.members * fraction)),
                "people": max(1, round(self.people * fraction)),
            }
        )

    def shape(self) -> GeneratedShape:
        return GeneratedShape(
            guilds=self.guilds,
            members=self.members,
            people=self.people,
            seed=self.seed,
            skew=self.skew,
            min_members=self.min_members,
        )


class Scenario(_Model):
    epoch: datetime.datetime
    application: ApplicationSpec
    guilds: list[GuildSpec] = []
    generated: GeneratedSpec | None = None
    """Guilds made by rule, after the listed ones."""
    shards: int | None = pydantic.Field(default=None, ge=1)
    """The shard count GET /gateway/bot recommends; None: one per 1,000 guilds, as Discord."""


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
    if scenario.generated is not None:
        guilds += _build_generated(scenario.generated, seeding, users, bot, epoch)
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
        recommended_shards=scenario.shards,
    )


def _build_guild(
    spec: GuildSpec,
    ids: SnowflakeFactory,
    user: Callable[..., User],
    bot: User,
    epoch: datetime.datetime,
) -> Guild:
    owner = user(spec.owner)
    guild, roles, channels = _guild_frame(spec, spec.name, owner.id, ids, bot)
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


def _guild_frame(
    spec: GuildFrameSpec,
    name: str,
    owner_id: int,
    ids: SnowflakeFactory,
    bot: User,
    *,
    guild_id: int | None = None,
) -> tuple[Guild, dict[str, Role], dict[str, Channel]]:
    """A guild (with `guild_id`, else the next id) with its roles and channels, no members
    yet; its roles and channels by key."""
    guild_id = ids.next() if guild_id is None else guild_id
    guild = Guild(id=guild_id, name=name, owner_id=owner_id, afk_timeout=spec.afk_timeout)
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
    return guild, roles, channels


def _build_generated(
    spec: GeneratedSpec,
    ids: SnowflakeFactory,
    users: dict[str, User],
    bot: User,
    epoch: datetime.datetime,
) -> list[Guild]:
    """`spec`'s guilds, compactly: one `User` per person shared by all their guilds, members'
    `joined_at` taken from one year of shared instants, one `Member` per membership. The
    guild ids come first, one millisecond apart, so consecutive guilds are on consecutive
    shards whatever the template's size."""
    shape = spec.shape()
    sizes = guild_sizes(shape)
    guild_ids = [ids.next() for _ in sizes]
    people: list[User] = []
    for number in range(spec.people):
        name = f"person{number}"
        if (person := users.get(name)) is None:
            person = users[name] = User(ids.next(), name)
        people.append(person)
    days = [epoch + datetime.timedelta(days=day) for day in range(1, 366)]
    guilds: list[Guild] = []
    for number, (guild_id, picked) in enumerate(
        zip(guild_ids, member_people(shape, sizes), strict=True), start=1
    ):
        members = [people[index % spec.people] for index in picked]
        name = f"{spec.name} {number}"
        guild, roles, channels = _guild_frame(
            spec.template, name, members[0].id, ids, bot, guild_id=guild_id
        )
        bot_roles = [r.id for r in roles.values() if r.bot_id is not None]
        plain = [r.id for key, r in roles.items() if key != "everyone" and r.bot_id is None]
        guild.members[bot.id] = Member(bot.id, guild.id, days[0], bot_roles)
        for rank, person in enumerate(members):
            role_ids = [plain[rank % len(plain)]] if plain and rank % spec.role_every == 0 else []
            guild.members[person.id] = Member(person.id, guild.id, days[rank % 365], role_ids)
        if spec.voice_channel is not None:
            room = _find(channels, spec.voice_channel, "channel").id
            for person in members[1 : 1 + spec.in_voice]:
                guild.voice_states[person.id] = VoiceState(
                    guild_id=guild.id,
                    channel_id=room,
                    user_id=person.id,
                    session_id=f"{person.id:x}",
                )
        guilds.append(guild)
    return guilds


def _find[T](entities: dict[str, T], key: str, kind: str) -> T:
    try:
        return entities[key]
    except KeyError:
        msg = f"scenario refers to unknown {kind} {key!r}; known: {', '.join(entities)}"
        raise ValueError(msg) from None
