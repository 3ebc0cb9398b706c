"""What the platform clients share: app tokens cached in Redis, requests with rate limits.

App tokens come from the client-credentials grant and are cached in Redis (family
`streams_token`) for their lifetime less a margin, so every process shares one token and a
new one is fetched before the old one expires; a 401 drops the cached token and retries once.
A 429 waits for the platform's reset (`Ratelimit-Reset`, epoch seconds; `Retry-After`
otherwise), at most :data:`MAX_RATE_WAIT` seconds, then retries; an answer saying no request
is left (`Ratelimit-Remaining: 0`) makes the process's next request wait for the reset.
Every answer's `Ratelimit-*` headers are also written to the bucket all processes share in
Redis (:mod:`.ratelimit`), from which each request takes a point first: when another process
emptied it, the request waits for its reset too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import typing

import aiohttp
import orjson
import structlog

from townsquare.core.process_caches import CacheSlot
from townsquare.features.streams.domain.platforms import ratelimit

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.features.streams.domain.access import PlatformAccess

__all__ = [
    "EXHAUSTED",
    "MAX_RATE_WAIT",
    "TIMEOUT",
    "CreatorInfo",
    "PlatformClient",
    "PlatformError",
    "token_lifetime",
]

log = structlog.get_logger(__name__)

MAX_RATE_WAIT: typing.Final = 30.0
"""Longest wait for a rate limit's reset before the call fails (and its job retries)."""
TIMEOUT: typing.Final = aiohttp.ClientTimeout(total=10)
_ATTEMPTS: typing.Final = 3
EXHAUSTED: typing.Final = CacheSlot[dict[str, float]]("streams.exhausted", dict)
"""Per platform: until when (epoch s) its rate limit said no request is left; one per process
(its resources' caches), shared by every client `Platforms` makes there."""


class PlatformError(Exception):
    """The platform refused or failed a request; `status` 0 when it could not be reached."""

    def __init__(self, platform: str, status: int, message: str) -> None:
        super().__init__(f"{platform} answered {status}: {message}")
        self.status = status
        self.message = message


@dataclasses.dataclass(frozen=True, slots=True)
class CreatorInfo:
    """A creator as the platform knows them."""

    platform_id: str
    login: str
    display_name: str


def token_lifetime(expires_in: int) -> int:
    """How long a token that `expires_in` seconds is cached: renewed a tenth (at least a
    minute, at most an hour) before it expires."""
    margin = min(3600, max(60, expires_in // 10))
    return max(1, expires_in - margin)


class PlatformClient:
    """One platform's API over `session`, with the app token and rate limits handled."""

    token_path: typing.ClassVar[str] = "/oauth2/token"  # noqa: S105 - a URL path

    def __init__(
        self,
        access: PlatformAccess,
        session: aiohttp.ClientSession,
        redis: aioredis.Redis,
        keyspace: Keyspace,
        exhausted: dict[str, float] | None = None,
    ) -> None:
        self.access = access
        self.session = session
        self.redis = redis
        self.keyspace = keyspace
        self.exhausted: dict[str, float] = {} if exhausted is None else exhausted
        """The process's :data:`EXHAUSTED` (a client of its own without one)."""

    @property
    def _token_key(self) -> str:
        return self.keyspace.key("streams_token", self.access.platform.value)

    async def app_token(self) -> str:
        """The cached app token, or a new one from the client-credentials grant."""
        cached = await self.redis.get(self._token_key)
        if cached is not None:
            return cached.decode() if isinstance(cached, bytes) else str(cached)
        form = {
            "client_id": self.access.client_id,
            "client_secret": self.access.client_secret.get_secret_value(),
            "grant_type": "client_credentials",
        }
        try:
            async with self.session.post(
                self.access.auth_url + self.token_path, data=form, timeout=TIMEOUT
            ) as answer:
                body = await answer.read()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise PlatformError(self.access.platform, 0, f"token endpoint: {error!r}") from None
        if status != 200:
            raise PlatformError(self.access.platform, status, "the token request was refused")
        payload = orjson.loads(body)
        token = str(payload["access_token"])
        lifetime = token_lifetime(int(payload.get("expires_in", 3600)))
        await self.redis.set(self._token_key, token, ex=lifetime)
        log.info("streams.app_token", platform=self.access.platform.value, cached_for=lifetime)
        return token

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: typing.Any = None,
        json: typing.Any = None,
        authenticated: bool = True,
    ) -> tuple[int, typing.Any]:
        """`method path` on the API; the status and the decoded JSON body (None if empty)."""
        for attempt in range(_ATTEMPTS):
            # The bucket ran dry on an earlier answer (this process's): wait for its reset
            # rather than spend a request on a 429.
            pause = self.exhausted.get(self.access.platform, 0.0) - time.time()
            if pause > 0:
                await asyncio.sleep(min(MAX_RATE_WAIT, pause))
            headers: dict[str, str] = {}
            if authenticated:
                headers = self.auth_headers(await self.app_token())
            # The bucket every process spends from (Redis): wait if another process emptied it.
            wait = await ratelimit.take(self.redis, self.keyspace, self.access.platform)
            if wait > 0:
                await asyncio.sleep(min(MAX_RATE_WAIT, wait))
            try:
                async with self.session.request(
                    method,
                    self.access.api_url + path,
                    params=params,
                    json=json,
                    headers=headers,
                    timeout=TIMEOUT,
                ) as answer:
                    body = await answer.read()
                    status, answer_headers = answer.status, answer.headers
            except (aiohttp.ClientError, TimeoutError) as error:
                raise PlatformError(self.access.platform, 0, f"{path}: {error!r}") from None
            await ratelimit.record(self.redis, self.keyspace, self.access.platform, answer_headers)
            if answer_headers.get("Ratelimit-Remaining", "").strip() == "0":
                self.exhausted[self.access.platform] = time.time() + _rate_wait(answer_headers)
            if status == 401 and authenticated and attempt == 0:
                await self.redis.delete(self._token_key)
                continue
            if status == 429 and attempt < _ATTEMPTS - 1:
                await asyncio.sleep(_rate_wait(answer_headers))
                continue
            try:
                decoded = orjson.loads(body) if body else None
            except orjson.JSONDecodeError:
                raise PlatformError(self.access.platform, status, f"{path}: not JSON") from None
            return status, decoded
        raise PlatformError(self.access.platform, 429, f"{path}: still rate limited")

    def fail(self, status: int, what: str) -> PlatformError:
        return PlatformError(self.access.platform, status, what)


def _rate_wait(headers: typing.Mapping[str, str]) -> float:
    """Seconds until the rate limit resets, from `Ratelimit-Reset` or `Retry-After`."""
    reset = headers.get("Ratelimit-Reset")
    if reset is not None and reset.strip().isdigit():
        return min(MAX_RATE_WAIT, max(0.0, int(reset) - time.time()))
    retry_after = headers.get("Retry-After", "1")
    try:
        return min(MAX_RATE_WAIT, max(0.0, float(retry_after)))
    except ValueError:
        return 1.0
