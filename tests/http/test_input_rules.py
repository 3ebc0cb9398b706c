"""Issue 10, items 4 and 5: one rule for ids and text everywhere, and the dashboard's checks of
roles and channels applied to the JSON API too (same checks, same messages), with list caps.

Each reproduction of the issue is a test here; the stored state is checked unchanged after
every refusal.
"""

from __future__ import annotations

import re
import typing

from tests.support.web import HTML, cut_off_discord, error_code, guild_config
from tests.support.world import channels_by_name, roles_by_name
from townsquare.core.config.cache import drop_config
from townsquare.core.config.models import GuildConfigRecord
from townsquare.core.config.schemas import MAX_CHANNEL_IDS
from townsquare.core.validation import ID_MAX
from townsquare.features.apikeys.domain.models import ApiKey
from townsquare.features.moderation.domain.config import MAX_BANNED_WORDS
from townsquare.features.xp.domain.models import LevelReward
from townsquare.http.state import state_of

if typing.TYPE_CHECKING:
    from quart import Quart
    from quart.testing import QuartClient

    from townsquare.sandbox import Sandbox

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _put(
    client: QuartClient, guild_id: int, csrf: str, change: typing.Callable[[dict], None]
) -> tuple[int, dict[str, typing.Any]]:
    current = await guild_config(client, guild_id)
    document = current["config"]
    change(document)
    response = await client.put(
        f"/api/v1/guilds/{guild_id}/config",
        json={"expected_version": current["version"], "config": document},
        headers={"X-CSRF-Token": csrf},
    )
    return response.status_code, await response.get_json()


def _setting(*path: str, value: object) -> typing.Callable[[dict], None]:
    """A change that sets the document's value at `path` (section, ..., key) to `value`."""

    def change(document: dict) -> None:
        node = document
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


def _managers(role_ids: list[int]) -> typing.Callable[[dict], None]:
    """A change that makes `role_ids` the bot manager roles."""
    return _setting("commands", "manager_role_ids", value=role_ids)


def _refused(status: int, body: dict[str, typing.Any], field: str, message: str) -> None:
    """The API said 400 with `message`, and only it, for `field`."""
    assert status == 400, (field, message)
    assert body["error"]["fields"] == {field: [message]}


async def _version(guild_id: int) -> int | None:
    row = await GuildConfigRecord.get_or_none(guild_id=guild_id)
    return row.version if row is not None else None


# --- item 4: ids outside 1..2^63-1 in paths and forms ---------------------------------------


async def test_ids_past_the_bigint_range_in_paths_are_404_not_500(
    client: QuartClient, admin: str, bot_in_demo: int
) -> None:
    base = f"/api/v1/guilds/{bot_in_demo}/level-rewards"
    for reward_id in (2**63, 2**64, 10**30, 0):
        response = await client.delete(f"{base}/{reward_id}", headers={"X-CSRF-Token": admin})
        assert response.status_code == 404, reward_id
        error = (await response.get_json())["error"]
        assert error["code"] == "not_found"
        assert "ids in paths are whole numbers from 1 to 9223372036854775807" in error["message"]
    # The largest id is a valid id that no reward has.
    response = await client.delete(f"{base}/{ID_MAX}", headers={"X-CSRF-Token": admin})
    assert response.status_code == 404
    assert await error_code(response) == "reward_not_found"
    # A guild id past the range is no route either (not a 403 or a 500).
    response = await client.get(f"/api/v1/guilds/{2**63}/config")
    assert response.status_code == 404


async def test_dashboard_ids_past_the_range_are_refused(
    client: QuartClient, admin: str, bot_in_demo: int
) -> None:
    page = await client.get(f"/dashboard/guilds/{bot_in_demo}/api-keys", headers=HTML)
    match = CSRF.search(await page.get_data(as_text=True))
    assert match
    form = {"csrf_token": match.group(1)}
    response = await client.post(
        f"/dashboard/guilds/{bot_in_demo}/rewards/18446744073709551616/delete",
        form=form,
        headers=HTML,
    )
    assert response.status_code == 404
    response = await client.post(
        f"/dashboard/guilds/{bot_in_demo}/rewards",
        form=form | {"level": "5", "role_id": "18446744073709551616"},
        headers=HTML,
    )
    assert response.status_code == 400
    assert re.search(
        r'id="r-role_id-error">Input should be less than or equal to 9223372036854775807',
        await response.get_data(as_text=True),
    )
    assert not await LevelReward.filter(guild_id=bot_in_demo).exists()
    response = await client.post(
        f"/dashboard/guilds/{bot_in_demo}/api-keys/revoke",
        form=form | {"key_id": "99999999999999999999999"},
        headers=HTML,
    )
    assert response.status_code == 404
    assert "no such API key in this server" in await response.get_data(as_text=True)
    response = await client.post(
        f"/dashboard/guilds/{bot_in_demo}/api-keys/revoke",
        form=form | {"key_id": "12\x00"},
        headers=HTML,
    )
    assert response.status_code == 400


async def test_ids_past_the_range_in_bodies_are_400_with_the_field(
    client: QuartClient, admin: str, bot_in_demo: int
) -> None:
    status, body = await _put(
        client, bot_in_demo, admin, _setting("commands", "manager_role_ids", value=[2**63])
    )
    assert status == 400
    assert "config.commands.manager_role_ids.0" in body["error"]["fields"]
    response = await client.post(
        f"/api/v1/guilds/{bot_in_demo}/level-rewards",
        json={"level": 5, "role_id": 2**63},
        headers={"X-CSRF-Token": admin},
    )
    assert response.status_code == 400
    assert "role_id" in (await response.get_json())["error"]["fields"]
    assert await _version(bot_in_demo) in {None, 1}


async def test_map_keys_must_be_plain_decimal_ids(
    client: QuartClient, admin: str, bot_in_demo: int, sandbox: Sandbox
) -> None:
    general = channels_by_name(sandbox, bot_in_demo)["general"]
    for key in (f" {general}", f"+{general}", f"{general}.0", "0", str(2**63)):
        status, body = await _put(
            client, bot_in_demo, admin, _setting("xp", "channel_multipliers", value={key: 2.0})
        )
        assert status == 400, key
        assert any(
            field.startswith("config.xp.channel_multipliers") for field in body["error"]["fields"]
        ), body
    status, body = await _put(
        client, bot_in_demo, admin, _setting("xp", "channel_multipliers", value={str(general): 2.0})
    )
    assert status == 200, body
    assert body["config"]["xp"]["channel_multipliers"] == {str(general): 2.0}


# --- item 4: NUL characters in text ---------------------------------------------------------


async def test_nul_in_text_is_400_with_the_field_not_a_500(
    client: QuartClient, admin: str, bot_in_demo: int
) -> None:
    status, body = await _put(
        client, bot_in_demo, admin, _setting("levels", "notice", "template", value="GG {user}\x00!")
    )
    assert status == 400, body
    assert body["error"]["fields"]["config.levels.notice.template"] == [
        "Value error, must not contain NUL characters (\\u0000)"
    ]
    status, body = await _put(
        client,
        bot_in_demo,
        admin,
        _setting("moderation", "automod", "banned_words", value=["ok", "b\x00d"]),
    )
    assert status == 400, body
    assert "config.moderation.automod.banned_words.1" in body["error"]["fields"]
    assert await _version(bot_in_demo) in {None, 1}


async def test_nul_in_the_dashboard_forms_is_shown_beside_the_field(
    client: QuartClient, admin: str, bot_in_demo: int
) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/levels"
    page = await (await client.get(url, headers=HTML)).get_data(as_text=True)
    match = CSRF.search(page)
    assert match
    form = {
        "csrf_token": match.group(1),
        "expected_version": "1",
        "reward_mode": "stack",
        "notice.mode": "current_channel",
        "notice.channel_id": "",
        "notice.template": "GG\x00",
    }
    response = await client.post(url, form=form, headers=HTML)
    assert response.status_code == 400
    text = await response.get_data(as_text=True)
    assert re.search(r'id="f-notice-template-error">[^<]*must not contain NUL', text), text[-3000:]

    keys = f"/dashboard/guilds/{bot_in_demo}/api-keys"
    response = await client.post(
        keys, form={"csrf_token": match.group(1), "name": "web\x00site"}, headers=HTML
    )
    assert response.status_code == 400
    assert "must not contain NUL" in await response.get_data(as_text=True)
    assert not await ApiKey.filter(guild_id=bot_in_demo).exists()
    assert await _version(bot_in_demo) in {None, 1}


# --- item 5: the API checks what the dashboard checks ---------------------------------------


async def test_api_refuses_a_manager_role_the_guild_does_not_have_with_the_dashboards_words(
    client: QuartClient, admin: str, bot_in_demo: int, sandbox: Sandbox
) -> None:
    roles = roles_by_name(sandbox, bot_in_demo)
    for role_id in (1, roles["Townsquare"], bot_in_demo):  # unknown, the bot's, @everyone
        status, body = await _put(client, bot_in_demo, admin, _managers([role_id]))
        _refused(
            status,
            body,
            "config.commands.manager_role_ids",
            f"{role_id} is not a role of this server that members can be given "
            "(deleted in Discord, or a bot's own role?)",
        )
    assert await _version(bot_in_demo) in {None, 1}

    # The dashboard says exactly the same beside its field.
    url = f"/dashboard/guilds/{bot_in_demo}/commands"
    page = await (await client.get(url, headers=HTML)).get_data(as_text=True)
    match = CSRF.search(page)
    assert match
    response = await client.post(
        url,
        form={"csrf_token": match.group(1), "expected_version": "1", "manager_role_ids": "1"},
        headers=HTML,
    )
    assert response.status_code == 400
    assert (
        "1 is not a role of this server that members can be given "
        "(deleted in Discord, or a bot&#39;s own role?)"
    ) in await response.get_data(as_text=True)

    status, body = await _put(client, bot_in_demo, admin, _managers([roles["Moderator"]]))
    assert status == 200, body


async def test_api_refuses_a_notice_channel_that_is_not_the_guilds(
    client: QuartClient, admin: str, bot_in_demo: int, sandbox: Sandbox
) -> None:
    channels = channels_by_name(sandbox, bot_in_demo)

    def notice_in(channel_id: int) -> typing.Callable[[dict], None]:
        def change(doc: dict) -> None:
            doc["levels"]["notice"].update(mode="channel", channel_id=channel_id)

        return change

    for channel_id in (222, channels["Community"]):  # not the guild's; a category
        status, body = await _put(client, bot_in_demo, admin, notice_in(channel_id))
        _refused(
            status,
            body,
            "config.levels.notice.channel_id",
            f"{channel_id} is not a text channel of this server (deleted in Discord?); "
            "pick another",
        )
    assert await _version(bot_in_demo) in {None, 1}
    status, body = await _put(client, bot_in_demo, admin, notice_in(channels["general"]))
    assert status == 200, body


async def test_references_already_stored_are_kept_when_something_else_changes(
    app: Quart, client: QuartClient, admin: str, bot_in_demo: int, sandbox: Sandbox
) -> None:
    """A role deleted in Discord after it was saved does not block an unrelated change."""
    moderator = roles_by_name(sandbox, bot_in_demo)["Moderator"]
    status, _ = await _put(client, bot_in_demo, admin, _managers([moderator]))
    assert status == 200
    row = await GuildConfigRecord.get(guild_id=bot_in_demo)
    row.document["commands"]["manager_role_ids"] = [moderator, 4242]  # 4242: since deleted
    await row.save()
    served = state_of(app)  # the app's cached copy goes: the next read reads the row again
    await drop_config(served.require_redis(), served.keyspace, bot_in_demo)
    status, body = await _put(
        client, bot_in_demo, admin, _setting("xp", "cooldown_seconds", value=7)
    )
    assert status == 200, body
    assert body["config"]["commands"]["manager_role_ids"] == [moderator, 4242]


async def test_reward_roles_the_bot_cannot_give_are_refused_with_the_reason(
    client: QuartClient, admin: str, bot_in_demo: int, sandbox: Sandbox
) -> None:
    roles = roles_by_name(sandbox, bot_in_demo)
    url = f"/api/v1/guilds/{bot_in_demo}/level-rewards"
    headers = {"X-CSRF-Token": admin}
    expected = {
        777: "777 is not a role of this server (deleted in Discord?)",
        bot_in_demo: "@everyone is every member's role; it cannot be a reward",
        roles["Townsquare"]: "Townsquare is managed by Discord",
        roles["Moderator"]: "Moderator is not below Townsquare's highest role",
        roles["Admin"]: "Admin is not below Townsquare's highest role",
    }
    for role_id, reason in expected.items():
        response = await client.post(url, json={"level": 5, "role_id": role_id}, headers=headers)
        assert response.status_code == 400, role_id
        [message] = (await response.get_json())["error"]["fields"]["role_id"]
        assert message.startswith(reason), message
    assert not await LevelReward.filter(guild_id=bot_in_demo).exists()
    response = await client.post(
        url, json={"level": 5, "role_id": roles["Level 5 · Newcomer"]}, headers=headers
    )
    assert response.status_code == 201

    # The dashboard refuses the role above the bot too, with the same reason beside the field.
    page = await (
        await client.get(f"/dashboard/guilds/{bot_in_demo}/levels", headers=HTML)
    ).get_data(as_text=True)
    match = CSRF.search(page)
    assert match
    # The form offers only roles the bot can give; a forged form is refused all the same.
    offered = page.split('<select id="r-role_id"', 1)[1].split("</select>", 1)[0]
    assert f'value="{roles["Level 5 · Newcomer"]}"' in offered
    assert f'value="{roles["Streamer"]}"' in offered
    assert f'value="{roles["Moderator"]}"' not in offered
    response = await client.post(
        f"/dashboard/guilds/{bot_in_demo}/rewards",
        form={"csrf_token": match.group(1), "level": "10", "role_id": str(roles["Moderator"])},
        headers=HTML,
    )
    assert response.status_code == 400
    text = await response.get_data(as_text=True)
    assert re.search(r'id="r-role_id-error">Moderator is not below Townsquare&#39;s highest', text)
    assert await LevelReward.filter(guild_id=bot_in_demo).count() == 1


async def test_lists_have_caps(client: QuartClient, admin: str, bot_in_demo: int) -> None:
    status, body = await _put(
        client,
        bot_in_demo,
        admin,
        _setting(
            "moderation",
            "automod",
            "banned_words",
            value=[f"w{i}" for i in range(MAX_BANNED_WORDS + 1)],
        ),
    )
    assert status == 400
    assert "List should have at most 1000 items" in str(
        body["error"]["fields"]["config.moderation.automod.banned_words"]
    )
    status, body = await _put(
        client,
        bot_in_demo,
        admin,
        _setting("ai", "channel_ids", value=list(range(1, MAX_CHANNEL_IDS + 2))),
    )
    assert status == 400
    assert "config.ai.channel_ids" in body["error"]["fields"]
    assert await _version(bot_in_demo) in {None, 1}


async def test_without_discord_the_api_refuses_new_references_with_503(
    app: Quart, client: QuartClient, admin: str, bot_in_demo: int, sandbox: Sandbox
) -> None:
    await guild_config(client, bot_in_demo)  # the manage check is cached for the session
    cut_off_discord(app)
    moderator = roles_by_name(sandbox, bot_in_demo)["Moderator"]
    status, body = await _put(
        client, bot_in_demo, admin, _setting("commands", "manager_role_ids", value=[moderator])
    )
    assert status == 503
    assert body["error"]["code"] == "discord_unavailable"
    response = await client.post(
        f"/api/v1/guilds/{bot_in_demo}/level-rewards",
        json={"level": 5, "role_id": moderator},
        headers={"X-CSRF-Token": admin},
    )
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert not await LevelReward.filter(guild_id=bot_in_demo).exists()
    # A change that names no new role or channel does not need Discord.
    status, body = await _put(
        client, bot_in_demo, admin, _setting("xp", "cooldown_seconds", value=9)
    )
    assert status == 200, body
