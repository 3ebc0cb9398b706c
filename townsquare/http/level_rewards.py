"""Level-role rewards: the roles a member is given on reaching a level (`level_rewards` rows).

Adding or removing one commits together with its audit entry. The XP workers read the rows
when a member levels up, so a change applies from the next level-up on.
"""

from __future__ import annotations

import typing

from pydantic import BaseModel, ConfigDict, Field
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from townsquare.core.audit.models import ActorKind
from townsquare.core.audit.service import Actor, record
from townsquare.core.config.schemas import MAX_LEVEL
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.validation import Snowflake
from townsquare.core.xp.models import LevelReward
from townsquare.http.config_changes import WhenUnknown, reward_role_problem
from townsquare.http.errors import APIError

if typing.TYPE_CHECKING:
    from townsquare.http.access import Session

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
    guild_id: int, new: NewReward, max_level: int, session: Session, *, when_unknown: WhenUnknown
) -> RewardOut:
    """Add a reward; 400 past the guild's highest level or for a role the bot cannot give (the
    dashboard and the API alike), 409 if it exists or the list is full."""
    problems: dict[str, list[str]] = {}
    if new.level > max_level:
        problems["level"] = [f"must be at most {max_level} (the highest level)"]
    if role_problem := await reward_role_problem(guild_id, new.role_id, when_unknown=when_unknown):
        problems["role_id"] = [role_problem]
    if problems:
        raise APIError(400, "invalid_body", "the reward is not valid", problems)
    actor = Actor(ActorKind.USER, session.user_id, session.username)
    try:
        async with in_transaction() as connection:
            await ensure_guild(guild_id, using_db=connection)
            count = await LevelReward.filter(guild_id=guild_id).using_db(connection).count()
            if count >= MAX_REWARDS:
                raise APIError(409, "too_many_rewards", f"a server has at most {MAX_REWARDS}")
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
        raise APIError(
            409,
            "reward_exists",
            "that role is already a reward for that level",
            {"role_id": ["already a reward for this level"]},
        ) from None
    return _out(row)


async def remove_reward(guild_id: int, reward_id: int, session: Session) -> None:
    actor = Actor(ActorKind.USER, session.user_id, session.username)
    async with in_transaction() as connection:
        row = (
            await LevelReward.filter(id=reward_id, guild_id=guild_id)
            .using_db(connection)
            .select_for_update()
            .first()
        )
        if row is None:
            raise APIError(404, "reward_not_found", "no such reward in this server")
        await row.delete(using_db=connection)
        await record(
            "level_reward.remove",
            actor,
            guild_id=guild_id,
            target=f"role {row.role_id} at level {row.level}",
            before={"level": row.level, "role_id": row.role_id},
            using_db=connection,
        )
