"""The giveaway buttons and the gateway events giveaways care about (on the shards).

- **Enter / Leave** (flow 3): the requirements are checked from the interaction's member
  payload (roles, joined_at), the XP store's level (read through the kernel) and the user id's
  snowflake (account age); the entry is one Lua call in Redis. The answer is ephemeral and
  comes well within Discord's 3 seconds; nothing here waits on PostgreSQL.
- **Claim**: through the internal API (a conditional update in PostgreSQL).
- A giveaway message deleted is handed to the workers as a job. (Member leaves are not
  seen here: GUILD_MEMBERS is privileged and not requested; the tick checks pending winners.)
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import time
import typing

import hikari
import structlog

from townsquare.core.member_levels import member_level
from townsquare.core.redis_batch import CommandBatcher
from townsquare.features.giveaways.commands.api import GiveawaysClient
from townsquare.features.giveaways.domain import jobs
from townsquare.features.giveaways.domain.clock import CLOCK
from townsquare.features.giveaways.domain.entries import (
    enter,
    is_giveaway_message,
    leave,
    read_open,
)
from townsquare.features.giveaways.domain.render import CLAIM, ENTER, parse_custom_id
from townsquare.features.giveaways.domain.requirements import MemberFacts, Requirements
from townsquare.shards.api_client import APIRefusedError, ServiceUnavailableError
from townsquare.shards.commands.services import UNAVAILABLE, CommandServices, refused_reason

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = [
    "CLICK_PIPELINES",
    "DEFER_AFTER_SECONDS",
    "DEFER_BY_SECONDS",
    "GiveawayEvents",
    "defer_budget",
]

_log = structlog.get_logger(__name__)

DEFER_AFTER_SECONDS: typing.Final = 1.5
"""The longest a click's work may run before its answer is deferred."""
DEFER_BY_SECONDS: typing.Final = 2.0
"""... counted from the interaction's creation: a click that reaches a shard already late (the
shard behind a burst) is deferred sooner, so the deferral still lands within Discord's 3 s."""
CLICK_PIPELINES: typing.Final = 8
"""Pipelines of clicks awaiting Redis's replies at once, per shard process."""
REQUIREMENTS_TTL_SECONDS: typing.Final = 30.0
"""A giveaway's requirements never change once it runs; whether it is open is checked in Lua."""
_OOPS: typing.Final = "Something went wrong on our side; it has been logged. Please try again."
_CLAIMS: typing.Final = {
    "claimed": "🎉 Claimed! **{prize}** is yours; the host has been told.",
    "already": "You already claimed **{prize}**.",
    "not_winner": "You are not a winner of this giveaway.",
    "too_late": "Your claim window has closed: **{prize}** goes to someone else.",
    "gone": "This win is no longer yours: it was rerolled.",
}


@functools.cache
def _jobs_maxlen() -> int:
    from townsquare.core.settings import load_settings

    return load_settings().tasks.pipeline(jobs.PIPELINE).maxlen


class GiveawayEvents:
    """Answers the giveaway buttons and forwards member leaves and message deletes."""

    def __init__(self, services: Callable[[], CommandServices]) -> None:
        self._services = services
        self._requirements: dict[int, tuple[float, int, Requirements]] = {}
        self._batchers: dict[int, CommandBatcher] = {}
        self._loading: dict[int, asyncio.Future[tuple[int, Requirements] | None]] = {}

    def _batcher(self, services: CommandServices) -> CommandBatcher:
        """The clicks' Redis calls of one loop turn go as one pipeline (a burst of clicks
        would otherwise open a connection each, past the pool's limit), with at most
        :data:`CLICK_PIPELINES` out at once: when Redis or the machine falls behind, the clicks
        meanwhile wait and share the next one rather than open new connections."""
        key = id(services.redis)
        batcher = self._batchers.get(key)
        if batcher is None:
            batcher = CommandBatcher(services.redis, max_in_flight=CLICK_PIPELINES)
            self._batchers[key] = batcher
        return batcher

    async def on_interaction(self, event: hikari.InteractionCreateEvent) -> None:
        interaction = event.interaction
        if not isinstance(interaction, hikari.ComponentInteraction):
            return
        parsed = parse_custom_id(interaction.custom_id)
        if parsed is None:
            return
        action, giveaway_id = parsed
        if action == CLAIM:
            work = self._claim(interaction, giveaway_id)
        elif action == ENTER:
            work = self._enter(interaction, giveaway_id)
        else:
            work = self._leave(interaction, giveaway_id)
        await _respond(interaction, work)

    async def _leave(self, interaction: hikari.ComponentInteraction, giveaway_id: int) -> str:
        services = self._services()
        user_id = int(interaction.user.id)
        click = await leave(self._batcher(services), services.keyspace, giveaway_id, user_id)
        if click.status < 0:
            return "This giveaway has ended."
        if click.status == 0:
            return "You had not entered this giveaway."
        return "You left the giveaway. You can enter again until it ends."

    async def _enter(self, interaction: hikari.ComponentInteraction, giveaway_id: int) -> str:
        services = self._services()
        redis, keyspace = services.redis, services.keyspace
        user_id = int(interaction.user.id)
        known = await self._giveaway(services, giveaway_id)
        member = interaction.member
        if known is None or member is None or interaction.guild_id is None:
            return "This giveaway has ended."
        guild_id, requirements = known
        level = 0
        if requirements.min_level is not None:
            level = await member_level(redis, keyspace, guild_id, user_id)
        role_ids = frozenset(int(r) for r in member.role_ids)
        facts = MemberFacts(user_id, role_ids, member.joined_at, level)
        refusals = requirements.refusals(facts, CLOCK.now(), _role_namer(interaction))
        if refusals:
            return "You can't enter yet: " + "; ".join(refusals) + "."
        weight = requirements.weight(role_ids)
        click = await enter(self._batcher(services), keyspace, giveaway_id, user_id, weight)
        if click.status < 0:
            return "This giveaway has ended."
        entries = "1 entry" if weight == 1 else f"{weight} entries"
        bonus = [r for r in requirements.bonus_entries if r in role_ids]
        with_bonus = (
            f" with your {' and '.join(map(_role_namer(interaction), bonus))} bonus"
            if bonus
            else ""
        )
        if click.status == 0:
            return f"You're already in ({entries}{with_bonus})."
        return f"You're in ({entries}{with_bonus})."

    async def _giveaway(
        self, services: CommandServices, giveaway_id: int
    ) -> tuple[int, Requirements] | None:
        cached = self._requirements.get(giveaway_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1], cached[2]
        # One read for a burst of clicks on a giveaway not cached yet (single flight).
        loading = self._loading.get(giveaway_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(services, giveaway_id))
            self._loading[giveaway_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(giveaway_id, None))
        return await asyncio.shield(loading)

    async def _load(
        self, services: CommandServices, giveaway_id: int
    ) -> tuple[int, Requirements] | None:
        found = await read_open(services.redis, services.keyspace, giveaway_id)
        if found is None or not found.open:
            return None
        requirements = Requirements.model_validate(found.requirements)
        if len(self._requirements) > 10_000:
            self._requirements.clear()
        expires = time.monotonic() + REQUIREMENTS_TTL_SECONDS
        self._requirements[giveaway_id] = (expires, found.guild_id, requirements)
        return found.guild_id, requirements

    async def _claim(self, interaction: hikari.ComponentInteraction, giveaway_id: int) -> str:
        client = GiveawaysClient(self._services().client())
        try:
            answer = await client.claim(giveaway_id, int(interaction.user.id))
        except ServiceUnavailableError:
            return UNAVAILABLE
        except APIRefusedError as refused:
            if refused.status == 404:
                return "This giveaway no longer exists."
            return refused_reason(refused)
        return _CLAIMS[answer.outcome].format(prize=answer.prize)

    async def on_message_deleted(self, event: hikari.GuildMessageDeleteEvent) -> None:
        services = self._services()
        if await is_giveaway_message(services.redis, services.keyspace, int(event.message_id)):
            await jobs.enqueue(
                services.redis,
                services.keyspace,
                _jobs_maxlen(),
                jobs.MESSAGE_DELETED_TASK,
                int(event.channel_id),
                int(event.message_id),
            )


def _role_namer(interaction: hikari.ComponentInteraction) -> Callable[[int], str]:
    cache = interaction.app.cache if isinstance(interaction.app, hikari.CacheAware) else None

    def name(role_id: int) -> str:
        role = cache.get_role(role_id) if cache is not None else None
        return role.name if role is not None else f"<@&{role_id}>"

    return name


def defer_budget(created_at: datetime.datetime, now: datetime.datetime) -> float:
    """How long a click's work may still run before its answer is deferred: at most
    :data:`DEFER_AFTER_SECONDS`, and no later than :data:`DEFER_BY_SECONDS` after Discord
    created the interaction (its snowflake's time; a skewed clock only defers more often)."""
    age = (now - created_at).total_seconds()
    return min(DEFER_AFTER_SECONDS, max(0.0, DEFER_BY_SECONDS - age))


async def _respond(interaction: hikari.ComponentInteraction, work: Awaitable[str]) -> None:
    """Answer privately within Discord's 3 seconds, deferring if the work is slow."""
    task = asyncio.ensure_future(_safely(work))
    budget = defer_budget(interaction.created_at, datetime.datetime.now(datetime.UTC))
    done, _ = await asyncio.wait({task}, timeout=budget)
    flags = hikari.MessageFlag.EPHEMERAL
    try:
        if not done:
            await interaction.create_initial_response(
                hikari.ResponseType.DEFERRED_MESSAGE_CREATE, flags=flags
            )
            await interaction.edit_initial_response(await task)
            return
        await interaction.create_initial_response(
            hikari.ResponseType.MESSAGE_CREATE, await task, flags=flags, user_mentions=False
        )
    except hikari.NotFoundError:
        # Discord forgot the interaction (10062): its 3 s ran out before the answer, the shard
        # being behind. One line, not a traceback per click, which would only slow it more.
        await task
        _log.warning("giveaway_click_answered_too_late", interaction_id=int(interaction.id))


async def _safely(work: Awaitable[str]) -> str:
    try:
        return await work
    except Exception:
        _log.exception("giveaway_button_failed")
        return _OOPS
