"""What the guard tells people: the member by DM, the log channel by embed, the owner on abuse.

A member whose DMs are closed (Discord error 50007) is recorded on the case, not an error.
"""

from __future__ import annotations

import typing

import hikari
import structlog

from townsquare.core.guard.actions import Action
from townsquare.core.guard.models import CaseStatus, DMStatus

if typing.TYPE_CHECKING:
    from townsquare.core.guard.models import Case
    from townsquare.core.guard.policy import GuardPolicy

__all__ = ["CANNOT_DM", "dm_member", "log_embed", "post_log", "send_text"]

CANNOT_DM: typing.Final = 50007
"""Discord's "Cannot send messages to this user"."""

_log = structlog.get_logger(__name__)

_DONE_TO_YOU: typing.Final = {
    Action.WARN: "You were warned",
    Action.TIMEOUT: "You were timed out",
    Action.UNTIMEOUT: "Your timeout was removed",
    Action.KICK: "You were kicked",
    Action.BAN: "You were banned",
    Action.OFFENSE: "An offense was recorded against you",
    Action.PARDON: "A warning against you was pardoned",
}
"""Actions a member is told about (the others concern messages or the moderators)."""
_COLOURS: typing.Final = {
    CaseStatus.EXECUTED: 0xE67E22,
    CaseStatus.BLOCKED: 0x95A5A6,
    CaseStatus.DRY_RUN: 0x3498DB,
    CaseStatus.FAILED: 0xE74C3C,
    CaseStatus.PENDING: 0xE67E22,
}


def tells_member(action: Action) -> bool:
    return action in _DONE_TO_YOU


def _next(case: Case) -> str:
    match Action(case.action):
        case Action.TIMEOUT if case.expires_at is not None:
            return f"You can talk again <t:{int(case.expires_at.timestamp())}:R>."
        case Action.BAN if case.expires_at is not None:
            return f"The ban ends <t:{int(case.expires_at.timestamp())}:R>."
        case Action.BAN:
            return "The ban is permanent."
        case Action.KICK:
            return "You may rejoin with a new invite."
        case Action.WARN | Action.OFFENSE:
            return "Further offenses may lead to a timeout, a kick or a ban."
        case _:
            return ""


async def send_text(
    rest: hikari.api.RESTClient, channel_id: int, embed: hikari.Embed, content: str = ""
) -> None:
    await rest.create_message(
        channel_id,
        content or hikari.UNDEFINED,
        embed=embed,
        user_mentions=False,
        role_mentions=False,
        mentions_everyone=False,
    )


async def dm_member(
    rest: hikari.api.RESTClient, case: Case, guild_name: str, policy: GuardPolicy
) -> DMStatus:
    """DM the member about the case; the result goes on the case."""
    embed = hikari.Embed(
        title=f"{_DONE_TO_YOU[Action(case.action)]} in {guild_name}",
        description=case.reason or "No reason was given.",
        colour=_COLOURS[CaseStatus.EXECUTED],
    )
    embed.add_field("Case", str(case.number), inline=True)
    if step := _next(case):
        embed.add_field("What happens next", step)
    if policy.appeal_text:
        embed.add_field("Appeal", policy.appeal_text[:1024])
    try:
        channel = await rest.create_dm_channel(case.target_id)
        await send_text(rest, int(channel.id), embed)
    except hikari.ForbiddenError as error:
        if error.code == CANNOT_DM:
            return DMStatus.CLOSED
        _log.info("guard.dm_forbidden", guild_id=case.guild_id, code=error.code)
        return DMStatus.FAILED
    except (hikari.NotFoundError, hikari.BadRequestError):
        return DMStatus.FAILED
    return DMStatus.SENT


def log_embed(case: Case) -> hikari.Embed:
    """The log channel's entry for a case: who, what, whom, why, and the decision."""
    status = CaseStatus(case.status)
    verb = case.action.replace("_", " ")
    title = {
        CaseStatus.DRY_RUN: f"Case {case.number} · would have: {verb} (dry run)",
        CaseStatus.BLOCKED: f"Case {case.number} · {verb} blocked",
        CaseStatus.FAILED: f"Case {case.number} · {verb} failed",
    }.get(status, f"Case {case.number} · {verb}")
    embed = hikari.Embed(title=title, colour=_COLOURS[status], timestamp=case.occurred_at)
    if case.target_id:
        embed.add_field("Member", f"<@{case.target_id}> ({case.target_id})", inline=True)
    actor = f"<@{case.actor_id}>" if case.actor_id else (case.actor_name or "Townsquare")
    embed.add_field("By", f"{actor} via {case.source}", inline=True)
    embed.add_field("Reason", (case.reason or "no reason given")[:1024])
    if case.points:
        embed.add_field("Points", str(case.points), inline=True)
    if case.expires_at is not None:
        until = f"<t:{int(case.expires_at.timestamp())}:f>"  # keyspace: not a key (a timestamp)
        embed.add_field("Until", until, inline=True)
    if case.detail:
        embed.add_field("Decision", case.detail[:1024])
    if case.message_link:
        embed.add_field("Message", case.message_link)
    if case.content:
        embed.add_field("Content", case.content[:1000])
    if case.dm_status == DMStatus.CLOSED:
        embed.set_footer("The member's DMs are closed: they were not told.")
    return embed


async def post_log(rest: hikari.api.RESTClient, channel_id: int, *cases: Case) -> bool:
    """Post cases to the log channel, up to 10 embeds a message (Discord's limit); False when
    the bot may not post there."""
    try:
        for start in range(0, len(cases), 10):
            await rest.create_message(
                channel_id,
                embeds=[log_embed(case) for case in cases[start : start + 10]],
                user_mentions=False,
                role_mentions=False,
                mentions_everyone=False,
            )
    except (hikari.ForbiddenError, hikari.NotFoundError) as error:
        _log.warning("guard.log_channel_unusable", channel_id=channel_id, error=str(error))
        return False
    return True
