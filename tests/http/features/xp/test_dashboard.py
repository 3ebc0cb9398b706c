"""The XP and levels dashboard pages: changes saved with audit and cache, validation beside
fields, the level-up notice, level rewards."""

from __future__ import annotations

import json
import re
import typing

import hikari

from tests.support.web import (
    HTML,
    form_values,
    page_text,
    service_bearer,
)
from tests.support.world import channels_by_name, roles_by_name
from townsquare.core.audit.models import AuditEntry
from townsquare.core.config.models import GuildConfigRecord

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.sandbox import Sandbox


async def test_xp_change_saves_to_db_audit_and_cache_then_says_so(
    sheriff: QuartClient, bot_in_demo: int, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/xp"
    form = form_values(await page_text(sheriff, url))
    assert form["cooldown_seconds"] == "60"
    assert form["expected_version"] == "1"
    form["cooldown_seconds"] = "12"
    form.pop("voice.enabled", None)  # untick a checkbox
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.status_code == 303
    changed = "changed=cooldown_seconds,voice.enabled"
    assert response.headers["Location"] == f"{url}?{changed}&saved=1"
    page = await page_text(sheriff, response.headers["Location"])
    # What changed, by label and new value (a checkbox as on/off).
    assert "Saved." in page
    assert "<li>Cooldown (seconds): now 12</li>" in page
    assert "<li>Award XP in voice channels: now off</li>" in page
    # Sent again unchanged: nothing saved, nothing to report.
    form = form_values(page)
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.headers["Location"] == f"{url}?changed=&saved=1"
    page = await page_text(sheriff, response.headers["Location"])
    assert "Nothing changed" in page
    assert 'name="expected_version" value="2"' in page

    row = await GuildConfigRecord.get(guild_id=bot_in_demo)
    assert row.version == 2
    assert row.document["xp"]["cooldown_seconds"] == 12
    assert row.document["xp"]["voice"]["enabled"] is False
    assert await AuditEntry.filter(guild_id=bot_in_demo, action="config.update").count() == 1
    cached = json.loads(await redis.get(keyspace.key("guild_config", bot_in_demo)))
    assert cached["version"] == 2
    assert cached["config"]["xp"]["cooldown_seconds"] == 12


async def test_invalid_values_are_shown_beside_their_field(
    sheriff: QuartClient, bot_in_demo: int
) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/xp"
    form = form_values(await page_text(sheriff, url))
    form["cooldown_seconds"] = "soon"
    form["voice.min_members"] = "1"
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.status_code == 400
    page = await response.get_data(as_text=True)
    assert re.search(r'id="f-cooldown_seconds-error">[^<]*valid integer', page), page
    assert re.search(r'id="f-voice-min_members-error">[^<]*greater than or equal to 2', page)
    assert 'value="soon"' in page  # what the user typed is kept
    form["cooldown_seconds"] = "30"
    form["voice.min_members"] = "2"
    form["per_message_min"] = "90"
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.status_code == 400
    assert "per_message_min must not be larger" in await response.get_data(as_text=True)
    assert (await GuildConfigRecord.get(guild_id=bot_in_demo)).version == 1


async def test_levels_page_changes_the_notice(
    sheriff: QuartClient, sandbox: Sandbox, bot_in_demo: int
) -> None:
    channels = channels_by_name(sandbox, bot_in_demo)
    url = f"/dashboard/guilds/{bot_in_demo}/levels"
    page = await page_text(sheriff, url)
    offered = re.findall(r'<option value="(\d+)">(#[^<]+)</option>', page)
    names = [name for _, name in offered]
    # Text channels only (no category or voice channel), in Discord's order.
    assert names[:4] == ["#welcome", "#rules", "#announcements", "#general"], names
    assert "#Lounge" not in names and "#Information" not in names
    form = form_values(page)
    form["notice.mode"] = "channel"
    form["notice.channel_id"] = ""
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.status_code == 400
    assert "needs a channel_id" in await response.get_data(as_text=True)
    form["notice.channel_id"] = str(channels["Lounge"])  # a voice channel
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.status_code == 400
    assert f"{channels['Lounge']} is not a text channel of this server" in (
        await response.get_data(as_text=True)
    )
    form["notice.channel_id"] = str(channels["general"])
    form["notice.template"] = "GG {user}, level {level}!"
    form["reward_mode"] = "replace"
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.status_code == 303
    document = (await GuildConfigRecord.get(guild_id=bot_in_demo)).document
    assert document["levels"] == {
        "reward_mode": "replace",
        "notice": {
            "mode": "channel",
            "channel_id": channels["general"],
            "template": "GG {user}, level {level}!",
        },
        "public_leaderboard": False,
    }


async def test_level_rewards_are_added_and_removed_with_audit(
    sheriff: QuartClient, sandbox: Sandbox, bot_in_demo: int
) -> None:
    from townsquare.features.xp.domain.models import LevelReward

    url = f"/dashboard/guilds/{bot_in_demo}/levels"
    page = await page_text(sheriff, url)
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert csrf is not None
    add = f"/dashboard/guilds/{bot_in_demo}/rewards"
    role = roles_by_name(sandbox, bot_in_demo)["Level 5 · Newcomer"]
    # The role is picked from the guild's roles by name.
    assert f'<option value="{role}">Level 5 · Newcomer</option>' in page
    form = {"csrf_token": csrf.group(1), "level": "5", "role_id": str(role)}
    response = await sheriff.post(add, form=form, headers=HTML)
    assert response.status_code == 303
    page = await page_text(sheriff, response.headers["Location"])
    assert "<td>5</td><td>Level 5 · Newcomer</td>" in page
    assert "Added: members reaching level 5 get Level 5 · Newcomer." in page  # what changed
    [reward] = await LevelReward.filter(guild_id=bot_in_demo)
    assert (reward.level, reward.role_id) == (5, role)

    duplicate = await sheriff.post(add, form=form, headers=HTML)
    assert duplicate.status_code == 409
    assert "already a reward" in await duplicate.get_data(as_text=True)
    bad = await sheriff.post(add, form=form | {"level": "501", "role_id": "x"}, headers=HTML)
    assert bad.status_code == 400
    text = await bad.get_data(as_text=True)
    assert 'id="r-role_id-error"' in text
    foreign = await sheriff.post(add, form=form | {"role_id": "222"}, headers=HTML)
    assert foreign.status_code == 400
    assert "222 is not a role of this server" in await foreign.get_data(as_text=True)
    assert await LevelReward.filter(guild_id=bot_in_demo).count() == 1

    remove = f"/dashboard/guilds/{bot_in_demo}/rewards/{reward.id}/delete"
    response = await sheriff.post(remove, form={"csrf_token": csrf.group(1)}, headers=HTML)
    assert response.status_code == 303
    assert "Removed the reward." in await page_text(sheriff, response.headers["Location"])
    assert not await LevelReward.filter(guild_id=bot_in_demo).exists()
    actions = (
        await AuditEntry.filter(guild_id=bot_in_demo)
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert list(actions) == ["level_reward.add", "level_reward.remove"]


async def test_a_reward_role_with_dangerous_permissions_needs_a_confirmation(
    sheriff: QuartClient, admin: str, sandbox: Sandbox, bot_in_demo: int, settings: Settings
) -> None:
    """Refused without the explicit confirmation, by the dashboard and the API alike (the
    server decides, not the page's script); accepted with it."""
    from townsquare.features.xp.domain.models import LevelReward

    guild = sandbox.world.guilds[bot_in_demo]
    streamer = roles_by_name(sandbox, bot_in_demo)["Streamer"]
    guild.roles[streamer].permissions = int(
        hikari.Permissions.KICK_MEMBERS | hikari.Permissions.BAN_MEMBERS
    )
    url = f"/dashboard/guilds/{bot_in_demo}/levels"
    page = await page_text(sheriff, url)
    # The picker says what the role grants before anything is sent.
    assert (
        f'<option value="{streamer}">Streamer (grants Kick Members, Ban Members)</option>' in page
    )
    assert 'name="confirm_dangerous"' not in page
    add = f"/dashboard/guilds/{bot_in_demo}/rewards"
    form = {"csrf_token": admin, "level": "10", "role_id": str(streamer)}
    refused = await sheriff.post(add, form=form, headers=HTML)
    assert refused.status_code == 400
    text = await refused.get_data(as_text=True)
    assert re.search(
        r'id="r-role_id-error">Streamer grants Kick Members, Ban Members; every member who '
        r"reaches the level would get them",
        text,
    )
    assert 'name="confirm_dangerous"' in text  # now the form asks
    assert not await LevelReward.filter(guild_id=bot_in_demo).exists()

    api = f"/api/v1/guilds/{bot_in_demo}/level-rewards"
    body = {"level": 10, "role_id": str(streamer)}
    response = await sheriff.post(api, json=body, headers={"X-CSRF-Token": admin})
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "dangerous_role"
    # `/level-rewards add` has no confirmation step: it points to the dashboard.
    command = await sheriff.post(
        f"/internal/v1/guilds/{bot_in_demo}/level-rewards",
        json={"actor_id": 1, "actor_name": "sheriff", "level": 10, "role_id": str(streamer)},
        headers=service_bearer(settings),
    )
    assert command.status_code == 409
    assert "add the reward on the dashboard" in (await command.get_json())["error"]["message"]

    confirmed = await sheriff.post(add, form=form | {"confirm_dangerous": "1"}, headers=HTML)
    assert confirmed.status_code == 303
    response = await sheriff.post(
        api, json=body | {"level": 20, "confirm_dangerous": True}, headers={"X-CSRF-Token": admin}
    )
    assert response.status_code == 201
    levels = await LevelReward.filter(guild_id=bot_in_demo).values_list("level", flat=True)
    assert sorted(levels) == [10, 20]
