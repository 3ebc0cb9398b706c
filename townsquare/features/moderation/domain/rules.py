"""Automod's per-message rules: pure functions of one message and the guild's settings.

Windowed rules (spam, duplicates, mentions over time) need history and live in
:mod:`.windows`; the pipeline (:mod:`.automod`) puts both together. Text is matched after
:func:`~.normalise.fold` (words) or :func:`~.normalise.normalise` (links, regex).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
import unicodedata
import urllib.parse

from townsquare.features.moderation.domain.normalise import fold, normalise
from townsquare.features.moderation.domain.regex import compile_rule

if typing.TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from townsquare.features.moderation.domain.automod_config import RuleSettings

__all__ = [
    "Message",
    "Violation",
    "caps_percent",
    "emoji_count",
    "invite_codes",
    "invite_codes_as_written",
    "link_domains",
    "word_matcher",
]

_INVITE = re.compile(
    r"(?:discord(?:app)?\.com/invite|discord\.gg|discord\.me|dsc\.gg)/([a-z0-9-]{2,32})",
    re.IGNORECASE,
)
_URL = re.compile(r"(?:https?://|www\.)([^\s/<>?#]+)", re.IGNORECASE)
_CUSTOM_EMOJI = re.compile(r"<a?:\w{2,32}:\d{15,21}>")
_EMOJI = re.compile(
    "[\U0001f1e6-\U0001f1ff\U0001f300-\U0001faff\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001f0ff]"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """What the rules look at."""

    guild_id: int
    channel_id: int
    author_id: int
    message_id: int
    timestamp_ms: int
    role_ids: frozenset[int]
    content: str
    mention_count: int


@dataclasses.dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    """A built-in rule's name, or `custom/<name>`."""
    settings: RuleSettings
    detail: str
    """What matched, for the case and the log ("banned word 'free nitro'")."""


def applies(settings: RuleSettings, message: Message) -> bool:
    """The rule is on and neither the member's roles nor the channel are exempt from it."""
    return (
        settings.enabled
        and message.channel_id not in settings.exempt_channel_ids
        and message.role_ids.isdisjoint(settings.exempt_role_ids)
    )


@functools.lru_cache(maxsize=256)
def word_matcher(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """One compiled alternation of whole words and phrases (`*` is any run of letters), over
    folded text. Built once per word list (the config's list is a tuple key)."""
    parts = []
    for word in words:
        folded = fold(word).strip()
        if not folded:
            continue
        pieces = (re.escape(piece) for piece in folded.split("*"))
        body = r"\w*".join(pieces)
        body = re.sub(r"(\\ )+", r"\\W+", body)  # a space in a phrase: any separators
        parts.append(body)
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)")  # keyspace: not a key


def banned_word(words: Sequence[str], content: str) -> str | None:
    """The first banned word or phrase in `content`, or None: over the normalised text and
    over it with leetspeak folded (`!` is an `i` in `h!`, but ends the sentence in `idiot!`)."""
    matcher = _matcher_of(words)
    if matcher is None:
        return None
    plain = normalise(content)
    if found := matcher.search(plain):
        return found.group(0)
    folded = fold(plain)
    if folded != plain and (found := matcher.search(folded)):
        return found.group(0)
    return None


_BY_LIST: dict[int, tuple[Sequence[str], re.Pattern[str] | None]] = {}


def _matcher_of(words: Sequence[str]) -> re.Pattern[str] | None:
    """:func:`word_matcher` of a configuration's word list, found by the list's identity (a
    frozen section keeps its list), so a batch does not hash 1,000 words per message."""
    known = _BY_LIST.get(id(words))
    if known is not None and known[0] is words:
        return known[1]
    if len(_BY_LIST) >= 256:
        _BY_LIST.clear()
    matcher = word_matcher(tuple(words))
    _BY_LIST[id(words)] = (words, matcher)
    return matcher


def regex_match(patterns: Iterable[str], content: str) -> str | None:
    text = normalise(content)
    for pattern in patterns:
        if compile_rule(pattern).search(text) is not None:
            return pattern
    return None


def invite_codes(content: str) -> list[str]:
    return [code.lower() for code in _INVITE.findall(normalise(content))]


def invite_codes_as_written(content: str) -> list[str]:
    """The invite codes in `content` with their case (Discord's codes are case-sensitive;
    :func:`invite_codes` compares them lowercased)."""
    return [str(code) for code in _INVITE.findall(unicodedata.normalize("NFKC", content))]


def link_domains(content: str) -> list[str]:
    """The hosts of links in `content` (lowercase, without port or credentials)."""
    hosts = []
    for raw in _URL.findall(normalise(content)):
        host = urllib.parse.urlsplit("//" + raw).hostname
        if host:
            hosts.append(host.rstrip("."))
    return hosts


def domain_in(host: str, domains: Iterable[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def caps_percent(content: str) -> tuple[int, int]:
    """(percent of capital letters among letters, letters)."""
    letters = [c for c in content if c.isalpha()]
    if not letters:
        return 0, 0
    upper = sum(1 for c in letters if c.isupper())
    return upper * 100 // len(letters), len(letters)


def emoji_count(content: str) -> int:
    return len(_CUSTOM_EMOJI.findall(content)) + len(_EMOJI.findall(content))
