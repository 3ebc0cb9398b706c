"""What the giveaway tasks tell people when something goes wrong, or happens: the host's DMs,
the guild's giveaway log channel, and the guild's alerts (docs/alerts.md) when the bot cannot
post in a giveaway's channel, at the start or later."""

from __future__ import annotations

import typing

import hikari
import structlog

from townsquare.core.alerts import raise_alert
from townsquare.features.giveaways.domain import jobs, lifecycle
from townsquare.features.giveaways.domain.config import GiveawaysSection
from townsquare.features.giveaways.tasks.discord_io import dm, nonce

if typing.TYPE_CHECKING:
    from townsquare.features.giveaways.domain.models import Giveaway
    from townsquare.tasks.resources import TaskResources

__all__ = ["cannot_announce", "cannot_post", "channel_lost_alert", "log_line", "section"]

_log = structlog.get_logger(__name__)


async def section(resources: TaskResources, giveaway: Giveaway) -> GiveawaysSection:
    return (await resources.guild_config(giveaway.guild_id)).section(GiveawaysSection)


async def log_line(
    resources: TaskResources,
    rest: hikari.api.RESTClient,
    giveaway: Giveaway,
    text: str,
    message_nonce: str,
) -> None:
    """Post `text` in the guild's giveaway log channel, if it has one (never pinging)."""
    channel_id = (await section(resources, giveaway)).log_channel_id
    if channel_id is None:
        return
    try:
        await rest.create_message(
            channel_id,
            text,
            nonce=message_nonce,
            user_mentions=False,
            role_mentions=False,
            mentions_everyone=False,
        )
    except (hikari.ForbiddenError, hikari.NotFoundError):
        _log.warning("giveaway_log_channel_unusable", guild_id=giveaway.guild_id)


async def cannot_post(
    resources: TaskResources,
    rest: hikari.api.RESTClient,
    giveaway: Giveaway,
    error: hikari.HTTPError,
) -> None:
    why = (
        "the channel no longer exists"
        if isinstance(error, hikari.NotFoundError)
        else "I am missing View Channel, Send Messages or Embed Links there"
    )
    reason = f"I can't post in <#{giveaway.channel_id}>: {why}"
    if await lifecycle.cancel(resources.redis, resources.keyspace, giveaway.id, reason) is None:
        return
    text = f"Giveaway #{giveaway.id} (**{giveaway.prize}**) did not start: {reason}."
    await dm(rest, giveaway.host_id, content=text, nonce=nonce(giveaway.id, "unpostable"))
    await log_line(resources, rest, giveaway, text, nonce(giveaway.id, "unpostable", "log"))
    await raise_alert(
        resources.redis,
        resources.keyspace,
        source=jobs.PUBLISH_TASK,
        level="warning",
        message=f"giveaway {giveaway.id}: {reason}",
        guild_id=giveaway.guild_id,
    )


async def cannot_announce(
    resources: TaskResources,
    rest: hikari.api.RESTClient,
    giveaway: Giveaway,
    position: int,
    error: hikari.HTTPError,
) -> None:
    """The bot lost the giveaway's channel since the start (a permission removed, the channel
    deleted): the guild's admins get an alert (log channel, else the owner by DM), the host a
    DM; the caller DMs the winners their Claim button."""
    why = (
        "the channel no longer exists"
        if isinstance(error, hikari.NotFoundError)
        else "I am missing View Channel, Send Messages or Embed Links there"
    )
    text = (
        f"Giveaway #{giveaway.id} (**{giveaway.prize}**): I can no longer post in "
        f"<#{giveaway.channel_id}> ({why}), so its winners were told by DM only."
    )
    await dm(rest, giveaway.host_id, content=text, nonce=nonce(giveaway.id, "lost", position))
    await channel_lost_alert(
        resources,
        giveaway,
        jobs.ANNOUNCE_TASK,
        f"Giveaway #{giveaway.id} ({giveaway.prize}) could not announce its winners in "
        f"<#{giveaway.channel_id}>: {why}. Its winners were told by DM; give me back View "
        "Channel, Send Messages and Embed Links there for its next announcements.",
    )


async def channel_lost_alert(
    resources: TaskResources, giveaway: Giveaway, source: str, message: str
) -> None:
    """The guild's alert (its log channel, else the owner by DM; docs/alerts.md) that the bot
    lost the giveaway's channel: one condition per source and channel, so repeats (every
    entry-count edit, every reroll's announcement) are only counted."""
    await raise_alert(
        resources.redis,
        resources.keyspace,
        source=source,
        level="warning",
        message=message,
        guild_id=giveaway.guild_id,
        key=f"{source}/channel_lost/{giveaway.channel_id}",
    )
