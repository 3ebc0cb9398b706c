"""Recomputing a draw from what is published: the seed, its commitment, the entries, the picks.

What `townsquare giveaways verify ID` and the dashboard's detail page show; anyone with the
entry list can do the same by hand (docs/giveaways.md, "Verifying a draw").
"""

from __future__ import annotations

import dataclasses

from townsquare.features.giveaways.domain.draw import Draw, commitment
from townsquare.features.giveaways.domain.lifecycle import entries_digest, frozen_entries
from townsquare.features.giveaways.domain.models import Giveaway, GiveawayPick, GiveawayState

__all__ = ["Proof", "proof_of", "verify_draw"]


@dataclasses.dataclass(frozen=True, slots=True)
class Proof:
    """The recomputation's verdict: `problems` is empty when everything matches."""

    giveaway_id: int
    seed: str | None
    seed_hash: str
    entries: int
    digest: str | None
    candidates: list[int]
    """The candidates the seed draws, position by position, as recomputed."""
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify_draw(giveaway: Giveaway) -> Proof:
    """Recompute the giveaway's draw and compare it with the recorded picks."""
    if giveaway.state in {GiveawayState.SCHEDULED, GiveawayState.RUNNING, GiveawayState.DRAWING}:
        return Proof(giveaway.id, None, giveaway.seed_hash, 0, None, [], ["not drawn yet"])
    entries = await frozen_entries(giveaway.id)
    picks = await GiveawayPick.filter(giveaway_id=giveaway.id).order_by("position")
    problems = []
    if commitment(giveaway.seed) != giveaway.seed_hash:
        problems.append("the seed does not match its published SHA-256")
    digest = entries_digest(entries)
    if giveaway.entries_digest is not None and digest != giveaway.entries_digest:
        problems.append("the entries differ from those the draw used (digest mismatch)")
    draw = Draw(giveaway.seed, entries)
    candidates = [draw.candidate(position) for position in range(len(picks))]
    drawn = [c for c in candidates if c is not None]
    for pick, expected in zip(picks, candidates, strict=True):
        if pick.user_id != expected:
            problems.append(
                f"position {pick.position}: recorded <@{pick.user_id}>, the seed draws "
                f"<@{expected}>"
            )
    if [p.position for p in picks] != list(range(len(picks))):
        problems.append("the recorded positions have gaps")
    return Proof(
        giveaway.id, giveaway.seed, giveaway.seed_hash, len(entries), digest, drawn, problems
    )


async def proof_of(giveaway_id: int) -> Proof | None:
    giveaway = await Giveaway.get_or_none(id=giveaway_id)
    return None if giveaway is None else await verify_draw(giveaway)
