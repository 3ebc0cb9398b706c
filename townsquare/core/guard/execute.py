"""Carrying out an allowed action through Discord REST, with the case in the audit log reason.

Each call is safe to repeat (a retried case executes again): a ban or timeout set twice is the
same state, and a message or member already gone counts as done where that is the intent.
"""

from __future__ import annotations

import datetime
import typing

import hikari

from townsquare.core.guard.actions import Action

if typing.TYPE_CHECKING:
    from townsquare.core.guard.actions import ActionRequest
    from townsquare.core.guard.models import Case

__all__ = ["BULK_DELETE_MAX_AGE", "DANGEROUS_PERMISSIONS", "audit_reason", "execute"]

BULK_DELETE_MAX_AGE: typing.Final = datetime.timedelta(days=14)
"""Discord bulk-deletes only messages younger than this (older ones: error 50034)."""
_MARGIN: typing.Final = datetime.timedelta(minutes=5)
DANGEROUS_PERMISSIONS: typing.Final = (
    hikari.Permissions.ADMINISTRATOR
    | hikari.Permissions.BAN_MEMBERS
    | hikari.Permissions.KICK_MEMBERS
    | hikari.Permissions.MANAGE_CHANNELS
    | hikari.Permissions.MANAGE_GUILD
    | hikari.Permissions.MANAGE_ROLES
    | hikari.Permissions.MANAGE_WEBHOOKS
    | hikari.Permissions.MODERATE_MEMBERS
)
"""What anti-nuke takes away: the permissions a nuke is made of."""


def audit_reason(case: Case) -> str:
    """`X-Audit-Log-Reason`: the case, its actor and reason (Discord keeps 512 characters)."""
    by = case.actor_name or "Townsquare"
    return f"Case {case.number} by {by}: {case.reason or 'no reason given'}"[:512]


async def execute(rest: hikari.api.RESTClient, case: Case, request: ActionRequest) -> str:
    """Do the action; returns what was done. Raises hikari's errors when Discord refuses."""
    run = _RUNS.get(request.action)
    if run is None:
        return "recorded"
    return await run(rest, case, request, audit_reason(case))


type _Run = typing.Callable[
    [hikari.api.RESTClient, "Case", "ActionRequest", str], typing.Awaitable[str]
]


async def _timeout(rest: hikari.api.RESTClient, case: Case, _: ActionRequest, reason: str) -> str:
    await rest.edit_member(
        case.guild_id, case.target_id, communication_disabled_until=case.expires_at, reason=reason
    )
    return f"timed out until {case.expires_at:%Y-%m-%d %H:%M} UTC"


async def _untimeout(rest: hikari.api.RESTClient, case: Case, _: ActionRequest, reason: str) -> str:
    await rest.edit_member(
        case.guild_id, case.target_id, communication_disabled_until=None, reason=reason
    )
    return "timeout removed"


async def _kick(rest: hikari.api.RESTClient, case: Case, _: ActionRequest, reason: str) -> str:
    await rest.kick_user(case.guild_id, case.target_id, reason=reason)
    return "kicked"


async def _ban(rest: hikari.api.RESTClient, case: Case, request: ActionRequest, reason: str) -> str:
    await rest.ban_user(
        case.guild_id,
        case.target_id,
        delete_message_seconds=request.delete_message_seconds,
        reason=reason,
    )
    return "banned"


async def _unban(rest: hikari.api.RESTClient, case: Case, _: ActionRequest, reason: str) -> str:
    try:
        await rest.unban_user(case.guild_id, case.target_id, reason=reason)
    except hikari.NotFoundError:
        return "was not banned"
    return "unbanned"


async def _delete(rest: hikari.api.RESTClient, _: Case, request: ActionRequest, __: str) -> str:
    assert request.channel_id is not None
    deleted = await delete_messages(rest, request.channel_id, request.message_ids)
    return f"deleted {deleted} message{'s' if deleted != 1 else ''}"


async def delete_messages(
    rest: hikari.api.RESTClient, channel_id: int, message_ids: typing.Sequence[int]
) -> int:
    """Delete messages of one channel: in bulk (2-100, younger than 14 days), else one by one.

    A message already gone counts as deleted.
    """
    oldest = datetime.datetime.now(datetime.UTC) - BULK_DELETE_MAX_AGE + _MARGIN
    ids = list(dict.fromkeys(message_ids))
    recent = [m for m in ids if hikari.Snowflake(m).created_at > oldest]
    single = [m for m in ids if m not in set(recent)]
    for start in range(0, len(recent), 100):
        chunk = recent[start : start + 100]
        if len(chunk) >= 2:
            try:
                await rest.delete_messages(channel_id, chunk)
            except hikari.BulkDeleteError as error:
                # hikari wraps Discord's answer; a refusal (403 Missing Access) is the action's
                # outcome like any other (`ClientHTTPResponseError`), not a failure to retry.
                if isinstance(error.__cause__, hikari.ClientHTTPResponseError):
                    raise error.__cause__ from error
                raise
        else:
            single.extend(chunk)
    for message_id in single:
        try:
            await rest.delete_message(channel_id, message_id)
        except hikari.NotFoundError:
            continue
    return len(ids)


async def _purge(rest: hikari.api.RESTClient, _: Case, request: ActionRequest, __: str) -> str:
    assert request.channel_id is not None
    wanted: list[int] = []
    async for message in rest.fetch_messages(request.channel_id).limit(request.purge_count):
        if request.target_id in (0, int(message.author.id)):
            wanted.append(int(message.id))
    if not wanted:
        return "no messages to delete"
    deleted = await delete_messages(rest, request.channel_id, wanted)
    return f"deleted {deleted} message{'s' if deleted != 1 else ''}"


async def _strip_roles(
    rest: hikari.api.RESTClient, case: Case, _: ActionRequest, reason: str
) -> str:
    guild_id, user_id = case.guild_id, case.target_id
    member = await rest.fetch_member(guild_id, user_id)
    roles = await rest.fetch_roles(guild_id)
    dangerous = {int(r.id) for r in roles if r.permissions & DANGEROUS_PERMISSIONS}
    held = [int(r) for r in member.role_ids if int(r) != guild_id]
    kept = [r for r in held if r not in dangerous]
    removed = len(held) - len(kept)
    if removed:
        await rest.edit_member(guild_id, user_id, roles=kept, reason=reason)
    return f"removed {removed} role{'s' if removed != 1 else ''} with dangerous permissions"


_RUNS: typing.Final[dict[Action, _Run]] = {
    Action.TIMEOUT: _timeout,
    Action.UNTIMEOUT: _untimeout,
    Action.KICK: _kick,
    Action.BAN: _ban,
    Action.UNBAN: _unban,
    Action.DELETE: _delete,
    Action.PURGE: _purge,
    Action.STRIP_ROLES: _strip_roles,
}
