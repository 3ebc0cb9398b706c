"""What a guild uses of the moderation feature's premium limits (`USAGE`, see `Feature.usage`)."""

from __future__ import annotations

import typing

from townsquare.core.config.models import GuildConfigRecord
from townsquare.features.moderation.domain.config import CUSTOM_RULES_LIMIT, REGEX_RULES_LIMIT

if typing.TYPE_CHECKING:
    from townsquare.core.premium import UsageCounter

__all__ = ["USAGE"]


async def _custom_rules(guild_id: int) -> list[dict[str, typing.Any]]:
    row = await GuildConfigRecord.filter(guild_id=guild_id).first()
    moderation = row.document.get("moderation", {}) if row is not None else {}
    rules = moderation.get("automod", {}).get("custom_rules", [])
    return rules if isinstance(rules, list) else []


async def _custom(guild_id: int) -> int:
    return len(await _custom_rules(guild_id))


async def _regex(guild_id: int) -> int:
    return sum(1 for rule in await _custom_rules(guild_id) if rule.get("kind") == "regex")


USAGE: typing.Final[dict[str, UsageCounter]] = {
    CUSTOM_RULES_LIMIT: _custom,
    REGEX_RULES_LIMIT: _regex,
}
