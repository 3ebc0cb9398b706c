"""The REST API under /api/v10: authentication, rate limits, errors and the call log."""

from __future__ import annotations

import dataclasses
import json
import time
import typing

from aiohttp import web

from townsquare.sandbox.rest import (
    routes_audit,
    routes_channel_webhooks,
    routes_channels,
    routes_commands,
    routes_entitlements,
    routes_guild_settings,
    routes_guilds,
    routes_interactions,
    routes_members,
    routes_meta,
    routes_oauth,
    routes_roles,
    routes_webhooks,
)
from townsquare.sandbox.rest.common import PRINCIPAL, Principal
from townsquare.sandbox.rest.errors import DiscordError, ErrorCode, json_response
from townsquare.sandbox.rest.ratelimits import RateLimiter, RateLimitSettings

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from townsquare.sandbox.control.faults import RestFaults
    from townsquare.sandbox.gateway import GatewayHub
    from townsquare.sandbox.oauth import OAuthStore

__all__ = ["API_PREFIX", "RestApi", "RestCall"]

API_PREFIX: typing.Final[str] = "/api/v10"

_BEARER_SCOPES: typing.Final[dict[str, str]] = {
    API_PREFIX + "/users/@me": "identify",
    API_PREFIX + "/users/@me/guilds": "guilds",
    API_PREFIX + "/users/@me/guilds/{guild_id}/member": "guilds.members.read",
    API_PREFIX + "/oauth2/@me": "",
}
"""Routes that also accept `Authorization: Bearer`, and the scope each needs ("": any)."""

_Handler = typing.Callable[[web.Request], typing.Awaitable[web.StreamResponse]]


@dataclasses.dataclass(frozen=True, slots=True)
class RestCall:
    """One request the bot made, as the control API reports it."""

    method: str
    path: str
    route: str
    status: int
    body: typing.Any
    at: float
    fault: int | None = None
    """The id of the fault rule (`/_sandbox/faults/rest`) that delayed or answered it."""

    def as_json(self) -> dict[str, typing.Any]:
        return dataclasses.asdict(self)


class RestApi:
    """Builds the REST routes and the middleware that wraps them."""

    def __init__(
        self,
        hub: GatewayHub,
        rate_limits: RateLimitSettings,
        oauth: OAuthStore,
        faults: RestFaults | None = None,
    ) -> None:
        self.hub = hub
        self.oauth = oauth
        self.faults = faults
        """Injected slow answers, 429s and 5xx (`control/faults.py`); None: none ever."""
        self.calls: list[RestCall] = []
        self._limiter = RateLimiter(rate_limits)

    def routes(self) -> list[web.RouteDef]:
        world = self.hub.world
        return [
            *routes_meta.routes(world, self.hub),
            *routes_channels.routes(world),
            *routes_audit.routes(world),
            *routes_channel_webhooks.routes(world),
            *routes_guilds.routes(world),
            *routes_guild_settings.routes(world),
            *routes_members.routes(world),
            *routes_roles.routes(world),
            *routes_commands.routes(world),
            *routes_entitlements.routes(world),
            *routes_webhooks.routes(world),
            *routes_interactions.routes(world),
            *routes_oauth.routes(world, self.oauth),
        ]

    @web.middleware
    async def middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX + "/"):
            return await handler(request)
        route = _route_template(request)
        fault = self.faults.pick(request.method, request.path, route) if self.faults else None
        if fault is not None:
            await fault.wait()
            if fault.status is not None and fault.when == "before":
                return await self._record(request, route, fault.response(), fault.id)
        headers: dict[str, str] = {}
        response: web.StreamResponse
        try:
            caller = "bot"
            # The interaction callback and webhooks authenticate by their token in the URL; the
            # OAuth2 token endpoint by the client's credentials.
            if route not in {
                routes_interactions.CALLBACK_ROUTE,
                routes_oauth.TOKEN_ROUTE,
                routes_oauth.REVOKE_ROUTE,
            } and not route.startswith(routes_webhooks.WEBHOOK_PREFIX):
                principal = self._authenticate(request, route)
                request[PRINCIPAL] = principal
                caller = "bot" if principal.is_bot else f"user:{principal.user_id}"
            verdict = self._limiter.check(request.method, route, request.match_info, caller)
            headers = verdict.headers
            if not verdict.allowed:
                response = json_response(
                    {
                        "message": "You are being rate limited.",
                        "retry_after": round(verdict.retry_after, 3),
                        "global": verdict.is_global,
                        "code": 0,
                    },
                    429,
                )
            else:
                response = await _call(handler, request)
        except DiscordError as error:
            response = json_response(error.body(), error.status)
        response.headers.update(headers)
        if fault is not None and fault.status is not None:  # carried out, the answer lost
            response = fault.response()
        return await self._record(request, route, response, fault.id if fault else None)

    async def _record(
        self, request: web.Request, route: str, response: web.StreamResponse, fault: int | None
    ) -> web.StreamResponse:
        self.calls.append(
            RestCall(
                request.method,
                request.path,
                route,
                response.status,
                await _body(request),
                time.time(),
                fault,
            )
        )
        return response

    def _authenticate(self, request: web.Request, route: str) -> Principal:
        """The bot for its token; a user for a live bearer token on a route that takes one."""
        application = self.hub.world.application
        authorization = request.headers.get("Authorization", "")
        if authorization == f"Bot {application.bot_token}":
            return Principal(application.bot_user_id, is_bot=True)
        scope = _BEARER_SCOPES.get(route)
        if scope is not None and authorization.startswith("Bearer "):
            token = self.oauth.bearer(authorization.removeprefix("Bearer "))
            if token is not None and (not scope or scope in token.scopes):
                return Principal(
                    token.user_id,
                    is_bot=False,
                    scopes=frozenset(token.scopes),
                    access_token=token.access_token,
                )
        raise DiscordError(401, ErrorCode.GENERAL, "401: Unauthorized")


async def _call(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]], request: web.Request
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPNotFound:
        raise DiscordError(404, ErrorCode.GENERAL, "404: Not Found") from None
    except web.HTTPMethodNotAllowed:
        raise DiscordError(405, ErrorCode.GENERAL, "405: Method Not Allowed") from None


def _route_template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else request.path


async def _body(request: web.Request) -> typing.Any:
    if not request.body_exists or request.content_type != "application/json":
        return None
    try:
        return json.loads(await request.read())
    except ValueError:
        return None
