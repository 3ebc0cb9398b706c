"""Words for a guarded action's outcome, and the checks every moderation command shares."""

from __future__ import annotations

import typing

from townsquare.shards.commands.services import Refusal

if typing.TYPE_CHECKING:
    import arc

    from townsquare.features.moderation.domain.wire import ActionDone

__all__ = ["DONE", "guild_of", "outcome_text"]

DONE: typing.Final = {
    "warn": "Warned",
    "timeout": "Timed out",
    "untimeout": "Removed the timeout of",
    "kick": "Kicked",
    "ban": "Banned",
    "unban": "Unbanned",
    "purge": "Purged messages",
    "note": "Noted on",
    "pardon": "Pardoned",
}
_DM: typing.Final = {
    "sent": " They were told by DM.",
    "closed": " Their DMs are closed, so they were not told (noted on the case).",
    "failed": " The DM could not be delivered.",
}


def guild_of(ctx: arc.GatewayContext) -> int:
    if ctx.guild_id is None:
        raise Refusal("Moderation works in servers only: use this command in one.")
    return int(ctx.guild_id)


def outcome_text(done: ActionDone, action: str, target_id: int) -> str:
    """What the moderator is told; a refusal raises :class:`Refusal` with the guard's reason."""
    who = f" <@{target_id}>" if target_id else ""
    if done.status == "blocked":
        raise Refusal(f"Not done: {done.detail}. (Recorded as case {done.case}.)")
    if done.status == "failed":
        raise Refusal(f"Discord refused: {done.detail}. (Case {done.case}.)")
    if done.status == "dry_run":
        return f"Dry run: would have done `{action}` to{who or ' the channel'} (case {done.case})."
    text = f"{DONE[action]}{who} · case {done.case}."
    if done.expires_at is not None:
        text += f" Until <t:{int(done.expires_at.timestamp())}:f>."
    if action not in {"purge", "note"} and done.detail and action != "warn":
        text += f" ({done.detail})"
    text += _DM.get(done.dm_status, "")
    if done.points:
        text += f" Active points: {done.points:g}."
    if done.escalation is not None:
        step = done.escalation
        text += f"\nEscalation: `{step.action}` (case {step.case}, {step.status})."
    return text
