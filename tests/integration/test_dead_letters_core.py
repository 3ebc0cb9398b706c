"""Reading, replaying and dropping dead letters (townsquare.core.dead_letters) on real Redis."""

from __future__ import annotations

import json
import typing

import pytest

from tests.support.redis_cluster import ON_CLUSTER_TOO
from townsquare.core.audit.models import ActorKind, AuditEntry
from townsquare.core.audit.service import Actor
from townsquare.core.dead_letters import (
    drop_dead_letter,
    get_dead_letter,
    list_dead_letters,
    replay_all_dead_letters,
    replay_dead_letter,
    with_attempt,
)
from townsquare.tasks.dead_letters import dead_letter_fields
from townsquare.tasks.dead_letters import replay_dead_letter as reexported

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

OPERATOR = Actor(ActorKind.OPERATOR, None, "alice")


def _payload(task_name: str, *args: object, attempt: int | None = None) -> dict[str, typing.Any]:
    payload = {
        "task_id": f"id-{task_name}-{args}",
        "task_name": task_name,
        "labels": {},
        "labels_types": {},
        "args": list(args),
        "kwargs": {"flag": True},
    }
    return json.loads(with_attempt(payload, attempt))


async def _dead(
    redis: aioredis.Redis, keyspace: Keyspace, pipeline: str, task_name: str, *args: object
) -> str:
    try:
        raise KeyError("member 7")
    except KeyError as error:
        fields = dead_letter_fields(
            _payload(task_name, *args, attempt=4), pipeline=pipeline, error=error, attempts=4
        )
    entry_id = await redis.xadd(keyspace.key("dead_letter", pipeline), fields)  # type: ignore[arg-type]
    return entry_id.decode()


def test_the_attempt_label_is_set_and_removed() -> None:
    payload = _payload("x.y", 1)
    retried = json.loads(with_attempt(payload, 3))
    assert (retried["labels"], retried["labels_types"]) == ({"attempt": "3"}, {"attempt": 2})
    fresh = json.loads(with_attempt(retried, None))
    assert (fresh["labels"], fresh["labels_types"]) == ({}, {})
    assert reexported is replay_dead_letter


async def test_dead_letters_are_listed_newest_first_and_read_back(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    first = await _dead(redis, keyspace, "jobs", "giveaways.end", 1)
    second = await _dead(redis, keyspace, "jobs", "giveaways.end", 2)
    letters = await list_dead_letters(redis, keyspace, "jobs")
    assert [letter.entry_id for letter in letters] == [second, first]
    letter = letters[0]
    assert (letter.pipeline, letter.task_name, letter.attempts) == ("jobs", "giveaways.end", 4)
    assert letter.error == "KeyError: 'member 7'"
    assert "test_dead_letters_core.py" in letter.traceback
    assert json.loads(letter.args) == [2]
    assert letter.failed_at is not None
    assert letter.message is not None and json.loads(letter.message)["labels"] == {}
    assert await get_dead_letter(redis, keyspace, "jobs", first) == letters[1]
    assert await get_dead_letter(redis, keyspace, "jobs", "1-1") is None
    assert await list_dead_letters(redis, keyspace, "xp") == []


@pytest.mark.usefixtures("orm")
async def test_a_replay_queues_the_message_from_attempt_one_and_is_audited(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    entry_id = await _dead(redis, keyspace, "jobs", "giveaways.end", 5)
    # A hand-written dead letter whose message still carries an attempt label.
    stale = with_attempt(_payload("giveaways.end", 6), 9).decode()
    hand_written = (
        await redis.xadd(keyspace.key("dead_letter", "jobs"), {"task_name": "x", "message": stale})
    ).decode()

    new_id = await replay_dead_letter(redis, keyspace, "jobs", entry_id, actor=OPERATOR)
    await replay_dead_letter(redis, keyspace, "jobs", hand_written)

    queued = await redis.xrange(keyspace.key("stream", "jobs"))
    assert queued[0][0].decode() == new_id
    for _, fields in queued:
        message = json.loads(fields[b"data"])
        assert message["labels"] == {} and message["labels_types"] == {}
    assert [json.loads(fields[b"data"])["args"] for _, fields in queued] == [[5], [6]]
    assert await redis.xlen(keyspace.key("dead_letter", "jobs")) == 0
    assert await replay_dead_letter(redis, keyspace, "jobs", entry_id) is None

    [entry] = await AuditEntry.filter(action="dead_letter.replay")  # the second had no actor
    assert (entry.actor_kind, entry.actor_name) == (ActorKind.OPERATOR, "alice")
    assert entry.target == f"jobs {entry_id}"
    assert entry.before["error"] == "KeyError: 'member 7'"
    assert "args" not in entry.before
    assert entry.after == {"stream_id": new_id, "deleted": True}


async def test_unreadable_data_is_replayed_as_it_was_and_an_entry_without_message_is_refused(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    key = keyspace.key("dead_letter", "ai")
    raw = (await redis.xadd(key, {"task_name": "", "message": "not json {"})).decode()
    empty = (await redis.xadd(key, {"task_name": "ai.answer"})).decode()
    assert await replay_dead_letter(redis, keyspace, "ai", raw) is not None
    [(_, fields)] = await redis.xrange(keyspace.key("stream", "ai"))
    assert fields == {b"data": b"not json {"}
    with pytest.raises(ValueError, match="has no message to replay"):
        await replay_dead_letter(redis, keyspace, "ai", empty)
    assert await redis.xlen(key) == 1


async def test_replay_all_takes_every_entry_in_batches_and_leaves_unreplayable_ones(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    key = keyspace.key("dead_letter", "xp")
    for index in range(130):
        await redis.xadd(key, {"task_name": "xp.award", "message": json.dumps({"args": [index]})})
    await redis.xadd(key, {"task_name": "xp.award"})
    replayed = await replay_all_dead_letters(redis, keyspace, "xp")
    assert len(replayed) == 130
    queued = await redis.xrange(keyspace.key("stream", "xp"))
    assert [json.loads(fields[b"data"])["args"][0] for _, fields in queued] == list(range(130))
    assert await redis.xlen(key) == 1


@pytest.mark.usefixtures("orm")
async def test_a_drop_deletes_the_entry_and_is_audited(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    entry_id = await _dead(redis, keyspace, "automod", "automod.check", 3)
    assert await drop_dead_letter(redis, keyspace, "automod", entry_id, actor=OPERATOR)
    assert await redis.xlen(keyspace.key("dead_letter", "automod")) == 0
    assert await redis.xlen(keyspace.key("stream", "automod")) == 0
    assert not await drop_dead_letter(redis, keyspace, "automod", entry_id, actor=OPERATOR)
    [entry] = await AuditEntry.filter(action="dead_letter.drop")
    assert entry.target == f"automod {entry_id}"
    assert entry.before["task_name"] == "automod.check"
