"""Echo's console pane: how many texts the echo task remembered (Textual)."""

from __future__ import annotations

import typing

from textual.widgets import Static

from tests.support.echo.domain import remembered
from townsquare.console.panes.feature import FeaturePane

if typing.TYPE_CHECKING:
    from textual.app import ComposeResult

    from townsquare.console.panes.feature import ConsoleContext

__all__ = ["PANES", "EchoPane"]


class EchoPane(FeaturePane[int]):
    TAB_ID: typing.ClassVar = "echo"
    TITLE: typing.ClassVar = "Echo"

    def compose(self) -> ComposeResult:
        yield Static("waiting for the first reading", id="echo-count")

    async def read(self, context: ConsoleContext) -> int:
        return await remembered(context.redis, context.keyspace)

    def show(self, reading: int) -> None:
        self.query_one("#echo-count", Static).update(f"remembered {reading}")

    def show_error(self, error: str) -> None:
        self.query_one("#echo-count", Static).update(error)


PANES: typing.Final = (EchoPane,)
