"""Giveaways: entry requirements, a claim window, automatic rerolls (docs/giveaways.md).

- `domain/`: models, the Redis entry store, the verifiable draw, the state machine, the
  `giveaways` configuration section;
- `commands/`: `/giveaway start|end|cancel|reroll|list` and the buttons (shards);
- `tasks/`: publishing, ending, claims, rerolls, the tick (workers, scheduler);
- `web/`: the internal API the commands use, the dashboard pages;
- `cli.py`: `townsquare giveaways verify ID`.
"""

from __future__ import annotations

from townsquare.core.activity import GIVEAWAY_ENTRIES, ActivitySource
from townsquare.core.features import Feature
from townsquare.features.giveaways.domain.config import UPGRADES, GiveawaysSection
from townsquare.features.giveaways.domain.jobs import PIPELINE, giveaway_schedules
from townsquare.features.giveaways.domain.keys import GIVEAWAY_FAMILIES

__all__ = ["FEATURE"]

FEATURE = Feature(
    name="giveaways",
    # Giveaway cards posted, edited and read back; the log channel.
    permissions=("VIEW_CHANNEL", "SEND_MESSAGES", "EMBED_LINKS", "READ_MESSAGE_HISTORY"),
    models=("townsquare.features.giveaways.domain.models",),
    key_families=GIVEAWAY_FAMILIES,
    config_sections=(GiveawaysSection,),
    config_upgrades=UPGRADES,
    pipelines=(PIPELINE,),
    schedules=giveaway_schedules(),
    commands="townsquare.features.giveaways.commands",
    tasks="townsquare.features.giveaways.tasks",
    web="townsquare.features.giveaways.web",
    cli="townsquare.features.giveaways.cli",
    usage="townsquare.features.giveaways.usage",
    needs="townsquare.features.giveaways.needs",
    activity_sources=(
        ActivitySource(
            GIVEAWAY_ENTRIES,
            "SELECT g.guild_id, date_trunc('hour', e.entered_at, 'UTC') AS hour, count(*) AS n "
            "FROM giveaway_entries e JOIN giveaways g ON g.id = e.giveaway_id "
            "WHERE e.entered_at >= $1 AND e.entered_at < $2 GROUP BY 1, 2",
        ),
    ),
)
