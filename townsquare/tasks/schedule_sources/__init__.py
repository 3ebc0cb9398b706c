"""Schedule sources of the scheduler, and installing the features' schedules into them."""

from __future__ import annotations

from townsquare.tasks.schedule_sources.install import install_feature_schedules, install_schedules
from townsquare.tasks.schedule_sources.json_list import (
    JsonListScheduleSource,
    make_schedule_source,
)

__all__ = [
    "JsonListScheduleSource",
    "install_feature_schedules",
    "install_schedules",
    "make_schedule_source",
]
