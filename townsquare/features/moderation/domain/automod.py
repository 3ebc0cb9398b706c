"""The automod pipeline's work on one guild's batch: judge, delete in bulk, record offenses.

1. Members with an automod-exempt role are skipped.
2. Per-message rules (:func:`.checks.check_message`) and windowed rules
   (:func:`.windows.judge_windows`, one Lua script) judge every message; the first rule broken
   is the message's violation.
3. Deletions are grouped per channel and carried out by the guard as one `delete` action each
   (bulk delete where Discord allows), before anything else: the fastest visible effect.
4. Each offense (a per-message violation, or a windowed rule firing) goes through
   :func:`.enforce.enforce`, in message order: the rule's action (`warn`, `timeout`, or points
   alone), its points, then the ladder.

Every action's key derives from message ids, so a redelivered or duplicated batch finds its
earlier cases and does nothing twice.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import hashlib
import typing

from townsquare.core.guard.actions import Action, ActionRequest, ActorKind, Source
from townsquare.features.moderation.domain.checks import check_message
from townsquare.features.moderation.domain.enforce import enforce
from townsquare.features.moderation.domain.rules import Message, Violation, applies
from townsquare.features.moderation.domain.windows import (
    WINDOW_RULES,
    Windowed,
    WindowLimits,
    judge_windows,
)

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    import redis.asyncio as aioredis

    from townsquare.core.guard.guard import GuardContext
    from townsquare.core.keyspace import Keyspace
    from townsquare.features.moderation.domain.automod_config import CustomRule
    from townsquare.features.moderation.domain.config import AutomodSection, ModerationSection

__all__ = ["Judged", "Outcomes", "act", "judge", "moderate"]

_DELETES: typing.Final = frozenset({"delete", "warn", "timeout"})


@dataclasses.dataclass(frozen=True, slots=True)
class Judged:
    message: Message
    violation: Violation
    offense: bool
    """False for a windowed rule that already fired in its window: delete only."""


@dataclasses.dataclass(slots=True)
class Outcomes:
    deleted: int = 0
    offenses: int = 0
    escalations: int = 0


def limits_of(automod: AutomodSection) -> WindowLimits:
    return WindowLimits(
        automod.spam_messages,
        automod.spam_window_seconds,
        automod.duplicate_messages,
        automod.duplicate_window_seconds,
        automod.window_mentions,
        automod.mention_window_seconds,
    )


async def judge(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    automod: AutomodSection,
    messages: Sequence[Message],
    *,
    own_invites: frozenset[str] = frozenset(),
    custom_rules: Sequence[CustomRule] | None = None,
) -> list[Judged]:
    """Every message's violation, if any (see the module docs, steps 1 and 2)."""
    exempt = frozenset(automod.exempt_role_ids)
    ordered = sorted(
        (m for m in messages if m.role_ids.isdisjoint(exempt)),
        key=lambda m: (m.timestamp_ms, m.message_id),
    )
    if not ordered:
        return []
    window_settings = [getattr(automod.rules, name) for name in WINDOW_RULES]
    windowed = [
        Windowed(
            m.message_id,
            m.author_id,
            m.timestamp_ms,
            m.mention_count,
            m.content,
            (
                applies(window_settings[0], m),
                applies(window_settings[1], m),
                applies(window_settings[2], m),
            ),
        )
        for m in ordered
    ]
    verdicts = await judge_windows(
        redis, keyspace, ordered[0].guild_id, limits_of(automod), windowed
    )
    judged: list[Judged] = []
    for message, verdict in zip(ordered, verdicts, strict=True):
        found = check_message(message, automod, own_invites=own_invites, custom_rules=custom_rules)
        if found is not None:
            judged.append(Judged(message, found, offense=True))
            continue
        for name, settings in zip(WINDOW_RULES, window_settings, strict=True):
            flag = verdict.flags.get(name)
            if flag is not None:
                detail = _WINDOW_DETAIL[name](automod)
                judged.append(Judged(message, Violation(name, settings, detail), flag == "offense"))
                break
    return judged


_WINDOW_DETAIL: typing.Final[dict[str, typing.Callable[[AutomodSection], str]]] = {
    "spam": lambda a: f"{a.spam_messages} messages within {a.spam_window_seconds} s",
    "duplicates": lambda a: (
        f"the same text {a.duplicate_messages} times within {a.duplicate_window_seconds} s"
    ),
    "mention_window": lambda a: f"{a.window_mentions} mentions within {a.mention_window_seconds} s",
}


async def moderate(
    context: GuardContext,
    section: ModerationSection,
    messages: Sequence[Message],
    *,
    own_invites: frozenset[str] = frozenset(),
    custom_rules: Sequence[CustomRule] | None = None,
) -> Outcomes:
    """Judge one guild's messages and act on them (see the module docs)."""
    judged = await judge(
        context.redis,
        context.keyspace,
        section.automod,
        messages,
        own_invites=own_invites,
        custom_rules=custom_rules,
    )
    return await act(context, section, judged)


async def act(
    context: GuardContext, section: ModerationSection, judged: Sequence[Judged]
) -> Outcomes:
    """Delete, then record offenses and climb the ladder (steps 3 and 4 of the module docs)."""
    outcomes = Outcomes()
    by_channel: dict[int, list[Judged]] = collections.defaultdict(list)
    for item in judged:
        if item.violation.settings.action in _DELETES:
            by_channel[item.message.channel_id].append(item)
    for channel_id, items in by_channel.items():
        await _delete(context, section, channel_id, items)
        outcomes.deleted += len(items)
    for item in judged:
        if not item.offense:
            continue
        request = _offense_request(item)
        if request is None:
            continue
        enforced = await enforce(request, context, section)
        outcomes.offenses += 1
        outcomes.escalations += enforced.escalation is not None
    return outcomes


async def _delete(
    context: GuardContext, section: ModerationSection, channel_id: int, items: list[Judged]
) -> None:
    ids = sorted(item.message.message_id for item in items)
    authors = {item.message.author_id for item in items}
    digest = hashlib.blake2b(",".join(map(str, ids)).encode(), digest_size=8).hexdigest()
    rules = sorted({item.violation.rule for item in items})
    await enforce(
        ActionRequest(
            guild_id=items[0].message.guild_id,
            action=Action.DELETE,
            target_id=authors.pop() if len(authors) == 1 else 0,
            key=f"automod/delete/{channel_id}/{digest}",
            source=Source.AUTOMOD,
            actor_kind=ActorKind.SYSTEM,
            actor_name="automod",
            reason=f"automod: {', '.join(rules)}",
            occurred_at=_time(items[0].message),
            channel_id=channel_id,
            message_ids=tuple(ids),
        ),
        context,
        section,
    )


def _time(message: Message) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(message.timestamp_ms / 1000, datetime.UTC)


def _offense_request(item: Judged) -> ActionRequest | None:
    settings, message = item.violation.settings, item.message
    match settings.action:
        case "warn":
            action = Action.WARN
        case "timeout":
            action = Action.TIMEOUT
        case _ if settings.points > 0:
            action = Action.OFFENSE
        case _:
            return None
    return ActionRequest(
        guild_id=message.guild_id,
        action=action,
        target_id=message.author_id,
        key=f"automod/{message.message_id}",
        source=Source.AUTOMOD,
        actor_kind=ActorKind.SYSTEM,
        actor_name="automod",
        reason=f"automod {item.violation.rule}: {item.violation.detail}"[:1000],
        occurred_at=_time(message),
        duration_seconds=settings.timeout_seconds if action is Action.TIMEOUT else None,
        channel_id=message.channel_id,
        message_ids=(message.message_id,),
        content=message.content,
        points=settings.points,
    )
