"""What the bot needs in Discord, and what a guild has not given it: the invite link and health.

Every feature declares the Discord permissions it needs (`Feature.permissions`, names of
`hikari.Permissions`) and, through its needs module (`Feature.needs`), the roles the bot
assigns and the channels it posts in beyond the configuration's own channel fields. From
these:

- :func:`invite_url`: the OAuth2 link that adds the bot with exactly the enabled features'
  and the kernel's permissions, and the `bot` and `applications.commands` scopes
  (`townsquare init` prints it);
- :func:`guild_health`: for one guild, read from Discord as it is now, the permissions the bot
  lacks, the roles it must assign that sit at or above its highest role (Discord refuses
  those), and the channels it must post in where it cannot (`townsquare doctor`, the
  dashboard's Health page).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import typing
import urllib.parse

import hikari

from townsquare.core.config.references import posting_channels
from townsquare.core.features import KERNEL_PERMISSIONS, FeatureError, enabled_features

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping

    from townsquare.core.config.schemas import GuildConfig
    from townsquare.core.features import Feature

__all__ = [
    "INVITE_SCOPES",
    "POST_PERMISSIONS",
    "GuildHealth",
    "HealthReport",
    "Needs",
    "channel_permissions",
    "feature_needs",
    "guild_health",
    "health_report",
    "invite_url",
    "permission_label",
    "required_permissions",
    "stored_config",
]

INVITE_SCOPES: typing.Final = ("bot", "applications.commands")
POST_PERMISSIONS: typing.Final = hikari.Permissions.VIEW_CHANNEL | hikari.Permissions.SEND_MESSAGES
"""What posting a message in a channel takes."""


@dataclasses.dataclass(frozen=True, slots=True)
class Needs:
    """What one feature needs of one guild, beyond permissions: by id, why (shown to admins)."""

    roles: Mapping[int, str] = dataclasses.field(default_factory=dict)
    """Roles the bot gives or takes (they must sit below its highest role)."""
    channels: Mapping[int, str] = dataclasses.field(default_factory=dict)
    """Channels the bot posts in."""


def _permission(name: str, feature: str) -> hikari.Permissions:
    try:
        return hikari.Permissions[name]
    except KeyError:
        raise FeatureError(
            f"{feature}: {name!r} is not a Discord permission (a name of hikari.Permissions)"
        ) from None


def required_permissions(features: Iterable[Feature] | None = None) -> hikari.Permissions:
    """The kernel's permissions and those of `features` (default: the enabled ones)."""
    needed = hikari.Permissions.NONE
    for name in KERNEL_PERMISSIONS:
        needed |= _permission(name, "the kernel")
    for feature in enabled_features() if features is None else features:
        for name in feature.permissions:
            needed |= _permission(name, f"feature {feature.name!r}")
    return needed


def invite_url(
    authorize_url: str, application_id: int, features: Iterable[Feature] | None = None
) -> str:
    """The link that adds the bot to a server with what the features need."""
    query = urllib.parse.urlencode(
        {
            "client_id": str(application_id),
            "scope": " ".join(INVITE_SCOPES),
            "permissions": str(int(required_permissions(features))),
        },
        quote_via=urllib.parse.quote,
    )
    return f"{authorize_url}?{query}"


_LABELS: typing.Final = {
    "MANAGE_GUILD": "Manage Server",
    "MODERATE_MEMBERS": "Timeout Members",
    "MENTION_ROLES": "Mention @everyone, @here, and All Roles",
    "VIEW_CHANNEL": "View Channels",
}
"""Where Discord's settings name a permission otherwise than its flag name reads."""


def permission_label(permissions: hikari.Permissions) -> str:
    """Each flag as Discord's settings name it, e.g. "Send Messages, Embed Links"."""
    return ", ".join(
        _LABELS.get(flag.name, flag.name.replace("_", " ").title())
        for flag in hikari.Permissions
        if flag and flag in permissions and flag.name
    )


@dataclasses.dataclass(frozen=True, slots=True)
class RoleProblem:
    role_id: int
    name: str
    why: str
    gone: bool = False
    """The role no longer exists in the guild (deleted in Discord)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelProblem:
    channel_id: int
    name: str
    why: str
    missing: hikari.Permissions
    """Empty when the channel is gone (deleted, or the bot cannot see the server's list)."""


@dataclasses.dataclass(frozen=True, slots=True)
class GuildHealth:
    """One guild as the bot finds it; `ok` when nothing needs fixing."""

    guild_id: int
    name: str
    missing: hikari.Permissions
    """Server-wide permissions the enabled features need and the bot's roles do not give."""
    roles_above: tuple[RoleProblem, ...]
    channels: tuple[ChannelProblem, ...]
    top_role: str
    """The bot's highest role's name (what a role must sit below)."""

    @property
    def ok(self) -> bool:
        return not (self.missing or self.roles_above or self.channels)

    def fixes(self) -> list[str]:
        """What an admin of the guild should do, one line each."""
        lines = []
        if self.missing:
            lines.append(
                f"grant the bot's role these permissions: {permission_label(self.missing)} "
                "(Server Settings > Roles), or invite it again with `townsquare init`'s link"
            )
        for role in self.roles_above:
            if role.gone:
                lines.append(
                    f"role {role.role_id} is gone (deleted in Discord); pick another ({role.why})"
                )
            else:
                lines.append(
                    f"move the role @{role.name} below @{self.top_role} "
                    f"(Server Settings > Roles): the bot cannot assign it ({role.why})"
                )
        for channel in self.channels:
            if channel.missing:
                lines.append(
                    f"let the bot {permission_label(channel.missing)} in #{channel.name} "
                    f"(channel permissions): it posts there ({channel.why})"
                )
            else:
                lines.append(f"channel {channel.channel_id} is gone; pick another ({channel.why})")
        return lines


@dataclasses.dataclass(frozen=True, slots=True)
class HealthReport:
    guilds: tuple[GuildHealth, ...]

    @property
    def exit_code(self) -> int:
        return 0 if all(guild.ok for guild in self.guilds) else 1

    def render(self) -> str:
        needing = [guild for guild in self.guilds if not guild.ok]
        lines = [
            f"the bot is in {len(self.guilds)} server{'s' if len(self.guilds) != 1 else ''}; "
            f"{len(needing) or 'none'} need{'s' if len(needing) == 1 else ''} fixing"
        ]
        for guild in self.guilds:
            lines.append(f"{guild.name} ({guild.guild_id}): {'ok' if guild.ok else 'to fix:'}")
            lines.extend(f"  - {fix}" for fix in guild.fixes())
        return "\n".join(lines)


def channel_permissions(
    base: hikari.Permissions,
    guild_id: int,
    member_id: int,
    role_ids: Iterable[int],
    overwrites: Mapping[hikari.Snowflake, hikari.PermissionOverwrite],
) -> hikari.Permissions:
    """A member's permissions in a channel: the server-wide `base`, then the channel's
    overwrites for @everyone, for the member's roles together, and for the member, in the order
    Discord applies them (administrators keep everything)."""
    if base & hikari.Permissions.ADMINISTRATOR:
        return hikari.Permissions.all_permissions()
    permissions = base
    everyone = overwrites.get(hikari.Snowflake(guild_id))
    if everyone is not None:
        permissions = (permissions & ~everyone.deny) | everyone.allow
    allow = deny = hikari.Permissions.NONE
    for role_id in role_ids:
        overwrite = overwrites.get(hikari.Snowflake(role_id))
        if overwrite is not None and overwrite.type is hikari.PermissionOverwriteType.ROLE:
            allow |= overwrite.allow
            deny |= overwrite.deny
    permissions = (permissions & ~deny) | allow
    own = overwrites.get(hikari.Snowflake(member_id))
    if own is not None and own.type is hikari.PermissionOverwriteType.MEMBER:
        permissions = (permissions & ~own.deny) | own.allow
    return permissions


type NeedsFunction = Callable[[int, GuildConfig], Awaitable[Needs]]


def feature_needs(features: Iterable[Feature] | None = None) -> list[NeedsFunction]:
    """The `NEEDS` of the features' needs modules (default: the enabled features')."""
    found = []
    for feature in enabled_features() if features is None else features:
        if feature.needs is not None:
            found.append(typing.cast("NeedsFunction", importlib.import_module(feature.needs).NEEDS))
    return found


async def guild_health(
    rest: hikari.api.RESTClient,
    guild_id: int,
    bot_id: int,
    config: GuildConfig,
    *,
    features: Iterable[Feature] | None = None,
) -> GuildHealth:
    """Read the guild from Discord and say what the bot lacks for the enabled features."""
    features = tuple(enabled_features() if features is None else features)
    needs = [await needs_of(guild_id, config) for needs_of in feature_needs(features)]
    guild, member, channels = await asyncio.gather(
        rest.fetch_guild(guild_id),
        rest.fetch_member(guild_id, bot_id),
        rest.fetch_guild_channels(guild_id),
    )
    roles = guild.roles
    everyone = roles.get(hikari.Snowflake(guild_id))
    base = everyone.permissions if everyone is not None else hikari.Permissions.NONE
    mine = [roles[role_id] for role_id in member.role_ids if role_id in roles]
    for mine_role in mine:
        base |= mine_role.permissions
    if int(guild.owner_id) == bot_id or base & hikari.Permissions.ADMINISTRATOR:
        base = hikari.Permissions.all_permissions()
    top: hikari.Role | None = max(mine, key=lambda role: role.position, default=everyone)
    top_position = top.position if top is not None else 0

    roles_above = []
    wanted_roles: dict[int, str] = {}
    for need in needs:
        wanted_roles.update(need.roles)
    for role_id, why in wanted_roles.items():
        wanted = roles.get(hikari.Snowflake(role_id))
        if wanted is None:
            roles_above.append(RoleProblem(role_id, str(role_id), why, gone=True))
        elif wanted.position >= top_position:
            roles_above.append(RoleProblem(role_id, wanted.name, why))

    wanted_channels = {
        channel_id: f"the configuration's {dotted}"
        for dotted, ids in posting_channels(config)
        for channel_id in ids
    }
    for need in needs:
        wanted_channels.update(need.channels)
    by_id = {
        int(channel.id): channel
        for channel in channels
        if isinstance(channel, hikari.PermissibleGuildChannel)
    }
    channel_problems = []
    for channel_id, why in wanted_channels.items():
        channel = by_id.get(channel_id)
        if channel is None:
            channel_problems.append(
                ChannelProblem(channel_id, str(channel_id), why, hikari.Permissions.NONE)
            )
            continue
        granted = channel_permissions(
            base, guild_id, bot_id, (int(role.id) for role in mine), channel.permission_overwrites
        )
        missing = POST_PERMISSIONS & ~granted
        if missing:
            channel_problems.append(
                ChannelProblem(channel_id, channel.name or str(channel_id), why, missing)
            )
    needed = required_permissions(features)
    return GuildHealth(
        guild_id=guild_id,
        name=guild.name,
        missing=needed & ~base,
        roles_above=tuple(roles_above),
        channels=tuple(channel_problems),
        top_role=top.name if top is not None else "@everyone",
    )


async def health_report(
    rest: hikari.api.RESTClient,
    config_of: Callable[[int], Awaitable[GuildConfig]],
    *,
    features: Iterable[Feature] | None = None,
) -> HealthReport:
    """:func:`guild_health` for every guild the bot is in, in id order."""
    me = await rest.fetch_my_user()
    guild_ids = sorted([int(guild.id) async for guild in rest.fetch_my_guilds()])
    found = []
    for guild_id in guild_ids:
        config = await config_of(guild_id)
        found.append(await guild_health(rest, guild_id, int(me.id), config, features=features))
    return HealthReport(tuple(found))


async def stored_config(guild_id: int, defaults: GuildConfig) -> GuildConfig:
    """The guild's stored configuration, or `defaults` when it has none (read only)."""
    from townsquare.core.config.models import GuildConfigRecord
    from townsquare.core.features import guild_config_model

    row = await GuildConfigRecord.filter(guild_id=guild_id).first()
    if row is None:
        return defaults
    return guild_config_model().from_stored(row.document, defaults)
