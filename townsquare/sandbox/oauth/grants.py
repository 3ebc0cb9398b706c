"""Authorization codes, access tokens and refresh tokens, with Discord's lifetimes and errors.

A code is exchanged at most once and only with the `redirect_uri` it was issued for; a refresh
replaces both the access and the refresh token. Errors are OAuth2's JSON
(`{"error": "invalid_grant", "error_description": ...}`), as Discord answers them.
"""

from __future__ import annotations

import dataclasses
import datetime
import secrets
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Callable

    from townsquare.sandbox.world.models import Application

__all__ = ["KNOWN_SCOPES", "AccessToken", "AuthorizationCode", "OAuthError", "OAuthStore"]

CODE_LIFETIME: typing.Final = datetime.timedelta(minutes=10)
ACCESS_LIFETIME: typing.Final = datetime.timedelta(days=7)
KNOWN_SCOPES: typing.Final = frozenset(
    {
        "identify",
        "email",
        "guilds",
        "guilds.join",
        "guilds.members.read",
        "connections",
        "bot",
        "applications.commands",
        "role_connections.write",
    }
)


class OAuthError(Exception):
    """An OAuth2 error: `error` is the RFC 6749 code Discord uses."""

    def __init__(self, status: int, error: str, description: str | None = None) -> None:
        super().__init__(description or error)
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description is not None:
            body["error_description"] = self.description
        return body

    @classmethod
    def invalid_grant(cls, field: str) -> OAuthError:
        return cls(400, "invalid_grant", f'Invalid "{field}" in request.')


@dataclasses.dataclass(frozen=True, slots=True)
class AuthorizationCode:
    user_id: int
    scopes: tuple[str, ...]
    redirect_uri: str
    expires_at: datetime.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class AccessToken:
    access_token: str
    refresh_token: str
    user_id: int
    scopes: tuple[str, ...]
    expires_at: datetime.datetime

    def response(self, now: datetime.datetime) -> dict[str, typing.Any]:
        """The token endpoint's success body."""
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": max(round((self.expires_at - now).total_seconds()), 0),
            "refresh_token": self.refresh_token,
            "scope": " ".join(self.scopes),
        }


class OAuthStore:
    """Every live code and token of the sandbox's one application."""

    def __init__(self, application: Application, clock: Callable[[], datetime.datetime]) -> None:
        self.application = application
        self.clock = clock
        self._codes: dict[str, AuthorizationCode] = {}
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, AccessToken] = {}

    def check_client(self, client_id: str | None, client_secret: str | None) -> None:
        if client_id != str(self.application.id) or not secrets.compare_digest(
            (client_secret or "").encode(), self.application.client_secret.encode()
        ):
            raise OAuthError(401, "invalid_client")

    def issue_code(self, user_id: int, scopes: tuple[str, ...], redirect_uri: str) -> str:
        code = secrets.token_urlsafe(24)
        expires_at = self.clock() + CODE_LIFETIME
        self._codes[code] = AuthorizationCode(user_id, scopes, redirect_uri, expires_at)
        return code

    def exchange_code(self, code: str, redirect_uri: str | None) -> AccessToken:
        """The tokens for `code`; the code is spent even when the redirect URI is wrong."""
        grant = self._codes.pop(code, None)
        if grant is None or grant.expires_at <= self.clock():
            raise OAuthError.invalid_grant("code")
        if redirect_uri != grant.redirect_uri:
            raise OAuthError.invalid_grant("redirect_uri")
        return self._issue(grant.user_id, grant.scopes)

    def refresh(self, refresh_token: str) -> AccessToken:
        """New tokens for a refresh token; the old access and refresh tokens stop working."""
        old = self._refresh.pop(refresh_token, None)
        if old is None:
            raise OAuthError.invalid_grant("refresh_token")
        self._access.pop(old.access_token, None)
        return self._issue(old.user_id, old.scopes)

    def revoke(self, token: str) -> None:
        """End the pair that `token` (access or refresh) belongs to; unknown tokens are fine."""
        pair = self._access.get(token) or self._refresh.get(token)
        if pair is not None:
            self._access.pop(pair.access_token, None)
            self._refresh.pop(pair.refresh_token, None)

    def bearer(self, access_token: str) -> AccessToken | None:
        """The live token for an `Authorization: Bearer` value, None if unknown or expired."""
        token = self._access.get(access_token)
        if token is None or token.expires_at <= self.clock():
            return None
        return token

    def _issue(self, user_id: int, scopes: tuple[str, ...]) -> AccessToken:
        token = AccessToken(
            access_token=secrets.token_urlsafe(24),
            refresh_token=secrets.token_urlsafe(24),
            user_id=user_id,
            scopes=scopes,
            expires_at=self.clock() + ACCESS_LIFETIME,
        )
        self._access[token.access_token] = token
        self._refresh[token.refresh_token] = token
        return token
