"""The shards' client of the HTTP service's internal API (`/internal/v1`, flow 2).

Every call carries the service token. A 5xx answer, a timeout or a connection error is
retried with exponential backoff (tenacity), bounded by `http.internal_retry_attempts` and
`http.internal_retry_max_seconds` so that a deferred command still answers. A call that
still fails counts towards the :class:`CircuitBreaker`: after `http.internal_breaker_failures`
failed calls in a row it opens and calls fail at once with :class:`ServiceUnavailableError`
until `http.internal_breaker_reset_seconds` have passed; then one trial call goes through
(half-open) and closes it again on success. A 4xx answer is the service's considered refusal:
:class:`APIRefusedError`, never retried and never counted against the service.

A write (any method but GET, HEAD, OPTIONS) carries an `Idempotency-Key`, made once per call
(or given by the caller, e.g. from the interaction) and sent unchanged on every retry: a retry
of a request that was done but whose answer was lost gets that answer again instead of doing
the write twice. A 409 `idempotency_key_in_use` (the first request still running) is retried
like a 5xx.
"""

from __future__ import annotations

import enum
import time
import typing
import uuid

import aiohttp
import structlog
import tenacity

from townsquare.core.commands_api import (
    IDEMPOTENCY_HEADER,
    KEY_IN_USE,
    PREFIX,
    ConfigShown,
    idempotency_header_value,
    service_token,
)

if typing.TYPE_CHECKING:
    from collections.abc import Callable

    from townsquare.core.settings import Settings

__all__ = [
    "APIRefusedError",
    "BreakerState",
    "CircuitBreaker",
    "InternalAPIClient",
    "ServiceUnavailableError",
]

_log = structlog.get_logger(__name__)

BACKEND_UNAVAILABLE: typing.Final = "service_unavailable"
"""The code of the HTTP service's 503 when its Redis or PostgreSQL cannot answer."""
_SAFE_METHODS: typing.Final = frozenset({"GET", "HEAD", "OPTIONS"})


class ServiceUnavailableError(Exception):
    """The internal API could not answer: down, failing, or the breaker is open."""


class APIRefusedError(Exception):
    """The internal API answered 4xx: `status`, its error `code`, and the whole JSON body."""

    def __init__(self, status: int, code: str, body: dict[str, typing.Any]) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.body = body


class _TransientError(Exception):
    """A failure worth retrying: a 5xx answer, a timeout, a connection error.

    `backend_down`: the service answered 503 `service_unavailable`, its own Redis or
    PostgreSQL being unreachable (`townsquare.http.errors`): the service itself was reached.
    """

    def __init__(self, message: str, *, backend_down: bool = False) -> None:
        super().__init__(message)
        self.backend_down = backend_down


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts failed calls in a row; opens after `failures`, half-opens after `reset_seconds`.

    While half-open, one trial call is let through at a time; its success closes the breaker,
    its failure opens it for another `reset_seconds`.
    """

    def __init__(
        self,
        *,
        failures: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._failed = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.reset_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def before_call(self) -> None:
        """Raise :class:`ServiceUnavailableError` if the call must fail fast."""
        current = self.state
        if current is BreakerState.OPEN or (
            current is BreakerState.HALF_OPEN and self._trial_running
        ):
            raise ServiceUnavailableError("the internal API's circuit breaker is open")
        if current is BreakerState.HALF_OPEN:
            self._trial_running = True

    def succeeded(self) -> None:
        self._failed = 0
        self._opened_at = None
        self._trial_running = False

    def failed(self) -> None:
        self._failed += 1
        trial = self._trial_running
        self._trial_running = False
        if trial or self._failed >= self.failures:
            if self._opened_at is None or trial:
                _log.warning("internal_api_breaker_open", failures=self._failed)
            self._opened_at = self._clock()

    def released(self) -> None:
        """A trial call ended without a verdict on the service (e.g. a 4xx): allow another."""
        self._trial_running = False


def _code(body: object) -> str:
    """The error code of an error answer's JSON (`{"error": {"code": ...}}`), else "error"."""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code", "error")) if isinstance(error, dict) else "error"


class InternalAPIClient:
    """Calls to `/internal/v1`; see the module docs for retries and the breaker.

    :meth:`request` is what features' command modules build their typed calls on (e.g.
    `townsquare.features.xp.commands.api`); :meth:`config` is the kernel's own call.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_seconds: float = 2.0,
        attempts: int = 3,
        retry_max_seconds: float = 5.0,
        backoff_seconds: float = 0.1,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + PREFIX
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.attempts = attempts
        self.retry_max_seconds = retry_max_seconds
        self.backoff_seconds = backoff_seconds
        self.breaker = breaker or CircuitBreaker(failures=5, reset_seconds=30.0)
        self.on_unavailable: Callable[[], None] | None = None
        """Called when a call failed for good (retries spent) because the service could not
        be reached or failed itself: the shards raise an operator alert with it
        (deduplicated: one a minute). Not when it answered 503 `service_unavailable`: its
        Redis or PostgreSQL is down, which has its own alert (`redis_unavailable`,
        `postgresql_unavailable`)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> InternalAPIClient:
        http = settings.http
        return cls(
            http.internal_url,
            service_token(settings),
            timeout_seconds=http.internal_timeout_seconds,
            attempts=http.internal_retry_attempts,
            retry_max_seconds=http.internal_retry_max_seconds,
            breaker=CircuitBreaker(
                failures=http.internal_breaker_failures,
                reset_seconds=http.internal_breaker_reset_seconds,
            ),
        )

    def __repr__(self) -> str:  # never the token
        return f"InternalAPIClient({self.base_url!r}, breaker={self.breaker.state.value})"

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, typing.Any] | None = None,
        params: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, typing.Any]:
        """The JSON answer of a 2xx; :class:`APIRefusedError` on 4xx; otherwise unavailable.

        A write sends `idempotency_key` (default: a new random one) on every attempt; give
        one derived from what started the call (an interaction id) when the same logical
        call may be made again from scratch.
        """
        headers: dict[str, str] = {}
        if method.upper() not in _SAFE_METHODS:
            key = idempotency_key if idempotency_key is not None else uuid.uuid4().hex
            headers[IDEMPOTENCY_HEADER] = idempotency_header_value(key)
        self.breaker.before_call()
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.attempts)
            | tenacity.stop_after_delay(self.retry_max_seconds),
            wait=tenacity.wait_exponential(multiplier=self.backoff_seconds, max=2.0),
            retry=tenacity.retry_if_exception_type(_TransientError),
            reraise=True,
        )
        try:
            body: dict[str, typing.Any] = await retrying(
                self._once, method, path, json, params, headers
            )
        except _TransientError as error:
            self.breaker.failed()
            _log.warning("internal_api_unavailable", method=method, path=path, error=str(error))
            if self.on_unavailable is not None and not error.backend_down:
                self.on_unavailable()
            raise ServiceUnavailableError(str(error)) from error
        except APIRefusedError:
            self.breaker.released()
            raise
        self.breaker.succeeded()
        return body

    async def _once(
        self,
        method: str,
        path: str,
        json: dict[str, typing.Any] | None,
        params: dict[str, str] | None,
        headers: dict[str, str],
    ) -> dict[str, typing.Any]:
        # One short-lived session per call: commands are rare, and nothing is left to close
        # when the bot stops.
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout, headers=self._headers) as session,
                session.request(
                    method, self.base_url + path, json=json, params=params, headers=headers
                ) as answer,
            ):
                status = answer.status
                try:
                    body: object = await answer.json(content_type=None)
                except ValueError:
                    body = None
                if status >= 500:
                    raise _TransientError(
                        f"{method} {path}: {status}",
                        backend_down=status == 503 and _code(body) == BACKEND_UNAVAILABLE,
                    )
        except (aiohttp.ClientError, TimeoutError) as error:
            raise _TransientError(f"{method} {path}: {error!r}") from error
        if status == 409 and _code(body) == KEY_IN_USE:
            raise _TransientError(f"{method} {path}: the first attempt is still running")
        if status >= 400:
            details = body if isinstance(body, dict) else {}
            raise APIRefusedError(status, _code(body), details)
        if not isinstance(body, dict):
            raise _TransientError(f"{method} {path}: the answer is not a JSON object")
        return body

    async def config(self, guild_id: int) -> ConfigShown:
        body = await self.request("GET", f"/guilds/{guild_id}/config")
        return ConfigShown.model_validate(body)
