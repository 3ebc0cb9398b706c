"""Flow 7, the path of a question: permission -> rate limit -> budget -> retrieval -> prompt
within the token limit -> Gemini within the deadline -> the reply (or the fallback).

Every step that fails ends the path with an :class:`Outcome` saying why, in words for the
member. Nothing here knows Discord's transport: the shard's `/ask`, the worker's mention and
reply handling, and the dashboard's "try it" box all run :meth:`Assistant.answer` and post its
outcome their own way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import typing

import structlog
from pydantic import TypeAdapter

# At run time: the outcome's JSON form (`OUTCOME_JSON`) reads the annotations.
from townsquare.core.premium import UpgradeOffer  # noqa: TC001
from townsquare.features.assistant.domain.gemini import ModelUnavailable
from townsquare.features.assistant.domain.hybrid import retrieve
from townsquare.features.assistant.domain.limits import (
    charge_question,
    reserve_tokens,
    settle_tokens,
    utc_day,
)
from townsquare.features.assistant.domain.prompt import (
    Exchange,
    PromptTooLong,
    build_prompt,
    without_last_passage,
)
from townsquare.features.assistant.domain.replies import Source, split_message, with_sources
from townsquare.features.assistant.domain.summary import NOTHING_TO_SUMMARIZE, summary_prompt

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.features.assistant.domain.budget import Budget
    from townsquare.features.assistant.domain.config import AISection
    from townsquare.features.assistant.domain.gemini import Model
    from townsquare.features.assistant.domain.limits import RateVerdict
    from townsquare.features.assistant.domain.prompt import Prompt
    from townsquare.features.assistant.domain.retrieval import Found

__all__ = [
    "DONT_KNOW",
    "OUTCOME_JSON",
    "Asked",
    "Assistant",
    "Outcome",
    "fallback_message",
    "permission_refusal",
]

_log = structlog.get_logger(__name__)

DONT_KNOW: typing.Final = (
    "I don't know: nothing in this server's knowledge base answers that. "
    "A moderator may be able to help."
)
_MAX_RECOUNTS: typing.Final = 3
_COUNT_ABOVE: typing.Final = 0.75
"""A prompt estimated above this share of `max_prompt_tokens` is counted by the model
(countTokens) before it is sent; below it, the estimate is reserved as it is (the model's
reported usage replaces the reservation either way), which saves a round trip per question."""

type OutcomeKind = typing.Literal["answer", "unknown", "refused", "upgrade", "fallback"]


@dataclasses.dataclass(frozen=True, slots=True)
class Asked:
    """A question and who asked it where."""

    guild_id: int
    channel_id: int | None
    """None: asked outside Discord (the dashboard's "try it"), where channels do not apply."""
    member_id: int
    role_ids: tuple[int, ...] | None
    """None: the dashboard's managers, whom the role limit does not apply to."""
    question: str
    guild_name: str = ""
    history: tuple[Exchange, ...] = ()
    charged: bool = False
    """The rate limits were charged already (the shard does it for `/ask`)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    text: str
    """The whole reply (an answer with its sources, or the refusal's words)."""
    sources: tuple[Source, ...] = ()
    upgrade: UpgradeOffer | None = None
    tokens: int = 0
    """Tokens the model reported (0 when it was not called)."""
    history: tuple[Exchange, ...] = ()
    """The conversation including this answer (empty unless `kind` is `answer`)."""
    retrieval: str = ""
    """How passages were found: `hybrid`, or `full_text:<reason>` when the question's
    embedding could not be had (`timeout`, `server`, ...; `no_model`); empty: no search."""

    @property
    def pieces(self) -> list[str]:
        """The reply in messages of at most 2,000 characters."""
        return split_message(self.text)

    @property
    def private(self) -> bool:
        """Refusals go to the asker alone."""
        return self.kind in {"refused", "upgrade"}


OUTCOME_JSON: typing.Final = TypeAdapter(Outcome)
"""An outcome as JSON and back: kept between a job's attempts, so a retry posts the same
reply without asking the model again."""


def permission_refusal(
    section: AISection, channel_id: int | None, role_ids: tuple[int, ...] | None
) -> str | None:
    """Why this member may not ask here, or None (step 1 of flow 7)."""
    if not section.enabled:
        return "The assistant is turned off in this server."
    if channel_id is not None and section.channel_ids and channel_id not in section.channel_ids:
        listed = ", ".join(f"<#{c}>" for c in section.channel_ids[:5])
        more = " and others" if len(section.channel_ids) > 5 else ""
        return f"The assistant does not answer in this channel; ask in {listed}{more}."
    if role_ids is not None and section.role_ids and not set(section.role_ids) & set(role_ids):
        listed = ", ".join(f"<@&{r}>" for r in section.role_ids[:5])
        return f"The assistant answers members with one of these roles only: {listed}."
    return None


def fallback_message(error: ModelUnavailable) -> str:
    """The fallback answer for a model that did not answer (flow 7's timeout branch)."""
    if error.kind == "rate_limited":
        wait = error.retry_after_seconds
        when = f"in {max(1, round(wait))} seconds" if wait is not None else "in a minute"
        return f"The model is busy right now, so I could not answer. Please ask again {when}."
    if error.kind == "timeout":
        return "The model took too long to answer, so I stopped waiting. Please ask again shortly."
    return "The model could not answer just now. Please ask again shortly."


@dataclasses.dataclass(frozen=True, slots=True)
class Assistant:
    redis: aioredis.Redis
    keyspace: Keyspace
    budget: Budget
    model: Model | None
    """None when no Gemini is configured (no API key and no sandbox)."""
    timeout_seconds: float
    """Deadline of the model's part (counting and answering), `ai.timeout_seconds`."""
    max_prompt_tokens: int
    document_url: Callable[[int, int], str]
    """`(guild_id, document_id)` -> a written document's page, for citations."""
    embedding_timeout_seconds: float = 3.0
    """Most time embedding the question may take (and never more than a quarter of the
    deadline); past it the passages come from full text alone."""

    async def answer(self, asked: Asked, section: AISection) -> Outcome:
        """Run flow 7 for `asked` under the guild's `section` of the configuration."""
        allowance = await self.budget.tokens_per_day(asked.guild_id)
        stopped = await self._before_model(asked, section, allowance)
        if stopped is not None:
            return stopped
        searched = await self.budget.documents_searched(asked.guild_id)
        retrieved = await retrieve(
            asked.guild_id,
            asked.question,
            documents_limit=searched,
            embed_question=self._embed_question if self.model is not None else None,
            bound_seconds=min(self.embedding_timeout_seconds, self.timeout_seconds / 4),
        )
        # The answer's outcome names the retrieval, e.g. `full_text:timeout`.
        suffix = f":{retrieved.fallback}" if retrieved.fallback else ""  # keyspace: not a key
        how = retrieved.mode + suffix
        # The deadline covers every model call of the question: its embedding too.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_seconds - retrieved.embedding_seconds
        found = retrieved.passages
        if not found and not asked.history:
            return Outcome("unknown", DONT_KNOW, retrieval=how)
        try:
            prompt = build_prompt(
                asked.guild_name,
                asked.question,
                asked.history,
                found,
                max_tokens=self.max_prompt_tokens,
            )
        except PromptTooLong as error:
            return Outcome("refused", str(error), retrieval=how)
        outcome = await self._ask_model(asked, section, prompt, allowance, deadline)
        return dataclasses.replace(outcome, retrieval=how)

    async def _embed_question(self, question: str) -> list[float]:
        assert self.model is not None
        [vector] = await self.model.embed([question], "RETRIEVAL_QUERY")
        return vector

    async def _before_model(
        self, asked: Asked, section: AISection, allowance: int | None
    ) -> Outcome | None:
        """Steps 1 to 3 (permission, rate limits, budget left today): a refusal, or None."""
        refusal = permission_refusal(section, asked.channel_id, asked.role_ids)
        used: int | None = None
        if refusal is None and not asked.charged:
            # The day's token count comes with the charge (one round trip for both).
            day = None if allowance is None else utc_day()
            verdict = await self._charge(asked, section, day)
            refusal = None if verdict.allowed else self._explain(verdict, section)
            used = verdict.tokens_used
        if refusal is not None:
            return Outcome("refused", refusal)
        if allowance is not None:
            if used is None:
                used = await self._tokens_used(asked.guild_id)
            if used >= allowance:
                offer = await self.budget.tokens_refusal(asked.guild_id, used, 1)
                return Outcome("upgrade", _upgrade_text(offer), upgrade=offer)
        if self.model is None:
            return Outcome("refused", "The assistant has no model configured on this bot.")
        return None

    async def rate_refusal(self, asked: Asked, section: AISection) -> str | None:
        """Charge the question to the rate limits; the refusal's words when over (step 2)."""
        verdict = await self._charge(asked, section, None)
        return None if verdict.allowed else self._explain(verdict, section)

    async def _charge(
        self, asked: Asked, section: AISection, tokens_day: int | None
    ) -> RateVerdict:
        return await charge_question(
            self.redis,
            self.keyspace,
            asked.guild_id,
            asked.member_id,
            section.requests_per_member_per_hour,
            section.requests_per_guild_per_minute,
            tokens_day=tokens_day,
        )

    @staticmethod
    def _explain(verdict: RateVerdict, section: AISection) -> str:
        return verdict.explain(
            section.requests_per_member_per_hour, section.requests_per_guild_per_minute
        )

    async def _tokens_used(self, guild_id: int) -> int:
        raw = await self.redis.get(self.keyspace.key("ai_tokens", guild_id, utc_day()))
        return int(raw or 0)

    async def _ask_model(
        self,
        asked: Asked,
        section: AISection,
        prompt: Prompt,
        allowance: int | None,
        deadline: float | None = None,
    ) -> Outcome:
        assert self.model is not None
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + self.timeout_seconds
        counted = prompt.estimated_tokens
        try:
            async with asyncio.timeout_at(deadline):
                if counted > self.max_prompt_tokens * _COUNT_ABOVE:
                    # Near the limit the estimate may be wrong by enough to matter: count.
                    counted = await self.model.count_tokens(prompt.system, prompt.turns)
                for _ in range(_MAX_RECOUNTS):
                    if counted <= self.max_prompt_tokens or not prompt.passages:
                        break
                    prompt = without_last_passage(prompt, asked.question)
                    counted = await self.model.count_tokens(prompt.system, prompt.turns)
        except TimeoutError:
            return self._fallback(asked, ModelUnavailable("timeout", "countTokens"))
        except ModelUnavailable as error:
            return self._fallback(asked, error)
        if counted > self.max_prompt_tokens:
            return Outcome(
                "refused",
                f"The question and the conversation so far are too long for the assistant "
                f"({counted:,} tokens; at most {self.max_prompt_tokens:,}). Ask it afresh, "
                "not as a reply.",
            )
        estimate = counted + section.max_output_tokens
        reservation = await reserve_tokens(
            self.redis, self.keyspace, asked.guild_id, estimate, allowance
        )
        if not reservation.reserved:
            offer = await self.budget.tokens_refusal(
                asked.guild_id, reservation.used_before, estimate
            )
            return Outcome("upgrade", _upgrade_text(offer), upgrade=offer)
        try:
            generated = await self.model.generate(
                prompt.system,
                prompt.turns,
                max_output_tokens=section.max_output_tokens,
                deadline=max(0.0, deadline - loop.time()),
            )
        except ModelUnavailable as error:
            # A timed-out call may still have been billed for its input; the rest is returned.
            await settle_tokens(self.redis, reservation, counted if error.kind == "timeout" else 0)
            return self._fallback(asked, error)
        await settle_tokens(self.redis, reservation, generated.total_tokens)
        sources = tuple(
            Source(number, passage.title, self._url(asked.guild_id, passage))
            for number, passage in enumerate(prompt.passages, start=1)
        )
        text = with_sources(generated.text, sources)
        history = (*asked.history, Exchange(asked.question, generated.text))
        return Outcome("answer", text, sources, tokens=generated.total_tokens, history=history)

    async def summarize(
        self, guild_id: int, guild_name: str, lines: Sequence[str], section: AISection
    ) -> Outcome:
        """A summary of `lines` (a channel's messages, oldest first), within the budget."""
        allowance = await self.budget.tokens_per_day(guild_id)
        if self.model is None:
            return Outcome("refused", "The assistant has no model configured on this bot.")
        prompt = summary_prompt(guild_name, lines, max_tokens=self.max_prompt_tokens)
        if prompt is None:
            return Outcome("refused", NOTHING_TO_SUMMARIZE)
        asked = Asked(guild_id, None, 0, None, "", guild_name, charged=True)
        return await self._ask_model(asked, section, prompt, allowance)

    def _url(self, guild_id: int, passage: Found) -> str:
        return passage.url or self.document_url(guild_id, passage.document_id)

    def _fallback(self, asked: Asked, error: ModelUnavailable) -> Outcome:
        _log.warning(
            "assistant.model_unavailable",
            guild_id=asked.guild_id,
            kind=error.kind,
            error=str(error),
        )
        return Outcome("fallback", fallback_message(error))


def _upgrade_text(offer: UpgradeOffer) -> str:
    return (
        "This server has used its assistant tokens for today (they renew at midnight UTC). "
        + offer.content
    )
