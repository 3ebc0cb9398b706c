"""`/xp add|remove|set|reset|reset-guild`: XP administration for the server's managers.

Managers are members with Manage Server (or Administrator) and members with one of the guild's
configured manager roles (`commands.manager_role_ids`); the group has no Discord default
permission, so members with a manager role see the commands too, and everyone else is refused.

Each change is a request to the internal API (the HTTP service runs the domain's `admin`, which
moves the Redis totals, queues level changes and writes the audit entry with the invoker as the
actor). Resetting the whole guild asks first, with buttons only the invoker can press.
"""

from __future__ import annotations

import functools
import typing

import arc
import hikari
import structlog

from townsquare.features.xp.commands._checks import section_curve
from townsquare.features.xp.commands.api import XPClient
from townsquare.features.xp.domain.config import XPSection
from townsquare.features.xp.domain.wire import MAX_AMOUNT
from townsquare.shards.api_client import APIRefusedError, ServiceUnavailableError
from townsquare.shards.commands.confirm import Buttons, Confirmation
from townsquare.shards.commands.services import (
    INJECTED,
    UNAVAILABLE,
    CommandServices,
    Refusal,
    Reply,
    answer,
    refused_reason,
)

__all__ = ["MAX_AMOUNT", "plugin"]

_log = structlog.get_logger(__name__)

plugin = arc.GatewayPlugin("xp-admin")

xp = plugin.include_slash_group("xp", "Change members' XP (needs Manage Server or a manager role).")

type MemberOption = typing.Annotated[hikari.User, arc.UserParams("The member whose XP changes.")]
type Operation = typing.Literal["add", "remove", "set"]
type AmountOption = typing.Annotated[int, arc.IntParams("How much XP.", min=0, max=MAX_AMOUNT)]


async def _guarded(ctx: arc.GatewayContext, services: CommandServices) -> int:
    """The guild id, if the invoker may change XP there and XP is on; otherwise a refusal."""
    guild_id, config = await services.managed_guild(ctx, "change XP")
    section_curve(config.section(XPSection))  # refuses when XP is off
    return guild_id


def _amount(amount: int) -> int:
    if not 0 <= amount <= MAX_AMOUNT:
        raise Refusal(f"The amount must be between 0 and {MAX_AMOUNT:,}; {amount:,} is not.")
    return amount


async def _change(
    ctx: arc.GatewayContext,
    services: CommandServices,
    operation: Operation,
    user: hikari.User,
    amount: int,
) -> None:
    async def work() -> Reply:
        guild_id = await _guarded(ctx, services)
        value = _amount(amount)
        changed = await XPClient(services.client()).change_xp(
            operation,
            guild_id,
            int(user.id),
            value,
            actor_id=int(ctx.user.id),
            actor_name=ctx.user.username,
        )
        total = changed.xp
        verb = {"add": "Gave", "remove": "Took", "set": "Set"}[operation]
        done = {
            "add": f"{verb} {value:,} XP to <@{user.id}>",
            "remove": f"{verb} {value:,} XP from <@{user.id}>",
            "set": f"{verb} <@{user.id}>'s XP to {value:,}",
        }[operation]
        return Reply(content=f"{done}: now {total:,} XP, level {changed.level}.", ephemeral=True)

    await answer(ctx, work(), defer_after=services.defer_after_seconds)


def _change_command(
    operation: Operation, description: str
) -> arc.SlashSubCommand[arc.GatewayClient]:
    """`/xp <operation> member amount`: one slash subcommand per kind of change."""

    async def command(
        ctx: arc.GatewayContext,
        member: MemberOption,
        amount: AmountOption,
        services: CommandServices = INJECTED,
    ) -> None:
        await _change(ctx, services, operation, member, amount)

    command.__name__ = command.__qualname__ = f"xp_{operation}"
    return xp.include(arc.slash_subcommand(operation, description)(command))


xp_add = _change_command("add", "Give a member XP.")
xp_remove = _change_command("remove", "Take XP from a member (not below 0).")
xp_set = _change_command("set", "Set a member's XP total.")


@xp.include
@arc.slash_subcommand("reset", "Reset a member's XP, messages and voice minutes to 0.")
async def xp_reset(
    ctx: arc.GatewayContext,
    member: MemberOption,
    services: CommandServices = INJECTED,
) -> None:
    async def work() -> Reply:
        guild_id = await _guarded(ctx, services)
        await XPClient(services.client()).reset_member(
            guild_id, int(member.id), actor_id=int(ctx.user.id), actor_name=ctx.user.username
        )
        return Reply(content=f"Reset <@{member.id}>: 0 XP, level 0.", ephemeral=True)

    await answer(ctx, work(), defer_after=services.defer_after_seconds)


async def _reset_everyone(ctx: arc.GatewayContext, services: CommandServices, guild_id: int) -> str:
    try:
        reset = await XPClient(services.client()).reset_guild(
            guild_id, actor_id=int(ctx.user.id), actor_name=ctx.user.username
        )
    except ServiceUnavailableError:
        return UNAVAILABLE
    except APIRefusedError as refused:
        return refused_reason(refused)
    count = reset.members
    members = "member" if count == 1 else "members"
    return f"Reset the whole server: {count:,} {members} back to 0 XP."


@xp.include
@arc.slash_subcommand("reset-guild", "Reset every member's XP on this server (asks first).")
async def xp_reset_guild(
    ctx: arc.GatewayContext,
    services: CommandServices = INJECTED,
    buttons: Buttons = INJECTED,
) -> None:
    async def expired() -> None:
        try:
            await ctx.edit_initial_response("Expired: nothing was changed.", components=[])
        except hikari.HikariError as error:  # the question may be gone; nothing to undo
            _log.info("confirmation_expiry_not_shown", error=repr(error))

    async def work() -> Reply:
        guild_id = await _guarded(ctx, services)
        view = Confirmation(
            int(ctx.user.id),
            functools.partial(_reset_everyone, ctx, services, guild_id),
            expired,
            seconds=services.confirm_seconds,
        )
        return Reply(
            content=(
                "Reset **every** member of this server to 0 XP, level 0? Reward roles go too, "
                f"and this cannot be undone. The buttons work for {round(view.timeout or 0)} s."
            ),
            components=view,
            ephemeral=True,
        )

    reply = await answer(ctx, work(), defer_after=services.defer_after_seconds)
    if isinstance(reply.components, Confirmation):
        buttons.start(reply.components)
