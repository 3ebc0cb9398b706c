"""One message against the guild's per-message rules, in the documented order: the first rule
broken is the message's violation (a message is one offense at most)."""

from __future__ import annotations

import typing

from townsquare.features.moderation.domain.rules import (
    Message,
    Violation,
    applies,
    banned_word,
    caps_percent,
    domain_in,
    emoji_count,
    invite_codes,
    link_domains,
    regex_match,
)

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from townsquare.features.moderation.domain.automod_config import CustomRule, RuleSettings
    from townsquare.features.moderation.domain.config import AutomodSection

__all__ = ["check_message", "matching_rules", "within_limits"]


def within_limits(
    rules: Sequence[CustomRule], *, custom: int | None, regex: int | None
) -> tuple[CustomRule, ...]:
    """The custom rules the guild's tier allows, in order: at most `custom` rules in all, of
    which at most `regex` match regular expressions (None: no limit). Rules beyond a limit
    (the last added) are paused, not deleted, so an upgrade brings them back."""
    kept: list[CustomRule] = []
    regexes = 0
    for rule in rules:
        if custom is not None and len(kept) >= custom:
            break
        if rule.kind == "regex":
            if regex is not None and regexes >= regex:
                continue
            regexes += 1
        kept.append(rule)
    return tuple(kept)


def check_message(
    message: Message,
    automod: AutomodSection,
    *,
    own_invites: frozenset[str] = frozenset(),
    custom_rules: Sequence[CustomRule] | None = None,
) -> Violation | None:
    """The first per-message rule `message` breaks, or None. `custom_rules`: the custom rules
    to check (those within the premium limits); None: all of the section's."""
    for name, settings, check in _checks(message, automod, own_invites, custom_rules):
        if applies(settings, message) and (detail := check()) is not None:
            return Violation(name, settings, detail)
    return None


def matching_rules(
    message: Message,
    automod: AutomodSection,
    *,
    custom_rules: Sequence[CustomRule] | None = None,
) -> list[Violation]:
    """Every per-message rule `message` breaks, in order (for the dashboard's test box: the
    first is the one automod would act on)."""
    return [
        Violation(name, settings, detail)
        for name, settings, check in _checks(message, automod, frozenset(), custom_rules)
        if applies(settings, message) and (detail := check()) is not None
    ]


type _Check = tuple[str, "RuleSettings", "Callable[[], str | None]"]


def _checks(
    message: Message,
    automod: AutomodSection,
    own_invites: frozenset[str],
    custom_rules: Sequence[CustomRule] | None,
) -> list[_Check]:
    content, mentions, lines = (
        message.content,
        message.mention_count,
        message.content.count("\n") + 1,
    )
    rules = automod.rules
    checks: list[tuple[str, RuleSettings, Callable[[], str | None]]] = [
        (
            "words",
            rules.words,
            lambda: _quoted("banned word", banned_word(automod.banned_words, content)),
        ),
    ]
    for rule in automod.custom_rules if custom_rules is None else custom_rules:
        if rule.kind == "words":
            found = lambda r=rule: _quoted("banned word", banned_word(r.patterns, content))  # noqa: E731
        else:
            found = lambda r=rule: _quoted("pattern", regex_match(r.patterns, content))  # noqa: E731
        checks.append((f"custom/{rule.name}", rule.settings, found))
    checks += [
        ("invites", rules.invites, lambda: _invite(content, own_invites)),
        ("links", rules.links, lambda: _link(message, automod)),
        ("mentions", rules.mentions, lambda: _over("mentions", mentions, automod.max_mentions)),
        ("caps", rules.caps, lambda: _caps(content, automod.caps_percent, automod.caps_min_length)),
        ("emoji", rules.emoji, lambda: _over("emoji", emoji_count(content), automod.max_emoji)),
        ("newlines", rules.newlines, lambda: _over("lines", lines, automod.max_newlines)),
    ]  # fmt: skip
    return checks


def _quoted(what: str, found: str | None) -> str | None:
    return None if found is None else f"{what} {found!r}"


def _over(what: str, count: int, limit: int) -> str | None:
    return f"{count} {what} (more than {limit})" if count > limit else None


def _invite(content: str, own: frozenset[str]) -> str | None:
    others = [code for code in invite_codes(content) if code not in own]
    return f"invite to another server ({others[0]})" if others else None


def _link(message: Message, automod: AutomodSection) -> str | None:
    for host in link_domains(message.content):
        if domain_in(host, automod.link_denied_domains):
            return f"link to a denied domain ({host})"
        if domain_in(host, automod.link_allowed_domains):
            continue
        if automod.block_links and message.channel_id not in automod.link_allowed_channel_ids:
            return f"link ({host})"
    return None


def _caps(content: str, percent: int, min_length: int) -> str | None:
    share, letters = caps_percent(content)
    if letters >= min_length and share >= percent:
        return f"{share}% capital letters"
    return None
