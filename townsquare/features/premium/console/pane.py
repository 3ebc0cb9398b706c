"""Premium: guilds by tier, expiring, expired; grant, extend or revoke after confirmation.

Reads the overview from PostgreSQL on every console tick; each change is confirmed in a modal,
then made in a worker of the pane and audited with the operator as the actor.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Static

from townsquare.console import formatting as fmt
from townsquare.console.modals import ConfirmScreen
from townsquare.console.panes.feature import FeaturePane
from townsquare.console.panes.tables import BAD, WARN, new_table, refill, selected_key
from townsquare.core.premium import PremiumCatalogue
from townsquare.core.settings import load_settings
from townsquare.features.premium.console.grant import GrantRequest, GrantScreen
from townsquare.features.premium.domain import service as premium
from townsquare.features.premium.domain.status import (
    GuildUsage,
    guilds_usage,
    sync_guild,
    user_entitlements,
)

if typing.TYPE_CHECKING:
    from textual.app import ComposeResult

    from townsquare.console.panes.feature import ConsoleContext
    from townsquare.features.premium.domain.models import PremiumEntitlement
    from townsquare.features.premium.domain.service import PremiumGuild, PremiumSummary

__all__ = ["PremiumAction", "PremiumPane", "PremiumReading"]


class PremiumAction(Message):
    """The operator confirmed a premium change."""

    def __init__(
        self,
        kind: typing.Literal["grant", "extend", "revoke"],
        guild_id: int,
        request: GrantRequest | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.guild_id = guild_id
        self.request = request


@dataclasses.dataclass(frozen=True, slots=True)
class PremiumReading:
    summary: PremiumSummary
    usage: list[GuildUsage]
    """Guilds on a paid tier or in a grace period, with what they use of each limit."""
    users: list[PremiumEntitlement]
    """Users' own entitlements, newest first."""


class PremiumPane(FeaturePane[PremiumReading]):
    """Guilds by tier, expiring within 7 days, recently expired; grant, extend, revoke."""

    TAB_ID: typing.ClassVar = "premium"
    TITLE: typing.ClassVar = "Premium"

    BINDINGS: typing.ClassVar = [
        Binding("g", "grant", "Grant"),
        Binding("e", "extend", "Extend"),
        Binding("v", "revoke", "Revoke"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._guilds: dict[str, PremiumGuild] = {}

    def compose(self) -> ComposeResult:
        yield Static("waiting for the first reading", id="premium-summary", classes="summary")
        yield new_table(
            ("Guild", 19), ("Name", 14), ("Tier", 4), ("Source", 11), ("Ends", 11), ("Left", 8)
        )
        yield Static("Usage and grace periods", classes="summary")
        yield new_table(("Guild", 19), ("Tier", 5), ("Grace until", 11), ("Usage", 60))
        yield Static("Users' own entitlements (shown, not applied to guilds)", classes="summary")
        yield new_table(("User", 19), ("SKU", 19), ("Ends", 11), ("State", 8))

    async def read(self, context: ConsoleContext) -> PremiumReading:
        now = datetime.datetime.now(datetime.UTC)
        summary = await premium.summary(now)
        catalogue = PremiumCatalogue(load_settings().premium)
        usage = await guilds_usage(catalogue, now, redis=context.redis, keyspace=context.keyspace)
        return PremiumReading(summary, usage, await user_entitlements())

    def show(self, reading: PremiumReading) -> None:
        self._show_usage(reading.usage, reading.summary.now)
        refill(
            self.query(DataTable)[2],
            [
                (
                    f"user {row.id}",
                    [
                        str(row.user_id),
                        str(row.sku_id),
                        fmt.when(row.ends_at),
                        "deleted"
                        if row.deleted
                        else (
                            "ended"
                            if row.ends_at and row.ends_at <= reading.summary.now
                            else "active"
                        ),
                    ],
                )
                for row in reading.users
            ],
        )
        summary = reading.summary
        expiring = {guild.guild_id for guild in summary.expiring}
        rows = []
        self._guilds = {}
        for guild, status in [(guild, "active") for guild in summary.active] + [
            (guild, "expired") for guild in summary.expired
        ]:
            key = f"{status} {guild.guild_id}"
            self._guilds[key] = guild
            style = BAD if status == "expired" else (WARN if guild.guild_id in expiring else "")
            rows.append(
                (
                    key,
                    [
                        Text(str(guild.guild_id), style=style),
                        guild.guild_name,
                        str(guild.tier),
                        str(guild.source),
                        fmt.when(guild.expires_at),
                        Text(fmt.until(guild.expires_at, summary.now), style=style),
                    ],
                )
            )
        refill(self.query(DataTable).first(), rows)
        tiers = "  ".join(f"{tier} {number}" for tier, number in summary.by_tier.items())
        text = Text(f"{tiers}  ")
        text.append(
            f"expiring in 7 d {len(summary.expiring)}", style=WARN if summary.expiring else ""
        )
        text.append("  ")
        text.append(f"expired (30 d) {len(summary.expired)}", style=BAD if summary.expired else "")
        self.query_one("#premium-summary", Static).update(text)

    def _show_usage(self, usage: list[GuildUsage], now: datetime.datetime) -> None:
        rows = []
        for guild in usage:
            style = WARN if guild.grace_until is not None else ""
            text = Text()
            for number, (name, used, value) in enumerate(guild.limits):
                over = value is not None and used > value
                shown = "∞" if value is None else f"{value:,}"
                text.append(("  " if number else "") + f"{name} {used:,}/{shown}")
                if over:
                    text.stylize(BAD, len(text) - len(f"{used:,}/{shown}"), len(text))
            rows.append(
                (
                    f"usage {guild.guild_id}",
                    [
                        Text(str(guild.guild_id), style=style),
                        guild.tier,
                        Text(fmt.until(guild.grace_until, now), style=style)
                        if guild.grace_until
                        else "",
                        text,
                    ],
                )
            )
        refill(self.query(DataTable)[1], rows)

    def show_error(self, error: str) -> None:
        self.query_one("#premium-summary", Static).update(Text(error, style=BAD))

    def selected(self) -> PremiumGuild | None:
        return self._guilds.get(selected_key(self.query(DataTable).first()) or "")

    def action_grant(self) -> None:
        selected = self.selected()

        def entered(request: GrantRequest | None) -> None:
            if request is None:
                return
            length = "with no end" if request.days is None else f"for {request.days} days"
            self._confirm(
                f"Grant {request.tier} to guild {request.guild_id} {length}?\n"
                "Its current manual premium, if any, ends now.",
                PremiumAction("grant", request.guild_id, request),
            )

        self.app.push_screen(GrantScreen(None if selected is None else selected.guild_id), entered)

    def action_extend(self) -> None:
        selected = self.selected()
        if selected is None:
            self.notify("No guild selected", severity="warning")
            return

        def entered(request: GrantRequest | None) -> None:
            if request is not None:
                self._confirm(
                    f"Extend guild {selected.guild_id}'s {selected.tier} by {request.days} days?",
                    PremiumAction("extend", selected.guild_id, request),
                )

        self.app.push_screen(GrantScreen(selected.guild_id, extend=True), entered)

    def action_revoke(self) -> None:
        selected = self.selected()
        if selected is None:
            self.notify("No guild selected", severity="warning")
            return
        self._confirm(
            f"Revoke guild {selected.guild_id}'s manual premium now?",
            PremiumAction("revoke", selected.guild_id),
        )

    def _confirm(self, question: str, action: Message) -> None:
        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.post_message(action)

        self.app.push_screen(ConfirmScreen(question), answered)

    def on_premium_action(self, message: PremiumAction) -> None:
        message.stop()
        self.run_premium_action(message)

    # Actions are not exclusive: a second action must never cancel a write in progress.
    @work(group="actions", exit_on_error=False)
    async def run_premium_action(self, action: PremiumAction) -> None:
        context = self.context
        request = action.request
        try:
            if action.kind == "grant" and request is not None:
                await premium.grant(action.guild_id, request.tier, request.days, context.actor)
                self.notify(f"Granted {request.tier} to {action.guild_id}")
            elif action.kind == "extend" and request is not None and request.days is not None:
                await premium.extend(action.guild_id, request.days, context.actor)
                self.notify(f"Extended {action.guild_id} by {request.days} days")
            elif action.kind == "revoke":
                await premium.revoke(action.guild_id, context.actor)
                self.notify(f"Revoked {action.guild_id}'s manual premium")
            # The gates see the new tier at once (the sweep would within a minute).
            catalogue = PremiumCatalogue(load_settings().premium)
            await sync_guild(context.redis, context.keyspace, catalogue, action.guild_id)
        except premium.PremiumError as error:
            self.notify(str(error), severity="warning", timeout=10)
        except Exception as error:
            self.notify(f"{action.kind} failed: {error}", severity="error", timeout=10)
        context.refresh()
