"""Alerts: the newest entries of the alert stream; `a` acknowledges the highlighted one."""

from __future__ import annotations

import datetime
import typing

from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from townsquare.console import formatting as fmt
from townsquare.console.panes.tables import BAD, WARN, new_table, refill, selected_key

if typing.TYPE_CHECKING:
    from textual.app import ComposeResult

    from townsquare.console.data import Alert

__all__ = ["AlertAcknowledged", "AlertsPane"]


class AlertAcknowledged(Message):
    """The operator acknowledged an alert (the app writes it)."""

    def __init__(self, alert_id: str) -> None:
        super().__init__()
        self.alert_id = alert_id


class AlertsPane(Vertical):
    """The newest alerts and errors any process raised; open ones until acknowledged."""

    BINDINGS: typing.ClassVar = [Binding("a", "acknowledge", "Acknowledge")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._alerts: dict[str, Alert] = {}

    def compose(self) -> ComposeResult:
        yield Static("waiting for the first reading", id="alerts-summary", classes="summary")
        yield new_table(("Time", 11), ("Level", 7), ("Source", 12), ("Message", 40), ("Ack", 3))
        yield Static("", id="alerts-detail", classes="detail", markup=False)

    def show(self, alerts: list[Alert], now: datetime.datetime) -> None:
        self._alerts = {alert.entry_id: alert for alert in alerts}
        rows = []
        for alert in alerts:
            style = (
                BAD
                if alert.level in {"error", "critical"}
                else (WARN if alert.level == "warning" else "")
            )
            rows.append(
                (
                    alert.entry_id,
                    [
                        fmt.when(alert.at),
                        Text(alert.level or "-", style=style),
                        alert.source,
                        alert.message,
                        "yes" if alert.acknowledged else "",
                    ],
                )
            )
        refill(self.query_one(DataTable), rows)
        hour_ago = now - datetime.timedelta(hours=1)
        recent = [alert for alert in alerts if alert.at and alert.at >= hour_ago]
        errors = sum(1 for alert in recent if alert.level in {"error", "critical"})
        still_open = sum(1 for alert in alerts if not alert.acknowledged)
        self.query_one("#alerts-summary", Static).update(
            Text(
                f"{len(alerts)} newest alerts shown, {still_open} open  "
                f"last hour: {len(recent)}, {errors} errors",
                style=BAD if errors else "",
            )
        )
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        alert = self._alerts.get(selected_key(self.query_one(DataTable)) or "")
        self.query_one("#alerts-detail", Static).update(
            "" if alert is None else "  ".join(f"{k}={v}" for k, v in alert.fields.items())
        )

    def action_acknowledge(self) -> None:
        alert = self._alerts.get(selected_key(self.query_one(DataTable)) or "")
        if alert is None:
            self.notify("No alert selected", severity="warning")
        elif alert.acknowledged:
            self.notify(f"Alert {alert.entry_id} is already acknowledged")
        else:
            self.post_message(AlertAcknowledged(alert.entry_id))
