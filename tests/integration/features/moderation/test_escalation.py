"""Escalation across simulated days with decay, dry runs, duplicated automod batches, and
temporary bans ending: the domain with the guard, the sandbox's REST (real hikari client),
PostgreSQL and Redis."""

from __future__ import annotations

import datetime
import typing

import pytest

from tests.support.moderation import by_moderator, guard_context, moderation_section, rule
from tests.support.world import channel_named, user_named
from townsquare.core.guard.actions import Action, ActionRequest, ActorKind, Source
from townsquare.core.guard.models import Case, CaseStatus
from townsquare.features.moderation.domain.automod import moderate
from townsquare.features.moderation.domain.enforce import enforce
from townsquare.features.moderation.domain.expiry import due_bans, mark_lifted, unban_request
from townsquare.features.moderation.domain.rules import Message

if typing.TYPE_CHECKING:
    from tests.support.pipeline import Stack

pytestmark = pytest.mark.integration

DAY = datetime.timedelta(days=1)
T0 = datetime.datetime.now(datetime.UTC) - 60 * DAY


def offense(guild_id: int, target: int, at: datetime.datetime, key: str) -> ActionRequest:
    return ActionRequest(
        guild_id=guild_id,
        action=Action.OFFENSE,
        target_id=target,
        key=key,
        source=Source.AUTOMOD,
        actor_kind=ActorKind.SYSTEM,
        actor_name="automod",
        reason="test offense",
        occurred_at=at,
        points=2,
    )


async def test_escalation_across_days_with_halving_points(stack: Stack) -> None:
    """2 points per offense, halving every 7 days (whole periods), expiring after 30 days;
    ladder: warn at 2, timeouts of 10 minutes at 4 and of an hour at 6."""
    guild = stack.guild
    section = moderation_section(
        dm_members=False,
        points_half_life_days=7,
        offense_expiry_days=30,
        escalation=[
            {"offenses": 2, "action": "warn", "duration_seconds": 0},
            {"offenses": 4, "action": "timeout", "duration_seconds": 600},
            {"offenses": 6, "action": "timeout", "duration_seconds": 3600},
        ],
    )
    alder = user_named(stack.sandbox, "alder")
    totals = []
    steps = []
    async with guard_context(stack.sandbox, stack.redis, stack.keyspace, section) as context:
        for number, day in enumerate((0, 1, 8, 9, 40)):
            enforced = await enforce(
                offense(guild.id, alder, T0 + day * DAY, f"days/{number}"), context, section
            )
            totals.append(enforced.active_points)
            step = enforced.escalation
            steps.append(
                None
                if step is None
                else (await Case.get(guild_id=guild.id, number=step.case_number)).action
            )
    # Day 0: 0 -> 2 (warn). Day 1: 2 -> 4 (10 min). Day 8: day 0 is 8 days old and day 1 is
    # 7 days old, each halved once: 1 + 1 = 2 -> 4 (crosses 4 again: 10 min). Day 9: 1 + 1 + 2
    # = 4 -> 6 (an hour). Day 40: days 0-9 are over 30 days old: 0 -> 2 (warn).
    assert totals == [2.0, 4.0, 4.0, 6.0, 2.0]
    assert steps == ["warn", "timeout", "timeout", "timeout", "warn"]
    timeouts = await Case.filter(guild_id=guild.id, action="timeout").order_by("number")
    assert [c.duration_seconds for c in timeouts] == [600, 600, 3600]


async def test_dry_run_executes_nothing_and_logs_would_have(stack: Stack) -> None:
    guild, sandbox = stack.guild, stack.sandbox
    log = channel_named(guild, "mod-log")
    section = moderation_section(dry_run=True, log_channel_id=log)
    bryony = user_named(sandbox, "bryony")
    request = by_moderator(sandbox, Action.BAN, bryony, "dry/1")
    async with guard_context(sandbox, stack.redis, stack.keyspace, section) as context:
        enforced = await enforce(request, context, section)
    assert enforced.outcome.status is CaseStatus.DRY_RUN
    assert bryony in guild.members and not guild.bans
    dms = [c for c in sandbox.world.dm_channels.values() if bryony in c.recipient_ids]
    assert not dms, "no DM for an action not taken"
    [entry] = [m for m in sandbox.world.messages.values() if m.channel_id == log]
    assert entry.embeds[0]["title"] == "Case 1 · would have: ban (dry run)"


async def test_a_duplicated_batch_punishes_once(stack: Stack) -> None:
    guild, sandbox = stack.guild, stack.sandbox
    general = channel_named(guild, "general")
    section = moderation_section(
        automod={"banned_words": ["badword"]}, rules={"words": rule("timeout", 1)}
    )
    author = user_named(sandbox, "dahlia")
    now_ms = int(datetime.datetime.now(datetime.UTC).timestamp() * 1000)
    made = [
        sandbox.world.create_message(sandbox.world.channel(general), author, text)  # type: ignore[arg-type]
        for text in ("hello", "a badword here", "another BADWORD")
    ]
    batch = [
        Message(guild.id, general, author, m.id, now_ms + i, frozenset(), m.content, 0)
        for i, m in enumerate(made)
    ]
    async with guard_context(sandbox, stack.redis, stack.keyspace, section) as context:
        first = await moderate(context, section, batch)
        again = await moderate(context, section, batch)
    assert first.deleted == 2 and first.offenses == 2
    assert set(sandbox.world.messages) & {m.id for m in made} == {made[0].id}
    cases = await Case.filter(guild_id=guild.id).order_by("number")
    # 1 bulk delete, 2 timeouts (1 point each), the ladder's warn at 1 point: once each.
    assert [c.action for c in cases] == ["delete", "timeout", "warn", "timeout"]
    assert again.offenses == 2 and len(cases) == 4, "the second run found its cases"


async def test_a_temporary_ban_ends_through_the_guard(stack: Stack) -> None:
    guild, sandbox = stack.guild, stack.sandbox
    section = moderation_section()
    kit = user_named(sandbox, "kit")
    request = by_moderator(sandbox, Action.BAN, kit, "tempban/1", duration_seconds=3600)
    async with guard_context(sandbox, stack.redis, stack.keyspace, section) as context:
        banned = await enforce(request, context, section)
        assert kit in guild.bans and banned.outcome.expires_at is not None
        assert await due_bans(datetime.datetime.now(datetime.UTC)) == []
        [due] = await due_bans(banned.outcome.expires_at)
        lifted = await enforce(unban_request(due), context, section)
        await mark_lifted(due)
    assert lifted.outcome.status is CaseStatus.EXECUTED and kit not in guild.bans
    assert await due_bans(banned.outcome.expires_at) == []
    unban = await Case.get(guild_id=guild.id, number=lifted.outcome.case_number)
    assert unban.source == "schedule" and unban.actor_kind == "system"
