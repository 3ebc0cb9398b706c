"""The moderation dashboard: the automod page's "test a message" box, presets, the cases
list with filters and a case page."""

from __future__ import annotations

import datetime
import json
import typing

from tests.support.moderation import configure_moderation, moderation_section
from tests.support.web import HTML, form_values, guild_config, page_text
from tests.support.world import user_named
from townsquare.core.config.models import GuildConfigRecord
from townsquare.core.guard.models import Case, CaseCounter, CaseStatus

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from quart.testing import QuartClient
    from quart.wrappers import Response

    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox


async def test_the_test_box_shows_matching_rules_and_points(
    sheriff: QuartClient, bot_in_demo: int, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    section = moderation_section(automod={"banned_words": ["free nitro"], "block_links": True})
    await configure_moderation(bot_in_demo, section, (redis, keyspace))
    url = f"/dashboard/guilds/{bot_in_demo}/automod"
    page = await page_text(sheriff, f"{url}?test=Fr33+N1TRO+at+https://scam.test/x")
    assert 'id="test-result"' in page
    assert "banned word &#39;free nitro&#39;" in page and "link (scam.test)" in page
    clean = await page_text(sheriff, f"{url}?test=hello+there")
    assert "No rule matches this message." in clean


async def test_a_preset_sets_the_ladder(sheriff: QuartClient, bot_in_demo: int) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/moderation"
    form = form_values(await page_text(sheriff, url))
    response = await sheriff.post(
        f"/dashboard/guilds/{bot_in_demo}/moderation/preset",
        form={"csrf_token": form["csrf_token"], "preset": "strict"},
        headers=HTML,
    )
    assert response.status_code == 303
    row = await GuildConfigRecord.get(guild_id=bot_in_demo)
    moderation = row.document["moderation"]
    assert moderation["preset"] == "strict"
    assert [s["offenses"] for s in moderation["escalation"]] == [1, 2, 3, 4, 5]
    assert moderation["automod"]["spam_messages"] == 4
    refused = await sheriff.post(
        f"/dashboard/guilds/{bot_in_demo}/moderation/preset",
        form={"csrf_token": form["csrf_token"], "preset": "chaos"},
        headers=HTML,
    )
    assert refused.status_code == 400


async def test_cases_list_filters_and_case_page(sheriff: QuartClient, bot_in_demo: int) -> None:
    at = datetime.datetime(2026, 5, 1, 12, tzinfo=datetime.UTC)
    for number, (action, target) in enumerate([("warn", 11), ("ban", 12), ("warn", 12)], start=1):
        await Case.create(
            guild_id=bot_in_demo,
            number=number,
            key=f"seed/{number}",
            action=action,
            source="command",
            actor_kind="user",
            actor_id=99,
            actor_name="ada",
            target_id=target,
            target_name=f"member {target}",
            reason=f"reason {number}",
            status=CaseStatus.EXECUTED,
            occurred_at=at + datetime.timedelta(days=number),
        )
    base = f"/dashboard/guilds/{bot_in_demo}/cases"
    everything = await page_text(sheriff, base)
    assert all(f"reason {n}" in everything for n in (1, 2, 3))
    warns_of_12 = await page_text(sheriff, f"{base}?member=12&type=warn")
    assert "reason 3" in warns_of_12 and "reason 1" not in warns_of_12
    assert "reason 2" not in warns_of_12
    dated = await page_text(sheriff, f"{base}?since=2026-05-03&until=2026-05-03")
    assert "reason 2" in dated and "reason 3" not in dated
    one = await page_text(sheriff, f"{base}/2")
    assert "Case 2: ban (executed)" in one and "member 12" in one
    assert (await sheriff.get(f"{base}/9", headers=HTML)).status_code == 404
    assert (await sheriff.get(f"{base}?type=nuke", headers=HTML)).status_code == 400
    assert (await sheriff.get(f"{base}?since=yesterday", headers=HTML)).status_code == 400


async def test_the_config_api_refuses_a_pattern_re2_cannot_run_safely(
    client: QuartClient, admin: str, bot_in_demo: int
) -> None:
    config = (await guild_config(client, bot_in_demo))["config"]
    settings = config["moderation"]["automod"]["rules"]["words"]
    config["moderation"]["automod"]["custom_rules"] = [
        {"name": "evil", "kind": "regex", "patterns": [r"(a+)+\1"], "settings": settings}
    ]
    response = await put_config(client, admin, bot_in_demo, config)
    assert response.status_code == 400
    body = json.dumps(await response.get_json())
    assert "RE2 refuses" in body and "invalid escape sequence" in body


async def test_the_moderation_page_saves_anti_raid_anti_nuke_and_abuse_limits(
    sheriff: QuartClient, bot_in_demo: int
) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/moderation"
    form = form_values(await page_text(sheriff, url))
    assert form["anti_abuse.max_actions"] == "5"
    form |= {"anti_raid.enabled": "on", "anti_raid.joins": "7", "anti_raid.action": "kick"}
    form["anti_abuse.max_actions"] = "3"
    assert form["anti_nuke.limits.channel_delete"] == "2"
    form |= {"anti_nuke.enabled": "on", "anti_nuke.limits.channel_delete": "4"}
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.status_code == 303
    moderation = (await GuildConfigRecord.get(guild_id=bot_in_demo)).document["moderation"]
    assert (
        moderation["anti_raid"] | {"enabled": True, "joins": 7, "action": "kick"}
        == moderation["anti_raid"]
    )
    assert moderation["anti_abuse"]["max_actions"] == 3
    assert moderation["anti_nuke"]["enabled"] is True
    assert moderation["anti_nuke"]["limits"]["channel_delete"] == 4
    form["anti_raid.action"] = "ban"  # not a choice
    refused = await sheriff.post(url, form=form, headers=HTML)
    assert refused.status_code == 400


async def test_custom_rules_past_the_free_tier_are_refused_with_402(
    client: QuartClient, admin: str, bot_in_demo: int
) -> None:
    config = (await guild_config(client, bot_in_demo))["config"]
    settings = config["moderation"]["automod"]["rules"]["words"]
    config["moderation"]["automod"]["custom_rules"] = [
        {"name": "crypto", "kind": "regex", "patterns": [r"btc\s*x\d+"], "settings": settings}
    ]
    response = await put_config(client, admin, bot_in_demo, config)
    assert response.status_code == 402
    error = (await response.get_json())["error"]
    assert error["code"] == "premium_required"
    assert error["limit"]["name"] == "automod.regex_rules" and error["limit"]["value"] == 0
    words = {"name": "scams", "kind": "words", "patterns": ["free nitro"], "settings": settings}
    config["moderation"]["automod"]["custom_rules"] = [words]  # word rules: 3 on Free
    allowed = await put_config(client, admin, bot_in_demo, config)
    assert allowed.status_code == 200


async def put_config(
    client: QuartClient, csrf: str, guild_id: int, config: dict[str, typing.Any]
) -> Response:
    """`PUT /api/v1/guilds/{id}/config` of `config` over version 1."""
    return await client.put(
        f"/api/v1/guilds/{guild_id}/config",
        json={"expected_version": 1, "config": config},
        headers={"X-CSRF-Token": csrf},
    )


async def test_a_case_is_pardoned_from_its_page_through_the_guard(
    sheriff: QuartClient, bot_in_demo: int, sandbox: Sandbox
) -> None:
    alder, sheriff_id = user_named(sandbox, "alder"), user_named(sandbox, "sheriff")
    await Case.create(
        guild_id=bot_in_demo,
        number=1,
        key="seed/1",
        action="warn",
        source="command",
        actor_kind="user",
        target_id=alder,
        status=CaseStatus.EXECUTED,
        points=1,
        occurred_at=datetime.datetime.now(datetime.UTC),
    )
    await CaseCounter.create(guild_id=bot_in_demo, issued=1)
    url = f"/dashboard/guilds/{bot_in_demo}/cases/1"
    form = form_values(await page_text(sheriff, url))
    assert form["key"].startswith("dashboard/")
    form["reason"] = "apologised"
    for _ in range(2):  # the same form twice: one pardon
        response = await sheriff.post(f"{url}/pardon", form=form, headers=HTML)
        assert response.status_code == 200
        assert "Pardoned (case 2)." in await response.get_data(as_text=True)
    assert (await Case.get(guild_id=bot_in_demo, number=1)).pardoned
    pardon = await Case.get(guild_id=bot_in_demo, number=2)
    assert (pardon.action, pardon.source, pardon.actor_id) == ("pardon", "dashboard", sheriff_id)
    assert await Case.filter(guild_id=bot_in_demo).count() == 2


async def test_the_ladder_and_lists_are_edited_with_optimistic_concurrency(
    sheriff: QuartClient, bot_in_demo: int, sandbox: Sandbox
) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/moderation"
    first_tab = form_values(await page_text(sheriff, url))
    assert first_tab["escalation"].splitlines()[:2] == ["1 warn 0", "3 timeout 600"]
    before = await GuildConfigRecord.get_or_none(guild_id=bot_in_demo)
    assert before is None or before.document["moderation"]["preset"] == "standard"
    second_tab = dict(first_tab)
    trusted = str(user_named(sandbox, "ada"))
    first_tab |= {
        "escalation": "2 warn 0\n4 timeout 3600\n\n8 ban 0\n",
        "anti_nuke.trusted_user_ids": trusted,
        "anti_abuse.trusted_user_ids": f"{trusted}, {trusted[:-1]}1",
    }
    assert (await sheriff.post(url, form=first_tab, headers=HTML)).status_code == 303
    moderation = (await GuildConfigRecord.get(guild_id=bot_in_demo)).document["moderation"]
    assert [(s["offenses"], s["action"]) for s in moderation["escalation"]] == [
        (2, "warn"),
        (4, "timeout"),
        (8, "ban"),
    ]
    assert moderation["preset"] == "custom"  # was `standard`: the ladder no longer is
    assert moderation["anti_nuke"]["trusted_user_ids"] == [int(trusted)]
    assert len(moderation["anti_abuse"]["trusted_user_ids"]) == 2

    second_tab["escalation"] = "5 kick 0"  # made from the page before the first save
    stale = await sheriff.post(url, form=second_tab, headers=HTML)
    assert stale.status_code == 409
    assert "2 warn 0\n4 timeout 3600\n8 ban 0" in await stale.get_data(as_text=True)

    fresh = form_values(await page_text(sheriff, url))
    fresh["escalation"] = "2 warn 0\n4 smite 0\n6 timeout"
    refused = await sheriff.post(url, form=fresh, headers=HTML)
    assert refused.status_code == 400
    page = await refused.get_data(as_text=True)
    assert "entry 2 (action)" in page and "entry 3 (duration_seconds)" in page
    stored = (await GuildConfigRecord.get(guild_id=bot_in_demo)).document["moderation"]
    assert stored["escalation"] == moderation["escalation"]


async def test_the_automod_page_edits_word_and_domain_lists(
    sheriff: QuartClient, bot_in_demo: int
) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/automod"
    form = form_values(await page_text(sheriff, url))
    form |= {
        "automod.banned_words": "free nitro\n  scam*  \n",
        "automod.link_denied_domains": "scam.test",
    }
    assert (await sheriff.post(url, form=form, headers=HTML)).status_code == 303
    automod = (await GuildConfigRecord.get(guild_id=bot_in_demo)).document["moderation"]["automod"]
    assert automod["banned_words"] == ["free nitro", "scam*"]
    assert automod["link_denied_domains"] == ["scam.test"]
    page = await page_text(sheriff, url)
    assert "free nitro\nscam*</textarea>" in page
