"""Modal dialogs: every write the console makes is confirmed in one of these first."""

from __future__ import annotations

import typing

from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

if typing.TYPE_CHECKING:
    from textual.app import ComposeResult

__all__ = ["ConfirmScreen", "TextScreen"]


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
