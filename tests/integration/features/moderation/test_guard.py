"""The kernel's guard against the sandbox with the real hikari REST client, PostgreSQL and
Redis: the hierarchy matrix, the anti-abuse limit, and one case per idempotency key."""

from __future__ import annotations

import itertools
import typing

import pytest

from tests.support.moderation import by_moderator, guard_context, log_entries, moderation_section
from tests.support.world import channel_named, role_named, user_named
from townsquare.core.guard.actions import Action
from townsquare.core.guard.guard import guard_action
from townsquare.core.guard.models import Case, CaseStatus
from townsquare.sandbox.world.permissions import Permission, guild_permissions

if typing.TYPE_CHECKING:
    from tests.support.pipeline import Stack
    from townsquare.sandbox.world.models import Guild

pytestmark = pytest.mark.integration

ACTORS = ("mayor", "ada", "dorian", "alder")
TARGETS = ("mayor", "sheriff", "basil", "dorian", "bryony", "townsquare")
ACTIONS = (Action.TIMEOUT, Action.KICK, Action.BAN)
NEEDS = {
    Action.WARN: Permission.MODERATE_MEMBERS,
    Action.TIMEOUT: Permission.MODERATE_MEMBERS,
    Action.KICK: Permission.KICK_MEMBERS,
    Action.BAN: Permission.BAN_MEMBERS,
}


def top(guild: Guild, user_id: int) -> tuple[int, int]:
    """The member's highest role as Discord orders roles: position, then the lower id."""
    roles = [guild.roles[r] for r in guild.members[user_id].role_ids]
    return max(((r.position, -r.id) for r in roles), default=(0, -guild.id))


def expected(guild: Guild, actor: int, target: int, bot: int, action: Action) -> str | None:
    """The reference decision, from the sandbox's own world: None (allowed) or the reason's
    start."""
    if not guild_permissions(guild, guild.members[actor]) & NEEDS[action]:
        return "you need the"
    if target == guild.owner_id:
        return "nobody can moderate the server owner"
    if target == bot:
        return "the bot cannot moderate itself"
    if target == actor:
        return "you cannot moderate yourself"
    if actor != guild.owner_id and top(guild, actor) <= top(guild, target):
        return "your highest role"
    if top(guild, bot) <= top(guild, target):
        return "the bot's highest role"
    return None


@pytest.mark.parametrize("bot_above_moderators", [False, True], ids=["bot-low", "bot-high"])
async def test_hierarchy_matrix(stack: Stack, *, bot_above_moderators: bool) -> None:
    guild, sandbox = stack.guild, stack.sandbox
    bot = sandbox.world.application.bot_user_id
    if bot_above_moderators:  # the bot's role between Admin and Moderator
        guild.roles[role_named(guild, "Townsquare")].position = (
            guild.roles[role_named(guild, "Moderator")].position + 1
        )
        guild.roles[role_named(guild, "Admin")].position += 2
    section = moderation_section(dry_run=True)
    members = len(guild.members)
    cells = list(itertools.product(ACTORS, TARGETS, ACTIONS))
    async with guard_context(sandbox, stack.redis, stack.keyspace, section) as context:
        for number, (actor, target, action) in enumerate(cells, start=1):
            actor_id = user_named(sandbox, actor)
            target_id = user_named(sandbox, target)
            request = by_moderator(sandbox, action, target_id, f"matrix/{number}", actor)
            outcome = await guard_action(request, context)
            want = expected(guild, actor_id, user_named(sandbox, target), bot, action)
            cell = f"{actor} -> {action.value} -> {target}"
            assert outcome.case_number == number, cell
            if want is None:
                assert outcome.status in {CaseStatus.DRY_RUN, CaseStatus.EXECUTED}, cell
            else:
                assert outcome.status is CaseStatus.BLOCKED, cell
                assert outcome.detail.startswith(want), f"{cell}: {outcome.detail}"
    assert len(guild.members) == members and not guild.bans  # dry run: nothing executed
    allowed = await Case.filter(guild_id=guild.id).exclude(status=CaseStatus.BLOCKED).count()
    assert allowed == sum(
        expected(guild, user_named(sandbox, a), user_named(sandbox, t), bot, x) is None
        for a, t, x in cells
    )
    assert allowed > 0


async def test_a_moderator_banning_six_in_a_burst_is_blocked_at_the_sixth(stack: Stack) -> None:
    guild, sandbox = stack.guild, stack.sandbox
    log = channel_named(guild, "mod-log")
    section = moderation_section(log_channel_id=log, dm_members=False)
    targets = ["alder", "bryony", "cedar", "dahlia", "ember", "flint", "garnet"]
    outcomes = []
    async with guard_context(sandbox, stack.redis, stack.keyspace, section) as context:
        for index, name in enumerate(targets):
            target = user_named(sandbox, name)
            request = by_moderator(sandbox, Action.BAN, target, f"command/{index}", reason="raid")
            outcomes.append(await guard_action(request, context))
        again = await guard_action(request, context)  # the same request: one case

    assert [o.status for o in outcomes] == [CaseStatus.EXECUTED] * 5 + [CaseStatus.BLOCKED] * 2
    assert outcomes[5].detail.startswith("anti-abuse: more than 5 kicks or bans within 60 s")
    assert set(guild.bans) == {user_named(sandbox, n) for n in targets[:5]}
    assert again.repeated and again.case_number == outcomes[6].case_number
    assert await Case.filter(guild_id=guild.id).count() == 7
    alerts = await stack.redis.xrange(stack.keyspace.key("alerts"))
    mine = [fields for _, fields in alerts if fields[b"source"] == b"guard.anti_abuse"]
    assert len(mine) == 1, "one alert per trip, not per blocked action"
    owner_dms = [
        m
        for c in sandbox.world.dm_channels.values()
        if guild.owner_id in c.recipient_ids
        for m in sandbox.world.messages.values()
        if m.channel_id == c.id
    ]
    assert len(owner_dms) == 1
    assert owner_dms[0].embeds[0]["title"] == "Anti-abuse: moderator blocked"
    titles = [m.embeds[0]["title"] for m in log_entries(sandbox, log)]
    assert titles.count("Anti-abuse: moderator blocked") == 1
    assert titles[-2:] == ["Case 6 · ban blocked", "Case 7 · ban blocked"]
