"""Level-role rewards: the roles a member is given on reaching a level (`level_rewards` rows).

Adding or removing one commits together with its audit entry. The XP workers read the rows
when a member levels up, so a change applies from the next level-up on. The rules (the
guild's highest level, at most :data:`MAX_REWARDS`, no duplicate) are checked here, whoever
asks: a refusal is a :class:`~townsquare.features.xp.domain.errors.RewardError`, which the
web adapter answers as an API error.
"""

from __future__ import annotations

import typing

from pydantic import BaseModel, ConfigDict, Field
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from townsquare.core.audit.service import record
from townsquare.core.config.schemas import MAX_LEVEL
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.validation import Snowflake
from townsquare.features.xp.domain.errors import RewardError
from townsquare.features.xp.domain.models import LevelReward

if typing.TYPE_CHECKING:
    from townsquare.core.audit.service import Actor

__all__ = ["MAX_REWARDS", "NewReward", "RewardOut", "add_reward", "list_rewards", "remove_reward"]

MAX_REWARDS: typing.Final = 100


class NewReward(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    level: typing.Annotated[int, Field(ge=1, le=MAX_LEVEL)]
    """The level that grants the role: at most the server's `xp.max_level` (500 unless
    changed; a higher level is refused with 400)."""
    role_id: Snowflake
    """The Discord role given: a role of the server members can be given (not @everyone, not
    managed), below the bot's highest role (else 400 with the reason)."""


class RewardOut(BaseModel):
    id: int
    level: int
    role_id: str


def _out(row: LevelReward) -> RewardOut:
    return RewardOut(id=row.id, level=row.level, role_id=str(row.role_id))


async def list_rewards(guild_id: int) -> list[RewardOut]:
    rows = await LevelReward.filter(guild_id=guild_id).order_by("level", "role_id")
    return [_out(row) for row in rows]


async def add_reward(
    guild_id: int, new: NewReward, max_level: int, actor: Actor, *, role_problem: str | None
) -> RewardOut:
    """Add a reward; refused (400) past the guild's highest level or for a role the bot cannot
    give (`role_problem`: what Discord's facts say is wrong with the role, found by the caller,
    the dashboard and the API alike), 409 if it exists or the list is full."""
    problems: dict[str, list[str]] = {}
    if new.level > max_level:
        problems["level"] = [f"must be at most {max_level} (the highest level)"]
    if role_problem:
        problems["role_id"] = [role_problem]
    if problems:
        raise RewardError(400, "invalid_body", "the reward is not valid", problems)
    try:
        async with in_transaction() as connection:
            await ensure_guild(guild_id, using_db=connection)
            count = await LevelReward.filter(guild_id=guild_id).using_db(connection).count()
            if count >= MAX_REWARDS:
                raise RewardError(409, "too_many_rewards", f"a server has at most {MAX_REWARDS}")
            row = await LevelReward.create(
                guild_id=guild_id, level=new.level, role_id=new.role_id, using_db=connection
            )
            await record(
                "level_reward.add",
                actor,
                guild_id=guild_id,
                target=f"role {new.role_id} at level {new.level}",
                after={"level": new.level, "role_id": new.role_id},
                using_db=connection,
            )
    except IntegrityError:
        raise RewardError(
            409,
            "reward_exists",
            "that role is already a reward for that level",
            {"role_id": ["already a reward for this level"]},
        ) from None
    return _out(row)


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
        await record(
            "level_reward.remove",
            actor,
            guild_id=guild_id,
            target=f"role {row.role_id} at level {row.level}",
            before={"level": row.level, "role_id": row.role_id},
            using_db=connection,
        )
