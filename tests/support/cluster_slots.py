"""Every Lua script call checks that its keys share one Redis Cluster slot (a pytest plugin).

On a cluster a script may only touch keys of one slot (else CROSSSLOT), and a single Redis
never complains, so every script call any test makes is checked here: the autouse fixture
wraps redis-py's `AsyncScript.__call__`, and `execute_command` of the client, its pipelines
and the `CommandBatcher` for EVAL and EVALSHA sent by hand, and fails the call when its KEYS
hash to more than one slot. The keyspace gives keys used together one hash tag
(docs/redis-keys.md, Cluster).
"""

from __future__ import annotations

import typing

import pytest
from redis.asyncio.client import Pipeline, Redis
from redis.commands.core import AsyncScript
from redis.crc import key_slot

from townsquare.core.redis_batch import CommandBatcher

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
    for owner in (Redis, Pipeline, CommandBatcher):
        _check_evals(monkeypatch, owner)


def _check_evals(monkeypatch: pytest.MonkeyPatch, owner: type) -> None:
    original = owner.execute_command

    def keys_of(args: tuple[typing.Any, ...]) -> list[typing.Any]:
        name = args[0].upper() if args and isinstance(args[0], str) else ""
        if name in ("EVAL", "EVALSHA") and len(args) >= 3:
            return list(args[3 : 3 + int(args[2])])
        return []

    if owner is Pipeline:  # queues and returns the pipeline, synchronously

        def queued(self: typing.Any, *args: typing.Any, **options: typing.Any) -> typing.Any:
            check_one_slot(keys_of(args))
            return original(self, *args, **options)

        monkeypatch.setattr(owner, "execute_command", queued)
        return

    async def sent(self: typing.Any, *args: typing.Any, **options: typing.Any) -> typing.Any:
        check_one_slot(keys_of(args))
        return await original(self, *args, **options)

    monkeypatch.setattr(owner, "execute_command", sent)
