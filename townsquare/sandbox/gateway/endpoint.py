"""The HTTP endpoint that upgrades to a gateway websocket."""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.gateway.compression import encoder_for
from townsquare.sandbox.gateway.connection import GatewayConnection

if typing.TYPE_CHECKING:
    from townsquare.sandbox.gateway.hub import GatewayHub

__all__ = ["GATEWAY_PATH", "gateway_routes"]

GATEWAY_PATH: typing.Final[str] = "/gateway"


def gateway_routes(hub: GatewayHub) -> list[web.RouteDef]:
    async def connect(request: web.Request) -> web.StreamResponse:
        query = request.query
        if query.get("v", "10") != "10":
            raise web.HTTPBadRequest(text="the sandbox gateway speaks v=10 only")
        if query.get("encoding", "json") != "json":
            raise web.HTTPBadRequest(text="the sandbox gateway speaks encoding=json only")
        try:
            encoder = encoder_for(query.get("compress"))
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        ws = web.WebSocketResponse(max_msg_size=4096 * 1024, autoping=True)
        await ws.prepare(request)
        await GatewayConnection(hub, request, ws, encoder, hub.gateway_url).run()
        return ws

    return [web.get(GATEWAY_PATH, connect)]
