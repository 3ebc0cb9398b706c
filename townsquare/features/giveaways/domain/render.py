"""What the giveaway's messages say, as plain data (the tasks turn it into Discord embeds).

The embed carries the prize, the end as a Discord timestamp, the winners, the requirements in
plain words, the host, the entry count and the seed's commitment; after the draw, each winner
slot's state (waiting for claim, claimed, rerolled, unclaimed) and the revealed seed.
"""

from __future__ import annotations

import dataclasses
import typing

from townsquare.features.giveaways.domain.models import GiveawayState, PickOutcome
from townsquare.features.giveaways.domain.requirements import Requirements
from townsquare.features.giveaways.domain.service import slot_summaries

if typing.TYPE_CHECKING:
    import datetime
    from collections.abc import Sequence

    from townsquare.features.giveaways.domain.models import Giveaway, GiveawayPick

__all__ = [
    "CLAIM",
    "ENTER",
    "LEAVE",
    "Button",
    "MessageView",
    "announcement_text",
    "custom_id",
    "giveaway_view",
    "parse_custom_id",
    "role_mention",
    "timestamp",
]

ENTER: typing.Final = "enter"
LEAVE: typing.Final = "leave"
CLAIM: typing.Final = "claim"
_PREFIX: typing.Final = "giveaway"
_COLOURS: typing.Final = {
    GiveawayState.SCHEDULED: 0x95A5A6,
    GiveawayState.RUNNING: 0x5865F2,
    GiveawayState.DRAWING: 0xF1C40F,
    GiveawayState.CLAIMING: 0xF1C40F,
    GiveawayState.ENDED: 0x2ECC71,
    GiveawayState.CANCELLED: 0xE74C3C,
}


def custom_id(action: str, giveaway_id: int) -> str:
    """`giveaway:<action>:<id>`: a button that works across restarts (no view state)."""
    return f"{_PREFIX}:{action}:{giveaway_id}"  # keyspace: not a key (a button's custom id)


def parse_custom_id(value: str) -> tuple[str, int] | None:
    """`(action, giveaway id)` of one of our buttons, else None."""
    parts = value.split(":")
    if len(parts) != 3 or parts[0] != _PREFIX or parts[1] not in {ENTER, LEAVE, CLAIM}:
        return None
    if not parts[2].isdecimal() or len(parts[2]) > 19:
        return None
    return parts[1], int(parts[2])


def timestamp(moment: datetime.datetime, style: str = "R") -> str:
    """A Discord timestamp (`<t:unix:R>`: shown in each reader's time zone)."""
    return f"<t:{int(moment.timestamp())}:{style}>"  # keyspace: not a key (Discord markdown)


def role_mention(role_id: int) -> str:
    return f"<@&{role_id}>"


@dataclasses.dataclass(frozen=True, slots=True)
class Button:
    label: str
    custom_id: str
    style: typing.Literal["success", "secondary", "primary"]


@dataclasses.dataclass(frozen=True, slots=True)
class MessageView:
    title: str
    description: str
    colour: int
    footer: str
    fields: list[tuple[str, str]]
    buttons: list[Button]


def giveaway_view(
    giveaway: Giveaway, picks: Sequence[GiveawayPick], entry_count: int
) -> MessageView:
    """The giveaway message as it should look in its current state."""
    state = giveaway.state
    lines = [f"Hosted by <@{giveaway.host_id}>"]
    if state in {GiveawayState.SCHEDULED, GiveawayState.RUNNING}:
        lines.append(f"Ends {timestamp(giveaway.ends_at)} ({timestamp(giveaway.ends_at, 'f')})")
    elif state is GiveawayState.CANCELLED:
        lines.append(f"Cancelled: {giveaway.cancel_reason or 'by the host'}")
    else:
        lines.append(f"Ended {timestamp(giveaway.ended_at or giveaway.ends_at, 'f')}")
    plural = "winner" if giveaway.winner_count == 1 else "winners"
    lines.append(f"{giveaway.winner_count} {plural} · {entry_count} entries")
    fields: list[tuple[str, str]] = []
    requirements = Requirements.model_validate(giveaway.requirements)
    described = requirements.describe(role_mention)
    if described:
        fields.append(("Requirements", "\n".join(described)))
    if state in {GiveawayState.CLAIMING, GiveawayState.ENDED}:
        fields.append(("Winners", _winner_lines(giveaway, picks)))
        fields.append(
            (
                "Draw proof",
                f"Seed `{giveaway.seed}`\nSHA-256 `{giveaway.seed_hash}`\n"
                f"Entries digest `{giveaway.entries_digest}`",
            )
        )
    footer = f"Giveaway #{giveaway.id} · seed SHA-256 {giveaway.seed_hash}"
    buttons = []
    if state is GiveawayState.RUNNING:
        buttons = [
            Button("Enter", custom_id(ENTER, giveaway.id), "success"),
            Button("Leave", custom_id(LEAVE, giveaway.id), "secondary"),
        ]
    return MessageView(
        title=f"🎉 {giveaway.prize}",
        description="\n".join(lines),
        colour=_COLOURS[state],
        footer=footer,
        fields=fields,
        buttons=buttons,
    )


def _winner_lines(giveaway: Giveaway, picks: Sequence[GiveawayPick]) -> str:
    lines = []
    for summary in slot_summaries(giveaway, picks):
        pick = summary.pick
        if pick is None:
            lines.append(f"{summary.slot}. nobody eligible was left to draw")
            continue
        status = summary.status
        if pick.outcome is PickOutcome.PENDING and pick.claim_deadline is not None:
            status = f"claim by {timestamp(pick.claim_deadline)}"
        elif pick.outcome is PickOutcome.CLAIMED:
            status = "claimed ✅"
        elif pick.outcome is PickOutcome.EXPIRED:
            status = "unclaimed"
        rerolled = f" · rerolled {summary.rerolls} times" if summary.rerolls else ""
        lines.append(f"{summary.slot}. <@{pick.user_id}> · {status}{rerolled}")
    return "\n".join(lines) or "nobody entered"


def announcement_text(
    giveaway: Giveaway, new_winners: Sequence[GiveawayPick], *, reroll: bool
) -> str:
    """The announcement of freshly drawn winners, with its marker (see `announcement_marker`)."""
    mentions = ", ".join(f"<@{p.user_id}>" for p in new_winners)
    window = timestamp(new_winners[0].claim_deadline) if new_winners[0].claim_deadline else ""
    head = "🔁 Rerolled!" if reroll else "🎉 Congratulations"
    return (
        f"{head} {mentions}: you won **{giveaway.prize}**! "
        f"Press **Claim** before {window} or the prize goes to someone else.\n"
        f"{announcement_marker(giveaway.id, new_winners[0].position)}"
    )


def announcement_marker(giveaway_id: int, position: int) -> str:
    """A line that identifies one announcement, so a retry finds it instead of posting again."""
    return f"-# Giveaway #{giveaway_id} · draw {position}"
