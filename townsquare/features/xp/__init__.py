"""XP and levels: message and voice XP, level curves, rewards, notices, ranks (docs/xp.md).

- `domain/`: the rules and their Redis scripts, models, key families, level rewards;
- `commands/`: `/rank`, `/leaderboard`, the `/xp` admin group (shards);
- `tasks.py`: message batches, voice ticks, level jobs, the flush (workers, scheduler);
- `web/`: the XP and levels dashboard pages, `/api/v1` level rewards, `/internal/v1` and
  `/public/v1` XP routes;
- `cli.py`: `townsquare xp import-mee6`.
"""

from __future__ import annotations

from townsquare.core.activity import ACTIVE_MEMBERS, MESSAGES, XP_AWARDED
from townsquare.core.features import KERNEL_PIPELINE, Feature
from townsquare.features.xp.domain.config import UPGRADES, LevelsSection, XPSection
from townsquare.features.xp.domain.jobs import XP_PIPELINE, XP_ROUTE, xp_schedules
from townsquare.features.xp.domain.keys import XP_FAMILIES

__all__ = ["FEATURE"]

FEATURE = Feature(
    name="xp",
    # Level-up notices in a channel; reward roles given and taken.
    permissions=("VIEW_CHANNEL", "SEND_MESSAGES", "MANAGE_ROLES"),
    models=("townsquare.features.xp.domain.models",),
    key_families=XP_FAMILIES,
    config_sections=(XPSection, LevelsSection),
    config_upgrades=UPGRADES,
    pipelines=(XP_PIPELINE, KERNEL_PIPELINE),
    routes=(XP_ROUTE,),
    schedules=xp_schedules(),
    commands="townsquare.features.xp.commands",
    tasks="townsquare.features.xp.tasks",
    web="townsquare.features.xp.web",
    cli="townsquare.features.xp.cli",
    usage="townsquare.features.xp.usage",
    needs="townsquare.features.xp.needs",
    # Counted by the award script itself (domain/award.py), each message once.
    activity_metrics=(MESSAGES, ACTIVE_MEMBERS, XP_AWARDED),
)
