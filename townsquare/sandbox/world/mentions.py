"""Who a message pings: mentions parsed from its content, filtered by `allowed_mentions`.

As on Discord, a mention the author's `allowed_mentions` does not allow stays in the text but
pings no one, so it is absent from the message's `mentions`, `mention_roles` and
`mention_everyone`. Without `allowed_mentions` every mention pings (hikari always sends one, and
by default it allows none).
"""

from __future__ import annotations

import re
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Container

    from townsquare.sandbox.world.payloads import JSON

__all__ = ["Pings", "pings"]

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


class Pings(typing.NamedTuple):
    user_ids: list[int]
    role_ids: list[int]
    everyone: bool


def pings(
    content: str, users: Container[int], roles: Container[int], allowed: JSON | None
) -> Pings:
    """The users and roles (that exist) and @everyone/@here that `content` pings."""
    everyone = "@everyone" in content or "@here" in content
    if "<@" not in content:  # the common case, and the hot path of a busy channel
        return Pings([], [], everyone and _allows(allowed, "everyone", None))
    user_ids = [
        int(m)
        for m in dict.fromkeys(_USER_MENTION.findall(content))
        if int(m) in users and _allows(allowed, "users", m)
    ]
    role_ids = [
        int(r)
        for r in dict.fromkeys(_ROLE_MENTION.findall(content))
        if int(r) in roles and _allows(allowed, "roles", r)
    ]
    return Pings(user_ids, role_ids, everyone and _allows(allowed, "everyone", None))


def _allows(allowed: JSON | None, kind: str, target: str | None) -> bool:
    if allowed is None:
        return True
    if kind in allowed.get("parse", ()):
        return True
    return target is not None and target in {str(i) for i in allowed.get(kind, ())}
