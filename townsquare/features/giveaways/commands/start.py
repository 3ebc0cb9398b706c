"""`/giveaway start`: the options read into a `GiveawaySpec`, created through the internal API.

Roles go in text options as mentions (`@Regular @Booster`: Discord's client completes them),
since a slash command cannot take a list of roles; bonus entries as `@Booster 2, @Regular 1`.
Durations as `30m`, `2d`, `1h30m`.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import typing

import arc
import hikari  # noqa: TC002 - arc reads the options' annotations at run time
from pydantic import ValidationError

from townsquare.features.giveaways.commands.api import GiveawaysClient
from townsquare.features.giveaways.domain.clock import CLOCK
from townsquare.features.giveaways.domain.durations import DurationError, parse_duration
from townsquare.features.giveaways.domain.limits import ACTIVE, asks
from townsquare.features.giveaways.domain.render import timestamp
from townsquare.features.giveaways.domain.requirements import MAX_LEVEL, Requirements
from townsquare.features.giveaways.domain.service import (
    MAX_CLAIM_WINDOW_SECONDS,
    MAX_DURATION_SECONDS,
    MAX_WINNERS,
    MIN_DURATION_SECONDS,
    GiveawaySpec,
)
from townsquare.shards.api_client import APIRefusedError, ServiceUnavailableError
from townsquare.shards.commands.services import INJECTED, CommandServices, Refusal, Reply, answer

if typing.TYPE_CHECKING:
    from townsquare.features.giveaways.domain.wire import GiveawayShown

__all__ = ["giveaway_start", "parse_bonus", "parse_roles"]

_ROLE: typing.Final = re.compile(r"<@&(\d{1,20})>|\b(\d{15,20})\b")
_BONUS: typing.Final = re.compile(r"(?:<@&(\d{1,20})>|\b(\d{15,20})\b)\s*[+x]?\s*(\d{1,3})(?!\d)")
_TEN_YEARS: typing.Final = 10 * 365 * 86_400


def parse_roles(text: str | None, option: str) -> list[int]:
    """The role ids mentioned in `text` (in order, once each)."""
    if not text:
        return []
    ids = [int(a or b) for a, b in _ROLE.findall(text)]
    if not ids:
        raise Refusal(f"`{option}` needs roles: mention them, e.g. @Regular @Booster.")
    return list(dict.fromkeys(ids))


def parse_bonus(text: str | None) -> dict[int, int]:
    """`@Booster 2, @Regular 1` as {role id: extra entries}."""
    if not text:
        return {}
    pairs = {int(a or b): int(n) for a, b, n in _BONUS.findall(text)}
    if not pairs:
        raise Refusal("`bonus` takes a role and a number of extra entries, e.g. @Booster 2.")
    return pairs


def _seconds(text: str | None, option: str, *, minimum: int, maximum: int) -> int | None:
    if text is None:
        return None
    try:
        return parse_duration(text, minimum=minimum, maximum=maximum)
    except DurationError as error:
        raise Refusal(f"`{option}`: {error}.") from None


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


@arc.slash_subcommand("start", "Start a giveaway (needs Manage Server or a manager role).")
async def giveaway_start(  # noqa: PLR0917 - a slash command's options
    ctx: arc.GatewayContext,
    prize: typing.Annotated[str, arc.StrParams("What the winners get.", max_length=256)],
    duration: typing.Annotated[str, arc.StrParams("How long it runs: 30m, 2h, 1d12h, 1w.")],
    winners: typing.Annotated[
        int, arc.IntParams("How many winners (default 1).", min=1, max=MAX_WINNERS)
    ] = 1,
    channel: typing.Annotated[
        hikari.TextableGuildChannel | None, arc.ChannelParams("Where to post it (default: here).")
    ] = None,
    required_roles: typing.Annotated[
        str | None, arc.StrParams("Roles needed to enter (mention them).", name="required-roles")
    ] = None,
    roles_mode: typing.Annotated[
        str,
        arc.StrParams(
            "Any or all of the required roles.", name="roles-mode", choices=["any", "all"]
        ),
    ] = "any",
    excluded_roles: typing.Annotated[
        str | None, arc.StrParams("Roles that cannot enter (mention them).", name="excluded-roles")
    ] = None,
    min_level: typing.Annotated[
        int | None, arc.IntParams("The XP level needed.", name="min-level", min=1, max=MAX_LEVEL)
    ] = None,
    account_age: typing.Annotated[
        str | None, arc.StrParams("How old accounts must be, e.g. 7d.", name="account-age")
    ] = None,
    member_for: typing.Annotated[
        str | None, arc.StrParams("How long in the server, e.g. 1d.", name="member-for")
    ] = None,
    bonus: typing.Annotated[
        str | None, arc.StrParams("Bonus entries per role, e.g. @Booster 2, @Regular 1.")
    ] = None,
    claim_window: typing.Annotated[
        str | None,
        arc.StrParams("Time winners have to claim (default: the server's).", name="claim-window"),
    ] = None,
    max_rerolls: typing.Annotated[
        int | None,
        arc.IntParams(
            "Rerolls per unclaimed prize (default: the server's).",
            name="max-rerolls",
            min=0,
            max=50,
        ),
    ] = None,
    start_in: typing.Annotated[
        str | None, arc.StrParams("Start later, e.g. 2h (default: now).", name="start-in")
    ] = None,
    services: CommandServices = INJECTED,
) -> None:
    async def work() -> Reply:
        guild_id, _ = await services.managed_guild(ctx, "run giveaways")
        seconds = _seconds(
            duration, "duration", minimum=MIN_DURATION_SECONDS, maximum=MAX_DURATION_SECONDS
        )
        delay = _seconds(start_in, "start-in", minimum=1, maximum=90 * 86_400)
        try:
            requirements = Requirements(
                required_role_ids=parse_roles(required_roles, "required-roles"),
                required_roles_mode="all" if roles_mode == "all" else "any",
                excluded_role_ids=parse_roles(excluded_roles, "excluded-roles"),
                min_level=min_level,
                min_account_age_seconds=_seconds(
                    account_age, "account-age", minimum=1, maximum=_TEN_YEARS
                ),
                min_member_seconds=_seconds(
                    member_for, "member-for", minimum=1, maximum=_TEN_YEARS
                ),
                bonus_entries=parse_bonus(bonus),
            )
            spec = GiveawaySpec(
                prize=prize,
                duration_seconds=seconds,
                winners=winners,
                channel_id=int(channel.id) if channel is not None else int(ctx.channel_id),
                host_id=int(ctx.user.id),
                requirements=requirements,
                claim_window_seconds=_seconds(
                    claim_window, "claim-window", minimum=30, maximum=MAX_CLAIM_WINDOW_SECONDS
                ),
                max_rerolls=max_rerolls,
                starts_at=None
                if delay is None
                else CLOCK.now() + datetime.timedelta(seconds=delay),
            )
        except ValidationError as error:
            raise Refusal(f"The giveaway cannot start: {_describe(error)}.") from None
        for ask in asks(spec):
            await services.require(guild_id, ask.limit, usage=ask.usage, adding=ask.adding)
        client = GiveawaysClient(services.client())
        try:
            # One key per interaction: a retry, or this interaction handled again after a
            # shard restart, starts no second giveaway.
            shown = await client.start(
                guild_id, spec, idempotency_key=f"giveaway-start/{int(ctx.interaction.id)}"
            )
        except APIRefusedError as refused:
            await _premium_refusal(services, guild_id, refused)
            raise
        if spec.starts_at is not None:
            return Reply(
                content=f"Giveaway #{shown.id} for **{shown.prize}** starts "
                f"{timestamp(shown.starts_at)} in <#{shown.channel_id}>.",
                ephemeral=True,
            )
        # Created: an outage now must not answer "nothing was changed"; the creation's own
        # answer says it (scheduled: "is being posted").
        with contextlib.suppress(ServiceUnavailableError):
            shown = await client.posted(guild_id, shown.id)
        return Reply(content=_started(shown), ephemeral=True)

    await answer(ctx, work(), defer_after=services.defer_after_seconds)


async def _premium_refusal(
    services: CommandServices, guild_id: int, refused: APIRefusedError
) -> None:
    """A 402 from the internal API (the running giveaways limit, which only it can count)
    becomes the kernel's refusal with the upgrade button."""
    error = refused.body.get("error")
    limit = error.get("limit") if isinstance(error, dict) else None
    if refused.status == 402 and isinstance(error, dict) and isinstance(limit, dict):
        name = str(limit["name"])
        adding = 1 if name == ACTIVE else 0  # the others are quantities asked for at once
        await services.require(guild_id, name, usage=int(limit["usage"] or 0), adding=adding)
        raise Refusal(str(error["message"]))  # allowed by now: say what the API said


def _started(shown: GiveawayShown) -> str:
    if shown.state == "cancelled":
        raise Refusal(f"Giveaway #{shown.id} could not start: {shown.cancel_reason}.")
    if shown.state == "scheduled":
        return (
            f"Giveaway #{shown.id} for **{shown.prize}** is being posted in <#{shown.channel_id}>."
        )
    return (
        f"Giveaway #{shown.id} for **{shown.prize}** started in <#{shown.channel_id}>: it ends "
        f"{timestamp(shown.ends_at)}. Seed commitment (SHA-256): `{shown.seed_hash}`."
    )
