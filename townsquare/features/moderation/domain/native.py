"""Discord's own AutoMod on the same ledger: each message it acted on is one offense.

Discord sends one AUTO_MODERATION_ACTION_EXECUTION per action (block, alert, timeout) of a
rule; they are one offense, keyed by the member, the rule and the message (or, for a blocked
message that never existed, the content's digest), so the guard records it once. Discord has
already acted: the case is an `offense` (points only), and the ladder applies as for any
offense.
"""

from __future__ import annotations

import datetime
import hashlib
import typing

from townsquare.core.guard.actions import Action, ActionRequest, Source
from townsquare.features.moderation.domain.enforce import enforce

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    from townsquare.core.events import AutomodExecutionRecord
    from townsquare.core.guard.guard import GuardContext
    from townsquare.features.moderation.domain.config import ModerationSection

__all__ = ["record_native"]

_TRIGGERS: typing.Final = {1: "keyword", 3: "spam", 4: "keyword preset", 5: "mention spam"}


def _request(record: AutomodExecutionRecord, points: int) -> ActionRequest:
    which = (
        str(record.message_id)
        if record.message_id
        else hashlib.blake2b((record.content or "").encode(), digest_size=8).hexdigest()
    )
    trigger = _TRIGGERS.get(record.trigger_type, f"trigger {record.trigger_type}")
    matched = f" ({record.matched_keyword!r})" if record.matched_keyword else ""
    return ActionRequest.by_bot(
        Source.DISCORD,
        "Discord AutoMod",
        guild_id=record.guild_id,
        action=Action.OFFENSE,
        target_id=record.user_id,
        key=f"discord-automod/{record.user_id}/{record.rule_id}/{which}",
        reason=f"Discord AutoMod rule {record.rule_id}: {trigger}{matched}",
        occurred_at=datetime.datetime.fromtimestamp(record.timestamp_ms / 1000, datetime.UTC),
        channel_id=record.channel_id,
        message_ids=(record.message_id,) if record.message_id else (),
        content=record.content,
        points=points,
    )


async def record_native(
    context: GuardContext, section: ModerationSection, records: Sequence[AutomodExecutionRecord]
) -> int:
    """Record each message Discord's AutoMod acted on once; returns the offenses recorded."""
    automod = section.automod
    if not automod.record_native:
        return 0
    recorded = 0
    for record in records:
        enforced = await enforce(_request(record, automod.native_points), context, section)
        recorded += not enforced.outcome.repeated
    return recorded
