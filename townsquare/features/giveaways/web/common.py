"""What the internal API and the dashboard share: creating a giveaway (with the premium
limits), queueing its jobs."""

from __future__ import annotations

import typing

from townsquare.features.giveaways.domain import jobs
from townsquare.features.giveaways.domain.clock import CLOCK
from townsquare.features.giveaways.domain.config import GiveawaysSection
from townsquare.features.giveaways.domain.limits import active_count, asks
from townsquare.features.giveaways.domain.service import create_giveaway
from townsquare.http.config_changes import read_config
from townsquare.http.errors import APIError
from townsquare.http.premium import require_premium
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from townsquare.features.giveaways.domain.models import Giveaway
    from townsquare.features.giveaways.domain.service import GiveawaySpec

__all__ = ["create", "queue"]


async def queue(task: str, *args: typing.Any, **kwargs: typing.Any) -> None:
    app_state = state()
    maxlen = app_state.settings.tasks.pipeline(jobs.PIPELINE).maxlen
    await jobs.enqueue(app_state.require_redis(), app_state.keyspace, maxlen, task, *args, **kwargs)


async def create(guild_id: int, spec: GiveawaySpec) -> Giveaway:
    """Check the limits, create the giveaway, queue its posting if it starts now."""
    config = (await read_config(guild_id)).config
    now = CLOCK.now()
    for ask in asks(spec, await active_count(guild_id)):
        await require_premium(guild_id, ask.limit, usage=ask.usage, adding=ask.adding)
    try:
        giveaway = await create_giveaway(guild_id, spec, config.section(GiveawaysSection), now)
    except ValueError as error:
        raise APIError(409, "invalid_giveaway", f"The giveaway cannot start: {error}.") from None
    if giveaway.starts_at <= now:
        await queue(jobs.PUBLISH_TASK, giveaway.id)
    return giveaway
