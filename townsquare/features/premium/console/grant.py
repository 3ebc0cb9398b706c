"""The premium grant and extend dialog: a guild, a tier and a number of days."""

from __future__ import annotations

import dataclasses
import typing

from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from townsquare.features.premium.domain.models import PremiumTier

if typing.TYPE_CHECKING:
    from textual.app import ComposeResult

__all__ = ["GrantRequest", "GrantScreen"]


@dataclasses.dataclass(frozen=True, slots=True)
class GrantRequest:
    guild_id: int
    tier: PremiumTier
    days: int | None


class GrantScreen(ModalScreen[GrantRequest | None]):
    """Asks for a guild, a tier and a number of days (blank: no end); Escape cancels.

    With `extend`, only the days are asked (the guild is given, the tier stays).
    """

    BINDINGS: typing.ClassVar = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, guild_id: int | None = None, *, extend: bool = False) -> None:
        super().__init__()
        self.guild_id = guild_id
        self.extend = extend

    def compose(self) -> ComposeResult:
        title = "Extend premium" if self.extend else "Grant premium"
        with Vertical(classes="dialog"):
            yield Label(title, classes="question")
            yield Input(
                "" if self.guild_id is None else str(self.guild_id),
                placeholder="guild id",
                id="guild",
                disabled=self.extend,
            )
            if not self.extend:
                yield Input(placeholder="tier: plus or pro", id="tier")
            yield Input(placeholder="days" + ("" if self.extend else " (blank: no end)"), id="days")
            yield Static("", id="error", classes="error")
            yield Static("Enter: continue  Tab: next field  Escape: cancel", classes="hint")

    def on_mount(self) -> None:
        target = "#days" if self.extend else ("#tier" if self.guild_id else "#guild")
        self.query_one(target, Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            request = self._request()
        except ValueError as error:
            self.query_one("#error", Static).update(str(error))
            return
        self.dismiss(request)

    def _request(self) -> GrantRequest:
        guild_text = self.query_one("#guild", Input).value.strip()
        if not guild_text.isdigit() or not 0 < int(guild_text) < 2**64:
            raise ValueError("guild id must be a Discord id (digits)")
        tier = PremiumTier.PLUS
        if not self.extend:
            tier_text = self.query_one("#tier", Input).value.strip().lower()
            try:
                tier = PremiumTier(tier_text)
            except ValueError:
                names = " or ".join(t.value for t in PremiumTier)
                raise ValueError(f"tier must be {names}") from None
        days_text = self.query_one("#days", Input).value.strip()
        if not days_text and not self.extend:
            return GrantRequest(int(guild_text), tier, None)
        if not days_text.isdigit() or int(days_text) < 1:
            raise ValueError("days must be a whole number of days, at least 1")
        return GrantRequest(int(guild_text), tier, int(days_text))
