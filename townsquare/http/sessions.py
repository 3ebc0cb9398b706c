"""Dashboard sessions: JWTs in HttpOnly cookies, revocable through Redis.

A login creates a session id and two HS256 JWTs naming it: a short-lived access token
(`http.session_minutes`, cookie `ts_session`, sent everywhere) and a refresh token
(`http.refresh_days`, cookie `ts_refresh`, sent only to `/auth`). Both cookies are HttpOnly and
SameSite=Lax, and Secure when the dashboard is served over https. Logout writes a revocation
entry for the session id that lives until the refresh token would expire, so neither token
works again even though JWTs cannot be recalled.

The signing key is `http.jwt_signing_key` from the environment. Against the sandbox with no key
set, a key is generated once and kept in `<var_dir>/dev-jwt.key` (mode 600), so sessions
survive a restart; with a bot token the settings refuse to load without a key.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import json
import os
import re
import secrets
import typing

import jwt

from townsquare.http.errors import APIError

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from werkzeug.sansio.response import Response

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings

__all__ = [
    "ACCESS_COOKIE",
    "DEV_KEY_FILE",
    "REFRESH_COOKIE",
    "Claims",
    "DiscordTokens",
    "SessionSigner",
    "load_discord_tokens",
    "revoke_session",
    "save_discord_tokens",
    "signing_key",
]

ACCESS_COOKIE: typing.Final = "ts_session"
REFRESH_COOKIE: typing.Final = "ts_refresh"
REFRESH_PATH: typing.Final = "/auth"
DEV_KEY_FILE: typing.Final = "dev-jwt.key"
ISSUER: typing.Final = "townsquare"
AUDIENCE: typing.Final = "townsquare-dashboard"
ALGORITHM: typing.Final = "HS256"
_SESSION_ID = re.compile(r"^[a-f0-9]{32}$")


def signing_key(settings: Settings) -> bytes:
    """The key that signs sessions (see the module docs for where it comes from)."""
    if settings.http.jwt_signing_key is not None:
        return settings.http.jwt_signing_key.get_secret_value().encode()
    if not settings.uses_sandbox:
        msg = "TOWNSQUARE__HTTP__JWT_SIGNING_KEY is required with a bot token"
        raise RuntimeError(msg)
    path = settings.paths.var_dir / DEV_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(secrets.token_urlsafe(48))
    return path.read_bytes().strip()


@dataclasses.dataclass(frozen=True, slots=True)
class Claims:
    """A verified token's content."""

    user_id: int
    username: str
    session_id: str
    kind: typing.Literal["access", "refresh"]
    expires_at: datetime.datetime


class SessionSigner:
    """Mints and verifies the session JWTs and derives the session's CSRF token."""

    def __init__(
        self,
        key: bytes,
        *,
        access_lifetime: datetime.timedelta,
        refresh_lifetime: datetime.timedelta,
        secure_cookies: bool,
    ) -> None:
        if len(key) < 32:
            msg = "the JWT signing key must be at least 32 bytes"
            raise ValueError(msg)
        self._key = key
        self._csrf_key = hmac.new(key, b"townsquare csrf token", hashlib.sha256).digest()
        self.access_lifetime = access_lifetime
        self.refresh_lifetime = refresh_lifetime
        self.secure_cookies = secure_cookies

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionSigner:
        return cls(
            signing_key(settings),
            access_lifetime=datetime.timedelta(minutes=settings.http.session_minutes),
            refresh_lifetime=datetime.timedelta(days=settings.http.refresh_days),
            secure_cookies=settings.http.public_url.startswith("https://"),
        )

    def mint(
        self,
        kind: typing.Literal["access", "refresh"],
        *,
        user_id: int,
        username: str,
        session_id: str,
        now: datetime.datetime | None = None,
    ) -> str:
        now = now or datetime.datetime.now(datetime.UTC)
        lifetime = self.access_lifetime if kind == "access" else self.refresh_lifetime
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(user_id),
            "name": username,
            "sid": session_id,
            "typ": kind,
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(16),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(self, token: str, kind: typing.Literal["access", "refresh"]) -> Claims:
        """The token's claims; :class:`APIError` 401 when it is forged, altered or expired."""
        try:
            data = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "sid", "typ"]},
            )
        except jwt.ExpiredSignatureError:
            raise APIError(
                401, "session_expired", "your session has expired; log in again"
            ) from None
        except jwt.InvalidTokenError:
            raise APIError(401, "session_invalid", "the session token is not valid") from None
        if data.get("typ") != kind or not _SESSION_ID.match(str(data.get("sid", ""))):
            raise APIError(401, "session_invalid", "the session token is not valid")
        try:
            user_id = int(data["sub"])
        except ValueError:
            raise APIError(401, "session_invalid", "the session token is not valid") from None
        return Claims(
            user_id=user_id,
            username=str(data.get("name", "")),
            session_id=str(data["sid"]),
            kind=kind,
            expires_at=datetime.datetime.fromtimestamp(int(data["exp"]), datetime.UTC),
        )

    def csrf_token(self, session_id: str) -> str:
        return hmac.new(self._csrf_key, session_id.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, session_id: str, presented: str | None) -> None:
        # As bytes: compare_digest raises TypeError on text that is not ASCII (a 500).
        expected = self.csrf_token(session_id).encode()
        if not presented or not hmac.compare_digest(presented.encode(), expected):
            raise APIError(403, "csrf_failed", "the form is missing its CSRF token or it is wrong")

    def set_cookie(
        self, response: Response, kind: typing.Literal["access", "refresh"], token: str
    ) -> None:
        lifetime = self.access_lifetime if kind == "access" else self.refresh_lifetime
        response.set_cookie(
            ACCESS_COOKIE if kind == "access" else REFRESH_COOKIE,
            token,
            max_age=int(lifetime.total_seconds()),
            path="/" if kind == "access" else REFRESH_PATH,
            secure=self.secure_cookies,
            httponly=True,
            samesite="Lax",
        )

    def clear_cookies(self, response: Response) -> None:
        for name, path in ((ACCESS_COOKIE, "/"), (REFRESH_COOKIE, REFRESH_PATH)):
            response.delete_cookie(
                name, path=path, secure=self.secure_cookies, httponly=True, samesite="Lax"
            )


def new_session_id() -> str:
    return secrets.token_hex(16)


@dataclasses.dataclass(frozen=True, slots=True)
class DiscordTokens:
    """The user's Discord OAuth2 tokens, kept server-side under the session."""

    user_id: int
    username: str
    access_token: str
    refresh_token: str
    expires_at: float
    """Unix time the access token expires."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> DiscordTokens:
        data = json.loads(raw)
        return cls(
            user_id=int(data["user_id"]),
            username=str(data["username"]),
            access_token=str(data["access_token"]),
            refresh_token=str(data["refresh_token"]),
            expires_at=float(data["expires_at"]),
        )


async def save_discord_tokens(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    session_id: str,
    tokens: DiscordTokens,
    lifetime: datetime.timedelta,
) -> None:
    key = keyspace.key("dashboard_session", session_id)
    await redis.set(key, tokens.to_json(), ex=int(lifetime.total_seconds()))


async def load_discord_tokens(
    redis: aioredis.Redis, keyspace: Keyspace, session_id: str
) -> DiscordTokens | None:
    raw = await redis.get(keyspace.key("dashboard_session", session_id))
    return None if raw is None else DiscordTokens.from_json(raw)


async def is_revoked(redis: aioredis.Redis, keyspace: Keyspace, session_id: str) -> bool:
    return bool(await redis.exists(keyspace.key("session_revoked", session_id)))


async def revoke_session(
    redis: aioredis.Redis, keyspace: Keyspace, session_id: str, until: datetime.datetime
) -> None:
    """Make every token of the session invalid until `until` (its last token's expiry)."""
    seconds = max(int((until - datetime.datetime.now(datetime.UTC)).total_seconds()) + 1, 1)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keyspace.key("session_revoked", session_id), "1", ex=seconds)
        pipe.delete(
            keyspace.key("dashboard_session", session_id),
            keyspace.key("session_guilds", session_id),
        )
        await pipe.execute()
