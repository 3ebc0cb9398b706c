"""The kernel's premium gate: catalogue, settings checks, verdicts, the tier in Redis, refusals."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from tests.support.discord_spec import schema_errors
from tests.support.docs import table_rows
from townsquare.core.premium import (
    LIMITS,
    Gate,
    LimitKind,
    PremiumCatalogue,
    PremiumSettings,
    refusal_body,
    settings_problems,
    store_guild_tier,
    upgrade_offer,
)
from townsquare.core.settings import SettingsError, load_settings
from townsquare.http.openapi import ErrorBody
from townsquare.shards.commands.services import upgrade_components

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

GUILD = 111_222_333_444_555_666
RESERVED = (
    "giveaways.active",
    "giveaways.winners",
    "giveaways.requirement_types",
    "automod.custom_rules",
    "automod.regex_rules",
    "streams.feeds",
    "assistant.tokens_per_day",
    "assistant.documents",
)


@pytest.fixture
def catalogue() -> PremiumCatalogue:
    return PremiumCatalogue(load_settings(env_file=None, environ={}).premium)


def test_the_catalogue_declares_every_limit_with_a_value_for_each_default_tier() -> None:
    assert set(RESERVED) <= set(LIMITS)
    for limit in LIMITS.values():
        assert set(limit.defaults) == {"free", "plus", "pro"}, limit.name
        assert limit.description and limit.unit and limit.paused, limit.name
        assert (limit.period is not None) == (limit.kind is LimitKind.PER_PERIOD), limit.name
    assert LIMITS["xp.rank_card_background"].kind is LimitKind.BOOLEAN
    assert not settings_problems(load_settings(env_file=None, environ={}).premium)


def test_a_count_refusal_names_usage_value_and_the_lowest_tier_that_allows_it(
    catalogue: PremiumCatalogue,
) -> None:
    free, plus, pro = catalogue.tiers
    assert [free.name, plus.name, pro.name] == ["Free", "Plus", "Pro"]
    allowed = catalogue.verdict(free, "xp.level_rewards", usage=7)
    assert allowed.allowed
    assert allowed.explain() == "7 of 10 level rewards on Free."
    refused = catalogue.verdict(free, "xp.level_rewards", usage=10)
    assert not refused.allowed
    assert (refused.value, refused.usage, refused.lowest_tier) == (10, 10, plus)
    assert refused.explain() == "10 of 10 level rewards on Free; Plus allows 50."
    # Past Plus's limit too: Pro is the lowest that allows it.
    assert catalogue.verdict(free, "xp.level_rewards", usage=60).lowest_tier == pro
    # Nothing allows it: said so, and no tier offered.
    nowhere = catalogue.verdict(free, "xp.level_rewards", usage=250)
    assert nowhere.lowest_tier is None
    assert nowhere.explain().endswith("; no tier allows more.")


def test_a_quantity_asked_for_at_once_and_a_per_period_cost(catalogue: PremiumCatalogue) -> None:
    free, plus, _ = catalogue.tiers
    assert catalogue.verdict(free, "giveaways.winners", usage=5, adding=0).allowed
    assert not catalogue.verdict(free, "giveaways.winners", usage=6, adding=0).allowed
    tokens = catalogue.verdict(free, "assistant.tokens_per_day", usage=19_500, adding=800)
    assert not tokens.allowed
    assert tokens.explain() == (
        "19,500 of 20,000 assistant tokens this day on Free; Plus allows 250,000."
    )
    assert catalogue.verdict(plus, "assistant.tokens_per_day", usage=19_500, adding=800).allowed


def test_boolean_and_unlimited_verdicts(catalogue: PremiumCatalogue) -> None:
    free, plus, pro = catalogue.tiers
    background = catalogue.verdict(free, "xp.rank_card_background")
    assert not background.allowed
    assert background.explain() == (
        "Custom rank-card background is not included in Free; Plus includes it."
    )
    assert catalogue.verdict(plus, "xp.rank_card_background").allowed
    unlimited = catalogue.verdict(pro, "giveaways.requirement_types", usage=40, adding=0)
    assert unlimited.allowed
    assert unlimited.explain() == "40 requirement types on Pro (no limit)."
    mixed = catalogue.verdict(free, "giveaways.requirement_types", usage=9, adding=0)
    assert mixed.lowest_tier == pro
    assert mixed.explain() == "9 of 1 requirement types on Free; Pro has no limit."


def test_settings_override_a_tier_and_name_every_bad_key(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "premium:\n  tiers: {free: Gratis, plus: Plus, pro: Pro}\n"
        "  limits:\n    xp.level_rewards: {free: 5, plus: 20, pro: null}\n"
    )
    catalogue = PremiumCatalogue(load_settings(good, env_file=None, environ={}).premium)
    free, _, pro = catalogue.tiers
    assert catalogue.verdict(free, "xp.level_rewards", usage=5).explain() == (
        "5 of 5 level rewards on Gratis; Plus allows 20."
    )
    assert catalogue.value(pro, "xp.level_rewards") is None

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "premium:\n  tiers: {ultra: Ultra}\n  skus: {'12345': gold}\n"
        "  limits:\n    xp.nope: {free: 1}\n    xp.level_rewards: {free: 5, plus: -1}\n"
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(bad, env_file=None, environ={})
    problems = {problem.key: problem for problem in caught.value.problems}
    assert "unknown limit" in problems["premium.limits.xp.nope"].reason
    assert problems["premium.limits.xp.nope"].source == str(bad)
    assert "missing" in problems["premium.limits.xp.level_rewards.pro"].reason
    assert "missing" in problems["premium.limits.xp.level_rewards.ultra"].reason
    # A tier added without values for the catalogue's limits is named limit by limit.
    assert "missing" in problems["premium.limits.streams.feeds.ultra"].reason
    assert "at least 0" in problems["premium.limits.xp.level_rewards.plus"].reason
    assert "unknown tier 'gold'" in problems["premium.skus.12345"].reason


def test_settings_problems_check_kinds_and_tier_keys() -> None:
    premium = PremiumSettings(
        tiers={"free": "Free", "plus": "Plus", "Pro!": "Pro"},
        limits={"xp.rank_card_background": {"free": 1, "plus": True, "Pro!": True}},
        sandbox_sku_tier="nope",
        grace_days=3,
        reconcile_interval_seconds=60,
        gate_cache_seconds=0.5,
    )
    keys = dict(settings_problems(premium))
    assert keys["premium.limits.xp.rank_card_background.free"] == "must be true or false"
    assert "premium.tiers.Pro!" in keys
    assert "premium.sandbox_sku_tier" in keys


async def test_the_gate_reads_the_tier_from_redis_through_a_short_cache(
    redis: aioredis.Redis, keyspace: Keyspace, catalogue: PremiumCatalogue
) -> None:
    now = [100.0]
    gate = Gate(redis, keyspace, catalogue, clock=lambda: now[0])
    assert (await gate.tier(GUILD)).key == "free"
    assert not (await gate.may(GUILD, "xp.level_rewards", usage=10)).allowed
    await store_guild_tier(redis, keyspace, GUILD, "plus", free="free")
    # Cached for gate_cache_seconds (0.5 s by default) ...
    assert (await gate.tier(GUILD)).key == "free"
    now[0] += 0.6
    # ... then read again.
    verdict = await gate.may(GUILD, "xp.level_rewards", usage=10)
    assert verdict.allowed
    assert verdict.tier.key == "plus"
    assert await gate.value(GUILD, "xp.level_rewards") == 50
    await store_guild_tier(redis, keyspace, GUILD, "free", free="free")
    assert not await redis.hexists(keyspace.key("premium_tiers"), str(GUILD))
    gate.invalidate(GUILD)
    assert (await gate.tier(GUILD)).key == "free"
    # An unknown tier key in Redis (a tier removed from the settings) counts as free.
    await redis.hset(keyspace.key("premium_tiers"), str(GUILD), "gold")
    gate.invalidate()
    assert (await gate.tier(GUILD)).key == "free"


def test_the_refusal_carries_discords_premium_button_for_a_configured_sku() -> None:
    settings = load_settings(
        env_file=None, environ={"TOWNSQUARE__PREMIUM__SKUS": '{"1300000000000000001": "pro"}'}
    )
    catalogue = PremiumCatalogue(settings.premium, sandbox_sku=1300000000000000009)
    free = catalogue.tiers[0]
    verdict = catalogue.verdict(free, "xp.level_rewards", usage=10)
    # Plus allows it; the SKUs are for Pro (settings) and the sandbox's (Pro by default too):
    # the settings' SKU comes first for the same tier.
    offer = upgrade_offer(verdict, catalogue, GUILD, "http://example.test/")
    assert offer.content == "10 of 10 level rewards on Free; Plus allows 50."
    assert offer.sku_id == 1300000000000000001
    [row] = upgrade_components(offer)
    built, _ = row.build()
    [button] = built["components"]
    assert (button["type"], button["style"]) == (2, 6)
    assert button["sku_id"] == "1300000000000000001"
    assert not {"custom_id", "url", "label"} & set(button)
    assert not schema_errors("ActionRowComponentForMessageRequest", built)


def test_without_an_sku_the_refusal_links_to_the_dashboards_premium_page(
    catalogue: PremiumCatalogue,
) -> None:
    verdict = catalogue.verdict(catalogue.tiers[0], "xp.rank_card_background")
    offer = upgrade_offer(verdict, catalogue, GUILD, "http://example.test/")
    assert offer.sku_id is None
    assert offer.url == f"http://example.test/dashboard/guilds/{GUILD}/premium"
    [row] = upgrade_components(offer)
    built, _ = row.build()
    [button] = built["components"]
    assert (button["type"], button["style"], button["url"]) == (2, 5, offer.url)
    assert not schema_errors("ActionRowComponentForMessageRequest", built)


def test_the_api_refusal_body_names_the_limit(catalogue: PremiumCatalogue) -> None:
    verdict = catalogue.verdict(catalogue.tiers[0], "apikeys.keys", usage=2)
    body = refusal_body(verdict, "http://example.test/dashboard/guilds/1/premium")
    ErrorBody.model_validate(body)  # what /openapi.json documents for a 402
    assert body["error"]["code"] == "premium_required"
    assert body["error"]["message"] == "2 of 2 API keys on Free; Plus allows 10."
    assert body["error"]["limit"] == {
        "name": "apikeys.keys",
        "kind": "count",
        "tier": "free",
        "value": 2,
        "usage": 2,
        "lowest_tier": "plus",
        "lowest_tier_value": 10,
        "upgrade_url": "http://example.test/dashboard/guilds/1/premium",
        "sku_id": None,
    }


def test_the_docs_table_lists_every_limit_with_its_defaults() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "premium.md").read_text()
    limits_section = text.split("## Limits", 1)[1].split("\n## ", 1)[0]
    rows = table_rows(limits_section.split("### ", 1)[0])
    assert list(rows) == list(LIMITS), "docs/premium.md and core.premium.LIMITS disagree"

    def shown(value: object) -> str:
        if value is None:
            return "no limit"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return f"{value:,}"

    for name, limit in LIMITS.items():
        kind, what, free, plus, pro, paused = rows[name][1:]
        assert kind == (f"{limit.kind} ({limit.period})" if limit.period else str(limit.kind))
        assert what == limit.description, name
        assert [free, plus, pro] == [shown(limit.defaults[t]) for t in ("free", "plus", "pro")]
        assert paused == limit.paused, name


async def test_a_workers_task_resources_carry_a_gate(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    from townsquare.tasks.resources import TaskResources

    resources = TaskResources(load_settings(env_file=None, environ={}), keyspace, redis)
    await store_guild_tier(redis, keyspace, GUILD, "pro", free="free")
    assert (await resources.gate.may(GUILD, "streams.feeds", usage=49)).allowed
    assert not (await resources.gate.may(GUILD, "streams.feeds", usage=50)).allowed


def test_config_check_names_a_bad_premium_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from townsquare.cli import app

    monkeypatch.chdir(tmp_path)
    for name in [n for n in __import__("os").environ if n.startswith("TOWNSQUARE")]:
        monkeypatch.delenv(name)
    bad = tmp_path / "bad.yaml"
    bad.write_text("premium:\n  limits:\n    xp.level_rewards: {free: 5, plus: 20}\n")
    result = CliRunner().invoke(app, ["config", "check", "--settings", str(bad)])
    assert result.exit_code == 2
    assert (
        f"{bad}: premium.limits.xp.level_rewards.pro: missing: tier 'pro' has no value in "
        "premium.limits"
    ) in result.output
