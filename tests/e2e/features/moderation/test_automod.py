"""End to end: a scripted spam wave through the sandbox, the shard (real hikari `GatewayBot`),
the `automod` stream, a worker, the guard and Discord REST back to the sandbox; the deletions,
offenses, ladder steps and timeouts are computed by the test independently.

The reference (the documented rule): a member's message is spam when it is the 5th or later
of their messages within 5 s (message time); the first spam message of a burst is an offense
(1 point), later ones within 5 s of that offense are only deleted; the standard ladder warns
at 1 active point and times out for 10 minutes at 3.
"""

from __future__ import annotations

import collections
import time
import typing

import pytest

from tests.support.moderation import configure_moderation, moderation_section
from tests.support.pipeline import WITHIN, Post, SteppedClock, create_posts
from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.waiting import wait_until
from tests.support.world import channel_named
from townsquare.core.guard.models import Case

if typing.TYPE_CHECKING:
    from tests.support.pipeline import Stack
    from townsquare.core.events import MessageRecord

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

SPAM_COUNT, SPAM_WINDOW_MS = 5, 5_000


@pytest.fixture
def sandbox_options() -> dict[str, typing.Any]:
    """The sandbox dates each message by a clock the test sets (`SteppedClock`)."""
    return {"clock": SteppedClock()}


def wave(start: int, channels: list[int], alder: int, bryony: int, cedar: int) -> list[Post]:
    """Alder: three bursts of 8 messages 0.5 s apart, 20 s between bursts; Bryony: one burst;
    Cedar: chatter every 3 s (never 5 within 5 s)."""
    posts = []
    for burst in range(3):
        base = start + burst * 20_000
        posts += [Post(base + i * 500, alder, channels[i % 2]) for i in range(8)]
    posts += [Post(start + 7_000 + i * 500 + 1, bryony, channels[0]) for i in range(8)]
    posts += [Post(start + i * 3_000 + 2, cedar, channels[1]) for i in range(20)]
    return sorted(posts, key=lambda p: p.ts)


def reference(records: list[MessageRecord]) -> tuple[set[int], dict[int, list[int]]]:
    """The messages deleted, and each member's offense times."""
    deleted: set[int] = set()
    offenses: dict[int, list[int]] = collections.defaultdict(list)
    by_author: dict[int, list[MessageRecord]] = collections.defaultdict(list)
    for record in records:
        by_author[record.author_id].append(record)
    for author, own in by_author.items():
        last_offense: int | None = None
        for record in own:
            ts = record.timestamp_ms
            recent = sum(1 for r in own if ts - SPAM_WINDOW_MS < r.timestamp_ms <= ts)
            if recent < SPAM_COUNT:
                continue
            deleted.add(record.message_id)
            if last_offense is None or ts - last_offense >= SPAM_WINDOW_MS:
                offenses[author].append(ts)
                last_offense = ts
    return deleted, offenses


async def test_a_spam_wave(stack: Stack, sandbox_options: dict[str, SteppedClock]) -> None:
    guild, sandbox, clock = stack.guild, stack.sandbox, sandbox_options["clock"]
    log = channel_named(guild, "mod-log")
    await configure_moderation(guild.id, moderation_section(log_channel_id=log))
    names = ("alder", "bryony", "cedar")
    alder, bryony, cedar = (sandbox.world.user_named(n).id for n in names)  # type: ignore[union-attr]
    channels = [channel_named(guild, "general"), channel_named(guild, "off-topic")]
    start = int(time.time() * 1000) - 10 * 60_000
    async with stack.pipeline(("xp", "automod", "jobs")):
        records = create_posts(sandbox, clock, wave(start, channels, alder, bryony, cedar))
        deleted, offenses = reference(records)

        async def settled() -> bool:
            gone = {r.message_id for r in records} - set(sandbox.world.messages)
            steps = await Case.filter(guild_id=guild.id, key__endswith="/ladder").count()
            return gone == deleted and steps == 3

        await wait_until(settled, within=WITHIN, what="the wave's deletions and ladder steps")
        await stack.drained("automod")

    assert len(deleted) == 3 * 4 + 4 and len(offenses[alder]) == 3 and len(offenses[bryony]) == 1
    assert cedar not in offenses
    cases = await Case.filter(guild_id=guild.id).order_by("number")
    numbers = [c.number for c in cases]
    assert numbers == list(range(1, len(cases) + 1))
    by_action = collections.Counter(c.action for c in cases)
    assert by_action["offense"] == 4 and by_action["warn"] == 2 and by_action["timeout"] == 1
    assert all(c.status == "executed" for c in cases)
    covered = [m for c in cases if c.action == "delete" for m in c.message_ids]
    assert sorted(covered) == sorted(deleted), "each deletion once, none missing"
    offense_times = {
        (c.target_id, int(c.occurred_at.timestamp() * 1000)) for c in cases if c.action == "offense"
    }
    assert offense_times == {(a, ts) for a, times in offenses.items() for ts in times}
    assert all(c.points == 1 for c in cases if c.action == "offense")
    [timeout] = [c for c in cases if c.action == "timeout"]
    assert timeout.target_id == alder and timeout.duration_seconds == 600
    assert guild.members[alder].communication_disabled_until is not None
    assert guild.members[bryony].communication_disabled_until is None
    posted = sum(len(m.embeds) for m in sandbox.world.messages.values() if m.channel_id == log)
    assert posted == len(cases), "every case in the log channel once"
