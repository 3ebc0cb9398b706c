"""Batched log-channel posts for cases the guard left unposted (automod's, `log_inline` off).

Posted after an automod batch for its guild, and every minute for anything left (a worker
killed between recording and posting). Posted, then marked: at least once, so a crash can
repeat an entry but never lose one.
"""

from __future__ import annotations

import typing

from townsquare.core.guard.models import Case, CaseStatus
from townsquare.core.guard.notify import post_log

if typing.TYPE_CHECKING:
    import hikari

__all__ = ["BATCH", "guilds_with_pending_logs", "post_pending_logs"]

BATCH: typing.Final = 50
"""Cases posted per guild per call: five messages of ten embeds (the channel's rate limit)."""


async def post_pending_logs(
    rest: hikari.api.RESTClient, guild_id: int, log_channel_id: int | None
) -> int:
    """Post the guild's unposted cases, oldest first; returns how many were handled."""
    pending = list(
        await Case.filter(guild_id=guild_id, logged=False)
        .exclude(status=CaseStatus.PENDING)
        .order_by("number")
        .limit(BATCH)
    )
    if not pending:
        return 0
    if log_channel_id is not None:
        await post_log(rest, log_channel_id, *pending)
    await Case.filter(id__in=[case.id for case in pending]).update(logged=True)
    return len(pending)


async def guilds_with_pending_logs(limit: int = 100) -> list[int]:
    rows = (
        await Case.filter(logged=False)
        .exclude(status=CaseStatus.PENDING)
        .distinct()
        .limit(limit)
        .values_list("guild_id", flat=True)
    )
    return [int(typing.cast("int", guild_id)) for guild_id in rows]
