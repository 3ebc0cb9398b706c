"""What the scheduler process runs, standalone (`townsquare scheduler`) or in one process
(`townsquare up --single-process`): the schedules installed, then the scheduled backups and
the scheduler itself until `stop`."""

from __future__ import annotations

import asyncio
import typing

from townsquare.core.features import enabled_features
from townsquare.tasks.alert_delivery import kernel_schedules
from townsquare.tasks.backups import run_scheduled_backups
from townsquare.tasks.schedule_sources import (
    install_feature_schedules,
    install_schedules,
    make_schedule_source,
)
from townsquare.tasks.scheduler import run_scheduler

if typing.TYPE_CHECKING:
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings

__all__ = ["run_scheduler_process"]


async def run_scheduler_process(
    settings: Settings,
    redis_url: str,
    database_url: str,
    keyspace: Keyspace,
    *,
    stop: asyncio.Event,
    metrics_port: int | None = None,
) -> None:
    # The features' recurring work and the kernel's; fixed ids, so installing again replaces it.
    source = await make_schedule_source(redis_url, keyspace)
    try:
        await install_feature_schedules(source, enabled_features())
        await install_schedules(source, kernel_schedules(settings))
    finally:
        await source.shutdown()
    async with asyncio.TaskGroup() as group:  # `backups.*`: scheduled backups
        group.create_task(
            run_scheduled_backups(settings, redis_url, database_url, keyspace, stop=stop)
        )
        await run_scheduler(settings, redis_url, keyspace, shutdown=stop, metrics_port=metrics_port)
