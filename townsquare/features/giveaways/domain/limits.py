"""The premium limits a new giveaway must fit (the premium gate's catalogue,
`townsquare/core/premium.py`): the one place that says which limits a giveaway asks for.

- `giveaways.active`: giveaways scheduled, running or drawing in the guild, plus this one;
- `giveaways.winners`: this giveaway's winners;
- `giveaways.requirement_types`: the requirement kinds it combines (bonus entries are not one);
- `giveaways.duration_days`: how long it runs, in days (a part of a day counts as a day).

The last three are quantities asked for at once: `usage` is the quantity and `adding` 0
(docs/premium.md), so a refusal reads "6 of 5 winners on Free; Plus allows 25.".
"""

from __future__ import annotations

import math
import typing

from townsquare.features.giveaways.domain.models import Giveaway, GiveawayState

if typing.TYPE_CHECKING:
    from townsquare.features.giveaways.domain.service import GiveawaySpec

__all__ = [
    "ACTIVE",
    "DURATION_DAYS",
    "REQUIREMENT_TYPES",
    "WINNERS",
    "LimitAsk",
    "active_count",
    "asks",
]

ACTIVE: typing.Final = "giveaways.active"
WINNERS: typing.Final = "giveaways.winners"
REQUIREMENT_TYPES: typing.Final = "giveaways.requirement_types"
DURATION_DAYS: typing.Final = "giveaways.duration_days"
COUNTED: typing.Final = (GiveawayState.SCHEDULED, GiveawayState.RUNNING, GiveawayState.DRAWING)


class LimitAsk(typing.NamedTuple):
    """One question for the gate: `limit` with `usage` already and `adding` more."""

    limit: str
    usage: int
    adding: int


def asks(spec: GiveawaySpec, active: int | None = None) -> list[LimitAsk]:
    """What the gate is asked for `spec`; the running count only when it is known (`active`:
    the shards do not read PostgreSQL, the internal API does)."""
    found = [
        LimitAsk(WINNERS, spec.winners, 0),
        LimitAsk(REQUIREMENT_TYPES, len(spec.requirements.kinds()), 0),
        LimitAsk(DURATION_DAYS, math.ceil(spec.duration_seconds / 86_400), 0),
    ]
    if active is not None:
        found.insert(0, LimitAsk(ACTIVE, active, 1))
    return [ask for ask in found if ask.usage or ask.adding]


async def active_count(guild_id: int) -> int:
    return await Giveaway.filter(guild_id=guild_id, state__in=COUNTED).count()
