"""Installing declared schedules (`Feature.schedules`) into the schedule source."""

from __future__ import annotations

import typing

from taskiq import ScheduledTask

if typing.TYPE_CHECKING:
    from collections.abc import Iterable

    from townsquare.core.features import Feature, Schedule
    from townsquare.tasks.schedule_sources.json_list import JsonListScheduleSource

__all__ = [
    "MINUTE_KWARG_LABEL",
    "install_feature_schedules",
    "install_schedules",
    "scheduled_task",
]

MINUTE_KWARG_LABEL: typing.Final = "townsquare_minute_kwarg"
"""The schedule label naming `Schedule.minute_kwarg`; the scheduler fills that argument in
and does not pass the label on."""


def scheduled_task(schedule: Schedule) -> ScheduledTask:
    """The taskiq schedule of a declared one (JSON-safe: it is stored as JSON)."""
    labels = {} if schedule.minute_kwarg is None else {MINUTE_KWARG_LABEL: schedule.minute_kwarg}
    return ScheduledTask(
        task_name=schedule.task_name,
        labels=labels,
        args=[],
        kwargs={},
        cron=schedule.cron,
        interval=schedule.interval_seconds,
        schedule_id=schedule.schedule_id,
    )


async def install_schedules(source: JsonListScheduleSource, schedules: Iterable[Schedule]) -> None:
    """Add each schedule, replacing the one with its id: installing again adds no copies."""
    for schedule in schedules:
        task = scheduled_task(schedule)
        await source.delete_schedule(task.schedule_id)
        await source.add_schedule(task)


async def install_feature_schedules(
    source: JsonListScheduleSource, features: Iterable[Feature]
) -> None:
    """Install every schedule `features` declare (the scheduler does this when it starts)."""
    await install_schedules(source, [s for feature in features for s in feature.schedules])
