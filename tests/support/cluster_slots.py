"""Every Lua script call checks that its keys share one Redis Cluster slot (a pytest plugin).

On a cluster a script may only touch keys of one slot (else CROSSSLOT), and a single Redis
never complains, so every script call any test makes is checked here: the autouse fixture
wraps redis-py's `AsyncScript.__call__` and fails the call when its KEYS hash to more than
one slot. The keyspace gives keys used together one hash tag (docs/redis-keys.md, Cluster).
"""

from __future__ import annotations

import typing

import pytest
from redis.commands.core import AsyncScript
from redis.crc import key_slot

if typing.TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["CrossSlotError", "check_one_slot", "scripts_touch_one_slot"]


class CrossSlotError(AssertionError):
    """A script was called with keys of several cluster slots."""


def check_one_slot(keys: Iterable[str | bytes]) -> None:
    """Raise :class:`CrossSlotError` unless every key of `keys` hashes to the same slot."""
    encoded = [key.encode() if isinstance(key, str) else bytes(key) for key in keys]
    slots = {key_slot(key) for key in encoded}
    if len(slots) > 1:
        listed = ", ".join(f"{key.decode()} -> {key_slot(key)}" for key in encoded)
        raise CrossSlotError(f"a script's keys span {len(slots)} cluster slots: {listed}")


@pytest.fixture(autouse=True)
def scripts_touch_one_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    original = AsyncScript.__call__

    async def checked(
        self: AsyncScript,
        keys: typing.Sequence[typing.Any] | None = None,
        args: typing.Iterable[typing.Any] | None = None,
        client: typing.Any = None,
    ) -> typing.Any:
        check_one_slot(keys or [])
        return await original(self, keys, args, client)

    monkeypatch.setattr(AsyncScript, "__call__", checked)
