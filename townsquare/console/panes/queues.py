"""Queues: per pipeline backlog, pending, consumers, oldest pending, throughput, retries, DLQ."""

from __future__ import annotations

import typing

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from townsquare.console import formatting as fmt
from townsquare.console.panes.tables import BAD, WARN, new_table, refill, selected_key

if typing.TYPE_CHECKING:
    from textual.app import ComposeResult

    from townsquare.console.data import QueueStats, Trend

__all__ = ["QueuesPane"]


class QueuesPane(Vertical):
    """Per pipeline: backlog, pending, consumers, oldest pending, throughput, retries, DLQ."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._queues: dict[str, QueueStats] = {}

    def compose(self) -> ComposeResult:
        yield Static("waiting for the first reading", id="queues-summary", classes="summary")
        yield new_table(
            ("Pipe", 7),
            ("Len", 6),
            ("Pend", 5),
            ("Cons", 4),
            ("Oldest", 6),
            ("In/s", 5),
            ("Out/s", 5),
            ("Trend", 8),
            ("Retry", 5),
            ("Dead", 5),
        )
        yield Static("", id="queues-detail", classes="detail")

    def show(
        self,
        queues: list[QueueStats],
        rates: dict[str, tuple[float | None, float | None]],
        trend: Trend,
    ) -> None:
        self._queues = {queue.pipeline: queue for queue in queues}
        rows = []
        for queue in queues:
            rate_in, rate_out = rates.get(queue.pipeline, (None, None))
            old = queue.oldest_pending_age
            rows.append(
                (
                    queue.pipeline,
                    [
                        queue.pipeline,
                        fmt.count(queue.length),
                        fmt.count(queue.pending),
                        str(queue.consumers) if queue.exists else "-",
                        Text(fmt.age(old), style=WARN if old and old > 60 else ""),
                        fmt.number(rate_in),
                        fmt.number(rate_out),
                        fmt.sparkline(trend.values(f"queue {queue.pipeline}"), 8),
                        fmt.count(queue.retries),
                        Text(
                            fmt.count(queue.dead_letters), style=BAD if queue.dead_letters else ""
                        ),
                    ],
                )
            )
        refill(self.query_one(DataTable), rows)
        dead = sum(queue.dead_letters for queue in queues)
        summary = Text(
            f"backlog {sum(queue.length for queue in queues)}  "
            f"pending {sum(queue.pending for queue in queues)}  "
            f"retrying {sum(queue.retries for queue in queues)}  "
        )
        summary.append(f"dead letters {dead}", style=BAD if dead else "green")
        self.query_one("#queues-summary", Static).update(summary)
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        queue = self._queues.get(selected_key(self.query_one(DataTable)) or "")
        detail = self.query_one("#queues-detail", Static)
        if queue is None:
            detail.update("")
        elif not queue.exists:
            detail.update(f"{queue.pipeline}: no stream yet (nothing queued, no worker started)")
        else:
            detail.update(
                f"{queue.pipeline}: added {queue.entries_added}  "
                f"delivered {fmt.count(queue.entries_read)}  unread {fmt.count(queue.lag)}  "
                f"oldest pending {fmt.age(queue.oldest_pending_age)}"
            )
