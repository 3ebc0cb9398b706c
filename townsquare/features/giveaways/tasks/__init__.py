"""Giveaway tasks on the `jobs` pipeline (thin: the rules are in `..domain`).

- `giveaways.tick` (every 5 s, from the durable schedule source): queues due starts, ends,
  expired claim windows, unannounced winners and draws a killed worker left; flushes entries;
  edits entry counts;
- `giveaways.publish`, `giveaways.end`, `giveaways.expire`, `giveaways.reroll`,
  `giveaways.announce`, `giveaways.claimed`, `giveaways.refresh`, `giveaways.member_left`,
  `giveaways.message_deleted`: one giveaway each, all idempotent.
"""

from __future__ import annotations

import contextlib
import datetime
import typing

import hikari
import structlog
from taskiq import TaskiqDepends

from townsquare.features.giveaways.domain import jobs, lifecycle
from townsquare.features.giveaways.domain.clock import CLOCK
from townsquare.features.giveaways.domain.entries import (
    entry_count,
    flush_entries,
    reload_entries,
)
from townsquare.features.giveaways.domain.models import (
    Giveaway,
    GiveawayPick,
    GiveawayState,
    PickOutcome,
)
from townsquare.features.giveaways.domain.render import (
    announcement_marker,
    announcement_text,
    giveaway_view,
    timestamp,
)
from townsquare.features.giveaways.tasks import notices
from townsquare.features.giveaways.tasks.discord_io import (
    claim_row,
    dm,
    member_check,
    nonce,
    post_marked,
    refresh_message,
    view_message,
)
from townsquare.tasks.idempotency import run_once
from townsquare.tasks.registry import REGISTRY

# Needed at run time: taskiq resolves the annotation to inject the worker's resources.
from townsquare.tasks.resources import TaskResources

__all__ = [
    "announce",
    "claimed",
    "end",
    "expire",
    "member_left",
    "message_deleted",
    "publish",
    "refresh",
    "reroll",
    "tick",
]

_Resources = typing.Annotated[TaskResources, TaskiqDepends()]
_log_events = structlog.get_logger(__name__)

COUNT_EDITS_PER_TICK: typing.Final = 50
STUCK_DRAW_SECONDS: typing.Final = 60
"""A draw older than this was left by a killed worker: the tick queues its end again."""
UNANNOUNCED_SECONDS: typing.Final = 30
KICK_SECONDS: typing.Final = {jobs.MEMBER_LEFT_TASK: 10}
"""How long the tick waits before queueing the same due work again (default 30 s); pending
winners are checked for having left the server every 10 s."""


async def _queue(resources: TaskResources, task: str, *args: typing.Any) -> None:
    maxlen = resources.settings.tasks.pipeline(jobs.PIPELINE).maxlen
    await jobs.enqueue(resources.redis, resources.keyspace, maxlen, task, *args)


async def _count(resources: TaskResources, giveaway: Giveaway) -> int:
    if giveaway.state is GiveawayState.RUNNING:
        return await entry_count(resources.redis, resources.keyspace, giveaway.id)
    return giveaway.entry_count


async def _refresh(resources: TaskResources, giveaway_id: int) -> None:
    giveaway = await Giveaway.get_or_none(id=giveaway_id)
    if giveaway is None:
        return
    rest = await resources.discord_rest()
    edited = await refresh_message(rest, giveaway, await _count(resources, giveaway))
    if edited == "forbidden" and giveaway.state is GiveawayState.RUNNING:
        await notices.channel_lost_alert(
            resources,
            giveaway,
            jobs.REFRESH_TASK,
            f"Giveaway #{giveaway.id} ({giveaway.prize}) can no longer update its message in "
            f"<#{giveaway.channel_id}>: I am missing View Channel there. It still ends on "
            "time; if I cannot post there by then, its winners are told by DM.",
        )


@REGISTRY.task(jobs.PIPELINE, jobs.PUBLISH_TASK)
async def publish(giveaway_id: int, resources: _Resources) -> None:
    """Post the giveaway message (once) and open the entries."""
    giveaway = await Giveaway.get_or_none(id=giveaway_id)
    if giveaway is None or giveaway.state is not GiveawayState.SCHEDULED:
        return
    rest = await resources.discord_rest()

    async def work() -> None:
        shown = await Giveaway.get(id=giveaway_id)
        shown.state = GiveawayState.RUNNING  # rendered as it will be once posted
        embed, rows = view_message(giveaway_view(shown, [], 0))
        await lifecycle.open_for_entries(resources.redis, resources.keyspace, giveaway, None)
        try:
            message = await post_marked(
                rest,
                giveaway.channel_id,
                f"Giveaway #{giveaway.id} ·",
                nonce=nonce(giveaway.id, "message"),
                embed=embed,
                components=rows,
            )
        except (hikari.ForbiddenError, hikari.NotFoundError) as error:
            await notices.cannot_post(resources, rest, giveaway, error)
            return
        if not await lifecycle.mark_published(
            resources.redis, resources.keyspace, giveaway, int(message.id)
        ):
            # Cancelled while we posted: take the message down again.
            with contextlib.suppress(hikari.NotFoundError):
                await rest.delete_message(giveaway.channel_id, message.id)

    # The API's job and the tick's can both be queued for a new giveaway: one posts at a time
    # (and the marker in the footer covers a worker killed between posting and recording).
    await run_once(
        resources.redis,
        resources.keyspace,
        jobs.PUBLISH_TASK,
        str(giveaway_id),
        work,
        ttl_seconds=600,
        lease_seconds=120,
    )


@REGISTRY.task(jobs.PIPELINE, jobs.END_TASK)
async def end(giveaway_id: int, resources: _Resources, force: bool = False) -> None:
    """End the giveaway if due (or forced), then announce what the draw committed."""
    giveaway = await Giveaway.get_or_none(id=giveaway_id)
    if giveaway is None:
        return
    rest = await resources.discord_rest()
    now = CLOCK.now()
    ended = await lifecycle.end_giveaway(
        resources.redis,
        resources.keyspace,
        giveaway_id,
        member_check(resources, rest, giveaway, now),
        now,
        force=force,
    )
    if ended is not None:
        _log_events.info("giveaway_drawn", giveaway_id=giveaway_id, state=str(ended.state))
    await _announce(resources, giveaway_id)


@REGISTRY.task(jobs.PIPELINE, jobs.EXPIRE_TASK)
async def expire(giveaway_id: int, resources: _Resources) -> None:
    """Reroll the winners whose claim window ran out (flow 4), then announce."""
    now = CLOCK.now()
    due = await GiveawayPick.filter(
        giveaway_id=giveaway_id, outcome=PickOutcome.PENDING, claim_deadline__lte=now
    )
    if due:
        await _replace(resources, giveaway_id, {p.position: PickOutcome.EXPIRED for p in due}, now)
    await _announce(resources, giveaway_id)


async def _replace(
    resources: TaskResources,
    giveaway_id: int,
    retire: dict[int, PickOutcome],
    now: datetime.datetime,
    expected_position: int | None = None,
) -> None:
    giveaway = await Giveaway.get(id=giveaway_id)
    rest = await resources.discord_rest()
    await lifecycle.replace_winners(
        giveaway_id,
        retire,
        member_check(resources, rest, giveaway, now),
        now,
        expected_position=expected_position,
    )


@REGISTRY.task(jobs.PIPELINE, jobs.REROLL_TASK)
async def reroll(
    giveaway_id: int, count: int, expected_position: int, resources: _Resources
) -> None:
    """A host's reroll of up to `count` winners who have not claimed (same rules as flow 4)."""
    pending = await GiveawayPick.filter(
        giveaway_id=giveaway_id, outcome=PickOutcome.PENDING
    ).order_by("slot")
    retire = {p.position: PickOutcome.REPLACED for p in pending[:count]}
    if retire:
        now = CLOCK.now()
        await _replace(resources, giveaway_id, retire, now, expected_position)
    await _announce(resources, giveaway_id)


@REGISTRY.task(jobs.PIPELINE, jobs.ANNOUNCE_TASK)
async def announce(giveaway_id: int, resources: _Resources) -> None:
    await _announce(resources, giveaway_id)


async def _announce(resources: TaskResources, giveaway_id: int) -> None:
    """Announce the winners not announced yet, in one message (never twice), and DM them."""
    giveaway = await Giveaway.get_or_none(id=giveaway_id)
    if giveaway is None or giveaway.state not in {GiveawayState.CLAIMING, GiveawayState.ENDED}:
        return
    picks = await GiveawayPick.filter(giveaway_id=giveaway_id).order_by("position")
    fresh = [p for p in picks if p.slot is not None and p.announced_at is None]
    rest = await resources.discord_rest()
    if not fresh:
        if not any(p.slot is not None for p in picks):
            await _announce_nobody(resources, rest, giveaway)
        await refresh_message(rest, giveaway, giveaway.entry_count)
        return
    first = fresh[0]
    earlier_slots = {p.slot for p in picks if p.slot is not None and p.position < first.position}
    to_announce = [p for p in fresh if p.outcome is PickOutcome.PENDING]

    async def work() -> None:
        in_channel = True
        if to_announce:
            try:
                await post_marked(
                    rest,
                    giveaway.channel_id,
                    announcement_marker(giveaway.id, first.position),
                    nonce=nonce(giveaway.id, "draw", first.position),
                    after=giveaway.message_id,
                    content=announcement_text(
                        giveaway, to_announce, reroll=any(p.slot in earlier_slots for p in fresh)
                    ),
                    components=[claim_row(giveaway.id)],
                    user_mentions=[p.user_id for p in to_announce],
                    role_mentions=False,
                    mentions_everyone=False,
                )
            except (hikari.ForbiddenError, hikari.NotFoundError) as error:
                # Lost the channel since the start: say so; the winners still get their DMs.
                in_channel = False
                await notices.cannot_announce(resources, rest, giveaway, first.position, error)
        now = CLOCK.now()
        await GiveawayPick.filter(id__in=[p.id for p in fresh]).update(announced_at=now)
        if in_channel and not (await notices.section(resources, giveaway)).dm_winners:
            return
        # A pick whose DM is recorded was told by an earlier attempt of this job.
        for pick in (p for p in to_announce if p.dm is None):
            deadline = timestamp(pick.claim_deadline) if pick.claim_deadline else "soon"
            status = await dm(
                rest,
                pick.user_id,
                content=(
                    f"🎉 You won **{giveaway.prize}** (giveaway #{giveaway.id})! "
                    f"Press **Claim** before {deadline}, or it goes to someone else."
                ),
                components=[claim_row(giveaway.id)],
                nonce=nonce(giveaway.id, "won", pick.position),
            )
            await GiveawayPick.filter(id=pick.id).update(dm=status)

    await run_once(
        resources.redis,
        resources.keyspace,
        jobs.ANNOUNCE_TASK,
        f"{giveaway.id}/{first.position}",
        work,
        lease_seconds=120,
    )
    await refresh_message(rest, giveaway, giveaway.entry_count)


async def _announce_nobody(
    resources: TaskResources, rest: hikari.api.RESTClient, giveaway: Giveaway
) -> None:
    async def work() -> None:
        await post_marked(
            rest,
            giveaway.channel_id,
            announcement_marker(giveaway.id, 0),
            nonce=nonce(giveaway.id, "nobody"),
            after=giveaway.message_id,
            content=(
                f"The giveaway for **{giveaway.prize}** ended without a winner: nobody "
                f"eligible entered.\n{announcement_marker(giveaway.id, 0)}"
            ),
            user_mentions=False,
            role_mentions=False,
            mentions_everyone=False,
        )

    await run_once(
        resources.redis, resources.keyspace, jobs.ANNOUNCE_TASK, f"{giveaway.id}/none", work
    )


@REGISTRY.task(jobs.PIPELINE, jobs.CLAIMED_TASK)
async def claimed(giveaway_id: int, position: int, resources: _Resources) -> None:
    """Tell the host about a claim (by DM) and update the embed."""
    giveaway = await Giveaway.get_or_none(id=giveaway_id)
    pick = await GiveawayPick.get_or_none(giveaway_id=giveaway_id, position=position)
    if giveaway is None or pick is None:
        return
    rest = await resources.discord_rest()

    async def work() -> None:
        text = (
            f"<@{pick.user_id}> claimed **{giveaway.prize}** "
            f"(giveaway #{giveaway.id}, winner {pick.slot})."
        )
        await dm(
            rest, giveaway.host_id, content=text, nonce=nonce(giveaway.id, "claimed", position)
        )
        await notices.log_line(
            resources, rest, giveaway, text, nonce(giveaway.id, "claimed", position, "log")
        )

    await run_once(
        resources.redis, resources.keyspace, jobs.CLAIMED_TASK, f"{giveaway_id}/{position}", work
    )
    await refresh_message(rest, giveaway, giveaway.entry_count)


@REGISTRY.task(jobs.PIPELINE, jobs.REFRESH_TASK)
async def refresh(giveaway_id: int, resources: _Resources) -> None:
    await _refresh(resources, giveaway_id)


@REGISTRY.task(jobs.PIPELINE, jobs.MEMBER_LEFT_TASK)
async def member_left(giveaway_id: int, resources: _Resources) -> None:
    """Pending winners who left the server are rerolled at once (the tick queues this)."""
    giveaway = await Giveaway.get_or_none(id=giveaway_id)
    if giveaway is None or giveaway.state is not GiveawayState.CLAIMING:
        return
    pending = await GiveawayPick.filter(giveaway_id=giveaway_id, outcome=PickOutcome.PENDING)
    rest = await resources.discord_rest()
    gone = {}
    for pick in pending:
        try:
            await rest.fetch_member(giveaway.guild_id, pick.user_id)
        except hikari.NotFoundError:
            gone[pick.position] = PickOutcome.LEFT
    if gone:
        await _replace(resources, giveaway_id, gone, CLOCK.now())
        await _announce(resources, giveaway_id)


@REGISTRY.task(jobs.PIPELINE, jobs.MESSAGE_DELETED_TASK)
async def message_deleted(channel_id: int, message_id: int, resources: _Resources) -> None:
    """A moderator deleted a running giveaway's message: cancel it and tell the host."""
    giveaway = await Giveaway.get_or_none(channel_id=channel_id, message_id=message_id)
    if giveaway is None:
        return
    reason = "its message was deleted"
    if await lifecycle.cancel(resources.redis, resources.keyspace, giveaway.id, reason) is None:
        return
    rest = await resources.discord_rest()
    await dm(
        rest,
        giveaway.host_id,
        nonce=nonce(giveaway.id, "deleted"),
        content=(
            f"Your giveaway #{giveaway.id} (**{giveaway.prize}**) was cancelled: its message "
            f"in <#{channel_id}> was deleted."
        ),
    )


@REGISTRY.task(jobs.PIPELINE, jobs.TICK_TASK)
async def tick(resources: _Resources) -> None:
    """The sweep: queue what is due, flush the entries, edit changed entry counts."""
    now = CLOCK.now()
    await flush_entries(resources.redis, resources.keyspace)
    stuck = now - datetime.timedelta(seconds=STUCK_DRAW_SECONDS)
    quiet = now - datetime.timedelta(seconds=UNANNOUNCED_SECONDS)
    starts = await Giveaway.filter(state=GiveawayState.SCHEDULED, starts_at__lte=now)
    ends = await Giveaway.filter(state=GiveawayState.RUNNING, ends_at__lte=now)
    stuck_draws = await Giveaway.filter(state=GiveawayState.DRAWING, updated_at__lte=stuck)
    expired = await GiveawayPick.filter(outcome=PickOutcome.PENDING, claim_deadline__lte=now)
    unannounced = await GiveawayPick.filter(
        slot__isnull=False, announced_at__isnull=True, created_at__lte=quiet
    )
    pending: dict[int, list[int]] = {}
    for pick in await GiveawayPick.filter(outcome=PickOutcome.PENDING):
        pending.setdefault(pick.giveaway_id, []).append(pick.position)
    due: list[tuple[str, int, str]] = [
        *((jobs.MEMBER_LEFT_TASK, g, f"members/{sorted(p)}") for g, p in pending.items()),
        *((jobs.PUBLISH_TASK, g.id, "start") for g in starts),
        *((jobs.END_TASK, g.id, "end") for g in [*ends, *stuck_draws]),
        *((jobs.EXPIRE_TASK, p.giveaway_id, f"expire/{p.position}") for p in expired),
        *((jobs.ANNOUNCE_TASK, g, "announce") for g in {p.giveaway_id for p in unannounced}),
    ]
    for task, giveaway_id, item in due:
        kick = resources.keyspace.key("giveaway_kick", task.split(".")[-1], f"{giveaway_id}/{item}")
        if await resources.redis.set(kick, 1, nx=True, ex=KICK_SECONDS.get(task, 30)):
            await _queue(resources, task, giveaway_id)
    await _edit_counts(resources)
    await _reopen_lost(resources)


async def _reopen_lost(resources: TaskResources) -> None:
    """Running giveaways whose Redis record is gone (a Redis loss): their flushed entries go
    back into Redis and they take clicks again."""
    running = await Giveaway.filter(state=GiveawayState.RUNNING, message_id__isnull=False)
    if not running:
        return
    async with resources.redis.pipeline(transaction=False) as pipe:
        for giveaway in running:
            pipe.exists(resources.keyspace.key("giveaway", giveaway.id))
        present = await pipe.execute()
    for giveaway, exists in zip(running, present, strict=True):
        if exists or giveaway.message_id is None:
            continue
        entries = await lifecycle.frozen_entries(giveaway.id)
        await reload_entries(resources.redis, resources.keyspace, giveaway.id, entries)
        await lifecycle.mark_published(
            resources.redis, resources.keyspace, giveaway, giveaway.message_id
        )
        _log_events.warning("giveaway_reopened_after_redis_loss", giveaway_id=giveaway.id)


async def _edit_counts(resources: TaskResources) -> None:
    """Edit the messages of giveaways whose entry count changed (each at most once a tick)."""
    left = COUNT_EDITS_PER_TICK
    for index_key in resources.keyspace.bucket_keys("giveaway_counts"):
        if left <= 0:
            break
        raw = await resources.redis.spop(index_key, left)
        members = typing.cast("list[bytes]", raw or [])
        left -= len(members)
        for member in members:
            await _refresh(resources, int(member))
