"""What one message is worth: the per-guild rules of message XP, as pure functions.

- A message in a no-XP channel, or by a member holding a no-XP role, earns 0.
- The base amount is deterministic per message id, so a redelivered message is worth the
  same and a test can compute it: `per_message_min + sha256(str(message_id)) mod (max-min+1)`
  (the digest read as a big-endian integer).
- The multiplier is the largest of the member's role multipliers (1 when none of their
  roles has one) times the channel's multiplier (1 when unset); the amount is
  `floor(base * multiplier)`, computed exactly (multipliers as decimals, not binary floats).
"""

from __future__ import annotations

import functools
import hashlib
import math
import typing
from fractions import Fraction

if typing.TYPE_CHECKING:
    from collections.abc import Iterable

    from townsquare.core.events import MessageRecord
    from townsquare.features.xp.domain.config import XPSection

__all__ = ["base_amount", "message_amount", "multiplier_for"]


def base_amount(message_id: int, minimum: int, maximum: int) -> int:
    """The message's XP before multipliers: in `minimum..maximum`, fixed by its id."""
    if minimum > maximum:
        raise ValueError(f"minimum {minimum} is larger than maximum {maximum}")
    digest = int.from_bytes(hashlib.sha256(str(message_id).encode()).digest(), "big")
    return minimum + digest % (maximum - minimum + 1)


def multiplier_for(section: XPSection, channel_id: int, role_ids: Iterable[int]) -> Fraction:
    """Largest role multiplier of the member (1 without any) times the channel's (1 unset)."""
    role_values = [
        section.role_multipliers[role] for role in role_ids if role in section.role_multipliers
    ]
    role_factor = _exact(max(role_values)) if role_values else Fraction(1)
    channel_factor = _exact(section.channel_multipliers.get(channel_id, 1.0))
    return role_factor * channel_factor


def message_amount(section: XPSection, record: MessageRecord) -> int:
    """XP `record` earns if the cooldown allows it; 0 when the rules exclude it."""
    if not section.enabled or record.channel_id in section.no_xp_channel_ids:
        return 0
    if any(role in section.no_xp_role_ids for role in record.role_ids):
        return 0
    base = base_amount(record.message_id, section.per_message_min, section.per_message_max)
    if record.channel_id not in section.channel_multipliers and not any(
        role in section.role_multipliers for role in record.role_ids
    ):
        return base  # no multiplier applies: skip the exact arithmetic
    return math.floor(base * multiplier_for(section, record.channel_id, record.role_ids))


@functools.lru_cache(maxsize=1024)
def _exact(value: float) -> Fraction:
    # 1.1 as configured means 11/10, not the nearest binary float (which floors 10 * 1.1 to 10).
    return Fraction(repr(value))
