"""What every request handler reaches: settings, Redis, the keyspace, the Discord OAuth client.

One :class:`HTTPState` per app, kept in `app.extensions`; :func:`state` returns the current
app's. The Redis client and the aiohttp session open when the app starts serving and close
when it stops.
"""

from __future__ import annotations

import dataclasses
import typing

from quart import current_app

from townsquare.core.process_caches import ProcessCaches

if typing.TYPE_CHECKING:
    import aiohttp
    import redis.asyncio as aioredis
    from quart import Quart

    from townsquare.core.config.schemas import GuildConfig
    from townsquare.core.discord import DiscordTarget
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.premium import Gate
    from townsquare.core.redis_batch import CommandBatcher
    from townsquare.core.settings import Settings
    from townsquare.http.config_forms import ConfigPage, GuildLink
    from townsquare.http.metrics import Metrics
    from townsquare.http.public import PublicGate
    from townsquare.http.sessions import SessionSigner

__all__ = ["EXTENSION", "HTTPState", "state", "state_of"]

EXTENSION: typing.Final = "townsquare"


@dataclasses.dataclass(slots=True)
class HTTPState:
    settings: Settings
    keyspace: Keyspace
    redis_url: str
    database_url: str
    discord: DiscordTarget | None
    """The Discord to log in with; None: resolve it (the sandbox's file) at each login."""
    signer: SessionSigner
    metrics: Metrics
    redis: aioredis.Redis | None = None
    batcher: CommandBatcher | None = None
    """Shares Redis round trips between requests (the public API's admission call)."""
    client: aiohttp.ClientSession | None = None
    bot_user_id: int | None = None
    """The bot's Discord user id, asked once (`townsquare.http.guild_lookups`)."""
    pages: dict[str, ConfigPage] = dataclasses.field(default_factory=dict)
    """The dashboard's config pages, by name: the enabled features' `PAGES`, in order."""
    links: list[GuildLink] = dataclasses.field(default_factory=list)
    """Every guild page, for the navigation: the config pages, then features' `GUILD_LINKS`."""
    public_gate: PublicGate | None = None
    """What admits `/public/v1` requests: a feature's `PUBLIC_GATE` (API keys), if enabled."""
    body_limits: dict[str, int] = dataclasses.field(default_factory=dict)
    """Endpoint -> its own body limit, above `http.max_body_bytes` (features' `BODY_LIMITS`:
    image uploads)."""
    gate: Gate | None = None
    """The premium gate (core/premium.py); opens with Redis in before_serving."""
    caches: ProcessCaches = dataclasses.field(default_factory=ProcessCaches)
    """The features' per-process caches (core/process_caches.py)."""

    @property
    def defaults(self) -> GuildConfig:
        return self.settings.guild_defaults

    def require_redis(self) -> aioredis.Redis:
        if self.redis is None:
            msg = "the app is not serving (Redis opens in before_serving)"
            raise RuntimeError(msg)
        return self.redis

    def require_gate(self) -> Gate:
        if self.gate is None:
            msg = "the app is not serving (the premium gate opens with Redis in before_serving)"
            raise RuntimeError(msg)
        return self.gate

    def require_batcher(self) -> CommandBatcher:
        if self.batcher is None:
            msg = "the app is not serving (Redis opens in before_serving)"
            raise RuntimeError(msg)
        return self.batcher

    def require_client(self) -> aiohttp.ClientSession:
        if self.client is None:
            msg = "the app is not serving (the HTTP client opens in before_serving)"
            raise RuntimeError(msg)
        return self.client


def state() -> HTTPState:
    return typing.cast("HTTPState", current_app.extensions[EXTENSION])


def state_of(app: Quart) -> HTTPState:
    """The state of `app`, outside a request (or without the context-local proxy)."""
    return typing.cast("HTTPState", app.extensions[EXTENSION])
