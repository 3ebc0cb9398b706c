"""Schedule sources of the scheduler."""

from __future__ import annotations

from townsquare.tasks.schedule_sources.json_list import (
    JsonListScheduleSource,
    make_schedule_source,
)

__all__ = ["JsonListScheduleSource", "make_schedule_source"]
