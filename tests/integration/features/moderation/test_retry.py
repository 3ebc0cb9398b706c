"""The pending-case sweep against the sandbox, PostgreSQL and Redis: a timeout Discord answered
with 503 stays pending and the sweep carries it out once; cases left pending by a kill are
done again without doubling anything, each claimed by one of two concurrent sweeps; a case
that keeps failing is given up on."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import typing

import hikari
import pytest

from tests.support.moderation import by_moderator, guard_context, moderation_section
from tests.support.sandbox import control
from tests.support.world import user_named
from townsquare.core.guard.actions import Action
from townsquare.core.guard.guard import guard_action
from townsquare.core.guard.models import Case, CaseStatus
from townsquare.features.moderation.domain.enforce import context_for
from townsquare.features.moderation.domain.retry import MAX_ATTEMPTS, SETTLE, retry_pending

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import aiohttp

    from tests.support.pipeline import Stack
    from townsquare.core.guard.guard import GuardContext
    from townsquare.features.moderation.domain.config import ModerationSection

pytestmark = pytest.mark.integration

SECTION = moderation_section(dm_members=False)
LATER = SETTLE + datetime.timedelta(seconds=1)


@contextlib.asynccontextmanager
async def impatient_context(stack: Stack) -> AsyncIterator[GuardContext]:
    """The guard's context with a hikari client that does not retry a 5xx itself."""
    app = hikari.RESTApp(url=stack.sandbox.info.rest_url, max_retries=0)
    await app.start()
    try:
        async with app.acquire(stack.sandbox.info.bot_token, hikari.TokenType.BOT) as rest:
            yield context_for(rest, stack.redis, stack.keyspace, SECTION)
    finally:
        await app.close()


def sweeping(context: GuardContext) -> typing.Callable[..., typing.Any]:
    async def context_of(_: int) -> tuple[GuardContext, ModerationSection]:
        return context, SECTION

    return context_of


async def test_a_503_is_retried_by_the_sweep(stack: Stack, http: aiohttp.ClientSession) -> None:
    guild, sandbox = stack.guild, stack.sandbox
    target = user_named(sandbox, "alder")
    fault = {"method": "PATCH", "route": "/api/v10/guilds/{guild_id}/members/{user_id}"}
    await control(http, sandbox.info, "POST", "/faults/rest", fault | {"status": 503, "count": 1})
    request = by_moderator(sandbox, Action.TIMEOUT, target, "command/1", duration_seconds=600)
    async with impatient_context(stack) as context:
        with pytest.raises(hikari.InternalServerError):
            await guard_action(request, context)
        (case,) = await Case.filter(guild_id=guild.id)
        assert case.status == CaseStatus.PENDING
        now = datetime.datetime.now(datetime.UTC)
        assert (await retry_pending(now, sweeping(context))).done == 0  # still settling
        swept = await retry_pending(now + LATER, sweeping(context))
        assert (swept.done, swept.still_pending) == (1, 0)
        assert (await retry_pending(now + 2 * LATER, sweeping(context))).done == 0
    await case.refresh_from_db()
    assert (case.status, case.attempts) == (CaseStatus.EXECUTED, 1)
    assert guild.members[target].communication_disabled_until is not None


async def test_killed_cases_are_done_once_and_hopeless_ones_given_up(stack: Stack) -> None:
    guild, sandbox = stack.guild, stack.sandbox
    targets = [user_named(sandbox, n) for n in ("alder", "bryony", "cedar")]
    async with guard_context(sandbox, stack.redis, stack.keyspace, SECTION) as context:
        for n, target in enumerate(targets):
            request = by_moderator(
                sandbox, Action.TIMEOUT, target, f"command/{n}", duration_seconds=600
            )
            await guard_action(request, context)
        # As if the process had died after recording each case, before Discord answered.
        await Case.filter(guild_id=guild.id).update(status=CaseStatus.PENDING)
        for target in targets:
            guild.members[target].communication_disabled_until = None
        later = datetime.datetime.now(datetime.UTC) + LATER
        first, second = await asyncio.gather(
            retry_pending(later, sweeping(context)), retry_pending(later, sweeping(context))
        )
        assert first.done + second.done == len(targets)
        hopeless = await Case.get(guild_id=guild.id, key="command/0")
        await Case.filter(id=hopeless.id).update(
            status=CaseStatus.PENDING, attempts=MAX_ATTEMPTS, retry_at=None
        )
        assert (await retry_pending(later, sweeping(context))).gave_up == 1

    cases = await Case.filter(guild_id=guild.id).order_by("number")
    assert len(cases) == len(targets)  # no second case for any request
    assert all(c.attempts == 1 for c in cases[1:])
    assert all(guild.members[t].communication_disabled_until is not None for t in targets[1:])
    assert (cases[0].status, cases[0].detail) == (
        CaseStatus.FAILED,
        f"gave up after {MAX_ATTEMPTS} retries: Discord did not answer",
    )
