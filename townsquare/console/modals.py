"""Modal dialogs: every write the console makes is confirmed in one of these first."""

from __future__ import annotations

import dataclasses
import typing

from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from townsquare.core.premium.models import PremiumTier

if typing.TYPE_CHECKING:
    from textual.app import ComposeResult

__all__ = ["ConfirmScreen", "GrantRequest", "GrantScreen", "TextScreen"]


class ConfirmScreen(ModalScreen[bool]):
    """Asks a yes/no question; `y` or Enter confirms, `n` or Escape cancels."""

    BINDINGS: typing.ClassVar = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="question")
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", variant="error", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


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


class TextScreen(ModalScreen[None]):
    """Shows a long text (a dead letter's payload and traceback), scrollable; Escape closes it."""

    BINDINGS: typing.ClassVar = [Binding("escape,q,i", "close", "Close")]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(f"{self.title_text}  (arrows scroll, Escape closes)", classes="question")
            with VerticalScroll(classes="body"):
                yield Static(self.body, markup=False)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
