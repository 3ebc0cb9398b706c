"""Live alerts' configuration section, `alerts` (defaults: `guild_defaults` in settings.yaml).

The feeds themselves are rows (`domain/models.py`); this section is the server's switch and
the defaults a new feed starts with. Schema version 3 added `enabled`, `template` and
`announce_uploads` (:data:`UPGRADES`); `channel_id` and `mention_role_id` became the defaults
of new feeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Final

from pydantic import Field

from townsquare.core.config.schemas import ConfigSection, Names, on_off
from townsquare.core.validation import Snowflake, Text

if TYPE_CHECKING:
    from townsquare.core.config.schemas import Upgrade

__all__ = ["DEFAULT_TEMPLATE", "UPGRADES", "AlertsSection"]

DEFAULT_TEMPLATE: Final = "{role} **{creator}** is live on {platform}: {title}"


class AlertsSection(ConfigSection):
    """Live alerts for Twitch, Kick and YouTube."""

    key = "alerts"

    enabled: bool
    """Post live alert cards in this server at all (feeds are kept while off)."""
    channel_id: Annotated[Snowflake | None, Names("text_channel")]
    """The channel of a new feed when `/alerts add` names none."""
    mention_role_id: Annotated[Snowflake | None, Names("role")]
    """The role a new feed pings when `/alerts add` names none; none when unset."""
    template: Annotated[Text, Field(min_length=1, max_length=500)]
    """A new feed's card text: `{role}`, `{creator}`, `{platform}`, `{title}`, `{category}`
    and `{url}` are replaced; only the feed's role is ever pinged."""
    announce_uploads: bool
    """New YouTube feeds also announce uploads, not only live streams."""

    def summary(self) -> list[tuple[str, str]]:
        return [("Live alerts", on_off(self.enabled))]


def _from_version_2(document: dict[str, Any]) -> dict[str, Any]:
    """Version 3 added the switch, the default text and the uploads default; the channel and
    role of version 2 stay, as the defaults of new feeds."""
    if not isinstance(document.get("alerts"), dict):
        return document  # written without live alerts: the section starts from the defaults
    old = dict(document["alerts"])
    alerts = {
        "enabled": True,
        "channel_id": old.get("channel_id"),
        "mention_role_id": old.get("mention_role_id"),
        "template": DEFAULT_TEMPLATE,
        "announce_uploads": False,
    } | {
        key: value
        for key, value in old.items()
        if key in {"enabled", "template", "announce_uploads"}
    }
    return {**document, "alerts": alerts}


UPGRADES: Final[dict[int, Upgrade]] = {2: _from_version_2}
"""The section's steps from each older schema version to the next."""
