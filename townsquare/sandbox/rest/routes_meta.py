"""Gateway discovery, the current user (the bot, or a bearer token's user) and the application."""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.rest.common import PRINCIPAL, int_query, json_body, snowflake
from townsquare.sandbox.rest.errors import DiscordError, ErrorCode, form_error, json_response
from townsquare.sandbox.world import payloads
from townsquare.sandbox.world.permissions import guild_permissions

if typing.TYPE_CHECKING:
    from townsquare.sandbox.gateway import GatewayHub
    from townsquare.sandbox.world import World

__all__ = ["routes"]

_DAY_MS: typing.Final[int] = 86_400_000


def routes(world: World, hub: GatewayHub) -> list[web.RouteDef]:
    async def get_gateway(_: web.Request) -> web.Response:
        return json_response({"url": hub.gateway_url})

    async def get_gateway_bot(_: web.Request) -> web.Response:
        return json_response(
            {
                "url": hub.gateway_url,
                "shards": world.recommended_shards or max(1, -(-len(world.guilds) // 1000)),
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": _DAY_MS,
                    "max_concurrency": hub.settings.max_concurrency,
                },
            }
        )

    async def get_me(request: web.Request) -> web.Response:
        principal = request[PRINCIPAL]
        payload = payloads.own_user_payload(world.users[principal.user_id])
        if not principal.is_bot and "email" not in principal.scopes:
            del payload["email"], payload["verified"]  # as Discord: only with the email scope
        return json_response(payload)

    async def list_my_guilds(request: web.Request) -> web.Response:
        """`MyGuildResponse` for each guild the caller is in, by id, paged by before/after."""
        user_id = request[PRINCIPAL].user_id
        limit = int_query(request, "limit", 200, 1, 200)
        before = int_query(request, "before", 2**64, 0, 2**64)
        after = int_query(request, "after", 0, 0, 2**64)
        with_counts = request.query.get("with_counts", "").lower() == "true"
        mine = sorted(
            (g for g in world.guilds.values() if user_id in g.members and after < g.id < before),
            key=lambda g: g.id,
        )
        mine = mine[-limit:] if "before" in request.query else mine[:limit]
        body = []
        for guild in mine:
            entry: payloads.JSON = {
                "id": str(guild.id),
                "name": guild.name,
                "icon": None,
                "banner": None,
                "owner": guild.owner_id == user_id,
                "permissions": str(guild_permissions(guild, guild.members[user_id])),
                "features": [],
            }
            if with_counts:
                entry["approximate_member_count"] = len(guild.members)
                entry["approximate_presence_count"] = 0
            body.append(entry)
        return json_response(body)

    async def get_my_member(request: web.Request) -> web.Response:
        """The caller's member object in a guild (bearer `guilds.members.read`); 404 10004
        Unknown Guild when they are not in it."""
        user_id = request[PRINCIPAL].user_id
        guild = world.guilds.get(snowflake(request, "guild_id"))
        if guild is None or user_id not in guild.members:
            raise DiscordError.unknown(ErrorCode.UNKNOWN_GUILD, "Guild")
        return json_response(world.member_payload(guild.members[user_id]))

    async def open_dm(request: web.Request) -> web.Response:
        """`{"recipient_id"}`: the bot's DM channel with that user (the same one every time)."""
        body = await json_body(request)
        raw = body.get("recipient_id")
        if not isinstance(raw, (str, int)) or not str(raw).isdigit():
            raise form_error("recipient_id", "BASE_TYPE_REQUIRED", "This field is required")
        user = world.users.get(int(raw))
        if user is None:
            raise DiscordError.unknown(ErrorCode.UNKNOWN_USER, "User")
        return json_response(world.channel_payload(world.open_dm(user)))

    async def get_user(request: web.Request) -> web.Response:
        user = world.users.get(snowflake(request, "user_id"))
        if user is None:
            raise DiscordError.unknown(ErrorCode.UNKNOWN_USER, "User")
        return json_response(payloads.user_payload(user))

    async def get_my_application(_: web.Request) -> web.Response:
        application = world.application
        owner = world.users[application.owner_id]
        return json_response(payloads.application_payload(application, world.bot_user, owner))

    return [
        web.get("/api/v10/gateway", get_gateway),
        web.get("/api/v10/gateway/bot", get_gateway_bot),
        web.get("/api/v10/users/@me", get_me),
        web.get("/api/v10/users/@me/guilds", list_my_guilds),
        web.get("/api/v10/users/@me/guilds/{guild_id}/member", get_my_member),
        web.get("/api/v10/users/{user_id}", get_user),
        web.post("/api/v10/users/@me/channels", open_dm),
        web.get("/api/v10/oauth2/applications/@me", get_my_application),
    ]
