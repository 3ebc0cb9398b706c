"""Level-role rewards: the roles a member is given on reaching a level (`level_rewards` rows).

Adding or removing one commits together with its audit entry. The XP workers read the rows
when a member levels up, so a change applies from the next level-up on. The rules (the
guild's highest level, a role the bot can give (:func:`reward_role_error`, on the guild's roles
as Discord describes them), at most :data:`MAX_REWARDS`, no duplicate, and an explicit
confirmation for a role with dangerous permissions (:func:`dangerous_permissions`)) are
checked here, whoever asks: a refusal is a
:class:`~townsquare.features.xp.domain.errors.RewardError`, which the web adapter answers as
an API error.
"""

from __future__ import annotations

import typing

from pydantic import BaseModel, ConfigDict, Field
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from townsquare.core.audit.service import record
from townsquare.core.config.references import NOT_A_ROLE
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.validation import Snowflake
from townsquare.features.xp.domain.config import MAX_LEVEL
from townsquare.features.xp.domain.errors import RewardError
from townsquare.features.xp.domain.models import LevelReward

if typing.TYPE_CHECKING:
    from tortoise.backends.base.client import BaseDBAsyncClient

    from townsquare.core.audit.service import Actor
    from townsquare.core.config.references import GuildRoles
    from townsquare.core.premium import Gate

__all__ = [
    "DANGEROUS_PERMISSIONS",
    "LEVEL_REWARDS_LIMIT",
    "MAX_REWARDS",
    "NewReward",
    "RewardOut",
    "active_rewards",
    "add_reward",
    "dangerous_permissions",
    "list_rewards",
    "remove_reward",
    "reward_role_error",
]

MAX_REWARDS: typing.Final = 100
LEVEL_REWARDS_LIMIT: typing.Final = "xp.level_rewards"
"""The premium limit on rewards per guild (core/premium.py); past it after a downgrade, the
rewards of the highest levels are paused (:func:`active_rewards`)."""


DANGEROUS_PERMISSIONS: typing.Final[tuple[tuple[int, str], ...]] = (
    (1 << 1, "Kick Members"),
    (1 << 2, "Ban Members"),
    (1 << 3, "Administrator"),
    (1 << 4, "Manage Channels"),
    (1 << 5, "Manage Server"),
    (1 << 7, "View Audit Log"),
    (1 << 13, "Manage Messages"),
    (1 << 17, "Mention @everyone, @here, and All Roles"),
    (1 << 27, "Manage Nicknames"),
    (1 << 28, "Manage Roles"),
    (1 << 29, "Manage Webhooks"),
    (1 << 30, "Manage Expressions"),
    (1 << 33, "Manage Events"),
    (1 << 34, "Manage Threads"),
    (1 << 40, "Timeout Members"),
)
"""Permissions (Discord's bit, the name its settings show) that let a member moderate,
reshape or take over the server, or ping everyone: a level reward granting any of them hands
them to whoever chats enough, so adding one needs `confirm_dangerous`. Discord's own
"elevated" permissions and a few more; the bits are checked against hikari's in the tests
(the domain imports no Discord library)."""
DANGEROUS_UNCONFIRMED: typing.Final = (
    "{role} grants {permissions}; every member who reaches the level would get them"
)
"""The refusal of a dangerous role without confirmation; each caller says how to confirm."""


def dangerous_permissions(permissions: int) -> str:
    """The dangerous permissions among `permissions`, as Discord's settings name them (empty:
    none), e.g. "Kick Members, Ban Members"."""
    return ", ".join(name for bit, name in DANGEROUS_PERMISSIONS if permissions & bit)


class NewReward(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    level: typing.Annotated[int, Field(ge=1, le=MAX_LEVEL)]
    """The level that grants the role: at most the server's `xp.max_level` (500 unless
    changed; a higher level is refused with 400)."""
    role_id: Snowflake
    """The Discord role given: a role of the server members can be given (not @everyone, not
    managed), below the bot's highest role (else 400 with the reason)."""
    confirm_dangerous: bool = False
    """Must be true when the role grants a dangerous permission (Administrator, Manage Server,
    Ban Members, Kick Members, Manage Roles ...); else 400 `dangerous_role`, naming them."""


class RewardOut(BaseModel):
    id: int
    level: int
    role_id: str


def _out(row: LevelReward) -> RewardOut:
    return RewardOut(id=row.id, level=row.level, role_id=str(row.role_id))


async def list_rewards(guild_id: int) -> list[RewardOut]:
    rows = await LevelReward.filter(guild_id=guild_id).order_by("level", "role_id")
    return [_out(row) for row in rows]


def reward_role_error(role_id: int, roles: GuildRoles, bot_name: str = "Townsquare") -> str | None:
    """Why `role_id` cannot be a level-role reward in this guild, or None if it can: a role of
    the guild that members can be given, below the bot's highest role, or Discord refuses to
    grant it (every level-up would then raise a "Missing Permissions" alert)."""
    role = roles.by_id().get(role_id)
    if role is None:
        return NOT_A_ROLE.format(role_id)
    if role.id == roles.guild_id:
        return "@everyone is every member's role; it cannot be a reward"
    if role.managed:
        return (
            f"{role.name} is managed by Discord (a bot's or an integration's own role); "
            "members cannot be given it"
        )
    top = roles.bot_top
    if top is None or role.position >= top.position:
        above = f"its highest role, {top.name}" if top is not None else "any role it has"
        return (
            f"{role.name} is not below {bot_name}'s highest role, so {bot_name} cannot give it "
            f"(Discord lets a bot give only roles below {above}); move {bot_name}'s role above "
            f"{role.name} in Server Settings > Roles, or pick a lower role"
        )
    return None


async def add_reward(
    guild_id: int,
    new: NewReward,
    max_level: int,
    actor: Actor,
    *,
    roles: GuildRoles | None,
    gate: Gate | None = None,
) -> RewardOut:
    """Add a reward; refused (400) past the guild's highest level or for a role the bot cannot
    give (:func:`reward_role_error` on `roles`, the guild's roles as Discord describes them;
    None when Discord could not be asked, and the caller chose to go on), 409 if it exists or
    the list is full, and :class:`~townsquare.core.premium.PremiumRefused` past the tier's
    `xp.level_rewards`."""
    problems: dict[str, list[str]] = {}
    if new.level > max_level:
        problems["level"] = [f"must be at most {max_level} (the highest level)"]
    role_problem = reward_role_error(new.role_id, roles) if roles is not None else None
    if role_problem:
        problems["role_id"] = [role_problem]
    if problems:
        raise RewardError(400, "invalid_body", "the reward is not valid", problems)
    role = roles.by_id().get(new.role_id) if roles is not None else None
    dangerous = dangerous_permissions(role.permissions) if role is not None else ""
    if dangerous and not new.confirm_dangerous:
        name = role.name if role is not None else str(new.role_id)
        message = DANGEROUS_UNCONFIRMED.format(role=name, permissions=dangerous)
        raise RewardError(400, "dangerous_role", message, {"role_id": [message]})
    try:
        async with in_transaction() as connection:
            await ensure_guild(guild_id, using_db=connection)
            count = await LevelReward.filter(guild_id=guild_id).using_db(connection).count()
            if count >= MAX_REWARDS:
                raise RewardError(409, "too_many_rewards", f"a server has at most {MAX_REWARDS}")
            if gate is not None:
                await gate.check(guild_id, LEVEL_REWARDS_LIMIT, usage=count)
            row = await LevelReward.create(
                guild_id=guild_id, level=new.level, role_id=new.role_id, using_db=connection
            )
            await _audit("add", actor, guild_id, new.level, new.role_id, connection)
    except IntegrityError:
        raise RewardError(
            409,
            "reward_exists",
            "that role is already a reward for that level",
            {"role_id": ["already a reward for this level"]},
        ) from None
    return _out(row)


async def _audit(  # noqa: PLR0917 - one reward change, as both callers have it
    change: typing.Literal["add", "remove"],
    actor: Actor,
    guild_id: int,
    level: int,
    role_id: int,
    connection: BaseDBAsyncClient,
) -> None:
    """The audit entry of a reward added (its `after`) or removed (its `before`), written in
    the change's transaction."""
    reward = {"level": level, "role_id": role_id}
    await record(
        f"level_reward.{change}",
        actor,
        guild_id=guild_id,
        target=f"role {role_id} at level {level}",
        before=reward if change == "remove" else None,
        after=reward if change == "add" else None,
        using_db=connection,
    )


async def remove_reward(guild_id: int, reward_id: int, actor: Actor) -> None:
    """Remove a reward; refused (404) when the guild has no such reward."""
    async with in_transaction() as connection:
        row = (
            await LevelReward.filter(id=reward_id, guild_id=guild_id)
            .using_db(connection)
            .select_for_update()
            .first()
        )
        if row is None:
            raise RewardError(404, "reward_not_found", "no such reward in this server")
        await row.delete(using_db=connection)
        await _audit("remove", actor, guild_id, row.level, row.role_id, connection)


def active_rewards[Row: LevelReward](
    rows: typing.Sequence[Row], limit: int | bool | None
) -> list[Row]:
    """The rewards that apply under the guild's `xp.level_rewards` limit: all of them, or the
    `limit` of the lowest levels (the rest are paused, never deleted, and apply again as soon
    as the tier allows them)."""
    ordered = sorted(rows, key=lambda row: (row.level, row.role_id, row.id))
    if limit is None or isinstance(limit, bool):
        return ordered
    return ordered[: max(0, limit)]
