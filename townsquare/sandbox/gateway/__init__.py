"""The sandbox gateway: a zlib-stream websocket speaking Discord's v10 protocol."""

from __future__ import annotations

from townsquare.sandbox.gateway.endpoint import GATEWAY_PATH, gateway_routes
from townsquare.sandbox.gateway.hub import GatewayHub, GatewaySettings

__all__ = ["GATEWAY_PATH", "GatewayHub", "GatewaySettings", "gateway_routes"]
