"""Entitlements: subscribe, renew, refund and test entitlements, seen through hikari."""

from __future__ import annotations

import datetime
import typing

import hikari
import pytest

from tests.support.sandbox import Live, control
from tests.support.world import user_named

if typing.TYPE_CHECKING:
    from tests.support.sandbox import EventRecorder
    from townsquare.sandbox import Sandbox, SandboxInfo


async def test_subscription_lifecycle_arrives_as_entitlement_events(live: Live) -> None:
    guild = live.guild
    wren = live.user("wren")
    month = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)
    body = {"user_id": str(wren), "guild_id": str(guild.id), "ends_at": month.isoformat()}
    granted = await control(live.http, live.info, "POST", "/entitlements", body)
    [created] = await live.recorder.wait_for(hikari.EntitlementCreateEvent)
    entitlement = created.entitlement
    assert entitlement.id == int(granted["id"])
    assert (entitlement.user_id, entitlement.guild_id) == (wren, guild.id)
    assert entitlement.sku_id == live.sandbox.world.application.sku_id
    assert entitlement.type is hikari.EntitlementType.APPLICATION_SUBSCRIPTION
    assert entitlement.subscription_id is None

    # An interaction in that guild carries the guild's live entitlements.
    channel = live.channel("bot-commands")
    await live.use(wren, "premium", channel)
    [used] = await live.recorder.wait_for(hikari.InteractionCreateEvent)
    assert isinstance(used.interaction, hikari.CommandInteraction)
    assert [e.id for e in used.interaction.entitlements] == [entitlement.id]

    renewed = month + datetime.timedelta(days=30)
    path = f"/entitlements/{entitlement.id}"
    await control(live.http, live.info, "PATCH", path, {"ends_at": renewed.isoformat()})
    [updated] = await live.recorder.wait_for(hikari.EntitlementUpdateEvent)
    assert updated.entitlement.ends_at == renewed

    listed = await live.bot.rest.fetch_entitlements(live.info.application_id, user=wren)
    assert [e.id for e in listed] == [entitlement.id]
    await control(live.http, live.info, "DELETE", path, {})
    [deleted] = await live.recorder.wait_for(hikari.EntitlementDeleteEvent)
    assert deleted.entitlement.id == entitlement.id
    assert await live.bot.rest.fetch_entitlements(live.info.application_id, user=wren) == []


async def test_test_entitlements_through_hikari_rest(
    bot: hikari.GatewayBot, sandbox: Sandbox, info: SandboxInfo, recorder: EventRecorder
) -> None:
    wren = user_named(sandbox, "wren")
    sku = sandbox.world.application.sku_id
    made = await bot.rest.create_test_entitlement(
        info.application_id, sku=sku, owner_id=wren, owner_type=hikari.EntitlementOwnerType.USER
    )
    assert (made.user_id, made.guild_id, made.starts_at) == (wren, None, None)
    await recorder.wait_for(hikari.EntitlementCreateEvent)
    fetched = await bot.rest.fetch_entitlement(info.application_id, made.id)
    assert fetched.id == made.id
    await bot.rest.consume_entitlement(info.application_id, made.id)
    [consumed] = await recorder.wait_for(hikari.EntitlementUpdateEvent)
    assert consumed.entitlement.is_consumed
    with pytest.raises(hikari.BadRequestError):
        await bot.rest.consume_entitlement(info.application_id, made.id)
    await bot.rest.delete_test_entitlement(info.application_id, made.id)
    await recorder.wait_for(hikari.EntitlementDeleteEvent)
    with pytest.raises(hikari.NotFoundError):
        await bot.rest.fetch_entitlement(info.application_id, made.id)
