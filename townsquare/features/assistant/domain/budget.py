"""The premium gate, asked in one place: the daily token allowance, the documents searched,
documents added, and the upgrade offer a refusal carries."""

from __future__ import annotations

import dataclasses
import typing

from townsquare.core.premium import upgrade_offer

if typing.TYPE_CHECKING:
    from townsquare.core.premium import Gate, UpgradeOffer, Verdict

__all__ = ["DOCUMENTS", "TOKENS_PER_DAY", "Budget"]

TOKENS_PER_DAY: typing.Final = "assistant.tokens_per_day"
DOCUMENTS: typing.Final = "assistant.documents"


@dataclasses.dataclass(frozen=True, slots=True)
class Budget:
    gate: Gate
    public_url: str
    """The dashboard's public URL (the premium page a refusal links to)."""

    async def tokens_per_day(self, guild_id: int) -> int | None:
        """Today's allowance of model tokens for the guild's tier (None: no limit)."""
        value = await self.gate.value(guild_id, TOKENS_PER_DAY)
        return None if value is None else int(value)

    async def documents_searched(self, guild_id: int) -> int | None:
        """How many written or uploaded documents the guild's tier searches (None: all)."""
        value = await self.gate.value(guild_id, DOCUMENTS)
        return None if value is None else int(value)

    async def may_add_document(self, guild_id: int, documents: int) -> Verdict:
        """Whether the guild, with `documents` now, may add one more."""
        return await self.gate.may(guild_id, DOCUMENTS, usage=documents)

    async def tokens_refusal(self, guild_id: int, used: int, adding: int) -> UpgradeOffer:
        """The upgrade offer for a question that would pass today's allowance."""
        verdict = await self.gate.may(guild_id, TOKENS_PER_DAY, usage=used, adding=adding)
        return self.offer(guild_id, verdict)

    def offer(self, guild_id: int, verdict: Verdict) -> UpgradeOffer:
        return upgrade_offer(verdict, self.gate.catalogue, guild_id, self.public_url)
