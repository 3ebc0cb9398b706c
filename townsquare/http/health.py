"""`/healthz` (the process answers), `/readyz` (PostgreSQL and Redis answer).

`/metrics` is not here: it has a listener of its own (townsquare.http.metrics).
"""

from __future__ import annotations

import asyncio
import typing

from quart import Blueprint, Response, jsonify
from quart_schema import hide
from tortoise import Tortoise

from townsquare.http.state import state

__all__ = ["blueprint"]

blueprint = Blueprint("health", __name__)

CHECK_TIMEOUT: typing.Final = 2.0


@blueprint.get("/healthz")
@hide
async def healthz() -> Response:
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
@hide
async def readyz() -> Response:
    checks = dict(
        zip(
            ("postgresql", "redis"),
            await asyncio.gather(_check(_postgres()), _check(_redis())),
            strict=True,
        )
    )
    failing = sorted(name for name, ok in checks.items() if not ok)
    response = jsonify(
        {
            "status": "ready" if not failing else "unavailable",
            "checks": {name: "ok" if ok else "unreachable" for name, ok in checks.items()},
            "failing": failing,
        }
    )
    response.status_code = 200 if not failing else 503
    return response


async def _check(probe: typing.Awaitable[object]) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await probe
    except Exception:  # any failure means "not ready"; the body names which
        return False
    return True


async def _postgres() -> None:
    await Tortoise.get_connection("default").execute_query("SELECT 1")


async def _redis() -> None:
    await state().require_redis().ping()
