"""The workers' Discord side of giveaways: the message, announcements, DMs, member re-checks.

Every write is safe to repeat. Each message the bot posts carries a Discord `nonce` sent with
`enforce_nonce` (:func:`nonce`): a retry of the same post within Discord's window of a few
minutes gets the first message back instead of a second one, whether the retry is hikari's own
(a 5xx answer lost on the way back) or the jobs pipeline's. Past that window, the giveaway
message and each announcement also carry a marker that a retry looks for before posting (so a
worker killed between posting and recording it never posts twice). Edits render the current
state from PostgreSQL.
"""

from __future__ import annotations

import asyncio
import typing

import hikari
import structlog

from townsquare.core.member_levels import member_levels
from townsquare.core.member_requests import MOST_IDS, FetchedMember, request_members
from townsquare.core.nonces import message_nonce
from townsquare.features.giveaways.domain.lifecycle import RECHECKS_AT_ONCE
from townsquare.features.giveaways.domain.models import Giveaway, GiveawayPick
from townsquare.features.giveaways.domain.render import (
    CLAIM,
    MessageView,
    custom_id,
    giveaway_view,
)
from townsquare.features.giveaways.domain.requirements import MemberFacts, Requirements

if typing.TYPE_CHECKING:
    import datetime
    from collections.abc import Sequence

    from townsquare.features.giveaways.domain.lifecycle import Check
    from townsquare.tasks.resources import TaskResources

__all__ = [
    "GATEWAY_WAIT_SECONDS",
    "claim_row",
    "dm",
    "find_marked",
    "member_check",
    "nonce",
    "post_marked",
    "refresh_message",
    "view_message",
]

_log = structlog.get_logger(__name__)
_STYLES: typing.Final[dict[str, hikari.components.InteractiveButtonTypesT]] = {
    "success": hikari.ButtonStyle.SUCCESS,
    "secondary": hikari.ButtonStyle.SECONDARY,
    "primary": hikari.ButtonStyle.PRIMARY,
}
_SEARCH: typing.Final = 50
"""Messages after the giveaway's (or newest, for the giveaway's own) a retry looks through."""


def view_message(view: MessageView) -> tuple[hikari.Embed, list[hikari.api.ComponentBuilder]]:
    embed = hikari.Embed(title=view.title, description=view.description, colour=view.colour)
    for name, value in view.fields:
        embed.add_field(name, value[:1024])
    embed.set_footer(view.footer)
    rows: list[hikari.api.ComponentBuilder] = []
    if view.buttons:
        row = hikari.impl.MessageActionRowBuilder()
        for button in view.buttons:
            row.add_interactive_button(_STYLES[button.style], button.custom_id, label=button.label)
        rows.append(row)
    return embed, rows


def claim_row(giveaway_id: int) -> hikari.impl.MessageActionRowBuilder:
    row = hikari.impl.MessageActionRowBuilder()
    return row.add_interactive_button(
        hikari.ButtonStyle.SUCCESS, custom_id(CLAIM, giveaway_id), label="Claim"
    )


async def find_marked(
    rest: hikari.api.RESTClient,
    channel_id: int,
    bot_id: int,
    marker: str,
    *,
    after: int | None = None,
) -> hikari.Message | None:
    """A message of the bot's in the channel whose content or embed footer holds `marker`."""
    messages = (
        rest.fetch_messages(channel_id, after=after)
        if after is not None
        else rest.fetch_messages(channel_id)
    )
    async for message in messages.limit(_SEARCH):
        if message.author.id != bot_id:
            continue
        footers = [e.footer.text for e in message.embeds if e.footer and e.footer.text]
        if marker in (message.content or "") or any(f.startswith(marker) for f in footers):
            return message
    return None


def nonce(*parts: int | str) -> str:
    """Discord's `nonce` for one message of a giveaway (e.g. `nonce(12, "draw", 3)`), the same
    for every retry of that post (`core.nonces`)."""
    return message_nonce("giveaway", *parts)


async def post_marked(
    rest: hikari.api.RESTClient,
    channel_id: int,
    marker: str,
    *,
    nonce: str,
    after: int | None = None,
    **message: typing.Any,
) -> hikari.Message:
    """Post `message` unless the bot already did (found by `marker`), with `nonce`."""
    me = await rest.fetch_my_user()
    found = await find_marked(rest, channel_id, int(me.id), marker, after=after)
    if found is not None:
        return found
    return await rest.create_message(channel_id, nonce=nonce, **message)


async def refresh_message(
    rest: hikari.api.RESTClient, giveaway: Giveaway, entry_count: int
) -> typing.Literal["edited", "gone", "forbidden"]:
    """Edit the giveaway message to its current state. A deleted message (`gone`) or a channel
    the bot lost (`forbidden`: a permission removed) is left alone, never retried: the caller
    decides whether to alert."""
    if giveaway.message_id is None:
        return "gone"
    picks = await GiveawayPick.filter(giveaway_id=giveaway.id)
    embed, rows = view_message(giveaway_view(giveaway, picks, entry_count))
    try:
        await rest.edit_message(
            giveaway.channel_id, giveaway.message_id, embed=embed, components=rows
        )
    except hikari.NotFoundError:
        _log.info("giveaway_message_gone", giveaway_id=giveaway.id)
        return "gone"
    except hikari.ForbiddenError:
        _log.warning("giveaway_message_forbidden", giveaway_id=giveaway.id)
        return "forbidden"
    return "edited"


async def dm(
    rest: hikari.api.RESTClient, user_id: int, *, nonce: str | None = None, **message: typing.Any
) -> str:
    """DM a member; `sent`, or `closed` when they take no DMs from the bot (Discord's 50007
    Cannot send messages to this user, a 403; or a user Discord no longer knows): recorded
    by the caller, not an error, never retried. `nonce` makes a retried DM land once."""
    try:
        channel = await rest.create_dm_channel(user_id)
        if nonce is not None:
            message["nonce"] = nonce
        await rest.create_message(channel.id, **message)
    except (hikari.ForbiddenError, hikari.NotFoundError, hikari.BadRequestError):
        return "closed"
    return "sent"


GATEWAY_WAIT_SECONDS: typing.Final = 2.0
"""How long a draw's re-check waits for the shard's answer before asking REST instead."""


def member_check(
    resources: TaskResources,
    rest: hikari.api.RESTClient,
    giveaway: Giveaway,
    now: datetime.datetime,
    *,
    gateway_wait: float = GATEWAY_WAIT_SECONDS,
) -> Check:
    """The draw-time re-check: the members as Discord has them now, against the requirements.

    A batch of candidates is asked in one gateway request per 100 (op 8 with `user_ids`,
    through the shard that owns the guild: `core/member_requests.py`); the ids no shard
    answered for within `gateway_wait` seconds are fetched one by one through REST
    (RECHECKS_AT_ONCE at a time). Both give Discord's current member: the same decision."""
    requirements = Requirements.model_validate(giveaway.requirements)
    guild_id = giveaway.guild_id
    names: dict[int, str] = {}
    fetching = asyncio.Lock()  # one fetch of the role names for all re-checks

    async def role_name(role_id: int) -> str:
        async with fetching:
            if not names:
                try:
                    roles = await rest.fetch_roles(guild_id)
                    names.update({int(r.id): r.name for r in roles})
                except hikari.HTTPError:
                    names[0] = ""
        return names.get(role_id, f"<@&{role_id}>")

    async def check(user_ids: Sequence[int]) -> list[str | None]:
        members = await _current_members(resources, rest, guild_id, user_ids, gateway_wait)
        levels = dict.fromkeys(user_ids, 0)
        if requirements.min_level is not None:
            levels = await member_levels(resources.redis, resources.keyspace, guild_id, user_ids)
        held_names = {role_id: await role_name(role_id) for role_id in _role_ids(requirements)}
        reasons: list[str | None] = []
        for user_id in user_ids:
            member = members[user_id]
            if member is None:
                reasons.append("left the server")
                continue
            facts = MemberFacts(user_id, member.role_ids, member.joined_at, levels[user_id])
            refusals = requirements.refusals(
                facts, now, lambda role_id: held_names.get(role_id, "")
            )
            reasons.append("; ".join(refusals) or None)
        return reasons

    return check


async def _current_members(
    resources: TaskResources,
    rest: hikari.api.RESTClient,
    guild_id: int,
    user_ids: Sequence[int],
    gateway_wait: float,
) -> dict[int, FetchedMember | None]:
    """Each of `user_ids` as Discord has them now, or None for who is not a member: through
    the gateway where a shard answers, REST for the rest."""
    parts = [user_ids[i : i + MOST_IDS] for i in range(0, len(user_ids), MOST_IDS)]
    replies = await asyncio.gather(
        *(
            request_members(
                resources.redis, resources.keyspace, guild_id, part, wait_seconds=gateway_wait
            )
            for part in parts
        )
    )
    found: dict[int, FetchedMember | None] = {}
    by_rest: list[int] = []
    for part, reply in zip(parts, replies, strict=True):
        for user_id in part:
            if reply is not None and user_id in reply.members:
                found[user_id] = reply.members[user_id]
            elif reply is not None and user_id in reply.not_found:
                found[user_id] = None
            else:
                by_rest.append(user_id)
    at_once = asyncio.Semaphore(RECHECKS_AT_ONCE)

    async def fetch(user_id: int) -> FetchedMember | None:
        async with at_once:
            try:
                member = await rest.fetch_member(guild_id, user_id)
            except hikari.NotFoundError:
                return None
        return FetchedMember(user_id, frozenset(map(int, member.role_ids)), member.joined_at)

    found.update(zip(by_rest, await asyncio.gather(*map(fetch, by_rest)), strict=True))
    if by_rest:
        _log.info(
            "giveaway_recheck_through_rest",
            guild_id=guild_id,
            members=len(by_rest),
            through_gateway=len(user_ids) - len(by_rest),
        )
    return found


def _role_ids(requirements: Requirements) -> Sequence[int]:
    return [*requirements.required_role_ids, *requirements.excluded_role_ids]
