"""Live alerts from Twitch, Kick and YouTube (docs/streams.md).

- `domain/`: feeds, creators and their one platform subscription each, streams and cards,
  the platform clients, webhook verification and parsing, polling;
- `commands.py`: `/alerts add|remove|list` (shards);
- `tasks.py`: stream events, cards, subscriptions, renewals, polls (workers, scheduler);
- `web/`: `/webhooks/<platform>`, `/api/v1` and `/internal/v1` feeds, the dashboard page.
"""

from __future__ import annotations

from townsquare.core.activity import LIVE_ALERTS, ActivitySource
from townsquare.core.features import Feature
from townsquare.features.streams.domain.config import UPGRADES, AlertsSection
from townsquare.features.streams.domain.jobs import STREAMS_SCHEDULES
from townsquare.features.streams.domain.keys import STREAMS_FAMILIES

__all__ = ["FEATURE"]

FEATURE = Feature(
    name="streams",
    # Live cards with embeds, pinging the feed's role even when it is not mentionable (hikari's
    # MENTION_ROLES is Discord's "Mention @everyone, @here, and All Roles").
    permissions=("VIEW_CHANNEL", "SEND_MESSAGES", "EMBED_LINKS", "MENTION_ROLES"),
    models=("townsquare.features.streams.domain.models",),
    key_families=STREAMS_FAMILIES,
    config_sections=(AlertsSection,),
    config_upgrades=UPGRADES,
    pipelines=("jobs",),
    schedules=STREAMS_SCHEDULES,
    commands="townsquare.features.streams.commands",
    tasks="townsquare.features.streams.tasks",
    web="townsquare.features.streams.web",
    console="townsquare.features.streams.console",
    usage="townsquare.features.streams.usage",
    needs="townsquare.features.streams.needs",
    activity_sources=(
        ActivitySource(
            LIVE_ALERTS,
            "SELECT f.guild_id, date_trunc('hour', c.created_at, 'UTC') AS hour, count(*) AS n "
            "FROM streams_cards c JOIN streams_feeds f ON f.id = c.feed_id "
            "WHERE c.created_at >= $1 AND c.created_at < $2 GROUP BY 1, 2",
        ),
    ),
)
