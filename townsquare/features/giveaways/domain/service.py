"""Creating giveaways and reading them back: the rules the commands and the dashboard share."""

from __future__ import annotations

import datetime
import typing
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from townsquare.core.guilds.service import ensure_guild
from townsquare.core.validation import Snowflake, Text
from townsquare.features.giveaways.domain.draw import commitment, new_seed
from townsquare.features.giveaways.domain.models import Giveaway, GiveawayState, PickOutcome
from townsquare.features.giveaways.domain.requirements import Requirements

if typing.TYPE_CHECKING:
    from townsquare.features.giveaways.domain.config import GiveawaysSection
    from townsquare.features.giveaways.domain.models import GiveawayPick

__all__ = [
    "MAX_CLAIM_WINDOW_SECONDS",
    "MAX_DURATION_SECONDS",
    "MAX_WINNERS",
    "MIN_DURATION_SECONDS",
    "GiveawaySpec",
    "create_giveaway",
    "guild_giveaways",
    "slot_summaries",
]

MIN_DURATION_SECONDS: typing.Final = 10
MAX_DURATION_SECONDS: typing.Final = 365 * 86_400
"""A year, the hard ceiling whatever the tier; the premium limit `giveaways.duration_days`
is usually lower (and "no limit" on a tier means this)."""
MAX_WINNERS: typing.Final = 100
"""The hard ceiling; the premium limit `giveaways.winners` is usually lower."""
MAX_CLAIM_WINDOW_SECONDS: typing.Final = 7 * 86_400
MAX_SCHEDULE_AHEAD_SECONDS: typing.Final = 90 * 86_400


class GiveawaySpec(BaseModel):
    """A giveaway to create, from `/giveaway start` or the dashboard."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prize: Annotated[Text, Field(min_length=1, max_length=256)]
    duration_seconds: Annotated[int, Field(ge=MIN_DURATION_SECONDS, le=MAX_DURATION_SECONDS)]
    winners: Annotated[int, Field(ge=1, le=MAX_WINNERS)]
    channel_id: Snowflake
    host_id: Snowflake
    requirements: Requirements = Requirements()
    claim_window_seconds: Annotated[int, Field(ge=30, le=MAX_CLAIM_WINDOW_SECONDS)] | None = None
    """None: the guild's default (`giveaways.claim_window_seconds`)."""
    max_rerolls: Annotated[int, Field(ge=0, le=50)] | None = None
    """None: the guild's default (`giveaways.max_rerolls`)."""
    starts_at: datetime.datetime | None = None
    """A scheduled start (UTC); None starts at once."""


async def create_giveaway(
    guild_id: int,
    spec: GiveawaySpec,
    defaults: GiveawaysSection,
    now: datetime.datetime,
) -> Giveaway:
    """The new giveaway, `scheduled` (its message is posted at `starts_at`); raises
    ValueError with words for the host when the start lies in the past or too far ahead."""
    starts_at = now if spec.starts_at is None else spec.starts_at
    if starts_at.tzinfo is None:
        starts_at = starts_at.replace(tzinfo=datetime.UTC)
    if starts_at < now - datetime.timedelta(minutes=1):
        raise ValueError("the scheduled start lies in the past")
    if starts_at > now + datetime.timedelta(seconds=MAX_SCHEDULE_AHEAD_SECONDS):
        raise ValueError("a giveaway can be scheduled at most 90 days ahead")
    await ensure_guild(guild_id)
    seed = new_seed()
    return await Giveaway.create(
        guild_id=guild_id,
        channel_id=spec.channel_id,
        host_id=spec.host_id,
        prize=spec.prize,
        winner_count=spec.winners,
        state=GiveawayState.SCHEDULED,
        starts_at=max(starts_at, now),
        ends_at=max(starts_at, now) + datetime.timedelta(seconds=spec.duration_seconds),
        requirements=spec.requirements.model_dump(mode="json"),
        claim_window_seconds=spec.claim_window_seconds or defaults.claim_window_seconds,
        max_rerolls=defaults.max_rerolls if spec.max_rerolls is None else spec.max_rerolls,
        seed=seed,
        seed_hash=commitment(seed),
    )


async def guild_giveaways(
    guild_id: int, states: typing.Iterable[GiveawayState] | None = None, *, limit: int = 50
) -> list[Giveaway]:
    """The guild's giveaways, newest first (optionally only in `states`)."""
    query = Giveaway.filter(guild_id=guild_id)
    if states is not None:
        query = query.filter(state__in=list(states))
    return await query.order_by("-id").limit(limit)


class SlotSummary(typing.NamedTuple):
    """One winner slot: its current pick (None when nobody could be drawn) and rerolls used."""

    slot: int
    pick: GiveawayPick | None
    rerolls: int

    @property
    def status(self) -> str:
        if self.pick is None:
            return "nobody left to draw"
        return {
            PickOutcome.PENDING: "waiting for claim",
            PickOutcome.CLAIMED: "claimed",
            PickOutcome.EXPIRED: "unclaimed",
            PickOutcome.LEFT: "left the server",
            PickOutcome.REPLACED: "rerolled",
        }.get(self.pick.outcome, str(self.pick.outcome))


def slot_summaries(giveaway: Giveaway, picks: typing.Sequence[GiveawayPick]) -> list[SlotSummary]:
    """Each winner slot with its latest pick, in slot order."""
    out = []
    for slot in range(1, giveaway.winner_count + 1):
        mine = [p for p in picks if p.slot == slot]
        latest = max(mine, key=lambda p: p.position) if mine else None
        out.append(SlotSummary(slot, latest, max(len(mine) - 1, 0)))
    return out
