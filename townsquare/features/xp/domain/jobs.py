"""The XP feature's work on the pipelines: task names, the shards' route, the schedules.

Task names are part of the wire format (they travel in every queued message and in dead
letters), so renaming one strands messages already queued under the old name. The tasks
themselves are in `townsquare.features.xp.tasks`.
"""

from __future__ import annotations

import typing

from townsquare.core.events.routes import Route
from townsquare.core.features import Schedule

__all__ = [
    "APPLY_LEVEL_TASK",
    "FLUSH_INTERVAL_SECONDS",
    "FLUSH_TASK",
    "PROCESS_BATCH_TASK",
    "VOICE_TICK_TASK",
    "XP_PIPELINE",
    "XP_ROUTE",
    "xp_schedules",
]

XP_PIPELINE: typing.Final = "xp"
"""The feature's own pipeline (its settings: `tasks.xp`); its jobs run on the kernel's."""

PROCESS_BATCH_TASK: typing.Final = "xp.process_batch"
APPLY_LEVEL_TASK: typing.Final = "xp.apply_level"
"""The job that sets reward roles and sends the notice."""
VOICE_TICK_TASK: typing.Final = "xp.voice_tick"
FLUSH_TASK: typing.Final = "xp.flush"
FLUSH_INTERVAL_SECONDS: typing.Final = 10
"""How often the scheduler fires `xp.flush`: PostgreSQL lags Redis by at most about this."""

XP_ROUTE: typing.Final = Route(
    XP_PIPELINE, PROCESS_BATCH_TASK, frozenset({"message", "voice", "guild"})
)
"""Every message, voice state and guild record, without message text."""


def xp_schedules(flush_interval_seconds: int = FLUSH_INTERVAL_SECONDS) -> tuple[Schedule, ...]:
    """The voice tick (every minute, told the minute it fired in) and the flush (every
    `flush_interval_seconds`)."""
    return (
        Schedule("xp-voice-tick", VOICE_TICK_TASK, cron="* * * * *", minute_kwarg="minute"),
        Schedule("xp-flush", FLUSH_TASK, interval_seconds=flush_interval_seconds),
    )
