"""Automod's per-message rules over normalised text, regex safety, and durations."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.support.moderation import moderation_section, rule
from townsquare.features.moderation.domain.checks import check_message
from townsquare.features.moderation.domain.durations import DurationError, parse_duration
from townsquare.features.moderation.domain.normalise import fold
from townsquare.features.moderation.domain.rules import Message

GUILD, CHANNEL, ALLOWED_CHANNEL, AUTHOR, EXEMPT_ROLE = 10, 20, 21, 30, 40


def message(
    content: str, *, channel: int = CHANNEL, roles: frozenset[int] = frozenset(), mentions: int = 0
) -> Message:
    return Message(GUILD, channel, AUTHOR, 99, 0, roles, content, mentions)


WORDS = moderation_section(
    automod={
        "banned_words": ["free nitro", "scam*", "idiot"],
        "block_links": True,
        "link_allowed_channel_ids": [ALLOWED_CHANNEL],
        "link_allowed_domains": ["example.org"],
        "link_denied_domains": ["evil.test"],
    },
    rules={
        "invites": rule(),
        "caps": rule(),
        "emoji": rule(),
        "newlines": rule(),
        "words": rule(exempt_role_ids=[EXEMPT_ROLE]),
    },
).automod


@pytest.mark.parametrize(
    ("content", "rule_name"),
    [
        ("get FREE   nitro here", "words"),
        ("\uff46\uff52\uff45\uff45 \uff4e\uff49\uff54\uff52\uff4f", "words"),  # fullwidth: NFKC
        ("fr\u200bee nitro", "words"),  # zero-width space
        ("fr33 n1tr0", "words"),  # leetspeak
        ("fr\u0435\u0435 nitr\u043e", "words"),  # Cyrillic ie and o
        ("what a scammer", "words"),  # wildcard
        ("you IDIOT!", "words"),
        ("join discord.gg/abcdef now", "invites"),
        ("see https://shop.evil.test/x", "links"),
        ("see https://news.site.test/x", "links"),
        ("THIS IS ALL SHOUTING AT YOU", "caps"),
        ("🎉" * 11, "emoji"),
        ("\n".join("x" * 16), "newlines"),
    ],
)
def test_broken_rules(content: str, rule_name: str) -> None:
    found = check_message(message(content), WORDS)
    assert found is not None and found.rule == rule_name


@pytest.mark.parametrize(
    "content",
    [
        "free nitrogen is a gas",  # whole words only
        "idiotic",  # not the word itself
        "docs at https://www.example.org/page",  # allowed domain
        "Hello There Friends",
        "🎉" * 10,
    ],
)
def test_kept(content: str) -> None:
    assert check_message(message(content), WORDS) is None


def test_exemptions_and_allowed_channels() -> None:
    assert check_message(message("idiot", roles=frozenset({EXEMPT_ROLE})), WORDS) is None
    assert check_message(message("https://a.test/x", channel=ALLOWED_CHANNEL), WORDS) is None
    denied = check_message(message("https://evil.test/x", channel=ALLOWED_CHANNEL), WORDS)
    assert denied is not None and denied.rule == "links"


def test_own_invites_are_fine() -> None:
    assert check_message(message("discord.gg/ours"), WORDS, own_invites=frozenset({"ours"})) is None


def test_mentions_over_the_limit() -> None:
    section = moderation_section(automod={"max_mentions": 3}).automod
    assert check_message(message("hi", mentions=3), section) is None
    found = check_message(message("hi", mentions=4), section)
    assert found is not None and found.rule == "mentions"


def test_custom_regex_rule_matches_with_re2() -> None:
    custom = {
        "name": "crypto",
        "kind": "regex",
        "patterns": [r"\bbtc\s*x\d+\b"],
        "settings": rule("warn", 2),
    }
    section = moderation_section(automod={"custom_rules": [custom]}).automod
    found = check_message(message("double your BTC x10 today"), section)
    assert found is not None and found.rule == "custom/crypto" and found.settings.points == 2


@pytest.mark.parametrize("pattern", [r"(a+)+\1", r"(?=admin)adm", r"(?<!x)y", "a{1000}{1000}"])
def test_a_pattern_re2_refuses_is_refused_by_the_config(pattern: str) -> None:
    custom = {"name": "bad", "kind": "regex", "patterns": [pattern], "settings": rule()}
    with pytest.raises(ValidationError, match="RE2 refuses"):
        moderation_section(automod={"custom_rules": [custom]})


def test_fold() -> None:
    assert fold("\uff26r\u200b33 N1TRO") == "free nitro"


@pytest.mark.parametrize(
    ("text", "seconds"), [("10m", 600), ("2h", 7200), ("7d", 604_800), ("1d12h", 129_600)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "m", "0m", "29d", "ten minutes"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text, maximum=28 * 86_400)
