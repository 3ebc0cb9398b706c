"""What the guard needs to know of a guild's moderation settings, as plain data.

The feature builds a :class:`GuardPolicy` from its configuration section; the kernel reads no
feature's section itself.
"""

from __future__ import annotations

import dataclasses
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["AbuseLimit", "GuardPolicy"]


@dataclasses.dataclass(frozen=True, slots=True)
class AbuseLimit:
    """More than `max_actions` destructive actions in `window_seconds` by one actor blocks them
    for `cooldown_seconds`."""

    max_actions: int = 5
    window_seconds: int = 60
    cooldown_seconds: int = 600


@dataclasses.dataclass(frozen=True, slots=True)
class GuardPolicy:
    moderator_role_ids: Mapping[str, frozenset[int]] = dataclasses.field(default_factory=dict)
    """Per action name: roles whose members may take it without the Discord permission."""
    abuse: AbuseLimit = dataclasses.field(default_factory=AbuseLimit)
    trusted_user_ids: frozenset[int] = frozenset()
    """Exempt from the anti-abuse limit (the owner always is)."""
    dm_members: bool = True
    log_channel_id: int | None = None
    appeal_text: str = ""
    """Told to members in their DM (how to appeal); empty: nothing said."""
    dry_run: bool = False
    """Decide and record, but execute nothing (the log channel says "would have")."""
    log_inline: bool = True
    """Post each case to the log channel at once; False leaves it for a batched post (up to 10
    embeds a message: automod's bursts would otherwise wait on the channel's rate limit)."""
