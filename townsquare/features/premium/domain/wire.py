"""The premium overview's body: `/premium` (internal API), `/api/v1` and the dashboard."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["LimitShown", "PremiumShown", "TierShown"]


class LimitShown(BaseModel):
    name: str
    """The limit, e.g. `xp.level_rewards` (docs/premium.md)."""
    kind: str
    unit: str
    description: str
    value: int | bool | None
    """On the guild's tier; null: no limit."""
    usage: int | None
    """What the guild uses now; null where nothing counts it (a rate, a feature not enabled)."""
    over: bool
    """Usage past the value: the extra items are paused (docs/premium.md)."""
    percent: int | None
    """Usage as a share of the value, 0..100, for the bar; null without both."""
    explain: str


class TierShown(BaseModel):
    key: str
    name: str
    values: dict[str, int | bool | None]
    """Limit name -> value on this tier."""


class PremiumShown(BaseModel):
    guild_id: str
    tier: str
    tier_name: str
    source: str | None
    """`manual`, `entitlement`, `grace` (the subscription ended; limits kept until
    `ends_at`), or null on the free tier."""
    ends_at: str | None
    """ISO 8601; null: no end."""
    limits: list[LimitShown]
    tiers: list[TierShown]
