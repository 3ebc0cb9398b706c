"""What the command handlers share: Redis, the internal API client, and reply helpers.

A command reads the guild's configuration (the Redis config cache; on a miss the internal API
loads it, which refills the cache), checks the invoker's right (Discord permissions, or one of
the guild's configured manager roles, for management commands), then whether its feature is on,
then asks the HTTP service's internal API (`InternalAPIClient`) for the data or the change. The
shard itself never touches PostgreSQL for a command.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import typing

import arc
import hikari
import structlog

from townsquare.core.config.cache import cached_config
from townsquare.core.features import guild_config_model, manager_role_ids
from townsquare.core.premium import Gate, PremiumCatalogue, UpgradeOffer, upgrade_offer
from townsquare.core.process_caches import ProcessCaches
from townsquare.core.redis_health import REDIS_FAILURES, is_unavailable
from townsquare.shards.api_client import (
    APIRefusedError,
    InternalAPIClient,
    ServiceUnavailableError,
)

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Collection, Sequence

    import redis.asyncio as aioredis

    from townsquare.core.config.schemas import GuildConfig
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.premium import Verdict

__all__ = [
    "CONFIRM_SECONDS",
    "DEFER_AFTER_SECONDS",
    "INJECTED",
    "UNAVAILABLE",
    "CommandServices",
    "Refusal",
    "Reply",
    "answer",
    "can_manage_guild",
    "outage_reply",
    "premium_offer",
    "refused_reason",
    "upgrade_components",
]

DEFER_AFTER_SECONDS: typing.Final = 1.5
"""A command whose answer is not ready by then is deferred (Discord allows 3 s)."""
CONFIRM_SECONDS: typing.Final = 60.0
"""How long a confirmation button can be pressed."""
UNAVAILABLE: typing.Final = (
    "The service is unavailable right now, so nothing was read or changed. "
    "Please try again shortly."
)

_log = structlog.get_logger(__name__)


INJECTED: typing.Final[typing.Any] = arc.inject()
"""The default of a handler parameter that arc injects (by its annotation); one shared,
read-only marker, so no call sits in every signature."""


@dataclasses.dataclass(frozen=True, slots=True)
class CommandServices:
    """Handed to every command through arc's dependency injection."""

    redis: aioredis.Redis
    keyspace: Keyspace
    guild_defaults: GuildConfig
    attachments: bool
    """Whether replies may carry files (the sandbox takes no multipart bodies)."""
    fetch_avatars: bool
    """Whether avatars are downloaded from Discord's CDN for rank cards."""
    confirm_seconds: float = CONFIRM_SECONDS
    defer_after_seconds: float = DEFER_AFTER_SECONDS
    api: InternalAPIClient | None = None
    """The internal API; None builds one from the process's settings at first use."""
    gate: Gate | None = None
    """The premium gate; None builds one from the process's settings at first use."""
    public_url: str = ""
    """The dashboard's address, for the premium page a refusal links to."""
    caches: ProcessCaches = dataclasses.field(default_factory=ProcessCaches)
    """The features' per-process caches (core/process_caches.py)."""

    def client(self) -> InternalAPIClient:
        """The internal API client (see :attr:`api`)."""
        if self.api is None:
            from townsquare.core.settings import load_settings

            # The frozen dataclass keeps the client it built, so the breaker is shared.
            object.__setattr__(self, "api", InternalAPIClient.from_settings(load_settings()))
        assert self.api is not None
        return self.api

    def premium(self) -> Gate:
        """The premium gate (see :attr:`gate`)."""
        if self.gate is None:
            from townsquare.core.settings import load_settings

            settings = load_settings()
            catalogue = PremiumCatalogue(settings.premium)
            object.__setattr__(self, "gate", Gate(self.redis, self.keyspace, catalogue))
            object.__setattr__(self, "public_url", settings.http.public_url)
        assert self.gate is not None
        return self.gate

    async def require(
        self, guild_id: int, limit_name: str, *, usage: int = 0, adding: int = 1
    ) -> Verdict:
        """The gate's verdict if it allows; otherwise a :class:`Refusal` saying why, with
        Discord's premium button (or a link to the dashboard's premium page)."""
        gate = self.premium()
        verdict = await gate.may(guild_id, limit_name, usage=usage, adding=adding)
        if not verdict.allowed:
            offer = upgrade_offer(verdict, gate.catalogue, guild_id, self.public_url)
            raise Refusal(offer.content, components=upgrade_components(offer))
        return verdict

    async def guild_config(self, guild_id: int) -> GuildConfig:
        """The guild's configuration: Redis's cached copy, else the internal API's."""
        cached = await cached_config(self.redis, self.keyspace, guild_id)
        if cached is not None:
            return cached.config
        shown = await self.client().config(guild_id)  # loads it and refills the cache
        return guild_config_model().model_validate(shown.config)

    async def managed_guild(self, ctx: arc.GatewayContext, doing: str) -> tuple[int, GuildConfig]:
        """The guild and its configuration, if the invoker may use management commands there.

        Otherwise a refusal that says why; `doing` completes "Only members with ... can".
        """
        if ctx.guild_id is None:
            raise Refusal("This command works in servers only: use it in one.")
        guild_id = int(ctx.guild_id)
        config = await self.guild_config(guild_id)
        if not can_manage_guild(ctx.member, manager_role_ids(config)):
            raise Refusal(
                f"Only members with the Manage Server permission or one of this server's "
                f"bot manager roles can {doing}, and you have neither here."
            )
        return guild_id, config


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    """A command's answer, sent as the initial response or into the deferred one."""

    content: str | None = None
    embed: hikari.Embed | None = None
    attachment: hikari.Resourceish | None = None
    components: Sequence[hikari.api.ComponentBuilder] | None = None
    ephemeral: bool = False


class Refusal(Exception):
    """Raised by a handler to refuse: the reason goes to the invoker only (ephemeral)."""

    def __init__(
        self, reason: str, *, components: Sequence[hikari.api.ComponentBuilder] | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.components = components
        """Buttons shown with the reason (the premium refusal's upgrade button)."""


UPGRADE_LABEL: typing.Final = "See premium"
"""The link button's label when no SKU is configured for a tier that allows it."""


class _PremiumButton(hikari.impl.PremiumButtonBuilder):
    """hikari's premium button, with the SKU as a string snowflake as Discord's schema has it
    (hikari writes the integer)."""

    def build(
        self,
    ) -> tuple[typing.MutableMapping[str, typing.Any], Sequence[hikari.files.Resource[typing.Any]]]:
        data, resources = super().build()
        data["sku_id"] = str(self.sku_id)
        return data, resources


def upgrade_components(offer: UpgradeOffer) -> list[hikari.api.ComponentBuilder]:
    """One action row: Discord's premium button for the offer's SKU (type 2, style 6), or a
    link button (style 5) to the dashboard's premium page. Response type 10 is deprecated."""
    row = hikari.impl.MessageActionRowBuilder()
    if offer.sku_id is not None:
        row.add_component(_PremiumButton(sku_id=offer.sku_id))
    elif offer.url is not None:
        row.add_link_button(offer.url, label=UPGRADE_LABEL)
    return [row] if row.components else []


def can_manage_guild(member: hikari.InteractionMember | None, managers: Collection[int]) -> bool:
    """Whether the invoker may use management commands where they used one.

    Manage Server or Administrator (Discord gives the owner every permission in an
    interaction), or any of `managers`, the guild's configured manager roles
    (`townsquare.core.features.manager_role_ids`).
    """
    if member is None:
        return False
    wanted = hikari.Permissions.MANAGE_GUILD | hikari.Permissions.ADMINISTRATOR
    if member.permissions & wanted:
        return True
    return any(int(role_id) in managers for role_id in member.role_ids)


def _undefined[T](value: T | None) -> T | hikari.UndefinedType:
    return hikari.UNDEFINED if value is None else value


async def answer(
    ctx: arc.GatewayContext, work: Awaitable[Reply], *, defer_after: float = DEFER_AFTER_SECONDS
) -> Reply:
    """Send `work`'s reply in Discord's 3-second window, deferring if it is not ready in time.

    A :class:`Refusal` becomes an ephemeral reply. If the command had to be deferred (the
    deferral is public), an ephemeral reply is sent as an ephemeral follow-up instead and the
    deferred placeholder is removed.
    """
    task: asyncio.Future[Reply] = asyncio.ensure_future(_refusals_as_replies(work, ctx))
    done, _ = await asyncio.wait({task}, timeout=defer_after)
    if not done:
        await ctx.defer()
    reply = await task
    fields: dict[str, typing.Any] = {
        "content": _undefined(reply.content),
        "embed": _undefined(reply.embed),
        "attachment": _undefined(reply.attachment),
        "components": _undefined(reply.components),
    }
    if not ctx.issued_response:
        flags = hikari.MessageFlag.EPHEMERAL if reply.ephemeral else hikari.UNDEFINED
        await ctx.respond(**fields, flags=flags)
    elif reply.ephemeral:
        with contextlib.suppress(hikari.NotFoundError):
            await ctx.interaction.delete_initial_response()
        await ctx.respond(**fields, flags=hikari.MessageFlag.EPHEMERAL)
    else:
        await ctx.edit_initial_response(**fields)
    return reply


async def _refusals_as_replies(work: Awaitable[Reply], ctx: arc.GatewayContext) -> Reply:
    try:
        return await work
    except Refusal as refusal:
        return Reply(content=refusal.reason, components=refusal.components, ephemeral=True)
    except (ServiceUnavailableError, *REDIS_FAILURES) as error:
        reply = outage_reply(error)
        if reply is None:
            raise
        return Reply(content=reply, ephemeral=True)
    except APIRefusedError as refused:
        offer = premium_offer(refused, _services_of(ctx))
        if offer is not None:
            return Reply(
                content=offer.content, components=upgrade_components(offer), ephemeral=True
            )
        return Reply(content=refused_reason(refused), ephemeral=True)


def outage_reply(error: BaseException) -> str | None:
    """:data:`UNAVAILABLE` when `error` says the internal API or Redis cannot answer right now
    (the user is told to try again, found by the chaos suite: a Redis outage got the generic
    "Something went wrong"), else None (a bug: the caller re-raises it)."""
    if isinstance(error, ServiceUnavailableError):
        return UNAVAILABLE
    if is_unavailable(error):
        _log.warning("command_redis_unavailable", error=repr(error))
        return UNAVAILABLE
    return None


def _services_of(ctx: arc.GatewayContext) -> CommandServices | None:
    client = getattr(ctx, "client", None)  # a bare context (unit tests) has none
    return None if client is None else client.get_type_dependency(CommandServices, default=None)


def premium_offer(
    refused: APIRefusedError, services: CommandServices | None
) -> UpgradeOffer | None:
    """The upgrade reply of the internal API's 402 `premium_required` (None for any other
    refusal): its sentence, and the premium button for the body's SKU, or for this shard's
    SKU of the lowest tier that allows it (the sandbox's), else the link to the premium page."""
    error = refused.body.get("error")
    if refused.status != 402 or not isinstance(error, dict):
        return None
    limit = error.get("limit") if isinstance(error.get("limit"), dict) else {}
    assert isinstance(limit, dict)
    sku = limit.get("sku_id")
    if not sku and services is not None and isinstance(limit.get("lowest_tier"), str):
        catalogue = services.premium().catalogue
        sku = catalogue.sku_for(catalogue.tier(limit["lowest_tier"]))
    url = limit.get("upgrade_url")
    return UpgradeOffer(
        str(error.get("message") or refused.code),
        int(sku) if sku else None,
        None if sku else (str(url) if url else None),
    )


def refused_reason(refused: APIRefusedError) -> str:
    """Words for the invoker when the internal API refused a request.

    A 409 is a refusal about the guild's state (a feature turned off, say): its message is
    written for the invoker. Anything else is logged and answered in general words.
    """
    if refused.status == 409:
        error = refused.body.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        if isinstance(message, str) and message:
            return message
    _log.warning("internal_api_refused", status=refused.status, code=refused.code)
    return "The service refused this request; it has been logged. Please try again later."
