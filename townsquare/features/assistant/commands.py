"""The assistant's slash commands (shard side): `/ask question [only-me]`, `/summarize [count]`.

The shard does what is quick and needs no model: the permission check (the cached guild
configuration and the invoker's roles) and, for `/ask`, the rate limits (one Redis script).
A refusal is answered at once, to the invoker only. An accepted question is deferred (Discord
shows "thinking...", privately with only-me) and queued on the `ai` pipeline; a worker runs
the rest of flow 7 and edits the deferred response (`tasks.py`). The interaction id is the
job's id, so a redelivered job answers once.
"""

from __future__ import annotations

import typing

import arc
import hikari

from townsquare.core.features import manager_role_ids
from townsquare.features.assistant.domain.ask import permission_refusal
from townsquare.features.assistant.domain.config import AISection
from townsquare.features.assistant.domain.jobs import ANSWER_TASK, SUMMARIZE_TASK, queue_job
from townsquare.features.assistant.domain.limits import charge_question
from townsquare.features.assistant.domain.summary import (
    DEFAULT_SUMMARY_MESSAGES,
    MAX_SUMMARY_MESSAGES,
)
from townsquare.shards.commands.services import (
    INJECTED,
    CommandServices,
    Refusal,
    can_manage_guild,
)

__all__ = ["MAX_QUESTION_CHARACTERS", "PLUGINS", "plugin"]

plugin = arc.GatewayPlugin("assistant")

MAX_QUESTION_CHARACTERS: typing.Final = 1000


def _interaction(ctx: arc.GatewayContext) -> dict[str, typing.Any]:
    """The deferred interaction a worker answers into (`tasks.Interaction`)."""
    interaction = ctx.interaction
    return {
        "application_id": int(interaction.application_id),
        "token": interaction.token,
        "interaction_id": int(interaction.id),
    }


def _guild_of(ctx: arc.GatewayContext, where: str) -> int:
    """The guild the command was used in; refuses outside one (`where` says what to do)."""
    if ctx.guild_id is None or ctx.member is None:
        raise Refusal(where)
    return int(ctx.guild_id)


async def _refuse(ctx: arc.GatewayContext, reason: str) -> None:
    await ctx.respond(
        reason,
        flags=hikari.MessageFlag.EPHEMERAL,
        mentions_everyone=False,
        user_mentions=False,
        role_mentions=False,
    )


@plugin.include
@arc.slash_command("ask", "Ask the assistant about this server (answers from its knowledge base).")
async def ask_command(
    ctx: arc.GatewayContext,
    question: typing.Annotated[
        str, arc.StrParams("Your question.", min_length=2, max_length=MAX_QUESTION_CHARACTERS)
    ],
    only_me: typing.Annotated[
        bool, arc.BoolParams("Show the answer to you alone.", name="only-me")
    ] = False,
    services: CommandServices = INJECTED,
) -> None:
    guild_id = _guild_of(ctx, "The assistant answers in servers only: ask in one.")
    channel_id = int(ctx.channel_id)
    section = (await services.guild_config(guild_id)).section(AISection)
    role_ids = tuple(int(r) for r in ctx.member.role_ids) if ctx.member else ()
    refusal = permission_refusal(section, channel_id, role_ids)
    if refusal is None:
        verdict = await charge_question(
            services.redis,
            services.keyspace,
            guild_id,
            int(ctx.user.id),
            section.requests_per_member_per_hour,
            section.requests_per_guild_per_minute,
        )
        if not verdict.allowed:
            refusal = verdict.explain(
                section.requests_per_member_per_hour, section.requests_per_guild_per_minute
            )
    if refusal is not None:
        await _refuse(ctx, refusal)
        return
    await ctx.defer(flags=hikari.MessageFlag.EPHEMERAL if only_me else hikari.UNDEFINED)
    await queue_job(
        services.redis,
        services.keyspace,
        ANSWER_TASK,
        f"ask-{int(ctx.interaction.id)}",
        guild_id=guild_id,
        channel_id=channel_id,
        member_id=int(ctx.user.id),
        role_ids=list(role_ids),
        question=question,
        private=only_me,
        interaction=_interaction(ctx),
    )


@plugin.include
@arc.slash_command("summarize", "Summarize this channel's recent messages (moderators).")
async def summarize_command(
    ctx: arc.GatewayContext,
    count: typing.Annotated[
        int,
        arc.IntParams(
            f"How many recent messages (default {DEFAULT_SUMMARY_MESSAGES}).",
            min=2,
            max=MAX_SUMMARY_MESSAGES,
        ),
    ] = DEFAULT_SUMMARY_MESSAGES,
    services: CommandServices = INJECTED,
) -> None:
    guild_id = _guild_of(ctx, "Summaries are of server channels: use this in one.")
    config = await services.guild_config(guild_id)
    moderator = bool(ctx.member and ctx.member.permissions & hikari.Permissions.MANAGE_MESSAGES)
    if not (moderator or can_manage_guild(ctx.member, manager_role_ids(config))):
        await _refuse(
            ctx,
            "Only moderators (Manage Messages, Manage Server or a bot manager role) can "
            "summarize a channel.",
        )
        return
    if not config.section(AISection).enabled:
        await _refuse(ctx, "The assistant is turned off in this server.")
        return
    await ctx.defer(flags=hikari.MessageFlag.EPHEMERAL)
    await queue_job(
        services.redis,
        services.keyspace,
        SUMMARIZE_TASK,
        f"summarize-{int(ctx.interaction.id)}",
        guild_id=guild_id,
        channel_id=int(ctx.channel_id),
        count=count,
        interaction=_interaction(ctx),
    )


PLUGINS: typing.Final = (plugin,)
