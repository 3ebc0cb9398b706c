"""What the loopback platforms share: creators, app tokens, deliveries with retries."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import itertools
import secrets
import time
import typing

import aiohttp
from aiohttp import web

__all__ = [
    "DEFAULT_CREATORS",
    "Deliverer",
    "Delivery",
    "Handler",
    "LoopbackCreator",
    "TokenIssuer",
    "bearer",
    "iso",
    "json_error",
    "utc_now",
]

DEFAULT_CREATORS: typing.Final = ("dorian", "elsie")
"""The demo scenario's Streamer members, a creator on every loopback platform."""
_RETRY_DELAYS: typing.Final = (0.2, 1.0, 5.0)
"""A failed delivery is tried again after these delays (the real platforms wait longer)."""


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def iso(moment: datetime.datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as the platforms write times."""
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def json_error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"status": status, "message": message, "error": message}, status=status
    )


def bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" else ""


type Handler = typing.Callable[[web.Request], typing.Awaitable[web.Response]]

_ids = itertools.count(41_000_001)


@dataclasses.dataclass(slots=True)
class LoopbackCreator:
    """One creator on one loopback platform, and their stream when live."""

    login: str
    user_id: str = dataclasses.field(default_factory=lambda: str(next(_ids)))
    title: str = ""
    category: str = "Just Chatting"
    live_id: str | None = None
    started_at: datetime.datetime | None = None
    viewers: int = 0

    @property
    def display_name(self) -> str:
        return self.login.capitalize()


class TokenIssuer:
    """App tokens of the client-credentials grant; any client id and secret are accepted."""

    def __init__(self, lifetime: int = 5_184_000) -> None:
        self.lifetime = lifetime
        self.tokens: set[str] = set()
        self.issued = 0

    async def issue(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "client_credentials" or not form.get("client_id"):
            return json_error(400, "invalid client credentials request")
        if not form.get("client_secret"):
            return json_error(403, "invalid client secret")
        token = secrets.token_hex(15)
        self.tokens.add(token)
        self.issued += 1
        return web.json_response(
            {"access_token": token, "expires_in": self.lifetime, "token_type": "bearer"}
        )

    def valid(self, request: web.Request) -> bool:
        return bearer(request) in self.tokens

    def guarded(
        self, handler: Handler, *, also: typing.Callable[[web.Request], bool] | None = None
    ) -> Handler:
        """`handler`, answering 401 to a request without one of our tokens (or failing `also`)."""

        async def wrapped(request: web.Request) -> web.Response:
            if not self.valid(request) or (also is not None and not also(request)):
                return json_error(401, "Unauthorized")
            return await handler(request)

        return wrapped


@dataclasses.dataclass(slots=True)
class Delivery:
    """One webhook delivery as sent (kept for the control API and the tests)."""

    url: str
    headers: dict[str, str]
    body: bytes
    statuses: list[int] = dataclasses.field(default_factory=list)
    sent_at: float = dataclasses.field(default_factory=time.time)
    """When it was first sent (epoch seconds, as the REST log's `at`)."""


class Deliverer:
    """Sends deliveries in the background, retrying a failed one a few times."""

    def __init__(self) -> None:
        self.sent: list[Delivery] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def send(
        self, url: str, headers: dict[str, str], body: bytes, *, retry: bool = True
    ) -> Delivery:
        delivery = Delivery(url, headers, body)
        self.sent.append(delivery)
        self.spawn(self._deliver(delivery, retry))
        return delivery

    def spawn(self, work: typing.Coroutine[typing.Any, typing.Any, None]) -> None:
        """Run `work` in the background (kept until done, cancelled at close)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """One request, answered now (for verification requests that read the answer)."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=5)
            ) as answer:
                return answer.status, await answer.text()
        except (aiohttp.ClientError, TimeoutError):
            return 0, ""

    async def get(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.get(
                url, params=params, timeout=aiohttp.ClientTimeout(total=5)
            ) as answer:
                return answer.status, await answer.text()
        except (aiohttp.ClientError, TimeoutError):
            return 0, ""

    async def _deliver(self, delivery: Delivery, retry: bool) -> None:
        for delay in (0.0, *(_RETRY_DELAYS if retry else ())):
            if delay:
                await asyncio.sleep(delay)
            status, _ = await self.post(delivery.url, delivery.headers, delivery.body)
            delivery.statuses.append(status)
            if 200 <= status < 300 or 400 <= status < 500:
                return

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
