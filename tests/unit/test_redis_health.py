"""RedisHealth: what counts as Redis not answering, how long an outage lasted, its message."""

from __future__ import annotations

import datetime

from redis._parsers.base import BaseParser
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from townsquare.core.redis_health import RedisHealth, is_unavailable, outage_message

BUSY = ResponseError("BUSY Valkey is busy running a script. You can only call SCRIPT KILL")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_busy_loading_and_lost_connections_are_unavailability_other_replies_are_not() -> None:
    assert is_unavailable(BUSY)
    assert is_unavailable(ResponseError("LOADING Valkey is loading the dataset in memory"))
    assert is_unavailable(RedisConnectionError("Error 111 connecting"))
    assert is_unavailable(RedisTimeoutError("Timeout reading"))
    assert is_unavailable(ExceptionGroup("receiver", [BUSY, RedisConnectionError("x")]))
    assert not is_unavailable(ResponseError("WRONGTYPE Operation against a key"))
    assert not is_unavailable(ResponseError("XP_NOT_LOADED"))
    assert not is_unavailable(ExceptionGroup("mixed", [BUSY, ValueError("bug")]))
    assert not is_unavailable(ValueError("BUSY"))


def test_an_outage_runs_from_the_first_failure_to_the_first_answer() -> None:
    clock = Clock()
    at = datetime.datetime(2026, 12, 2, 10, 0, tzinfo=datetime.UTC)
    health = RedisHealth(clock=clock, wall=lambda: at)
    assert health.answered() is None
    assert health.healthy_for() == float("inf")
    health.failed(ResponseError("WRONGTYPE"))  # a refused command is not an outage
    assert health.outage_seconds() == 0
    health.failed(BUSY)
    clock.now += 2.5
    health.failed(BUSY)
    assert health.outage_seconds() == 2.5
    clock.now += 1.0
    assert health.healthy_for() == 1.0
    outage = health.answered()
    assert outage is not None
    assert (outage.kind, outage.started, outage.seconds) == ("busy", at, 3.5)
    assert health.answered() is None  # ended once
    message = outage_message(outage)
    assert message.startswith("Redis answered BUSY: a script ran too long")
    assert "for 4 s from 2026-12-02T10:00:00+00:00" in message


def test_busy_seen_in_an_outage_is_what_it_reports_whatever_came_after() -> None:
    clock = Clock()
    health = RedisHealth(clock=clock)
    health.failed(RedisTimeoutError("Timeout reading"))
    clock.now += 1
    health.failed(BUSY)
    clock.now += 1
    health.failed(RedisTimeoutError("Timeout reading"))  # a symptom of the same script
    outage = health.answered()
    assert outage is not None
    assert outage.kind == "busy"
    assert outage.error.startswith("ResponseError: BUSY")
    health.failed(RedisConnectionError("Error 111"))  # a new outage starts afresh
    later = health.answered()
    assert later is not None
    assert later.kind == "unreachable"


def test_unreachable_then_loading_is_reported_as_a_restart_and_loading_alone_as_loading() -> None:
    clock = Clock()
    health = RedisHealth(clock=clock)
    # As redis-py raises it: BusyLoadingError, a ConnectionError with the prefix dropped.
    loading = BaseParser.parse_error("LOADING Valkey is loading the dataset in memory")
    assert isinstance(loading, RedisConnectionError)
    health.failed(RedisConnectionError("Error 111"))
    clock.now += 3
    health.failed(loading)  # the restarted server answers before its data is back
    clock.now += 1
    health.failed(RedisConnectionError("Error 111"))
    outage = health.answered()
    assert outage is not None
    assert outage.kind == "restarted"
    assert outage_message(outage).startswith(
        "Redis was unreachable, then loading its data (restarted) for 4 s"
    )
    health.failed(loading)
    clock.now += 1
    health.failed(RedisConnectionError("Error 111"))
    alone = health.answered()
    assert alone is not None
    assert alone.kind == "loading"
