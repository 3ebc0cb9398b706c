"""Who is asking, and may they manage this guild?

:func:`current_session` reads the access cookie (renewing it from the refresh cookie on
dashboard pages), checks the session is not revoked, and caches the result on `g`.
:func:`managed_guilds` asks Discord which guilds the user owns or holds ADMINISTRATOR or
MANAGE_GUILD in (`/users/@me/guilds` with the user's OAuth token, refreshed when it expired),
keeps the guilds the bot is in (a guild row without `left_at`), and caches the answer in Redis
for `http.manage_check_seconds`, so a change is re-checked against Discord at most that long
after the last look. :func:`require_manager` is the check every guild route passes first.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
import typing

from quart import g, request

from townsquare.core.auth import ManageableGuild, manageable_guilds
from townsquare.core.guilds.models import Guild
from townsquare.http.errors import APIError
from townsquare.http.oauth import expires_at, oauth_endpoints
from townsquare.http.sessions import (
    ACCESS_COOKIE,
    REFRESH_COOKIE,
    Claims,
    DiscordTokens,
    is_revoked,
    load_discord_tokens,
    revoke_session,
    save_discord_tokens,
)
from townsquare.http.state import state

__all__ = [
    "Session",
    "check_manager",
    "current_session",
    "managed_guild",
    "managed_guilds",
    "optional_session",
    "require_manager",
]


@dataclasses.dataclass(frozen=True, slots=True)
class Session:
    user_id: int
    username: str
    session_id: str
    csrf_token: str


async def optional_session(*, renew: bool = False) -> Session | None:
    """The signed-in user, or None without session cookies; 401 for a bad or revoked token.

    With `renew` (dashboard pages), an expired or missing access token is replaced from a valid
    refresh token and the new cookie is set on the response.
    """
    if "ts_session_obj" in g:
        return typing.cast("Session | None", g.ts_session_obj)
    app_state = state()
    signer = app_state.signer
    access = request.cookies.get(ACCESS_COOKIE)
    refresh = request.cookies.get(REFRESH_COOKIE) if renew else None
    claims: Claims | None = None
    if access:
        try:
            claims = signer.verify(access, "access")
        except APIError as error:
            if not (refresh and error.code == "session_expired"):
                raise
    if claims is None and refresh:
        refreshed = signer.verify(refresh, "refresh")
        token = signer.mint(
            "access",
            user_id=refreshed.user_id,
            username=refreshed.username,
            session_id=refreshed.session_id,
        )
        g.ts_renewed_access = token
        claims = refreshed
    if claims is None:
        g.ts_session_obj = None
        return None
    if await is_revoked(app_state.require_redis(), app_state.keyspace, claims.session_id):
        raise APIError(401, "session_revoked", "you have logged out; log in again")
    session = Session(
        claims.user_id, claims.username, claims.session_id, signer.csrf_token(claims.session_id)
    )
    g.ts_session_obj = session
    return session


async def current_session(*, renew: bool = False) -> Session:
    session = await optional_session(renew=renew)
    if session is None:
        raise APIError(401, "not_logged_in", "log in with Discord first")
    return session


async def managed_guilds(session: Session) -> list[ManageableGuild]:
    """The guilds this user may manage and the bot is in (cached briefly, see module docs)."""
    if "ts_managed_guilds" in g:
        return typing.cast("list[ManageableGuild]", g.ts_managed_guilds)
    guilds = await _managed_guilds(session)
    g.ts_managed_guilds = guilds
    return guilds


async def managed_guild(session: Session, guild_id: int) -> ManageableGuild | None:
    """The guild `guild_id` among :func:`managed_guilds`, or None."""
    return next((guild for guild in await managed_guilds(session) if guild.id == guild_id), None)


async def _managed_guilds(session: Session) -> list[ManageableGuild]:
    app_state = state()
    redis = app_state.require_redis()
    keyspace = app_state.keyspace
    cache_key = keyspace.key("session_guilds", session.session_id)
    cached = await redis.get(cache_key)
    if cached is not None:
        return [ManageableGuild(**entry) for entry in json.loads(cached)]

    tokens = await load_discord_tokens(redis, keyspace, session.session_id)
    if tokens is None:
        raise APIError(401, "session_revoked", "the session has ended; log in again")
    endpoints = oauth_endpoints(app_state.settings, app_state.discord)
    client = app_state.require_client()
    if tokens.expires_at <= time.time():
        body = await endpoints.refresh(client, tokens.refresh_token)
        tokens = dataclasses.replace(
            tokens,
            access_token=str(body["access_token"]),
            refresh_token=str(body.get("refresh_token", tokens.refresh_token)),
            expires_at=expires_at(body),
        )
        await save_discord_tokens(
            redis, keyspace, session.session_id, tokens, app_state.signer.refresh_lifetime
        )
    partial_guilds = await endpoints.get_user_json(client, "/users/@me/guilds", tokens.access_token)
    if partial_guilds is None:
        # Discord no longer honours the grant (the user de-authorised the app): end the session.
        until = datetime.datetime.now(datetime.UTC) + app_state.signer.refresh_lifetime
        await revoke_session(redis, keyspace, session.session_id, until)
        raise APIError(401, "session_revoked", "Discord ended the authorisation; log in again")
    if not isinstance(partial_guilds, list):
        raise APIError(502, "discord_error", "Discord's guild list was not a list")
    guilds = manageable_guilds(partial_guilds, await _bot_guild_ids(partial_guilds))
    seconds = app_state.settings.http.manage_check_seconds
    if seconds > 0:
        payload = json.dumps([dataclasses.asdict(guild) for guild in guilds])
        await redis.set(cache_key, payload, ex=seconds)
    return guilds


async def _bot_guild_ids(partial_guilds: list[typing.Any]) -> list[int]:
    ids = []
    for entry in partial_guilds:
        try:
            ids.append(int(entry["id"]))
        except (KeyError, TypeError, ValueError):
            continue
    if not ids:
        return []
    rows = await Guild.filter(id__in=ids, left_at__isnull=True).values_list("id", flat=True)
    return [int(typing.cast("int", row)) for row in rows]


async def require_manager(guild_id: int, *, renew: bool = False) -> Session:
    """The session, if its user may manage `guild_id`; 401 without a session, else 403."""
    session = await current_session(renew=renew)
    await check_manager(session, guild_id)
    return session


async def check_manager(session: Session, guild_id: int) -> None:
    """403 unless the session's user may manage `guild_id` (and the bot is in it)."""
    if not any(guild.id == guild_id for guild in await managed_guilds(session)):
        raise APIError(
            403,
            "guild_forbidden",
            "you may not manage this server (you need Manage Server or Administrator, "
            "and Townsquare must be in it)",
        )


def discord_tokens_from(body: dict[str, typing.Any], user: dict[str, typing.Any]) -> DiscordTokens:
    return DiscordTokens(
        user_id=int(user["id"]),
        username=str(user.get("global_name") or user.get("username") or user["id"]),
        access_token=str(body["access_token"]),
        refresh_token=str(body.get("refresh_token", "")),
        expires_at=expires_at(body),
    )
