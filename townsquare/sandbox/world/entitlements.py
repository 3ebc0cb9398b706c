"""Entitlements: who has the application's premium SKU, and the events their changes emit.

ENTITLEMENT_CREATE/UPDATE/DELETE need no intent; a guild's entitlement goes to that guild's
shard, a user's to shard 0. Payloads omit `guild_id` (and `subscription_id`) rather than send
null, since hikari converts them whenever present.
"""

from __future__ import annotations

import typing

from townsquare.sandbox.world import payloads
from townsquare.sandbox.world.models import Entitlement
from townsquare.sandbox.world.state import Dispatch

if typing.TYPE_CHECKING:
    import datetime

    from townsquare.sandbox.world.state import World

__all__ = [
    "APPLICATION_SUBSCRIPTION",
    "active_entitlements",
    "delete_entitlement",
    "entitlement_payload",
    "grant_entitlement",
    "update_entitlement",
]

APPLICATION_SUBSCRIPTION: typing.Final[int] = 8


def entitlement_payload(world: World, entitlement: Entitlement) -> payloads.JSON:
    payload: payloads.JSON = {
        "id": str(entitlement.id),
        "sku_id": str(entitlement.sku_id),
        "application_id": str(world.application.id),
        "user_id": str(entitlement.user_id),
        "type": entitlement.type,
        "deleted": entitlement.deleted,
        "starts_at": payloads.iso(entitlement.starts_at),
        "ends_at": payloads.iso(entitlement.ends_at),
        "consumed": entitlement.consumed,
    }
    if entitlement.guild_id is not None:
        payload["guild_id"] = str(entitlement.guild_id)
    return payload


def grant_entitlement(
    world: World,
    *,
    user_id: int,
    guild_id: int | None,
    sku_id: int,
    kind: int = APPLICATION_SUBSCRIPTION,
    ends_at: datetime.datetime | None = None,
    test: bool = False,
) -> Entitlement:
    """A new entitlement, starting now (test ones have no period); ENTITLEMENT_CREATE."""
    timed = not test
    entitlement = Entitlement(
        id=world.snowflakes.next(),
        sku_id=sku_id,
        user_id=user_id,
        guild_id=guild_id,
        type=kind,
        starts_at=world.clock() if timed else None,
        ends_at=ends_at if timed else None,
        test=test,
    )
    world.entitlements[entitlement.id] = entitlement
    _emit(world, "ENTITLEMENT_CREATE", entitlement)
    return entitlement


def update_entitlement(
    world: World,
    entitlement: Entitlement,
    *,
    ends_at: datetime.datetime | None = None,
    consumed: bool | None = None,
) -> None:
    """A subscription's period changes (renewal, cancellation) or a purchase is consumed."""
    if ends_at is not None:
        entitlement.ends_at = ends_at
    if consumed is not None:
        entitlement.consumed = consumed
    _emit(world, "ENTITLEMENT_UPDATE", entitlement)


def delete_entitlement(world: World, entitlement: Entitlement) -> None:
    """A refund or a deleted test entitlement: gone from every list; ENTITLEMENT_DELETE."""
    entitlement.deleted = True
    del world.entitlements[entitlement.id]
    _emit(world, "ENTITLEMENT_DELETE", entitlement)


def active_entitlements(world: World, *, user_id: int, guild_id: int | None) -> list[Entitlement]:
    """What an interaction carries: the live entitlements of the user and of the guild."""
    now = world.clock()
    return [
        e
        for e in world.entitlements.values()
        if (e.user_id == user_id and e.guild_id is None) or (guild_id and e.guild_id == guild_id)
        if e.ends_at is None or e.ends_at > now
    ]


def _emit(world: World, name: str, entitlement: Entitlement) -> None:
    data = entitlement_payload(world, entitlement)
    world.emit(Dispatch(name, entitlement.guild_id, 0, data))
