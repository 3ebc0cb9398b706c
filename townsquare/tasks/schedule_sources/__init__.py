"""Schedule sources of the scheduler, and installing the features' schedules into them."""

from __future__ import annotations

from townsquare.tasks.schedule_sources.install import (
    MINUTE_KWARG_LABEL,
    install_feature_schedules,
    install_schedules,
    scheduled_task,
)
from townsquare.tasks.schedule_sources.json_list import (
    JsonListScheduleSource,
    make_schedule_source,
)

__all__ = [
    "MINUTE_KWARG_LABEL",
    "JsonListScheduleSource",
    "install_feature_schedules",
    "install_schedules",
    "make_schedule_source",
    "scheduled_task",
]
