"""The dashboard's Health page: what the bot lacks in a server, read from Discord (the sandbox)."""

from __future__ import annotations

import html
import typing

import hikari

from tests.support.world import channel_named
from townsquare.core.doctor import required_permissions
from townsquare.features.xp.domain.models import LevelReward
from townsquare.sandbox.world.models import Overwrite
from townsquare.sandbox.world.roles import create_role

if typing.TYPE_CHECKING:
    from quart.testing import QuartClient

    from townsquare.sandbox import Sandbox


async def test_the_health_page_lists_what_to_fix_and_then_that_all_is_well(
    sheriff: QuartClient, bot_in_demo: int, sandbox: Sandbox
) -> None:
    guild = sandbox.world.guilds[bot_in_demo]
    bot_id = sandbox.world.application.bot_user_id
    (bot_role,) = [role for role in guild.roles.values() if role.bot_id == bot_id]
    bot_role.permissions &= ~int(hikari.Permissions.BAN_MEMBERS)
    mythic = create_role(sandbox.world, guild, name="Mythic", position=len(guild.roles))
    await LevelReward.create(guild_id=bot_in_demo, level=70, role_id=mythic.id)
    await LevelReward.create(guild_id=bot_in_demo, level=80, role_id=4242)  # deleted in Discord
    page_url = f"/dashboard/guilds/{bot_in_demo}/health"

    page = html.unescape(await (await sheriff.get(page_url)).get_data(as_text=True))
    assert 'id="health-fixes"' in page
    assert "Ban Members" in page
    assert "move the role @Mythic below @Townsquare" in page
    assert "the level 70 reward" in page
    assert "role 4242 is gone (deleted in Discord); pick another (the level 80 reward)" in page
    # Every guild page links to it.
    alerts = await (await sheriff.get(f"/dashboard/guilds/{bot_in_demo}/bot-alerts")).get_data(
        as_text=True
    )
    assert f'href="{page_url}"' in alerts

    # A channel the configuration does not name is none of its business...
    general = channel_named(guild, "general")
    guild.channels[general].overwrites.append(
        Overwrite(id=bot_id, type=1, deny=int(hikari.Permissions.SEND_MESSAGES))
    )
    # ...and once the reward is dropped and the permissions granted, all is well.
    await LevelReward.filter(role_id__in=[mythic.id, 4242]).delete()
    bot_role.permissions |= int(required_permissions())
    page = await (await sheriff.get(page_url)).get_data(as_text=True)
    assert 'id="healthy"' in page, page
