"""One hikari REST client per process for the bot's own calls to Discord (or the sandbox).

Workers (`TaskResources.rest`) and the HTTP service (moderation's guarded actions) each keep
one, so a call costs a request over a kept-alive connection, not a new session each.
"""

from __future__ import annotations

import asyncio
import functools
import typing

import hikari

if typing.TYPE_CHECKING:
    from townsquare.core.discord import DiscordTarget

__all__ = ["DiscordRest", "http_settings"]


@functools.cache
def http_settings() -> hikari.impl.HTTPSettings:
    """hikari's HTTP settings for every client of the process (shards, workers, HTTP service).

    Connections are kept alive: hikari's default `force_close_transports=True` is aiohttp's
    `force_close`, which closes the socket after every response, so each REST call (each
    interaction response of a click) opened a new TCP connection, and on Discord a new TLS
    session; profiling the giveaway clicks showed it as the largest cost after hikari's own
    request handling (docs/performance.md, "Giveaways").
    """
    # Each HTTPSettings builds an SSL context (loading the CA bundle, ~25 ms of CPU): once
    # per process.
    return hikari.impl.HTTPSettings(force_close_transports=False)


class DiscordRest:
    """One hikari `RESTApp` and bot client per worker process, started on first use.

    A level-up job then costs its requests over a kept-alive connection, not a new session
    and TCP connection each. The target (settings, or the sandbox's file) is resolved on every
    use, and a changed one (a restarted sandbox) replaces the client. The worker closes it at
    shutdown.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._key: tuple[str, str] | None = None
        self._app: hikari.RESTApp | None = None
        self._client: hikari.impl.RESTClientImpl | None = None

    async def client(self, target: DiscordTarget) -> hikari.api.RESTClient:
        """The bot client for `target`, started (or replaced) if needed."""
        key = (target.rest_url, target.token.get_secret_value())
        if self._client is not None and self._key == key:
            return self._client
        async with self._lock:
            if self._client is None or self._key != key:
                await self._close()
                app = hikari.RESTApp(url=target.rest_url, http_settings=http_settings())
                await app.start()
                self._app = app
                client = app.acquire(key[1], hikari.TokenType.BOT)
                client.start()
                self._client, self._key = client, key
            return self._client

    async def close(self) -> None:
        async with self._lock:
            await self._close()

    async def _close(self) -> None:
        client, app = self._client, self._app
        self._client = self._app = self._key = None
        if client is not None:
            await client.close()
        if app is not None:
            await app.close()
