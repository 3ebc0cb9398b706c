"""Premium: guilds by tier, expiring, expired; grant, extend or revoke after confirmation."""

from __future__ import annotations

import typing

from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from townsquare.console import formatting as fmt
from townsquare.console.modals import ConfirmScreen, GrantRequest, GrantScreen
from townsquare.console.panes._tables import BAD, WARN, new_table, refill, selected_key

if typing.TYPE_CHECKING:
    from textual.app import ComposeResult

    from townsquare.core.premium.service import PremiumGuild, PremiumSummary

__all__ = ["PremiumAction", "PremiumPane"]


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


class PremiumPane(Vertical):
    """Guilds by tier, expiring within 7 days, recently expired; grant, extend, revoke."""

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

    def show(self, summary: PremiumSummary) -> None:
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
        refill(self.query_one(DataTable), rows)
        tiers = "  ".join(f"{tier} {number}" for tier, number in summary.by_tier.items())
        text = Text(f"{tiers}  ")
        text.append(
            f"expiring in 7 d {len(summary.expiring)}", style=WARN if summary.expiring else ""
        )
        text.append("  ")
        text.append(f"expired (30 d) {len(summary.expired)}", style=BAD if summary.expired else "")
        self.query_one("#premium-summary", Static).update(text)

    def show_error(self, error: str) -> None:
        self.query_one("#premium-summary", Static).update(Text(error, style=BAD))

    def selected(self) -> PremiumGuild | None:
        return self._guilds.get(selected_key(self.query_one(DataTable)) or "")

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
