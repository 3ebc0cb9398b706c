"""The simulated community: members chatting, spamming, talking in voice, using the bot."""

from __future__ import annotations

from townsquare.sandbox.crowd.crowd import Crowd, CrowdAction
from townsquare.sandbox.crowd.script import BANNED_WORDS, WEIGHTS

__all__ = ["BANNED_WORDS", "WEIGHTS", "Crowd", "CrowdAction"]
