"""Regex rules, compiled with RE2 (google-re2): matching time is linear in the text, so no
pattern can backtrack catastrophically. A pattern RE2 rejects (backreferences, lookaround,
a program too large) is refused when the configuration is saved, with RE2's reason.
"""

from __future__ import annotations

import functools
import typing

import re2  # type: ignore[import-untyped]

__all__ = ["MAX_PATTERN_LENGTH", "RegexRuleError", "compile_rule", "matches"]

MAX_PATTERN_LENGTH: typing.Final = 300
_MAX_MEMORY: typing.Final = 1 << 20
"""RE2's memory budget per pattern (1 MiB): a pattern whose automaton needs more is refused."""


class RegexRuleError(ValueError):
    """A pattern RE2 will not compile, with its reason."""


def _options() -> typing.Any:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _MAX_MEMORY
    options.case_sensitive = False
    return options


@functools.lru_cache(maxsize=4096)
def compile_rule(pattern: str) -> typing.Any:
    """The compiled pattern (cached), or :class:`RegexRuleError` saying why not."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RegexRuleError(f"a pattern has at most {MAX_PATTERN_LENGTH} characters")
    try:
        return re2.compile(pattern, _options())
    except re2.error as error:
        reason = error.args[0] if error.args else error
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        raise RegexRuleError(f"RE2 refuses {pattern!r}: {reason}") from None


def matches(pattern: str, text: str) -> bool:
    return compile_rule(pattern).search(text) is not None
