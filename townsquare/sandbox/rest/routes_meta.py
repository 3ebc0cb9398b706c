"""Gateway discovery, the current user and the current application."""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.rest.common import snowflake
from townsquare.sandbox.rest.errors import DiscordError, ErrorCode, json_response
from townsquare.sandbox.world import payloads

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
                "shards": max(1, -(-len(world.guilds) // 1000)),
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": _DAY_MS,
                    "max_concurrency": hub.settings.max_concurrency,
                },
            }
        )

    async def get_me(_: web.Request) -> web.Response:
        return json_response(payloads.own_user_payload(world.bot_user))

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
        web.get("/api/v10/users/{user_id}", get_user),
        web.get("/api/v10/oauth2/applications/@me", get_my_application),
    ]
