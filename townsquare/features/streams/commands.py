"""`/alerts add|remove|list`: a server's live alerts, for its managers.

Managers are members with Manage Server (or Administrator) and members with one of the
guild's configured manager roles, as for `/xp`. Each command asks the HTTP service's
internal API (routes in `townsquare.features.streams.web.internal`), which looks the creator
up on the platform, checks the channel, the role and the server's premium limit, and queues
the platform subscription. Answers are ephemeral.
"""

from __future__ import annotations

import typing

import arc
import hikari

from townsquare.features.streams.domain.cards import PLATFORM_NAMES
from townsquare.features.streams.domain.config import AlertsSection
from townsquare.features.streams.domain.feeds import FEEDS_LIMIT, FeedOut
from townsquare.features.streams.domain.models import Platform
from townsquare.shards.api_client import APIRefusedError
from townsquare.shards.commands.services import (
    INJECTED,
    CommandServices,
    Refusal,
    Reply,
    answer,
    refused_reason,
)

__all__ = ["PLUGINS", "feeds_embed", "plugin"]

plugin = arc.GatewayPlugin("streams")

alerts = plugin.include_slash_group(
    "alerts", "Live alerts from Twitch, Kick and YouTube (needs Manage Server or a manager role)."
)

_SHOWN_CODES: typing.Final = frozenset(
    {
        "invalid_creator",
        "unknown_creator",
        "feed_exists",
        "feed_not_found",
        "limit_reached",
        "platform_off",
        "invalid_body",
    }
)
"""Refusals whose message is written for the invoker."""


def _refusal(refused: APIRefusedError) -> Refusal:
    error = refused.body.get("error")
    if isinstance(error, dict) and error.get("code") in _SHOWN_CODES:
        fields = error.get("fields") or {}
        details = "; ".join(m for messages in fields.values() for m in messages)
        message = str(error.get("message") or "")
        return Refusal(f"{message}: {details}" if details and details not in message else message)
    return Refusal(refused_reason(refused))


def _actor(ctx: arc.GatewayContext) -> dict[str, typing.Any]:
    return {"actor_id": int(ctx.user.id), "actor_name": ctx.user.username}


def feeds_embed(feeds: list[FeedOut]) -> hikari.Embed:
    """The server's feeds, one line each, with their health."""
    embed = hikari.Embed(title="Live alerts", colour=hikari.Color(0x9146FF))
    if not feeds:
        embed.description = "No feeds yet: add one with `/alerts add`."
        return embed
    lines = []
    for feed in feeds:
        health = "ok" if feed.healthy else f"⚠ {feed.last_error or feed.subscription.value}"
        ping = f" · pings <@&{feed.role_id}>" if feed.role_id else ""
        ping += f" · {feed.person}'s card" if feed.person else ""
        lines.append(
            f"`{feed.id}` {PLATFORM_NAMES[feed.platform]} **{feed.creator_name}** → "
            f"<#{feed.channel_id}>{ping} · {feed.subscription.value} · {health}"
        )
    embed.description = "\n".join(lines)[:4096]
    return embed


@alerts.include
@arc.slash_subcommand("add", "Announce a creator's live streams in a channel.")
async def alerts_add(  # noqa: PLR0917 - one parameter per slash option
    ctx: arc.GatewayContext,
    platform: typing.Annotated[
        str, arc.StrParams("The platform.", choices={n: p.value for p, n in PLATFORM_NAMES.items()})
    ],
    creator: typing.Annotated[
        str,
        arc.StrParams(
            "Twitch login, Kick channel, YouTube channel id or @handle (or a link).",
            max_length=100,
        ),
    ],
    channel: typing.Annotated[
        hikari.TextableGuildChannel | None,
        arc.ChannelParams("Where the alerts are posted (default: the server's alerts channel)."),
    ] = None,
    role: typing.Annotated[
        hikari.Role | None,
        arc.RoleParams("The role pinged by each alert, and only it (default: the server's)."),
    ] = None,
    uploads: typing.Annotated[
        bool | None, arc.BoolParams("YouTube: also announce new uploads.")
    ] = None,
    person: typing.Annotated[
        str | None,
        arc.StrParams(
            "Who the creator is: one person's feeds in a channel share one card.",
            max_length=100,
        ),
    ] = None,
    services: CommandServices = INJECTED,
) -> None:
    async def work() -> Reply:
        guild_id, config = await services.managed_guild(ctx, "change live alerts")
        defaults = config.section(AlertsSection)
        channel_id = int(channel.id) if channel is not None else defaults.channel_id
        if channel_id is None:
            raise Refusal(
                "Name the channel the alerts go to (this server has no default alerts channel)."
            )
        listing = await services.client().request("GET", f"/guilds/{guild_id}/stream-feeds")
        await services.require(guild_id, FEEDS_LIMIT, usage=len(listing["feeds"]))
        body: dict[str, typing.Any] = {
            "platform": Platform(platform).value,
            "creator": creator,
            "channel_id": channel_id,
            "role_id": int(role.id) if role is not None else defaults.mention_role_id,
            **_actor(ctx),
        }
        if uploads is not None:
            body["announce_uploads"] = uploads
        if person:
            body["person"] = person
        try:
            added = FeedOut.model_validate(
                await services.client().request(
                    "POST", f"/guilds/{guild_id}/stream-feeds", json=body
                )
            )
        except APIRefusedError as refused:
            raise _refusal(refused) from None
        ping = f", pinging <@&{added.role_id}>" if added.role_id else ""
        return Reply(
            content=(
                f"Added feed `{added.id}`: {PLATFORM_NAMES[added.platform]} "
                f"**{added.creator_name}** goes to <#{added.channel_id}>{ping}."
            ),
            ephemeral=True,
        )

    await answer(ctx, work(), defer_after=services.defer_after_seconds)


@alerts.include
@arc.slash_subcommand("remove", "Stop a feed (its id is in /alerts list).")
async def alerts_remove(
    ctx: arc.GatewayContext,
    feed: typing.Annotated[int, arc.IntParams("The feed's id.", min=1)],
    services: CommandServices = INJECTED,
) -> None:
    async def work() -> Reply:
        guild_id, _ = await services.managed_guild(ctx, "change live alerts")
        try:
            await services.client().request(
                "POST", f"/guilds/{guild_id}/stream-feeds/{feed}/remove", json=_actor(ctx)
            )
        except APIRefusedError as refused:
            raise _refusal(refused) from None
        return Reply(content=f"Removed feed `{feed}`.", ephemeral=True)

    await answer(ctx, work(), defer_after=services.defer_after_seconds)


@alerts.include
@arc.slash_subcommand("list", "This server's live alert feeds and their health.")
async def alerts_list(ctx: arc.GatewayContext, services: CommandServices = INJECTED) -> None:
    async def work() -> Reply:
        guild_id, _ = await services.managed_guild(ctx, "see live alerts")
        body = await services.client().request("GET", f"/guilds/{guild_id}/stream-feeds")
        feeds = [FeedOut.model_validate(item) for item in body["feeds"]]
        return Reply(embed=feeds_embed(feeds), ephemeral=True)

    await answer(ctx, work(), defer_after=services.defer_after_seconds)


PLUGINS: typing.Final = (plugin,)
