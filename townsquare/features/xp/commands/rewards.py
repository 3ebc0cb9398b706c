"""`/level-rewards add|remove|list`: the roles members get at a level, for the server's managers.

Adding one past the server's premium tier's `xp.level_rewards` is refused with the gate's
sentence and Discord's premium button (the internal API answers 402, `services.answer` turns it
into the upgrade reply). Rewards kept past the limit after a downgrade are listed as paused.
"""

from __future__ import annotations

import typing

import arc
import hikari

from townsquare.features.xp.commands.api import XPClient
from townsquare.features.xp.domain.config import MAX_LEVEL
from townsquare.shards.commands.services import INJECTED, CommandServices, Reply, answer

__all__ = ["plugin"]

plugin = arc.GatewayPlugin("xp-rewards")

rewards = plugin.include_slash_group(
    "level-rewards", "Roles members get at a level (needs Manage Server or a manager role)."
)

type LevelOption = typing.Annotated[
    int, arc.IntParams("The level that gives the role.", min=1, max=MAX_LEVEL)
]
type RoleOption = typing.Annotated[hikari.Role, arc.RoleParams("The role given.")]


async def _change(
    ctx: arc.GatewayContext,
    services: CommandServices,
    operation: typing.Literal["add", "remove"],
    level: int,
    role: hikari.Role,
) -> None:
    async def work() -> Reply:
        guild_id, _ = await services.managed_guild(ctx, "change level rewards")
        await XPClient(services.client()).change_reward(
            operation,
            guild_id,
            level,
            int(role.id),
            actor_id=int(ctx.user.id),
            actor_name=ctx.user.username,
        )
        done = "now get" if operation == "add" else "no longer get"
        return Reply(
            content=f"Members reaching level {level} {done} <@&{role.id}>.", ephemeral=True
        )

    await answer(ctx, work(), defer_after=services.defer_after_seconds)


@rewards.include
@arc.slash_subcommand("add", "Give a role to members who reach a level.")
async def rewards_add(
    ctx: arc.GatewayContext,
    level: LevelOption,
    role: RoleOption,
    services: CommandServices = INJECTED,
) -> None:
    await _change(ctx, services, "add", level, role)


@rewards.include
@arc.slash_subcommand("remove", "Stop giving a role at a level.")
async def rewards_remove(
    ctx: arc.GatewayContext,
    level: LevelOption,
    role: RoleOption,
    services: CommandServices = INJECTED,
) -> None:
    await _change(ctx, services, "remove", level, role)


@rewards.include
@arc.slash_subcommand("list", "The level rewards of this server.")
async def rewards_list(ctx: arc.GatewayContext, services: CommandServices = INJECTED) -> None:
    async def work() -> Reply:
        guild_id, _ = await services.managed_guild(ctx, "see level rewards")
        listing = await XPClient(services.client()).rewards(guild_id)
        lines = [
            f"Level {reward.level}: <@&{reward.role_id}>" + (" (paused)" if reward.paused else "")
            for reward in listing.rewards
        ]
        body = "\n".join(lines) or "No level rewards yet: add one with `/level-rewards add`."
        return Reply(content=f"{listing.explain}\n{body}"[:2000], ephemeral=True)

    await answer(ctx, work(), defer_after=services.defer_after_seconds)
