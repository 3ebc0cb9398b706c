"""`/warn`, `/timeout`, `/untimeout`, `/kick`, `/ban`, `/unban`, `/purge`, `/note`.

Each asks the internal API, where the kernel's guard decides with the invoker's roles and
permissions as Discord has them (hierarchy, permission or a moderator role, anti-abuse),
executes, records the case and tells the member and the log channel. The commands have no
Discord default permission, so members with a configured moderator role see them too; the
guard refuses everyone else, saying why. The interaction's id is the action's idempotency key.
"""

from __future__ import annotations

import typing

import arc
import hikari

from townsquare.features.moderation.commands._reply import guild_of, outcome_text
from townsquare.features.moderation.commands.api import ModerationClient
from townsquare.features.moderation.domain.durations import (
    MAX_TIMEOUT_SECONDS,
    DurationError,
    parse_duration,
)
from townsquare.features.moderation.domain.wire import MAX_REASON
from townsquare.shards.commands.services import INJECTED, CommandServices, Refusal, Reply, answer

if typing.TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["plugin"]

plugin = arc.GatewayPlugin("moderation-actions")

type Member = typing.Annotated[hikari.User, arc.UserParams("The member.")]
type Reason = typing.Annotated[
    str, arc.StrParams("Why (shown to the member and in the log).", max_length=MAX_REASON)
]
_MAX_BAN_SECONDS: typing.Final = 10 * 365 * 86_400


def _duration(text: str, maximum: int) -> int:
    try:
        return parse_duration(text, maximum=maximum)
    except DurationError as error:
        raise Refusal(f"{str(error)[0].upper()}{str(error)[1:]}.") from None


async def _act(
    ctx: arc.GatewayContext,
    services: CommandServices,
    action: str,
    target_id: int,
    reason: str = "",
    *,
    fields_of: Callable[[], dict[str, typing.Any]] = dict,
) -> None:
    async def work() -> Reply:
        guild_id = guild_of(ctx)
        fields = fields_of()  # may refuse (a bad duration)
        done = await ModerationClient(services.client()).act(
            guild_id,
            action=action,
            target_id=target_id,
            key=f"command/{ctx.interaction.id}",
            reason=reason,
            actor_id=int(ctx.user.id),
            actor_name=ctx.user.username,
            **fields,
        )
        return Reply(content=outcome_text(done, action, target_id), ephemeral=True)

    await answer(ctx, work(), defer_after=services.defer_after_seconds)


@plugin.include
@arc.slash_command("warn", "Warn a member (counts towards escalation).")
async def warn(
    ctx: arc.GatewayContext, member: Member, reason: Reason, services: CommandServices = INJECTED
) -> None:
    await _act(ctx, services, "warn", int(member.id), reason)


@plugin.include
@arc.slash_command("timeout", "Time a member out (at most 28 days).")
async def timeout(
    ctx: arc.GatewayContext,
    member: Member,
    duration: typing.Annotated[str, arc.StrParams("How long: 10m, 2h, 7d (at most 28d).")],
    reason: Reason = "",
    services: CommandServices = INJECTED,
) -> None:
    await _act(
        ctx,
        services,
        "timeout",
        int(member.id),
        reason,
        fields_of=lambda: {"duration_seconds": _duration(duration, MAX_TIMEOUT_SECONDS)},
    )


@plugin.include
@arc.slash_command("untimeout", "End a member's timeout.")
async def untimeout(
    ctx: arc.GatewayContext,
    member: Member,
    reason: Reason = "",
    services: CommandServices = INJECTED,
) -> None:
    await _act(ctx, services, "untimeout", int(member.id), reason)


@plugin.include
@arc.slash_command("kick", "Kick a member from the server.")
async def kick(
    ctx: arc.GatewayContext,
    member: Member,
    reason: Reason = "",
    services: CommandServices = INJECTED,
) -> None:
    await _act(ctx, services, "kick", int(member.id), reason)


@plugin.include
@arc.slash_command("ban", "Ban a user, for good or for a while.")
async def ban(  # noqa: PLR0917 - one parameter per slash option
    ctx: arc.GatewayContext,
    member: Member,
    reason: Reason = "",
    duration: typing.Annotated[
        str | None, arc.StrParams("For how long (e.g. 7d); permanent when left out.")
    ] = None,
    delete_days: typing.Annotated[
        int, arc.IntParams("Delete their messages of the last N days (0-7).", min=0, max=7)
    ] = 0,
    services: CommandServices = INJECTED,
) -> None:
    await _act(
        ctx,
        services,
        "ban",
        int(member.id),
        reason,
        fields_of=lambda: {
            "duration_seconds": None if duration is None else _duration(duration, _MAX_BAN_SECONDS),
            "delete_message_seconds": delete_days * 86_400,
        },
    )


@plugin.include
@arc.slash_command("unban", "Lift a user's ban.")
async def unban(
    ctx: arc.GatewayContext,
    user: typing.Annotated[hikari.User, arc.UserParams("The banned user (or their id).")],
    reason: Reason = "",
    services: CommandServices = INJECTED,
) -> None:
    await _act(ctx, services, "unban", int(user.id), reason)


@plugin.include
@arc.slash_command("purge", "Delete recent messages here (bulk: younger than 14 days).")
async def purge(
    ctx: arc.GatewayContext,
    count: typing.Annotated[
        int, arc.IntParams("How many recent messages to look at (2-100).", min=2, max=100)
    ],
    member: typing.Annotated[
        hikari.User | None, arc.UserParams("Only this member's messages.")
    ] = None,
    services: CommandServices = INJECTED,
) -> None:
    await _act(
        ctx,
        services,
        "purge",
        int(member.id) if member else 0,
        f"purge of {count} messages",
        fields_of=lambda: {"channel_id": int(ctx.channel_id), "purge_count": count},
    )


@plugin.include
@arc.slash_command("note", "Add a note to a member's history (they are not told).")
async def note(
    ctx: arc.GatewayContext,
    member: Member,
    text: typing.Annotated[str, arc.StrParams("The note.", max_length=MAX_REASON)],
    services: CommandServices = INJECTED,
) -> None:
    await _act(ctx, services, "note", int(member.id), text)
