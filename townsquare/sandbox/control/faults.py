"""REST fault injection: slow answers, 429s and 5xx on chosen routes, for chaos runs and tests.

`POST /_sandbox/faults/rest` adds a rule; the REST middleware asks :meth:`RestFaults.pick` for
every `/api/v10` call before it authenticates or rate limits it. A rule matches by method and by
route template (exact) or path prefix, fires with its probability, and lives until it has
fired `count` times or `duration` seconds have passed. When it fires, the call waits
`delay_ms`, then either goes on as usual (no `status`) or is answered with `status`:

- `when: "before"` (the default): the call never reaches its route, so nothing changes;
- `when: "after"`: the route runs (the world changes, events go out), then its answer is
  replaced by the fault's — the answer lost on the way back, which retries must survive.

429 answers carry Discord's body `{"message", "retry_after", "global", "code": 0}` and headers
(`Retry-After`, `X-RateLimit-Scope`, `X-RateLimit-Global` for a global one); 5xx answers
Discord's `{"message": "...", "code": 0}`. Every call a rule touched is in
`GET /_sandbox/rest-calls` with `"fault": <rule id>`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import random
import time
import typing

from aiohttp import web

from townsquare.sandbox.control.common import ControlError, read_json
from townsquare.sandbox.rest.errors import json_response

if typing.TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["FAULT_STATUSES", "FaultRule", "RestFaults", "routes"]

FAULT_STATUSES: typing.Final = frozenset({429, 500, 502, 503})
_METHODS: typing.Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_MESSAGES: typing.Final = {
    429: "You are being rate limited.",
    500: "500: Internal Server Error",
    502: "502: Bad Gateway",
    503: "503: Service Unavailable",
}
_MAX_DELAY_MS: typing.Final = 60_000


@dataclasses.dataclass(slots=True)
class FaultRule:
    """One rule; `fired` counts the calls it touched."""

    id: int
    method: str | None
    route: str | None
    path_prefix: str | None
    delay_ms: int
    status: int | None
    retry_after: float
    is_global: bool
    when: str
    probability: float
    count: int | None
    expires_at: float | None
    fired: int = 0

    def matches(self, method: str, path: str, route: str) -> bool:
        if self.method is not None and method != self.method:
            return False
        if self.route is not None and route != self.route:
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)

    def spent(self, now: float) -> bool:
        return (self.count is not None and self.fired >= self.count) or (
            self.expires_at is not None and now >= self.expires_at
        )

    async def wait(self) -> None:
        if self.delay_ms:
            await asyncio.sleep(self.delay_ms / 1000)

    def response(self) -> web.Response:
        """The fault's answer, as Discord (or the proxy in front of it) gives it."""
        assert self.status is not None
        if self.status != 429:
            return json_response({"message": _MESSAGES[self.status], "code": 0}, self.status)
        response = json_response(
            {
                "message": _MESSAGES[429],
                "retry_after": self.retry_after,
                "global": self.is_global,
                "code": 0,
            },
            429,
        )
        response.headers["Retry-After"] = str(max(math.ceil(self.retry_after), 1))
        response.headers["X-RateLimit-Scope"] = "global" if self.is_global else "shared"
        if self.is_global:
            response.headers["X-RateLimit-Global"] = "true"
        return response

    def as_json(self) -> dict[str, typing.Any]:
        return {
            "id": self.id,
            "method": self.method,
            "route": self.route,
            "path": self.path_prefix,
            "delay_ms": self.delay_ms,
            "status": self.status,
            "retry_after": self.retry_after,
            "global": self.is_global,
            "when": self.when,
            "probability": self.probability,
            "count": self.count,
            "expires_at": self.expires_at,
            "fired": self.fired,
        }


class RestFaults:
    """The active rules, in the order they were added (the first that fires applies)."""

    def __init__(self, *, seed: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._random = random.Random(seed)  # noqa: S311 - fault sampling, not security
        self._clock = clock

    def add(self, body: dict[str, typing.Any]) -> FaultRule:
        """A rule from the control API's body; ControlError (400) naming a bad field."""
        method = body.get("method")
        if method is not None and (not isinstance(method, str) or method.upper() not in _METHODS):
            raise ControlError(400, "method must be one of GET, POST, PUT, PATCH, DELETE")
        route, path = body.get("route"), body.get("path")
        for name, value in (("route", route), ("path", path)):
            if value is not None and (not isinstance(value, str) or not value.startswith("/")):
                raise ControlError(400, f"{name} must be a string starting with /")
        delay_ms = _number(body, "delay_ms", 0, 0, _MAX_DELAY_MS)
        status = body.get("status")
        if status is not None and status not in FAULT_STATUSES:
            raise ControlError(400, "status must be 429, 500, 502 or 503")
        if status is None and not delay_ms:
            raise ControlError(400, "a fault needs a status or a delay_ms")
        when = body.get("when", "before")
        if when not in {"before", "after"}:
            raise ControlError(400, 'when must be "before" or "after"')
        if when == "after" and status == 429:
            raise ControlError(400, 'a 429 is never answered after the call ran: use "before"')
        is_global = body.get("global", False)
        if not isinstance(is_global, bool):
            raise ControlError(400, "global must be true or false")
        count = body.get("count")
        if count is not None and (
            not isinstance(count, int) or isinstance(count, bool) or count < 1
        ):
            raise ControlError(400, "count must be a positive integer")
        duration = body.get("duration")
        if duration is not None:
            duration = _number(body, "duration", 0, 0.001, 86_400)
        rule = FaultRule(
            id=next(self._ids),
            method=method.upper() if method is not None else None,
            route=route,
            path_prefix=path,
            delay_ms=int(delay_ms),
            status=status,
            retry_after=float(_number(body, "retry_after", 1.0, 0.001, 3600)),
            is_global=is_global,
            when=when,
            probability=float(_number(body, "probability", 1.0, 0, 1)),
            count=count,
            expires_at=self._clock() + duration if duration is not None else None,
        )
        self.rules.append(rule)
        return rule

    def pick(self, method: str, path: str, route: str) -> FaultRule | None:
        """The rule that fires on this call (counted as fired), if any; spent rules go."""
        if not self.rules:
            return None
        now = self._clock()
        self.rules = [r for r in self.rules if not r.spent(now)]
        for rule in self.rules:
            if rule.matches(method, path, route) and (
                rule.probability >= 1 or self._random.random() < rule.probability
            ):
                rule.fired += 1
                return rule
        return None

    def remove(self, rule_id: int | None = None) -> int:
        """Drop one rule by id, or all; how many went."""
        before = len(self.rules)
        self.rules = [r for r in self.rules if rule_id is not None and r.id != rule_id]
        return before - len(self.rules)


def _number(
    body: dict[str, typing.Any], key: str, default: float, low: float, high: float
) -> float:
    value = body.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
        raise ControlError(400, f"{key} must be a number {low:g}..{high:g}")
    return value


def routes(prefix: str, faults: RestFaults) -> list[web.RouteDef]:
    base = prefix + "/faults/rest"

    async def add(request: web.Request) -> web.Response:
        """Add a rule (see the module's docstring); answers it with its `id`."""
        return json_response(faults.add(await read_json(request)).as_json())

    async def listing(_: web.Request) -> web.Response:
        return json_response([r.as_json() for r in faults.rules])

    async def clear(_: web.Request) -> web.Response:
        return json_response({"removed": faults.remove()})

    async def clear_one(request: web.Request) -> web.Response:
        raw = request.match_info["rule_id"]
        if not raw.isdigit():
            raise ControlError(400, "rule_id must be an integer")
        removed = faults.remove(int(raw))
        if not removed:
            raise ControlError(404, f"no fault rule {raw}")
        return json_response({"removed": removed})

    return [
        web.post(base, add),
        web.get(base, listing),
        web.delete(base, clear),
        web.delete(base + "/{rule_id}", clear_one),
    ]
