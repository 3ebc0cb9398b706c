"""The assistant's tasks on the `ai` pipeline (workers).

- `assistant.answer_interaction`: an `/ask` the shard deferred; the answer edits the deferred
  response, further pieces are follow-ups.
- `assistant.summarize`: `/summarize`, likewise (always private to the moderator).
- `assistant.messages`: the shards' message batches (with text): a message that mentions
  the bot, or replies to one of its answers, is answered as a reply; a message in one of the
  guild's indexed channels is added to its knowledge base.
- `assistant.embed_passages`: the passages without an embedding get one (queued after
  knowledge changes, and every minute).

Each question runs once (`run_once` on the interaction or message id): a redelivered job
finds it done. Every post allows no mentions, so an answer quoting `@everyone` pings nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import typing

import hikari
import structlog
from taskiq import TaskiqDepends

from townsquare.core.activity import ASSISTANT_QUESTIONS
from townsquare.core.activity.counters import record_activity_once
from townsquare.core.discord import resolve_discord_target
from townsquare.core.events import (
    MessageDeleteRecord,
    MessageEditRecord,
    MessageRecord,
    parse_records,
)
from townsquare.features.assistant.domain.ask import OUTCOME_JSON, Asked, Outcome
from townsquare.features.assistant.domain.config import AISection
from townsquare.features.assistant.domain.conversation import load_history, store_history
from townsquare.features.assistant.domain.embeddings import embed_pending
from townsquare.features.assistant.domain.jobs import (
    AI_PIPELINE,
    ANSWER_TASK,
    EMBED_TASK,
    MESSAGES_TASK,
    SUMMARIZE_TASK,
    SYNC_TASK,
    queue_embedding,
)
from townsquare.features.assistant.domain.knowledge import (
    forget_message,
    index_message,
    indexed_channels,
    sync_channel,
)
from townsquare.features.assistant.domain.service import assistant_for, model_for
from townsquare.features.assistant.domain.summary import NOTHING_TO_SUMMARIZE
from townsquare.tasks.idempotency import run_once
from townsquare.tasks.registry import REGISTRY

# At run time: taskiq reads the tasks' type hints to inject the resources.
from townsquare.tasks.resources import TaskResources  # noqa: TC001

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from townsquare.features.assistant.domain.ask import Assistant

__all__ = [
    "Interaction",
    "answer_interaction",
    "embed_passages",
    "messages",
    "summarize",
    "sync_channels",
]

SYNC_MESSAGES: typing.Final = 100
"""Messages read per indexed channel and sync (one REST page); older ones are kept as they are."""

_log = structlog.get_logger(__name__)

_NO_PINGS: typing.Final[dict[str, typing.Any]] = {
    "mentions_everyone": False,
    "user_mentions": False,
    "role_mentions": False,
}
_bot_ids: dict[str, int] = {}
"""The bot's user id per Discord (REST URL): it never changes for a token."""
_channel_names: dict[int, str] = {}
"""Indexed channels' names, for citation titles (a rename shows from the next restart)."""
_MAX_CHANNEL_NAMES: typing.Final = 10_000


OUTCOME_TTL_SECONDS: typing.Final = 3600
CANNOT_READ: typing.Final = (
    "I can't read {channel}: I need View Channel and Read Message History there to summarize it."
)


async def _outcome_once(
    resources: TaskResources, event_id: int, compute: Callable[[], Awaitable[Outcome]]
) -> Outcome:
    """The reply to `event_id`, computed once: a retry after a failed post (Discord down)
    posts the same reply, without asking the model or charging tokens again."""
    key = resources.keyspace.key("ai_outcome", event_id)
    kept = await resources.redis.get(key)
    if kept is not None:
        return OUTCOME_JSON.validate_json(kept)
    outcome = await compute()
    await resources.redis.set(key, OUTCOME_JSON.dump_json(outcome), ex=OUTCOME_TTL_SECONDS)
    return outcome


def _assistant(resources: TaskResources) -> Assistant:
    return assistant_for(resources.settings, resources.redis, resources.keyspace, resources.gate)


def _upgrade_row(rest: hikari.api.RESTClient, outcome: Outcome) -> list[typing.Any]:
    offer = outcome.upgrade
    if offer is None:
        return []
    row = rest.build_message_action_row()
    if offer.sku_id is not None:
        row.add_premium_button(offer.sku_id)
    elif offer.url is not None:
        row.add_link_button(offer.url, label="See premium")
    return [row]


async def _post_to_interaction(
    rest: hikari.api.RESTClient, interaction: Interaction, outcome: Outcome, private: bool
) -> list[int]:
    """Put `outcome` into the deferred response; the ids of the public messages posted."""
    application_id, token = interaction["application_id"], interaction["token"]
    pieces = outcome.pieces
    components = _upgrade_row(rest, outcome)
    if outcome.private and not private:
        # The deferral was public; a refusal is the asker's alone. (Discord shows the deferral
        # as a "thinking" message; the sandbox makes the message at the first edit: 404.)
        with contextlib.suppress(hikari.NotFoundError):
            await rest.delete_interaction_response(application_id, token)
        await rest.execute_webhook(
            application_id,
            token,
            pieces[0],
            components=components,
            flags=hikari.MessageFlag.EPHEMERAL,
            **_NO_PINGS,
        )
        return []
    first = await rest.edit_interaction_response(
        application_id, token, pieces[0], components=components, **_NO_PINGS
    )
    posted = [int(first.id)]
    flags = hikari.MessageFlag.EPHEMERAL if private else hikari.MessageFlag.NONE
    for piece in pieces[1:]:
        message = await rest.execute_webhook(application_id, token, piece, flags=flags, **_NO_PINGS)
        posted.append(int(message.id))
    return [] if private else posted


class Interaction(typing.TypedDict):
    """The deferred interaction a job answers into (what the shard put in the job)."""

    application_id: int
    token: str
    interaction_id: int


@REGISTRY.task(AI_PIPELINE, ANSWER_TASK)
async def answer_interaction(  # noqa: PLR0917 - the job's fields
    guild_id: int,
    channel_id: int,
    member_id: int,
    role_ids: list[int],
    question: str,
    private: bool,
    interaction: Interaction,
    resources: typing.Annotated[TaskResources, TaskiqDepends()],
) -> None:
    """Answer an `/ask` into its deferred response (flow 7 after the rate limit)."""

    async def work() -> None:
        config = await resources.guild_config(guild_id)
        asked = Asked(guild_id, channel_id, member_id, tuple(role_ids), question, charged=True)
        outcome = await _outcome_once(
            resources,
            interaction["interaction_id"],
            lambda: _assistant(resources).answer(asked, config.section(AISection)),
        )
        rest = await resources.discord_rest()
        posted = await _post_to_interaction(rest, interaction, outcome, private)
        if outcome.kind == "answer" and posted:
            await store_history(resources.redis, resources.keyspace, posted, outcome.history)

    await _count_question(resources, guild_id, interaction["interaction_id"], "ai_ask")
    once = str(interaction["interaction_id"])
    await run_once(resources.redis, resources.keyspace, "ai_ask", once, work)


@REGISTRY.task(AI_PIPELINE, SUMMARIZE_TASK)
async def summarize(
    guild_id: int,
    channel_id: int,
    count: int,
    interaction: Interaction,
    resources: typing.Annotated[TaskResources, TaskiqDepends()],
) -> None:
    """Summarise the channel's last `count` messages for the moderator who asked."""

    async def work() -> None:
        rest = await resources.discord_rest()
        try:
            lines = await _transcript(rest, channel_id, count)
        except hikari.ForbiddenError:
            # Found by the chaos suite: retried, then dead-lettered, and the moderator left
            # with "thinking..." for a channel the bot may not read.
            refusal = Outcome("refused", CANNOT_READ.format(channel=f"<#{channel_id}>"))
            await _post_to_interaction(rest, interaction, refusal, private=True)
            return
        section = (await resources.guild_config(guild_id)).section(AISection)
        outcome = await _assistant(resources).summarize(guild_id, "", lines, section)
        await _post_to_interaction(rest, interaction, outcome, private=True)

    _log.info("assistant.summarize", guild_id=guild_id, channel_id=channel_id, count=count)
    once = str(interaction["interaction_id"])
    await run_once(resources.redis, resources.keyspace, "ai_summary", once, work)


async def _transcript(rest: hikari.api.RESTClient, channel_id: int, count: int) -> list[str]:
    """The channel's last `count` messages with text, oldest first, as `name: text`."""
    lines = []
    async for message in rest.fetch_messages(channel_id).limit(count):
        if message.content:
            lines.append(f"{message.author.username}: {message.content}")
    lines.reverse()
    return lines or [NOTHING_TO_SUMMARIZE]


@REGISTRY.task(AI_PIPELINE, MESSAGES_TASK)
async def messages(
    records: list[dict[str, typing.Any]],
    resources: typing.Annotated[TaskResources, TaskiqDepends()],
) -> None:
    """Answer mentions and replies to answers; keep indexed channels' messages current."""
    work = []
    for record in parse_records(records):
        if isinstance(record, MessageRecord) and record.content:
            work.append(_message(record, resources))
        elif isinstance(record, MessageEditRecord) and record.content is not None:
            work.append(_edited(record, resources))
        elif isinstance(record, MessageDeleteRecord):
            work.append(_deleted(record))
    indexed = await asyncio.gather(*work)
    if any(indexed):
        await queue_embedding(resources.redis, resources.keyspace)


async def _deleted(record: MessageDeleteRecord) -> bool:
    """Deleted messages leave the knowledge base (nothing to embed)."""
    await forget_message(record.guild_id, *record.message_ids)
    return False


async def _edited(record: MessageEditRecord, resources: TaskResources) -> bool:
    """An edit in an indexed channel re-indexes the message (emptied: forgets it); whether
    it was one."""
    section = (await resources.guild_config(record.guild_id)).section(AISection)
    if record.channel_id in section.knowledge_channel_ids:
        title = await _channel_title(resources, record.channel_id)
        content = record.content or ""
        await index_message(record.guild_id, record.channel_id, record.message_id, title, content)
        return True
    return False


async def _bot_id(resources: TaskResources) -> int:
    """The bot's user id (asked once per process and Discord)."""
    target = resources.discord or resolve_discord_target(resources.settings)
    if target.rest_url not in _bot_ids:
        rest = await resources.discord_rest()
        _bot_ids[target.rest_url] = int((await rest.fetch_my_user()).id)
    return _bot_ids[target.rest_url]


async def _message(record: MessageRecord, resources: TaskResources) -> bool:
    """Index a message of an indexed channel (True when it was one), and answer it when it
    asks the bot."""
    config = await resources.guild_config(record.guild_id)
    section = config.section(AISection)
    content = record.content or ""
    indexed = record.channel_id in section.knowledge_channel_ids
    if indexed:
        title = await _channel_title(resources, record.channel_id)
        await index_message(record.guild_id, record.channel_id, record.message_id, title, content)
    if not section.enabled or (
        section.channel_ids and record.channel_id not in section.channel_ids
    ):
        return indexed  # a mention where the assistant does not answer gets no reply
    bot_id = await _bot_id(resources)
    mention = re.compile(rf"<@!?{bot_id}>")
    history = None
    if record.referenced_message_id is not None:
        history = await load_history(
            resources.redis, resources.keyspace, record.referenced_message_id
        )
    if history is None and not mention.search(content):
        return indexed
    question = mention.sub("", content).strip()
    if not question:
        return indexed

    async def work() -> None:
        asked = Asked(
            record.guild_id,
            record.channel_id,
            record.author_id,
            record.role_ids,
            question,
            history=history or (),
        )
        outcome = await _outcome_once(
            resources, record.message_id, lambda: _assistant(resources).answer(asked, section)
        )
        rest = await resources.discord_rest()
        posted = await _reply(rest, record, outcome.pieces, _upgrade_row(rest, outcome))
        if outcome.kind == "answer":
            await store_history(resources.redis, resources.keyspace, posted, outcome.history)

    await _count_question(resources, record.guild_id, record.message_id, "ai_mention")
    await run_once(resources.redis, resources.keyspace, "ai_mention", str(record.message_id), work)
    return indexed


async def _count_question(
    resources: TaskResources, guild_id: int, event_id: int, scope: str
) -> None:
    """One question on the overview's chart (at the time its interaction or message was made),
    counted once however often its job is delivered."""
    at_ms = int(hikari.Snowflake(event_id).created_at.timestamp() * 1000)
    marker = resources.keyspace.key("activity_done", guild_id, scope + "_counted", str(event_id))
    await record_activity_once(
        resources.redis,
        resources.keyspace,
        guild_id,
        at_ms,
        marker=marker,
        metric=ASSISTANT_QUESTIONS.name,
    )


async def _reply(
    rest: hikari.api.RESTClient,
    record: MessageRecord,
    pieces: Sequence[str],
    components: list[typing.Any],
) -> list[int]:
    posted = []
    for number, piece in enumerate(pieces):
        message = await rest.create_message(
            record.channel_id,
            piece,
            reply=record.message_id if number == 0 else hikari.UNDEFINED,
            mentions_reply=False,
            components=components if number == len(pieces) - 1 else hikari.UNDEFINED,
            **_NO_PINGS,
        )
        posted.append(int(message.id))
    return posted


async def _channel_title(resources: TaskResources, channel_id: int) -> str:
    if channel_id not in _channel_names:
        if len(_channel_names) >= _MAX_CHANNEL_NAMES:
            _channel_names.clear()
        rest = await resources.discord_rest()
        channel = await rest.fetch_channel(channel_id)
        _channel_names[channel_id] = f"#{channel.name}" if channel.name else "a message"
    return _channel_names[channel_id]


@REGISTRY.task(AI_PIPELINE, SYNC_TASK)
async def sync_channels(resources: typing.Annotated[TaskResources, TaskiqDepends()]) -> None:
    """Re-read every indexed channel's latest messages: index new and edited ones, forget
    deleted ones (idempotent: a second run changes nothing)."""
    rest = await resources.discord_rest()
    for guild_id, channel_ids in await indexed_channels():
        for channel_id in channel_ids:
            try:
                latest = [m async for m in rest.fetch_messages(channel_id).limit(SYNC_MESSAGES)]
            except (hikari.NotFoundError, hikari.ForbiddenError) as error:
                _log.warning("assistant.sync_unreadable", channel_id=channel_id, error=repr(error))
                continue
            fetched = [(int(m.id), m.content or "") for m in latest if not m.author.is_bot]
            title = await _channel_title(resources, channel_id)
            complete = len(latest) < SYNC_MESSAGES
            await sync_channel(guild_id, channel_id, title, fetched, complete=complete)
    await _embed_pending(resources)


EMBED_CALL_SECONDS: typing.Final = 60.0
"""Most time one `batchEmbedContents` call may take (its batch's rows stay locked)."""


@REGISTRY.task(AI_PIPELINE, EMBED_TASK)
async def embed_passages(resources: typing.Annotated[TaskResources, TaskiqDepends()]) -> None:
    """Embed every passage that has none yet, a batch at a time (resumable: see
    `domain/embeddings.py`). Without a model there is nothing to do: retrieval is full text."""
    await _embed_pending(resources)


async def _embed_pending(resources: TaskResources) -> None:
    model = model_for(resources.settings)
    if model is None:
        return

    async def embed(texts: Sequence[str]) -> list[list[float]]:
        assert model is not None
        async with asyncio.timeout(EMBED_CALL_SECONDS):
            return await model.embed(texts, "RETRIEVAL_DOCUMENT")

    embedded = await embed_pending(embed)
    if embedded:
        _log.info("assistant.embedded", passages=embedded)
