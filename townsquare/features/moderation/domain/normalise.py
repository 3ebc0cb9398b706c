"""Text as automod compares it: case-folded, NFKC, without zero-width characters, with common
confusables and leetspeak folded, so `Fr33 N1tro`, a fullwidth `free` and `f<zero width
space>ree` all read `free`.
"""

from __future__ import annotations

import functools
import typing
import unicodedata

__all__ = ["fold", "normalise"]

# Both are cached (a few entries): the rules of one message ask for the same text several
# times (words, invites, links, regex), and a batch's messages come one after another.

_ZERO_WIDTH: typing.Final = dict.fromkeys(
    map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u200e\u200f"), None
)
_CONFUSABLES: typing.Final = str.maketrans(
    {
        # Cyrillic and Greek look-alikes of Latin letters
        "\u0430": "a", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0443": "y",
        "\u0445": "x", "\u0456": "i", "\u0458": "j", "\u0455": "s", "\u0501": "d", "\u0261": "g",
        "\u03b1": "a", "\u03bf": "o", "\u03bd": "v", "\u03c4": "t", "\u03b9": "i", "\u03ba": "k",
        "\u03c1": "p",
    }
)  # fmt: skip
_LEET: typing.Final = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)


@functools.lru_cache(maxsize=64)
def normalise(text: str) -> str:
    """NFKC, case-folded, zero-width characters removed, confusables folded (not leetspeak:
    digits stay digits, so links and numbers still read as written)."""
    text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH).casefold()
    return text.translate(_CONFUSABLES)


@functools.lru_cache(maxsize=64)
def fold(text: str) -> str:
    """:func:`normalise`, then leetspeak folded (`fr33` -> `free`): what word rules match."""
    return normalise(text).translate(_LEET)
