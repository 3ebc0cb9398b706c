"""Discord's `nonce` for a message the bot posts, one helper for every feature.

A post retried after Discord took it but its answer was lost (or the worker was killed before
recording it) must not make a second message. Sent with `enforce_nonce` (hikari adds it
whenever a `nonce` is given), Discord answers a repeat of the same author's nonce within a few
minutes with the first message. So each post's nonce is derived from what identifies it
(`message_nonce("giveaway", 12, "draw", 3)`): the same for every retry of that post, different
for every other post.
"""

from __future__ import annotations

import hashlib

__all__ = ["message_nonce"]


def message_nonce(*parts: int | str) -> str:
    """24 hex characters (Discord allows 25) from the parts that identify one post."""
    text = "/".join(map(str, parts))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
