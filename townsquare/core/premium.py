"""Premium tiers and the gate every feature asks before it lets a guild have more (flow 10).

Every limit is declared once, here, in :data:`LIMITS` (name, kind, unit, one line, a default
per tier). `settings.yaml`'s `premium` section names the tiers (lowest first; the first is
what a guild without a subscription has), may override a limit's values (every tier then
needs one) and maps Discord SKUs to tiers; :func:`settings_problems` reports what is wrong
with it, key by key, for `townsquare config check`.

A feature asks :meth:`Gate.may` ("may this guild add one more level reward, having 7?") and
gets a :class:`Verdict`: allowed or not, the limit, the guild's tier and its value there,
the usage, and the lowest tier that would allow it; :meth:`Verdict.explain` says it in one
sentence. The guild's tier comes from one Redis hash (`premium_tiers`, written by the premium
feature whenever a subscription changes), through a short cache in the process
(`premium.gate_cache_seconds`), so a check costs no PostgreSQL and usually no round trip.

Refusals look the same everywhere: :func:`upgrade_offer` gives the words and either the SKU
for Discord's premium button or the dashboard's premium page (the shards' `Refusal`, the HTTP
service's 402), and :func:`refusal_body` the JSON of an API refusal.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import time
import typing

from pydantic import BaseModel, ConfigDict, Field

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = [
    "LIMITS",
    "Gate",
    "Limit",
    "LimitKind",
    "LimitValue",
    "PeriodUsageReader",
    "PremiumCatalogue",
    "PremiumRefused",
    "PremiumSettings",
    "Tier",
    "UpgradeOffer",
    "UsageCounter",
    "Verdict",
    "clear_guild_tier",
    "guild_usage",
    "premium_page_path",
    "refusal_body",
    "settings_problems",
    "store_guild_tier",
    "upgrade_offer",
]

type UsageCounter = Callable[[int], Awaitable[int]]
"""Counts what a guild uses of one limit now (a feature's `USAGE`, see `Feature.usage`)."""

type PeriodUsageReader = Callable[[aioredis.Redis, Keyspace, int], Awaitable[int]]
"""Reads what a guild has used of a per-period limit in the current period, which its
feature keeps in Redis beside the limit's own checks (a feature's `PERIOD_USAGE`, see
`Feature.usage`): `(redis, keyspace, guild_id) -> int`."""

LimitValue = int | bool | None
"""A limit's value on one tier: a number (None: no limit) or, for a boolean, included or not."""


class LimitKind(enum.StrEnum):
    COUNT = "count"
    """How many of something a guild may have at once (level rewards, running giveaways)."""
    BOOLEAN = "boolean"
    """Whether a tier includes something at all (a custom rank-card background)."""
    PER_PERIOD = "per_period"
    """How much may be used per period (API requests per minute, assistant tokens per day)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Limit:
    """One limit of the catalogue."""

    name: str
    """`<feature>.<what>`, e.g. `xp.level_rewards`; what settings and docs call it."""
    kind: LimitKind
    unit: str
    """What is counted, plural and lowercase ("level rewards"); for a boolean, what it is."""
    description: str
    """One line for the docs table and the dashboard."""
    defaults: Mapping[str, LimitValue]
    """The value per tier (`free`, `plus`, `pro`); None means no limit."""
    period: str | None = None
    """For :attr:`LimitKind.PER_PERIOD`: `minute` or `day`."""
    paused: str = ""
    """What happens to what exceeds the limit after a downgrade (docs/premium.md)."""


def _limit(
    name: str,
    kind: LimitKind,
    unit: str,
    description: str,
    values: tuple[LimitValue, LimitValue, LimitValue],
    *,
    period: str | None = None,
    paused: str = "",
) -> Limit:
    defaults = dict(zip(("free", "plus", "pro"), values, strict=True))
    return Limit(name, kind, unit, description, defaults, period, paused)


_C, _B, _P = LimitKind.COUNT, LimitKind.BOOLEAN, LimitKind.PER_PERIOD

LIMITS: typing.Final[Mapping[str, Limit]] = {
    limit.name: limit
    for limit in (
        _limit(
            "xp.level_rewards", _C, "level rewards", "Level-role rewards per guild.", (10, 50, 100),
            paused="rewards beyond the limit (highest levels first) are not granted; "
            "roles already given stay",
        ),
        _limit(
            "xp.multiplier_rules", _C, "XP multiplier rules",
            "Role and channel XP multipliers per guild, counted together.", (3, 25, 100),
            paused="rules beyond the limit (the last added) stop applying",
        ),
        _limit(
            "xp.rank_card_background", _B, "custom rank-card background",
            "Upload a background image for /rank cards.", (False, True, True),
            paused="/rank draws the standard card; the image is kept",
        ),
        _limit(
            "apikeys.keys", _C, "API keys", "Public-API keys per guild.", (2, 10, 25),
            paused="keys beyond the limit (the newest) are refused with 402",
        ),
        _limit(
            "apikeys.requests_per_minute", _P, "API requests",
            "Public-API requests per minute, per key.", (60, 300, 1200), period="minute",
            paused="the lower rate applies at once",
        ),
        _limit(
            "giveaways.active", _C, "running giveaways", "Giveaways running at once per guild.",
            (2, 10, 50), paused="giveaways beyond the limit are not started; running ones finish",
        ),
        _limit(
            "giveaways.winners", _C, "winners", "Winners one giveaway may draw.", (5, 25, 100),
            paused="running giveaways keep their winner count",
        ),
        _limit(
            "giveaways.requirement_types", _C, "requirement types",
            "Requirement kinds (role, level, account age, ...) one giveaway may combine.",
            (1, 3, None), paused="running giveaways keep their requirements",
        ),
        _limit(
            "giveaways.duration_days", _C, "days per giveaway",
            "Days one giveaway may run (a part of a day counts as a day).", (30, 90, None),
            paused="running giveaways keep their end",
        ),
        _limit(
            "automod.custom_rules", _C, "custom automod rules", "Custom automod rules per guild.",
            (3, 25, 100), paused="rules beyond the limit (the last added) are not checked",
        ),
        _limit(
            "automod.regex_rules", _C, "regex automod rules",
            "Automod rules that match a regular expression, per guild.", (0, 5, 25),
            paused="regex rules beyond the limit (the last added) are not checked",
        ),
        _limit(
            "streams.feeds", _C, "stream feeds", "Twitch, Kick and YouTube channels watched.",
            (3, 15, 50), paused="feeds beyond the limit (the last added) are not watched",
        ),
        _limit(
            "assistant.tokens_per_day", _P, "assistant tokens",
            "Model tokens the assistant may spend per guild per day (UTC).",
            (20_000, 250_000, 1_000_000), period="day",
            paused="the lower allowance applies from the next answer",
        ),
        _limit(
            "assistant.documents", _C, "knowledge-base documents",
            "Documents the assistant may answer from, per guild.", (3, 50, 500),
            paused="documents beyond the limit (the last added) are not searched",
        ),
    )
}  # fmt: skip
"""Every limit, once. Features ask for them by name; docs/premium.md lists them (a test
keeps the table and this catalogue in step)."""

_TIER_KEY = re.compile(r"^[a-z][a-z0-9_]{0,15}$")


class PremiumSettings(BaseModel):
    """The `premium` section: tiers, per-tier overrides, SKUs, grace and reconciliation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tiers: dict[str, str]
    """Tier key -> display name, lowest first; the first is what a guild without premium has."""
    limits: dict[str, dict[str, LimitValue]] = Field(default_factory=dict)
    """Overrides: limit name -> tier -> value (every tier needs one; null means no limit)."""
    skus: dict[str, str] = Field(default_factory=dict)
    """Discord SKU id -> the tier an entitlement to it gives."""
    sandbox_sku_tier: str
    """The tier the sandbox's application SKU gives (used only against the sandbox)."""
    grace_days: float = Field(ge=0, le=90)
    """How long a guild keeps its tier's limits after its last subscription ended."""
    reconcile_interval_seconds: float = Field(gt=0, le=86_400)
    """How often the entitlements are compared with Discord's list (and at start-up)."""
    gate_cache_seconds: float = Field(ge=0, le=60)
    """How long a process reuses a guild's tier before asking Redis again."""


def settings_problems(premium: PremiumSettings) -> list[tuple[str, str]]:
    """What is wrong with the `premium` section: `(dotted key, reason)` pairs, none if valid."""
    tiers = list(premium.tiers)
    problems: list[tuple[str, str]] = []
    if not tiers:
        problems.append(("premium.tiers", "name at least one tier (the first is the free one)"))
    problems.extend(
        (f"premium.tiers.{key}", "a tier key is a lowercase word of up to 16 characters")
        for key in tiers
        if not _TIER_KEY.match(key)
    )
    problems.extend(
        (f"premium.limits.{name}", f"unknown limit; known: {', '.join(LIMITS)}")
        for name in premium.limits
        if name not in LIMITS
    )
    for limit in LIMITS.values():
        problems.extend(_limit_problems(limit, premium.limits.get(limit.name), tiers))
    for sku, tier in premium.skus.items():
        if not sku.isdigit() or not 0 < int(sku) < 2**64:
            problems.append((f"premium.skus.{sku}", "a SKU id is a Discord snowflake"))
        if tier not in premium.tiers:
            problems.append((f"premium.skus.{sku}", f"unknown tier {tier!r}; tiers: {tiers}"))
    if premium.sandbox_sku_tier not in premium.tiers:
        reason = f"unknown tier {premium.sandbox_sku_tier!r}; tiers: {tiers}"
        problems.append(("premium.sandbox_sku_tier", reason))
    return problems


def _limit_problems(
    limit: Limit, override: Mapping[str, LimitValue] | None, tiers: list[str]
) -> list[tuple[str, str]]:
    values = override if override is not None else limit.defaults
    where = "premium.limits" if override is not None else "the catalogue's defaults"
    problems: list[tuple[str, str]] = []
    for tier in tiers:
        key = f"premium.limits.{limit.name}.{tier}"
        if tier not in values:
            problems.append((key, f"missing: tier {tier!r} has no value in {where}"))
        elif (reason := _bad_value(limit, values[tier])) is not None:
            problems.append((key, reason))
    if override is not None:
        problems.extend(
            (f"premium.limits.{limit.name}.{tier}", f"unknown tier; tiers: {tiers}")
            for tier in override
            if tier not in tiers
        )
    return problems


def _bad_value(limit: Limit, value: LimitValue) -> str | None:
    if limit.kind is LimitKind.BOOLEAN:
        return None if isinstance(value, bool) else "must be true or false"
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return None
    return "must be a whole number of at least 0, or null for no limit"


@dataclasses.dataclass(frozen=True, slots=True)
class Tier:
    key: str
    name: str
    rank: int
    """0 for the free tier; higher is better."""


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """The gate's answer for one limit, one guild and one usage."""

    allowed: bool
    limit: Limit
    tier: Tier
    """The guild's tier now."""
    value: LimitValue
    """The limit's value on :attr:`tier` (None: no limit)."""
    usage: int
    """What the guild has or used so far (0 for a boolean)."""
    adding: int
    """What the action adds (1 for "one more"; 0 for a quantity asked for at once)."""
    lowest_tier: Tier | None
    """The lowest tier that would allow it; None when no tier does (or it is allowed)."""
    lowest_value: LimitValue = None
    """The limit's value on :attr:`lowest_tier`."""

    def explain(self) -> str:
        """One sentence: "7 of 10 level rewards on Free; Plus allows 50."."""
        limit, lowest = self.limit, self.lowest_tier
        if limit.kind is LimitKind.BOOLEAN:
            included = "is included" if self.allowed else "is not included"
            head = f"{_capital(limit.unit)} {included} in {self.tier.name}"
            tail = "" if self.allowed or lowest is None else f"; {lowest.name} includes it"
            return f"{head}{tail}."
        period = f" this {limit.period}" if limit.period else ""
        if self.value is None:
            return f"{self.usage:,} {limit.unit}{period} on {self.tier.name} (no limit)."
        head = f"{self.usage:,} of {self.value:,} {limit.unit}{period} on {self.tier.name}"
        if self.allowed:
            tail = ""
        elif lowest is None:
            tail = "; no tier allows more"
        elif self.lowest_value is None:
            tail = f"; {lowest.name} has no limit"
        else:
            tail = f"; {lowest.name} allows {self.lowest_value:,}"
        return f"{head}{tail}."


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _allows(limit: Limit, value: LimitValue, usage: int, adding: int) -> bool:
    if limit.kind is LimitKind.BOOLEAN:
        return value is True
    return value is None or usage + adding <= int(value)


class PremiumCatalogue:
    """The limits' values per tier, with the settings' overrides applied (pure, no I/O).

    Build it from settings that :func:`settings_problems` found valid (the loader checks).
    """

    def __init__(self, premium: PremiumSettings, *, sandbox_sku: int | None = None) -> None:
        self.settings = premium
        self.tiers: tuple[Tier, ...] = tuple(
            Tier(key, name, rank) for rank, (key, name) in enumerate(premium.tiers.items())
        )
        self.free = self.tiers[0]
        self._by_key = {tier.key: tier for tier in self.tiers}
        self._values: dict[str, dict[str, LimitValue]] = {
            name: dict(premium.limits.get(name, limit.defaults)) for name, limit in LIMITS.items()
        }
        self.skus: dict[int, Tier] = {
            int(sku): self._by_key[tier] for sku, tier in premium.skus.items()
        }
        """SKU id -> tier: the settings' map, and the sandbox's SKU (when running on it)."""
        if sandbox_sku is not None:
            self.skus.setdefault(sandbox_sku, self.tier(premium.sandbox_sku_tier))

    def tier(self, key: str | None) -> Tier:
        """The tier called `key`; an unknown or missing key is the free tier."""
        return self._by_key.get(key or "", self.free)

    def value(self, tier: Tier, limit_name: str) -> LimitValue:
        """`limit_name`'s value on `tier` (KeyError for a name not in :data:`LIMITS`)."""
        return self._values[limit_name][tier.key]

    def verdict(self, tier: Tier, limit_name: str, *, usage: int = 0, adding: int = 1) -> Verdict:
        """Whether a guild on `tier` may go from `usage` to `usage + adding` of `limit_name`."""
        limit = LIMITS[limit_name]
        values = self._values[limit_name]
        value = values[tier.key]
        if _allows(limit, value, usage, adding):
            return Verdict(True, limit, tier, value, usage, adding, None)
        for higher in self.tiers[tier.rank + 1 :]:
            if _allows(limit, values[higher.key], usage, adding):
                return Verdict(False, limit, tier, value, usage, adding, higher, values[higher.key])
        return Verdict(False, limit, tier, value, usage, adding, None)

    def sku_for(self, tier: Tier) -> int | None:
        """The SKU of the lowest tier at or above `tier` that has one (for the premium button)."""
        best: tuple[int, int] | None = None
        for sku, sku_tier in self.skus.items():
            if sku_tier.rank >= tier.rank and (best is None or sku_tier.rank < best[0]):
                best = (sku_tier.rank, sku)
        return None if best is None else best[1]


async def store_guild_tier(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, tier: str, *, free: str
) -> None:
    """Write `guild_id`'s effective tier for every gate (the free tier removes its entry)."""
    key = keyspace.key("premium_tiers")
    if tier == free:
        await redis.hdel(key, str(guild_id))
    else:
        await redis.hset(key, str(guild_id), tier)


async def clear_guild_tier(redis: aioredis.Redis, keyspace: Keyspace, guild_id: int) -> None:
    """Forget `guild_id`'s tier (it is free from now on)."""
    await redis.hdel(keyspace.key("premium_tiers"), str(guild_id))


class PremiumRefused(Exception):
    """Raised where a limit refuses (see :meth:`Gate.check`); each runtime shows it its way:
    the HTTP service as 402 `premium_required`, the shards as the upgrade reply."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.explain())
        self.verdict = verdict


class Gate:
    """Answers "may this guild have more?" from its tier in Redis (one per process).

    The tier of a guild is kept for :attr:`PremiumSettings.gate_cache_seconds` so a busy
    command or task costs one Redis round trip per guild per interval, not per check.
    :meth:`invalidate` drops it at once (the premium feature calls it where it changes tiers).
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        keyspace: Keyspace,
        catalogue: PremiumCatalogue,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.catalogue = catalogue
        self._key = keyspace.key("premium_tiers")
        self._clock = clock
        self._ttl = catalogue.settings.gate_cache_seconds
        self._cache: dict[int, tuple[float, Tier]] = {}

    async def tier(self, guild_id: int) -> Tier:
        """`guild_id`'s tier now (the free tier when Redis has none for it)."""
        now = self._clock()
        cached = self._cache.get(guild_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        raw = await self.redis.hget(self._key, str(guild_id))
        tier = self.catalogue.tier(raw.decode() if isinstance(raw, bytes) else raw)
        if self._ttl > 0:
            if len(self._cache) > _CACHE_MAX:
                self._cache.clear()
            self._cache[guild_id] = (now + self._ttl, tier)
        return tier

    async def may(
        self, guild_id: int, limit_name: str, *, usage: int = 0, adding: int = 1
    ) -> Verdict:
        """Whether `guild_id` may go from `usage` to `usage + adding` of `limit_name`.

        - count: `usage` is how many exist now; one more is `adding=1` (the default). For a
          quantity asked for at once (winners of one giveaway), pass it as `usage` with
          `adding=0`.
        - per_period: `usage` is what was used this period, `adding` what the action costs.
        - boolean: `usage` and `adding` are ignored.
        """
        return self.catalogue.verdict(
            await self.tier(guild_id), limit_name, usage=usage, adding=adding
        )

    async def check(
        self, guild_id: int, limit_name: str, *, usage: int = 0, adding: int = 1
    ) -> Verdict:
        """Like :meth:`may`, but a refusal raises :class:`PremiumRefused` (for domain code
        that checks inside its transaction and lets the runtime answer)."""
        verdict = await self.may(guild_id, limit_name, usage=usage, adding=adding)
        if not verdict.allowed:
            raise PremiumRefused(verdict)
        return verdict

    async def value(self, guild_id: int, limit_name: str) -> LimitValue:
        """`limit_name`'s value for `guild_id`'s tier now (None: no limit)."""
        return self.catalogue.value(await self.tier(guild_id), limit_name)

    def invalidate(self, guild_id: int | None = None) -> None:
        """Forget the cached tier of `guild_id` (of every guild when None)."""
        if guild_id is None:
            self._cache.clear()
        else:
            self._cache.pop(guild_id, None)


_CACHE_MAX: typing.Final = 100_000
"""Cached guild tiers one process keeps before starting over (bounds its memory)."""


def premium_page_path(guild_id: int) -> str:
    """The dashboard's premium page of a guild, relative to `http.public_url`."""
    return f"/dashboard/guilds/{guild_id}/premium"


@dataclasses.dataclass(frozen=True, slots=True)
class UpgradeOffer:
    """What a refusal shows: words, and Discord's premium button or a link to the dashboard."""

    content: str
    sku_id: int | None
    """The SKU of a tier that allows it: a premium button (component type 2, style 6)."""
    url: str | None
    """Otherwise the dashboard's premium page: a link button (style 5)."""


def upgrade_offer(
    verdict: Verdict, catalogue: PremiumCatalogue, guild_id: int, public_url: str
) -> UpgradeOffer:
    """The refusal of `verdict`: its explanation, and the premium button's SKU when a tier at
    or above the one that allows it has an SKU, else the dashboard's premium page."""
    sku = None if verdict.lowest_tier is None else catalogue.sku_for(verdict.lowest_tier)
    url = None if sku is not None else public_url.rstrip("/") + premium_page_path(guild_id)
    return UpgradeOffer(verdict.explain(), sku, url)


def refusal_body(
    verdict: Verdict, upgrade_url: str | None = None, sku_id: int | None = None
) -> dict[str, typing.Any]:
    """The JSON error of an API refusal (HTTP 402 `premium_required`, docs/http.md)."""
    lowest = verdict.lowest_tier
    return {
        "error": {
            "code": "premium_required",
            "message": verdict.explain(),
            "limit": {
                "name": verdict.limit.name,
                "kind": str(verdict.limit.kind),
                "tier": verdict.tier.key,
                "value": verdict.value,
                "usage": verdict.usage,
                "lowest_tier": None if lowest is None else lowest.key,
                "lowest_tier_value": None if lowest is None else verdict.lowest_value,
                "upgrade_url": upgrade_url,
                "sku_id": None if sku_id is None else str(sku_id),
            },
        }
    }


async def guild_usage(
    guild_id: int, *, redis: aioredis.Redis, keyspace: Keyspace
) -> dict[str, int]:
    """What `guild_id` uses of each limit whose feature counts it, from the enabled features'
    `usage` modules: their `USAGE` counters (PostgreSQL) and their `PERIOD_USAGE` readers (what
    this period used, from Redis). A limit nobody counts (the per-key API rate, a feature not
    enabled) is absent."""
    from townsquare.core.features import adapter_modules

    counters: dict[str, UsageCounter] = {}
    readers: dict[str, PeriodUsageReader] = {}
    for module in adapter_modules("usage"):
        counters.update(module.USAGE)
        readers.update(getattr(module, "PERIOD_USAGE", {}))
    usage = {name: await count(guild_id) for name, count in counters.items() if name in LIMITS}
    for name, read in readers.items():
        if name in LIMITS:
            usage[name] = await read(redis, keyspace, guild_id)
    return usage
