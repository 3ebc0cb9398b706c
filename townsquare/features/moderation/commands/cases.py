"""`/case number [reason]`, `/cases member`, `/pardon case`: the history, for moderators.

Reading and editing cases needs Moderate Members (or Manage Server, or any of the guild's
moderator roles); a pardon is an action like the others and goes through the guard.
`/cases` pages with Previous/Next buttons only its invoker can press.
"""

from __future__ import annotations

import typing

import arc
import hikari
import miru

from townsquare.features.moderation.commands._reply import guild_of, outcome_text
from townsquare.features.moderation.commands.api import ModerationClient
from townsquare.features.moderation.domain.config import ModerationSection
from townsquare.features.moderation.domain.wire import MAX_REASON
from townsquare.shards.api_client import APIRefusedError
from townsquare.shards.commands.confirm import Buttons  # noqa: TC001 - arc injects by it
from townsquare.shards.commands.services import INJECTED, CommandServices, Refusal, Reply, answer

if typing.TYPE_CHECKING:
    from townsquare.features.moderation.domain.wire import CaseBody, CasePage

__all__ = ["CasesPager", "case_embed", "cases_embed", "plugin"]

plugin = arc.GatewayPlugin("moderation-cases")
PAGER_SECONDS: typing.Final = 120.0


async def _moderator_guild(ctx: arc.GatewayContext, services: CommandServices) -> int:
    guild_id = guild_of(ctx)
    config = await services.guild_config(guild_id)
    member = ctx.member
    wanted = (
        hikari.Permissions.MODERATE_MEMBERS
        | hikari.Permissions.MANAGE_GUILD
        | hikari.Permissions.ADMINISTRATOR
    )
    if member is not None and member.permissions & wanted:
        return guild_id
    roles = config.section(ModerationSection).moderator_roles.model_dump()
    allowed = {role for listed in roles.values() for role in listed}
    if member is not None and any(int(r) in allowed for r in member.role_ids):
        return guild_id
    raise Refusal(
        "Only moderators (Moderate Members, Manage Server, or one of this server's moderator "
        "roles) can read cases, and you are none here."
    )


def case_embed(case: CaseBody) -> hikari.Embed:
    embed = hikari.Embed(
        title=f"Case {case.number} · {case.action} ({case.status})",
        description=case.reason or "No reason given.",
        timestamp=case.occurred_at,
    )
    embed.add_field("Member", f"<@{case.target_id}>", inline=True)
    by = f"<@{case.actor_id}>" if case.actor_id else case.actor_name or "Townsquare"
    embed.add_field("By", f"{by} via {case.source}", inline=True)
    if case.points:
        pardoned = " (pardoned)" if case.pardoned else ""
        embed.add_field("Points", f"{case.points}{pardoned}", inline=True)
    if case.detail:
        embed.add_field("Decision", case.detail[:1024])
    if case.message_link:
        embed.add_field("Message", case.message_link)
    return embed


def cases_embed(page: CasePage, user_id: int) -> hikari.Embed:
    lines = []
    for case in page.cases:
        points = f" · {case.points} pt" if case.points and not case.pardoned else ""
        reason = (case.reason or "no reason")[:80]
        lines.append(
            f"`#{case.number}` **{case.action}** ({case.status}){points} · "
            f"<t:{int(case.occurred_at.timestamp())}:d> · {reason}"
        )
    embed = hikari.Embed(
        title="Cases", description=f"<@{user_id}>\n" + ("\n".join(lines) or "No cases.")
    )
    return embed.set_footer(f"Page {page.page} of {page.pages}")


class CasesPager(miru.View):
    """Previous/Next under a member's cases; only the invoker may turn the pages."""

    def __init__(
        self, client: ModerationClient, guild_id: int, user_id: int, invoker_id: int, page: CasePage
    ) -> None:
        super().__init__(timeout=PAGER_SECONDS)
        self._api, self._guild_id, self._user_id = client, guild_id, user_id
        self.invoker_id = invoker_id
        self.page = page
        self._enable()

    def _enable(self) -> None:
        for item in self.children:
            if isinstance(item, miru.Button):
                first, last = self.page.page <= 1, self.page.page >= self.page.pages
                item.disabled = first if item.custom_id == "cases-previous" else last

    async def _turn(self, ctx: miru.ViewContext, step: int) -> None:
        self.page = await self._api.member_cases(
            self._guild_id, self._user_id, self.page.page + step
        )
        self._enable()
        await ctx.edit_response(embed=cases_embed(self.page, self._user_id), components=self)

    @miru.button(label="Previous", custom_id="cases-previous", style=hikari.ButtonStyle.SECONDARY)
    async def previous(self, ctx: miru.ViewContext, _: miru.Button) -> None:
        await self._turn(ctx, -1)

    @miru.button(label="Next", custom_id="cases-next", style=hikari.ButtonStyle.SECONDARY)
    async def next(self, ctx: miru.ViewContext, _: miru.Button) -> None:
        await self._turn(ctx, 1)

    async def view_check(self, ctx: miru.ViewContext, /) -> bool:
        if ctx.user.id != self.invoker_id:
            await ctx.respond(
                "Only the moderator who asked can turn these pages.",
                flags=hikari.MessageFlag.EPHEMERAL,
            )
            return False
        return True


@plugin.include
@arc.slash_command("cases", "A member's moderation history.")
async def cases_command(
    ctx: arc.GatewayContext,
    member: typing.Annotated[hikari.User, arc.UserParams("The member.")],
    services: CommandServices = INJECTED,
    buttons: Buttons = INJECTED,
) -> None:
    async def work() -> Reply:
        guild_id = await _moderator_guild(ctx, services)
        client = ModerationClient(services.client())
        page = await client.member_cases(guild_id, int(member.id), 1)
        view = CasesPager(client, guild_id, int(member.id), int(ctx.user.id), page)
        return Reply(embed=cases_embed(page, int(member.id)), components=view, ephemeral=True)

    reply = await answer(ctx, work(), defer_after=services.defer_after_seconds)
    if isinstance(reply.components, CasesPager):
        buttons.start(reply.components)


@plugin.include
@arc.slash_command("case", "Show a case, or change its reason.")
async def case_command(
    ctx: arc.GatewayContext,
    number: typing.Annotated[int, arc.IntParams("The case number.", min=1)],
    reason: typing.Annotated[
        str | None, arc.StrParams("A new reason for the case.", max_length=MAX_REASON)
    ] = None,
    services: CommandServices = INJECTED,
) -> None:
    async def work() -> Reply:
        guild_id = await _moderator_guild(ctx, services)
        client = ModerationClient(services.client())
        try:
            if reason is None:
                case = await client.case(guild_id, number)
            else:
                case = await client.set_reason(
                    guild_id,
                    number,
                    reason,
                    actor_id=int(ctx.user.id),
                    actor_name=ctx.user.username,
                )
        except APIRefusedError as error:
            if error.code == "case_not_found":
                raise Refusal(f"There is no case {number} in this server.") from None
            raise
        return Reply(embed=case_embed(case), ephemeral=True)

    await answer(ctx, work(), defer_after=services.defer_after_seconds)


@plugin.include
@arc.slash_command("pardon", "Pardon a case: its points stop counting towards escalation.")
async def pardon_command(
    ctx: arc.GatewayContext,
    case: typing.Annotated[int, arc.IntParams("The case number.", min=1)],
    reason: typing.Annotated[str, arc.StrParams("Why.", max_length=MAX_REASON)] = "",
    services: CommandServices = INJECTED,
) -> None:
    async def work() -> Reply:
        guild_id = guild_of(ctx)
        try:
            done = await ModerationClient(services.client()).pardon(
                guild_id,
                case,
                key=f"command/{ctx.interaction.id}",
                reason=reason,
                actor_id=int(ctx.user.id),
                actor_name=ctx.user.username,
            )
        except APIRefusedError as error:
            if error.code in {"case_not_found", "nothing_to_pardon"}:
                message = error.body.get("error", {}).get("message", "")
                raise Refusal(f"{message[:1].upper()}{message[1:]}.") from None
            raise
        text = outcome_text(done, "pardon", 0)
        return Reply(content=f"{text} Case {case} no longer counts.", ephemeral=True)

    await answer(ctx, work(), defer_after=services.defer_after_seconds)
