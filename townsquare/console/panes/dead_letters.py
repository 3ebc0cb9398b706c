"""Dead letters: list, inspect, and (after confirmation) replay one or all, or drop."""

from __future__ import annotations

import json
import typing

from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from townsquare.console.modals import ConfirmScreen, TextScreen
from townsquare.console.panes.tables import BAD, new_table, refill, selected_key

if typing.TYPE_CHECKING:
    from textual.app import ComposeResult

    from townsquare.core.dead_letters import DeadLetter

__all__ = ["DeadLetterAction", "DeadLettersPane", "describe_dead_letter"]


class DeadLetterAction(Message):
    """The operator confirmed a dead-letter action."""

    def __init__(
        self,
        kind: typing.Literal["replay", "replay_all", "drop"],
        pipeline: str,
        entry_id: str | None,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.pipeline = pipeline
        self.entry_id = entry_id


class DeadLettersPane(Vertical):
    """Dead letters of every pipeline, newest first, with the highlighted one's details."""

    BINDINGS: typing.ClassVar = [
        Binding("i,enter", "inspect", "Inspect"),
        Binding("r", "replay", "Replay"),
        Binding("a", "replay_all", "Replay all"),
        Binding("d", "drop", "Drop"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._letters: dict[str, DeadLetter] = {}
        self._counts: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        yield Static("waiting for the first reading", id="dead-summary", classes="summary")
        yield new_table(("Pipe", 7), ("Id", 15), ("Task", 16), ("Try", 3), ("Error", 25))
        with VerticalScroll(id="dead-detail-box"):
            yield Static("", id="dead-detail", markup=False)

    def show(self, letters: list[DeadLetter], counts: dict[str, int]) -> None:
        self._letters = {f"{letter.pipeline} {letter.entry_id}": letter for letter in letters}
        self._counts = counts
        rows = [
            (
                key,
                [
                    letter.pipeline,
                    letter.entry_id,
                    letter.task_name or "?",
                    str(letter.attempts),
                    Text(letter.error, style="red"),
                ],
            )
            for key, letter in self._letters.items()
        ]
        refill(self.query_one(DataTable), rows)
        total = sum(counts.values())
        per = "  ".join(f"{name} {number}" for name, number in counts.items())
        self.query_one("#dead-summary", Static).update(
            Text(f"{total} dead letters  ({per})", style=BAD if total else "green")
        )
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def selected(self) -> DeadLetter | None:
        return self._letters.get(selected_key(self.query_one(DataTable)) or "")

    def _show_detail(self) -> None:
        letter = self.selected()
        self.query_one("#dead-detail", Static).update(
            "" if letter is None else describe_dead_letter(letter)
        )

    def action_inspect(self) -> None:
        if (letter := self.selected()) is not None:
            self.app.push_screen(
                TextScreen(f"{letter.pipeline} {letter.entry_id}", describe_dead_letter(letter))
            )

    def _chosen(self) -> DeadLetter | None:
        """The selected dead letter; None (and a warning) when there is none."""
        letter = self.selected()
        if letter is None:
            self.notify("No dead letter selected", severity="warning")
        return letter

    def action_replay(self) -> None:
        if (letter := self._chosen()) is None:
            return
        self._confirm(
            f"Replay {letter.task_name} ({letter.pipeline} {letter.entry_id})?\n"
            "It is queued again and runs from attempt 1.",
            DeadLetterAction("replay", letter.pipeline, letter.entry_id),
        )

    def action_replay_all(self) -> None:
        if (letter := self._chosen()) is None:
            return
        number = self._counts.get(letter.pipeline, 0)
        self._confirm(
            f"Replay all {number} dead letters of {letter.pipeline}?\n"
            "Each is queued again and runs from attempt 1.",
            DeadLetterAction("replay_all", letter.pipeline, None),
        )

    def action_drop(self) -> None:
        if (letter := self._chosen()) is None:
            return
        self._confirm(
            f"Drop {letter.task_name} ({letter.pipeline} {letter.entry_id})?\n"
            "It is deleted and never runs.",
            DeadLetterAction("drop", letter.pipeline, letter.entry_id),
        )

    def _confirm(self, question: str, action: Message) -> None:
        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.post_message(action)

        self.app.push_screen(ConfirmScreen(question), answered)


def describe_dead_letter(letter: DeadLetter) -> str:
    """Everything a dead letter holds, for reading: which job, why, with which arguments."""

    def pretty(raw: str) -> str:
        try:
            return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
        except ValueError:
            return raw

    return "\n".join(
        [
            f"task      {letter.task_name}  id {letter.task_id}",
            f"pipeline  {letter.pipeline}  entry {letter.entry_id}",
            f"attempts  {letter.attempts}  failed {letter.failed_at or '-'}",
            f"error     {letter.error}",
            f"args      {pretty(letter.args)}",
            f"kwargs    {pretty(letter.kwargs)}",
            f"labels    {letter.labels}",
            "traceback",
            letter.traceback or "-",
            "message (what a replay queues)",
            pretty(letter.message) if letter.message is not None else "- (cannot be replayed)",
        ]
    )
