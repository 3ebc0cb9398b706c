"""Flow 7 against real PostgreSQL, Redis and the sandbox's loopback Gemini (through
google-genai), without Discord: retrieval, isolation, edits, budgets and prompt limits."""

from __future__ import annotations

import typing

import pytest

from tests.support.assistant import RULES
from tests.support.redis_cluster import ON_CLUSTER_TOO
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.assistant.domain.ask import DONT_KNOW, Asked
from townsquare.features.assistant.domain.knowledge import (
    DocumentInput,
    forget_message,
    index_message,
    sync_channel,
    update_document,
)
from townsquare.features.assistant.domain.limits import charge_question, utc_day
from townsquare.features.assistant.domain.retrieval import search_passages

if typing.TYPE_CHECKING:
    from tests.support.assistant import AssistantHarness

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

OTHER_GUILD = 4242


def asked(harness: AssistantHarness, question: str, **fields: typing.Any) -> Asked:
    return Asked(harness.guild_id, None, 77, None, question, charged=True, **fields)


async def test_a_guild_retrieves_only_its_own_passages(assistant: AssistantHarness) -> None:
    await ensure_guild(OTHER_GUILD)
    await assistant.document("Other rules", "Invite links are welcome here.", OTHER_GUILD)
    mine = await assistant.document("Server rules", RULES)
    found = await search_passages(assistant.guild_id, "invite links", documents_limit=None)
    assert {f.document_id for f in found} == {mine.id}
    theirs = await search_passages(OTHER_GUILD, "invite links", documents_limit=None)
    assert {f.title for f in theirs} == {"Other rules"}
    assert await search_passages(assistant.guild_id, "the", documents_limit=None) == []


async def test_an_edited_document_is_used_by_the_next_answer(
    assistant: AssistantHarness,
) -> None:
    await assistant.enable()
    document = await assistant.document("Events", "## Movie night\nMovie night is on Fridays.")
    service = assistant.service()
    section = await assistant.section()
    before = await service.answer(asked(assistant, "when is movie night?"), section)
    await update_document(
        assistant.guild_id,
        document.id,
        DocumentInput("Events", "## Movie night\nMovie night moved to Saturdays."),
    )
    after = await service.answer(asked(assistant, "when is movie night?"), section)
    assert before.text.startswith("Movie night is on Fridays. [1]")
    assert after.text.startswith("Movie night moved to Saturdays. [1]")
    assert after.kind == "answer" and after.tokens > 0


async def test_a_deleted_indexed_message_is_no_longer_retrievable(
    assistant: AssistantHarness,
) -> None:
    await ensure_guild(assistant.guild_id)
    await index_message(assistant.guild_id, 10, 11, "#faq", "Voice chat opens at noon.")
    found = await search_passages(assistant.guild_id, "voice chat", documents_limit=None)
    assert [f.url for f in found] == [f"https://discord.com/channels/{assistant.guild_id}/10/11"]
    await index_message(assistant.guild_id, 10, 11, "#faq", "Voice rooms open at noon.")
    assert await search_passages(assistant.guild_id, "chat", documents_limit=None) == []
    await forget_message(assistant.guild_id, 11)
    assert await search_passages(assistant.guild_id, "voice", documents_limit=None) == []


async def test_unrelated_questions_are_not_answered_from_thin_air(
    assistant: AssistantHarness,
) -> None:
    await assistant.enable()
    await assistant.document("Server rules", RULES)
    outcome = await assistant.service().answer(
        asked(assistant, "what is the capital of France?"), await assistant.section()
    )
    assert (outcome.kind, outcome.text) == ("unknown", DONT_KNOW)
    assert await assistant.model_requests("generateContent") == []


async def test_tokens_are_reserved_then_charged_as_reported(
    assistant: AssistantHarness,
) -> None:
    await assistant.enable(max_output_tokens=500)
    await assistant.document("Server rules", RULES)
    outcome = await assistant.service().answer(
        asked(assistant, "rules about links?"), await assistant.section()
    )
    used = await assistant.redis.get(
        assistant.keyspace.key("ai_tokens", assistant.guild_id, utc_day())
    )
    [request] = await assistant.model_requests("generateContent")
    assert outcome.kind == "answer"
    assert int(used) == outcome.tokens  # the model's usageMetadata, not the 500 reserved
    assert request["generationConfig"]["maxOutputTokens"] == 500


async def test_documents_past_the_tier_limit_are_not_searched(
    assistant: AssistantHarness,
) -> None:
    await ensure_guild(assistant.guild_id)
    for number in range(4):  # the free tier searches 3 documents
        await assistant.document(f"Doc {number}", f"Parking rule number {number}.")
    limit = await assistant.service().budget.documents_searched(assistant.guild_id)
    found = await search_passages(assistant.guild_id, "parking", documents_limit=limit)
    assert limit == 3
    assert sorted(f.title for f in found) == ["Doc 0", "Doc 1", "Doc 2"]


async def test_rate_limits_say_exactly_when(assistant: AssistantHarness) -> None:
    clock = iter([1_000_000, 1_000_000, 1_000_000, 1_030_000]).__next__
    charge = [assistant.redis, assistant.keyspace, assistant.guild_id]
    first = await charge_question(*charge, 5, 2, 2, clock=clock)
    second = await charge_question(*charge, 6, 2, 2, clock=clock)
    third = await charge_question(*charge, 7, 2, 2, clock=clock)  # the guild's minute is full
    later = await charge_question(*charge, 7, 2, 2, clock=clock)  # 30 s later: one more
    assert (first.allowed, second.allowed, later.allowed) == (True, True, True)
    assert (third.allowed, third.scope, third.retry_after_ms) == (False, "guild", 30_000)
    assert third.explain(2, 2).endswith("Try again in 30 seconds.")
    assert later.tokens_used is None  # not asked for


async def test_the_charge_reads_the_day_s_tokens_in_the_same_script(
    assistant: AssistantHarness,
) -> None:
    day = utc_day()
    await assistant.redis.set(assistant.keyspace.key("ai_tokens", assistant.guild_id, day), 1234)
    charge = [assistant.redis, assistant.keyspace, assistant.guild_id]
    allowed = await charge_question(*charge, 5, 1, 10, tokens_day=day)
    refused = await charge_question(*charge, 5, 1, 10, tokens_day=day)  # the member's hour
    other_day = await charge_question(*charge, 6, 1, 10, tokens_day=day - 1)
    assert (allowed.allowed, allowed.tokens_used) == (True, 1234)
    assert (refused.allowed, refused.scope, refused.tokens_used) == (False, "member", 1234)
    assert other_day.tokens_used == 0


async def test_a_question_too_long_for_the_prompt_is_refused(
    assistant: AssistantHarness,
) -> None:
    await assistant.enable()
    await assistant.document("Server rules", RULES)
    service = assistant.service(max_prompt_tokens="1000")
    outcome = await service.answer(
        asked(assistant, "links? " + "please " * 700), await assistant.section()
    )
    assert outcome.kind == "refused"
    assert outcome.text.startswith("The question is too long for the assistant")


async def test_a_prompt_near_the_limit_is_counted_by_the_model(
    assistant: AssistantHarness,
) -> None:
    await assistant.enable()
    long_rules = "\n\n".join(f"Links rule {n}: " + "links are reviewed. " * 20 for n in range(10))
    await assistant.document("Server rules", "## Links\n" + long_rules)
    small = await assistant.service().answer(asked(assistant, "links?"), await assistant.section())
    assert await assistant.model_requests("countTokens") == []  # far below 6,000: estimated
    near = assistant.service(max_prompt_tokens="1000")
    outcome = await near.answer(asked(assistant, "links?"), await assistant.section())
    [counted] = await assistant.model_requests("countTokens")
    assert small.kind == outcome.kind == "answer"
    assert counted["contents"][0]["parts"][0]["text"].startswith("You are the assistant")


async def test_an_indexed_channel_sync_follows_edits_and_deletions(
    assistant: AssistantHarness,
) -> None:
    await ensure_guild(assistant.guild_id)
    first = [(101, "Voice opens at noon."), (102, "Stage talks on Sundays."), (103, "Be nice.")]
    await sync_channel(assistant.guild_id, 10, "#faq", first, complete=True)
    edited = [(101, "Voice opens at nine."), (103, "Be nice.")]  # 102 deleted, 101 edited
    forgotten = await sync_channel(assistant.guild_id, 10, "#faq", edited, complete=True)
    assert forgotten == 1
    assert await search_passages(assistant.guild_id, "stage talks", documents_limit=None) == []
    [voice] = await search_passages(assistant.guild_id, "voice", documents_limit=None)
    assert voice.text == "Voice opens at nine." and voice.title == "#faq"
    # Only the newest page was read: older messages are kept as they are.
    assert (
        await sync_channel(assistant.guild_id, 10, "#faq", [(103, "Be nice.")], complete=False) == 0
    )
