"""Giveaway claims and rerolls (the full run: 30 s claim windows, one reroll a slot).

The driver's winners press Claim in odd-numbered giveaways; the even ones' wins expire and are
rerolled once, then end unclaimed. Checked per winner slot, from PostgreSQL's picks, the
winners' answers and the bot's posts: at most one claim, nothing drawn after a claim, no more
rerolls than allowed, every retired pick expired, left or replaced, an expired win rerolled
while rerolls and entrants remain, every pick announced exactly once, nobody still pending;
every Claim the bot answered "Claimed!" is a claimed pick, and every claimed pick was clicked.
"""

from __future__ import annotations

import collections
import re
import typing

from tests.chaos.verdict import Check
from townsquare.features.giveaways.domain.models import (
    Giveaway,
    GiveawayEntry,
    GiveawayPick,
    GiveawayState,
    PickOutcome,
)

if typing.TYPE_CHECKING:
    from tests.chaos.load import Activity
    from tests.chaos.system import System

__all__ = ["check_claims"]

ANNOUNCEMENT: typing.Final = re.compile(r"-# Giveaway #(\d+) · draw (\d+)$")
CLAIMED_ANSWER: typing.Final = "🎉 Claimed!"
RETIRED: typing.Final = frozenset({PickOutcome.EXPIRED, PickOutcome.LEFT, PickOutcome.REPLACED})


def _answer(system: System, interaction_id: int) -> str:
    world = system.sandbox.world
    interaction = world.interactions[interaction_id]
    ids = [interaction.response_message_id, *interaction.followup_message_ids]
    return " ".join(world.messages[i].content for i in ids if i in world.messages)


async def check_claims(system: System, activity: Activity) -> list[Check]:
    giveaways = {g.id: g for g in await Giveaway.filter(guild_id=system.guild_id)}
    ids = list(giveaways)
    entrants = collections.Counter(
        await GiveawayEntry.filter(giveaway_id__in=ids).values_list("giveaway_id", flat=True)
    )
    every_pick = await GiveawayPick.filter(giveaway_id__in=ids).order_by("position")
    picks = [p for p in every_pick if p.slot is not None]  # not the skipped candidates
    announced = collections.Counter(
        (int(m[1]), int(m[2]))
        for post in system.bot_posts
        if (m := ANNOUNCEMENT.search(post.content))
    )
    slots: dict[tuple[int, int], list[GiveawayPick]] = collections.defaultdict(list)
    for pick in picks:
        slots[pick.giveaway_id, pick.slot or 0].append(pick)
    problems: list[str] = []
    for (giveaway_id, slot), sequence in sorted(slots.items()):
        giveaway = giveaways[giveaway_id]
        where = f"#{giveaway_id} slot {slot}"
        outcomes = [p.outcome for p in sequence]
        if outcomes.count(PickOutcome.CLAIMED) > 1:
            problems.append(f"{where}: claimed twice")
        if PickOutcome.CLAIMED in outcomes[:-1]:
            problems.append(f"{where}: drawn again after a claim")
        if len(sequence) - 1 > giveaway.max_rerolls:
            problems.append(f"{where}: {len(sequence) - 1} rerolls")
        if any(o not in RETIRED for o in outcomes[:-1]):
            problems.append(f"{where}: a pick replaced while {outcomes[:-1]}")
        last = outcomes[-1]
        drawn = len({p.user_id for p in every_pick if p.giveaway_id == giveaway_id})
        room = len(sequence) - 1 < giveaway.max_rerolls and entrants[giveaway_id] > drawn
        if last is PickOutcome.PENDING or (last in RETIRED and room):
            problems.append(f"{where}: ended {last} with a reroll due")
        for pick in sequence:
            if announced[giveaway_id, pick.position] != 1:
                problems.append(
                    f"{where}: draw {pick.position} announced "
                    f"{announced[giveaway_id, pick.position]} times"
                )
    claimed = {(p.giveaway_id, p.position) for p in picks if p.outcome is PickOutcome.CLAIMED}
    answered = {
        key
        for key, interaction in activity.claim_clicks.items()
        if _answer(system, interaction).startswith(CLAIMED_ANSWER)
    }
    not_ended = sorted(g.id for g in giveaways.values() if g.state is not GiveawayState.ENDED)
    problems += [f"#{g} draw {p}: answered Claimed!, not claimed" for g, p in answered - claimed]
    problems += [
        f"#{g} draw {p}: claimed without a click" for g, p in claimed - set(activity.claim_clicks)
    ]
    outcomes_count = collections.Counter(p.outcome.value for p in picks)
    return [
        Check(
            "giveaway claims and rerolls (one claim a slot, rerolls as configured, all ended)",
            not problems and not not_ended,
            f"{len(giveaways)} giveaways, {len(slots)} slots, picks {dict(outcomes_count)}; "
            f"{len(activity.claim_clicks)} claims clicked, {len(answered)} answered Claimed!; "
            f"not ended: {not_ended or 'none'}; problems: {problems[:4] or 'none'}",
        )
    ]
