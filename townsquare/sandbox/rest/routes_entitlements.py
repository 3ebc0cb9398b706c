"""The application's entitlements: list, fetch, consume, and test entitlements.

Discord's filters on the list (`user_id`, `guild_id`, `sku_ids`, `before`/`after`, `limit`
1..100, `exclude_ended`, `exclude_deleted`); a test entitlement (`POST`, `owner_type` 1 guild
or 2 user; type 8, the one the spec allows besides quest rewards) has no period and can be
deleted; only one-time purchases (type 1) and test entitlements can be consumed.
"""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.rest.common import int_query, json_body, snowflake
from townsquare.sandbox.rest.errors import DiscordError, ErrorCode, form_error, json_response
from townsquare.sandbox.world.entitlements import (
    delete_entitlement,
    entitlement_payload,
    grant_entitlement,
    update_entitlement,
)

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Entitlement

__all__ = ["routes"]

_PURCHASE: typing.Final[int] = 1
_GUILD_OWNER, _USER_OWNER = 1, 2


def routes(world: World) -> list[web.RouteDef]:
    def check_application(request: web.Request) -> None:
        if snowflake(request, "application_id") != world.application.id:
            raise DiscordError(403, ErrorCode.MISSING_ACCESS, "Missing Access")

    def find(request: web.Request) -> Entitlement:
        check_application(request)
        found = world.entitlements.get(snowflake(request, "entitlement_id"))
        if found is None:
            raise DiscordError.unknown(ErrorCode.UNKNOWN_ENTITLEMENT, "Entitlement")
        return found

    async def list_entitlements(request: web.Request) -> web.Response:
        check_application(request)
        query = request.query
        limit = int_query(request, "limit", 100, 1, 100)
        before = int_query(request, "before", 2**64, 0, 2**64)
        after = int_query(request, "after", 0, 0, 2**64)
        user_id = int_query(request, "user_id", 0, 0, 2**64)
        guild_id = int_query(request, "guild_id", 0, 0, 2**64)
        skus = {int(s) for s in query.get("sku_ids", "").split(",") if s.isdigit()}
        exclude_ended = query.get("exclude_ended", "false").lower() == "true"
        now = world.clock()
        found = sorted(
            (
                e
                for e in world.entitlements.values()
                if after < e.id < before
                and (not user_id or e.user_id == user_id)
                and (not guild_id or e.guild_id == guild_id)
                and (not skus or e.sku_id in skus)
                and not (exclude_ended and e.ends_at is not None and e.ends_at <= now)
            ),
            key=lambda e: e.id,
        )
        found = found[-limit:] if "before" in query else found[:limit]
        return json_response([entitlement_payload(world, e) for e in found])

    async def get_entitlement(request: web.Request) -> web.Response:
        return json_response(entitlement_payload(world, find(request)))

    async def create_test_entitlement(request: web.Request) -> web.Response:
        check_application(request)
        body = await json_body(request)
        sku_id = body.get("sku_id")
        if str(sku_id) != str(world.application.sku_id):
            raise form_error("sku_id", "BASE_TYPE_CHOICES", "Unknown SKU.")
        owner_type = body.get("owner_type")
        raw_owner = str(body.get("owner_id", ""))
        owner = int(raw_owner) if raw_owner.isdigit() else 0
        if owner_type == _GUILD_OWNER and owner in world.guilds:
            user_id, guild_id = world.guilds[owner].owner_id, owner
        elif owner_type == _USER_OWNER and owner in world.users:
            user_id, guild_id = owner, None
        else:
            raise form_error("owner_id", "BASE_TYPE_CHOICES", "Unknown owner.")
        entitlement = grant_entitlement(
            world,
            user_id=user_id,
            guild_id=guild_id,
            sku_id=world.application.sku_id,
            test=True,
        )
        return json_response(entitlement_payload(world, entitlement))

    async def delete_test_entitlement(request: web.Request) -> web.Response:
        entitlement = find(request)
        if not entitlement.test:
            raise DiscordError(400, ErrorCode.GENERAL, "Only test entitlements can be deleted.")
        delete_entitlement(world, entitlement)
        return web.Response(status=204)

    async def consume(request: web.Request) -> web.Response:
        entitlement = find(request)
        if not (entitlement.test or entitlement.type == _PURCHASE) or entitlement.consumed:
            raise DiscordError(400, ErrorCode.GENERAL, "Entitlement cannot be consumed.")
        update_entitlement(world, entitlement, consumed=True)
        return web.Response(status=204)

    base = "/api/v10/applications/{application_id}/entitlements"
    return [
        web.get(base, list_entitlements),
        web.post(base, create_test_entitlement),
        web.get(base + "/{entitlement_id}", get_entitlement),
        web.delete(base + "/{entitlement_id}", delete_test_entitlement),
        web.post(base + "/{entitlement_id}/consume", consume),
    ]
