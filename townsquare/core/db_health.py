"""Telling "PostgreSQL is not answering" apart from "PostgreSQL refused this query".

A job that failed because the database could not be reached did nothing wrong: spending one
of its attempts on it would dead-letter a member's message after a few seconds of outage (the
chaos suite saw automod batches dead-lettered within 15 s of PostgreSQL going away). The
worker's retry policy asks :func:`is_database_unavailable` and keeps the attempt number,
as it does for Redis (docs/tasks.md).
"""

from __future__ import annotations

import typing

import asyncpg.exceptions  # type: ignore[import-untyped]  # no stubs; only its exceptions
from tortoise.exceptions import DBConnectionError

__all__ = ["ALERT_CONDITION", "ALERT_DEDUP_SECONDS", "is_database_unavailable", "outage_message"]

ALERT_CONDITION: typing.Final = "postgresql_unavailable"
"""The `alert_once` condition: one operator alert however many workers see the outage."""
ALERT_DEDUP_SECONDS: typing.Final = 60

_UNREACHABLE: typing.Final = (
    DBConnectionError,
    asyncpg.exceptions.PostgresConnectionError,  # lost or refused connections
    asyncpg.exceptions.CannotConnectNowError,  # starting up or shutting down
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
)
_MAX_CHAIN: typing.Final = 8


def is_database_unavailable(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from, says the database cannot be reached:
    a lost or refused connection, the server starting or shutting down. A socket error
    counts only when the database driver raised it (a REST call's refused connection is an
    ordinary failure)."""
    seen: BaseException | None = error
    for _ in range(_MAX_CHAIN):
        if seen is None:
            return False
        if isinstance(seen, _UNREACHABLE):
            return True
        if isinstance(seen, asyncpg.exceptions.InterfaceError) and "closed" in str(seen):
            return True  # "connection is closed": the pool handed out a dead connection
        if isinstance(seen, OSError) and _raised_by_driver(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _raised_by_driver(error: OSError) -> bool:
    frame = error.__traceback__
    while frame is not None:
        if "/asyncpg/" in frame.tb_frame.f_code.co_filename:
            return True
        frame = frame.tb_next
    return False


def outage_message(error: BaseException) -> str:
    return (
        f"PostgreSQL could not be reached ({type(error).__name__}: {str(error)[:200]}); "
        "jobs that need it wait and run when it answers, without using up their attempts"
    )
