"""The automod page's editor for custom rules: add, edit, delete, through the API's checks
(RE2's reason beside the patterns, the premium limits, the version)."""

from __future__ import annotations

import html
import typing

from tests.support.web import HTML, form_values, page_text
from tests.support.world import channels_by_name, roles_by_name
from townsquare.core.config.models import GuildConfigRecord
from townsquare.core.premium import store_guild_tier

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox


async def stored_rules(guild_id: int) -> list[dict[str, typing.Any]]:
    record = await GuildConfigRecord.get(guild_id=guild_id)
    rules: list[dict[str, typing.Any]] = record.document["moderation"]["automod"]["custom_rules"]
    return rules


def rule_form(page: str, **values: str) -> dict[str, str]:
    """The page's CSRF token and version, with a rule's inputs."""
    form = form_values(page)
    rule = {"enabled": "on", "action": "delete", "points": "1", "timeout_seconds": "600"}
    return {
        "csrf_token": form["csrf_token"],
        "expected_version": form["expected_version"],
        **rule,
        **values,
    }


async def test_rules_are_added_edited_and_deleted(sheriff: QuartClient, bot_in_demo: int) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/automod"
    page = await page_text(sheriff, url)
    assert "No custom rules yet." in page
    added = await sheriff.post(
        f"{url}/rules",
        form=rule_form(page, name="scams", kind="words", patterns="free nitro\n\n steam gift* "),
        headers=HTML,
    )
    assert added.status_code == 303, await added.get_data(as_text=True)
    [rule] = await stored_rules(bot_in_demo)
    assert (rule["name"], rule["kind"], rule["patterns"]) == (
        "scams",
        "words",
        ["free nitro", "steam gift*"],
    )
    assert rule["settings"]["action"] == "delete" and rule["settings"]["enabled"] is True

    page = await page_text(sheriff, url)
    assert "<code>steam gift*</code>" in page and 'id="custom-rule-0"' in page
    edited = await sheriff.post(
        f"{url}/rules/0",
        form=rule_form(page, name="scams", kind="words", patterns="free nitro", action="points")
        | {"points": "3", "enabled": ""},
        headers=HTML,
    )
    assert edited.status_code == 303, await edited.get_data(as_text=True)
    [rule] = await stored_rules(bot_in_demo)
    assert rule["patterns"] == ["free nitro"]
    assert (rule["settings"]["action"], rule["settings"]["points"]) == ("points", 3)
    assert rule["settings"]["enabled"] is False

    late = rule_form(page, name="scams", kind="words", patterns="other")  # loaded before the edit
    assert (await sheriff.post(f"{url}/rules/0", form=late, headers=HTML)).status_code == 409
    assert (await stored_rules(bot_in_demo))[0]["patterns"] == ["free nitro"]

    page = await page_text(sheriff, url)
    stale = rule_form(page)
    deleted = await sheriff.post(f"{url}/rules/0/delete", form=stale, headers=HTML)
    assert deleted.status_code == 303
    assert await stored_rules(bot_in_demo) == []
    again = await sheriff.post(f"{url}/rules/0/delete", form=stale, headers=HTML)
    assert again.status_code == 409  # the form's version is gone: nothing else is deleted
    assert "Someone saved" in await again.get_data(as_text=True)


async def test_a_rules_exempt_roles_and_channels_are_ticked_on_the_page(
    sheriff: QuartClient, bot_in_demo: int, sandbox: Sandbox
) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/automod"
    role = roles_by_name(sandbox, bot_in_demo)["Streamer"]
    channel = channels_by_name(sandbox, bot_in_demo)["media"]
    page = await page_text(sheriff, url)
    # Both pickers list the guild's own roles and channels for a new rule.
    assert f'name="exempt_role_ids" value="{role}"' in page
    assert f'name="exempt_channel_ids" value="{channel}"' in page
    form = rule_form(page, name="memes", kind="words", patterns="cringe")
    form |= {"exempt_role_ids": str(role), "exempt_channel_ids": str(channel)}
    assert (await sheriff.post(f"{url}/rules", form=form, headers=HTML)).status_code == 303
    [rule] = await stored_rules(bot_in_demo)
    assert rule["settings"]["exempt_role_ids"] == [role]
    assert rule["settings"]["exempt_channel_ids"] == [channel]

    page = await page_text(sheriff, url)  # the edit form shows them ticked
    assert f'name="exempt_channel_ids" value="{channel}" checked' in page
    edit = rule_form(page, name="memes", kind="words", patterns="cringe")
    edit |= {"exempt_role_ids": str(role)}  # the channel's box left unticked
    assert (await sheriff.post(f"{url}/rules/0", form=edit, headers=HTML)).status_code == 303
    [rule] = await stored_rules(bot_in_demo)
    assert (rule["settings"]["exempt_role_ids"], rule["settings"]["exempt_channel_ids"]) == (
        [role],
        [],
    )
    page = await page_text(sheriff, url)
    typo = rule_form(page, name="memes", kind="words", patterns="cringe")
    typo |= {"exempt_channel_ids": "12, x"}
    refused = await sheriff.post(f"{url}/rules/0", form=typo, headers=HTML)
    assert refused.status_code == 400
    assert "id 2:" in await refused.get_data(as_text=True)  # "x" is not an id, said beside it
    assert (await stored_rules(bot_in_demo))[0]["settings"]["exempt_channel_ids"] == []


async def test_bad_patterns_and_limits_are_refused_beside_the_form(
    sheriff: QuartClient, bot_in_demo: int, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/automod"
    page = await page_text(sheriff, url)
    evil = await sheriff.post(
        f"{url}/rules", form=rule_form(page, name="evil", kind="regex", patterns=r"(a+)+\1"),
        headers=HTML,
    )  # fmt: skip
    assert evil.status_code == 400
    shown = html.unescape(await evil.get_data(as_text=True))
    error = shown.split('id="cr-new-patterns-error">', 1)[1].split("</p>", 1)[0]
    assert "RE2 refuses" in error and "invalid escape sequence" in error
    assert "(a+)+\\1</textarea>" in shown  # what was typed stays

    crypto = rule_form(page, name="crypto", kind="regex", patterns=r"btc\s*x\d+")
    refused = await sheriff.post(f"{url}/rules", form=crypto, headers=HTML)
    assert refused.status_code == 402  # Free has no regex rules
    body = await refused.get_data(as_text=True)
    assert "regex automod rules on Free; Plus allows 5." in body and "See the premium page." in body

    for number in range(3):  # Free: 3 custom rules
        form = rule_form(await page_text(sheriff, url), name=f"w{number}", kind="words")
        response = await sheriff.post(f"{url}/rules", form=form | {"patterns": "x"}, headers=HTML)
        assert response.status_code == 303
    fourth = rule_form(await page_text(sheriff, url), name="w3", kind="words", patterns="y")
    over = await sheriff.post(f"{url}/rules", form=fourth, headers=HTML)
    assert over.status_code == 402
    assert "Plus allows 25" in await over.get_data(as_text=True)
    duplicate = rule_form(await page_text(sheriff, url), name="W0", kind="words", patterns="y")
    assert (await sheriff.post(f"{url}/rules/1", form=duplicate, headers=HTML)).status_code == 400

    await store_guild_tier(redis, keyspace, bot_in_demo, "plus", free="free")
    sheriff.app.extensions["townsquare"].require_gate().invalidate()
    regex = rule_form(await page_text(sheriff, url), name="w1", kind="regex", patterns=r"btc\d+")
    assert (await sheriff.post(f"{url}/rules/1", form=regex, headers=HTML)).status_code == 303
    assert [rule["kind"] for rule in await stored_rules(bot_in_demo)] == ["words", "regex", "words"]
