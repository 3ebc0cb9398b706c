"""Control routes for entitlements: a member subscribes, renews or cancels, or is refunded."""

from __future__ import annotations

import datetime
import typing

from aiohttp import web

from townsquare.sandbox.control.common import ControlError, read_json, snowflake
from townsquare.sandbox.rest.errors import json_response
from townsquare.sandbox.world import entitlements as ledger

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Entitlement

__all__ = ["routes"]

_KINDS: typing.Final = frozenset({1, 8})
"""Purchase (one-time, consumable) and application subscription."""


def routes(prefix: str, world: World) -> list[web.RouteDef]:
    def find(request: web.Request) -> Entitlement:
        raw = request.match_info["entitlement_id"]
        found = world.entitlements.get(int(raw)) if raw.isdigit() else None
        if found is None:
            raise ControlError(404, f"no entitlement {raw}")
        return found

    async def grant(request: web.Request) -> web.Response:
        """`{"user_id", "guild_id"?, "type"? (8), "ends_at"?}`: the user buys the
        application's SKU, for themselves or (with `guild_id`) for a guild."""
        body = await read_json(request)
        user_id = snowflake(body, "user_id")
        if user_id not in world.users:
            raise ControlError(404, f"no user {user_id}")
        guild_id = snowflake(body, "guild_id") if body.get("guild_id") is not None else None
        if guild_id is not None and guild_id not in world.guilds:
            raise ControlError(404, f"no guild {guild_id}")
        kind = body.get("type", 8)
        if kind not in _KINDS or isinstance(kind, bool):
            raise ControlError(400, "type must be 8 (subscription) or 1 (one-time purchase)")
        entitlement = ledger.grant_entitlement(
            world,
            user_id=user_id,
            guild_id=guild_id,
            sku_id=world.application.sku_id,
            kind=kind,
            ends_at=_moment(body.get("ends_at")),
        )
        return json_response(ledger.entitlement_payload(world, entitlement))

    async def change(request: web.Request) -> web.Response:
        """`{"ends_at"}`: the subscription renews or is cancelled (emits ENTITLEMENT_UPDATE)."""
        entitlement = find(request)
        ends_at = _moment((await read_json(request)).get("ends_at"))
        if ends_at is None:
            raise ControlError(400, "ends_at must be an ISO 8601 time")
        ledger.update_entitlement(world, entitlement, ends_at=ends_at)
        return json_response(ledger.entitlement_payload(world, entitlement))

    async def refund(request: web.Request) -> web.Response:
        entitlement = find(request)
        ledger.delete_entitlement(world, entitlement)
        return json_response(ledger.entitlement_payload(world, entitlement))

    return [
        web.post(prefix + "/entitlements", grant),
        web.patch(prefix + "/entitlements/{entitlement_id}", change),
        web.delete(prefix + "/entitlements/{entitlement_id}", refund),
    ]


def _moment(value: typing.Any) -> datetime.datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise ControlError(400, "ends_at must be an ISO 8601 time")
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
