"""Shards: per shard state, latency, guilds, events/s and its trend, report age, resumes."""

from __future__ import annotations

import datetime
import typing

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import DataTable, Sparkline, Static

from townsquare.console import formatting as fmt
from townsquare.console.data import SHARD_FIELDS, STALE_AFTER_SECONDS, parse_time
from townsquare.console.panes.tables import BAD, WARN, new_table, refill, selected_key

if typing.TYPE_CHECKING:
    from textual.app import ComposeResult

    from townsquare.console.data import ShardHealth, Trend

__all__ = ["ShardsPane"]


class ShardsPane(Vertical):
    """Per shard: state, latency, guilds, events/s and its trend, report age, resumes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shards: dict[str, ShardHealth] = {}

    def compose(self) -> ComposeResult:
        yield Static("waiting for the first reading", id="shards-summary", classes="summary")
        yield Sparkline([], id="shards-rate")
        yield new_table(
            ("Shard", 5),
            ("State", 16),
            ("Ping", 5),
            ("Guilds", 6),
            ("Ev/s", 5),
            ("Trend", 10),
            ("Report", 6),
            ("Res", 3),
        )
        yield Static("", id="shards-detail", classes="detail")

    def show(self, shards: list[ShardHealth], trend: Trend) -> None:
        self._shards = {str(shard.shard_id): shard for shard in shards}
        rows = []
        for shard in shards:
            style = BAD if shard.stale else (WARN if shard.disconnected else "")
            state = ("STALE " if shard.stale else "") + shard.state
            report = fmt.age(shard.report_age) + ("!" if shard.stale else "")
            rows.append(
                (
                    str(shard.shard_id),
                    [
                        Text(str(shard.shard_id), style=style),
                        Text(state, style=style),
                        fmt.number(shard.latency_ms, 0),
                        fmt.count(shard.guilds),
                        fmt.number(shard.events_per_second),
                        fmt.sparkline(trend.values(f"shard {shard.shard_id}")),
                        Text(report, style=style),
                        fmt.count(shard.resumes),
                    ],
                )
            )
        refill(self.query_one(DataTable), rows)
        unhealthy = [shard for shard in shards if not shard.healthy]
        total_rate = sum(shard.events_per_second or 0.0 for shard in shards)
        summary = Text(
            f"{len(shards)} shards  {sum(shard.guilds or 0 for shard in shards)} guilds  "
            f"{total_rate:.1f} events/s  "
        )
        if unhealthy:
            summary.append(f"{len(unhealthy)} stale or disconnected", style=BAD)
        elif shards:
            summary.append("all healthy", style="green")
        else:
            summary.append("no shard is reporting", style=WARN)
        self.query_one("#shards-summary", Static).update(summary)
        self.query_one("#shards-rate", Sparkline).data = trend.values("shards total") or [0.0]
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        key = selected_key(self.query_one(DataTable))
        shard = self._shards.get(key or "")
        detail = self.query_one("#shards-detail", Static)
        if shard is None:
            detail.update("")
            return
        known = [name for name in SHARD_FIELDS if name in shard.fields]
        others = sorted(set(shard.fields) - set(SHARD_FIELDS))
        now = datetime.datetime.now(datetime.UTC)

        def shown(name: str) -> str:
            value = shard.fields[name]
            at = parse_time(value) if name.endswith("_at") else None
            return f"{name} {value}" if at is None else f"{name} {fmt.until(at, now)}"

        stale = f"  (stale: no report for over {STALE_AFTER_SECONDS:.0f} s)" if shard.stale else ""
        detail.update(
            Text(f"shard {shard.shard_id}{stale}: " + "  ".join(map(shown, known + others)))
        )
