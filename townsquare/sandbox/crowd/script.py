"""What the crowd says and how often it does each thing.

Plain data, so a reader (or a test of the moderation features) can see exactly what traffic
the crowd produces: chat lines, the spam, the links and the banned words.
"""

from __future__ import annotations

import typing

__all__ = [
    "BANNED_WORDS",
    "CHAT_LINES",
    "COMMANDS",
    "LINKS",
    "SPAM_LINES",
    "SPAM_REPEATS",
    "WEIGHTS",
]

WEIGHTS: typing.Final[dict[str, int]] = {
    "chat": 60,
    "spam": 3,
    "link": 5,
    "banned_word": 3,
    "voice_join": 6,
    "voice_mute": 4,
    "voice_leave": 5,
    "member_join": 3,
    "member_leave": 2,
    "command": 6,
    "click": 4,
}
"""Relative frequency of each kind of action. Chat comes in bursts (a conversation of 3-8
messages among 2-4 members in one channel), which the following chat actions continue."""

CHAT_LINES: typing.Final[tuple[str, ...]] = (
    "good morning, everyone!",
    "has anyone tried the new map yet?",
    "lol same",
    "that stream last night was great",
    "who's up for a game later?",
    "I finally beat that boss",
    "anyone know a good recipe for banana bread?",
    "brb, coffee",
    "welcome to the new folks!",
    "what's everyone listening to?",
    "that's a hot take",
    "congrats on the level up!",
    "does the bot have a leaderboard?",
    "sounds good to me",
    "haha yes",
    "I'll be in voice in 5",
    "nice screenshot",
    "we should do a movie night",
)
SPAM_LINES: typing.Final[tuple[str, ...]] = (
    "BUY CHEAP GOLD NOW",
    "join my server join my server",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
)
SPAM_REPEATS: typing.Final[int] = 5
"""A spammer posts the same line this many times in a row."""
LINKS: typing.Final[tuple[str, ...]] = (
    "check this out https://example.com/article",
    "free nitro here https://free-nitro.example/claim",
    "my clip: https://clips.example.org/abc123",
    "https://discord.gg/invite-elsewhere",
)
BANNED_WORDS: typing.Final[tuple[str, ...]] = ("frick", "dang", "heck")
"""Stand-ins for a server's banned words: the crowd's `banned_word` lines contain one."""
COMMANDS: typing.Final[tuple[str, ...]] = ("rank", "leaderboard", "help")
"""Slash commands the crowd uses when the bot has registered none."""
