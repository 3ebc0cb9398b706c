"""Reply-to-continue: the last turns of a conversation, kept under each answer's message id.

Replying to one of the assistant's answers continues its conversation: the worker finds the
turns stored under the replied-to message and stores them, plus the new exchange, under the
new answer's messages. At most :data:`MAX_EXCHANGES` are kept (the oldest go first), for a
day.
"""

from __future__ import annotations

import typing

import orjson

from townsquare.features.assistant.domain.prompt import Exchange

if typing.TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = ["CONVERSATION_TTL_SECONDS", "MAX_EXCHANGES", "load_history", "store_history"]

MAX_EXCHANGES: typing.Final = 4
CONVERSATION_TTL_SECONDS: typing.Final = 86_400
_ANSWER_CHARACTERS: typing.Final = 4_000
"""An answer is kept up to this many characters (its sources list is not needed)."""


async def load_history(
    redis: aioredis.Redis, keyspace: Keyspace, message_id: int
) -> tuple[Exchange, ...] | None:
    """The conversation that `message_id` (an answer) ended, or None if it is not an answer."""
    raw = await redis.get(keyspace.key("ai_conversation", message_id))
    if raw is None:
        return None
    try:
        items = orjson.loads(raw)
        return tuple(Exchange(str(i["q"]), str(i["a"])) for i in items)
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return ()


async def store_history(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    message_ids: Iterable[int],
    history: Sequence[Exchange],
) -> None:
    """Keep `history` (the last :data:`MAX_EXCHANGES`) under each of the answer's messages."""
    kept = [{"q": e.question, "a": e.answer[:_ANSWER_CHARACTERS]} for e in history]
    data = orjson.dumps(kept[-MAX_EXCHANGES:])
    async with redis.pipeline(transaction=False) as pipe:
        for message_id in message_ids:
            pipe.set(keyspace.key("ai_conversation", message_id), data, ex=CONVERSATION_TTL_SECONDS)
        await pipe.execute()
