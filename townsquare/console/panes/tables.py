"""Helpers shared by the panes: tables that keep their cursor across refreshes, and styles."""

from __future__ import annotations

import typing

from textual.widgets import DataTable

__all__ = ["BAD", "WARN", "new_table", "refill", "selected_key"]

BAD = "bold red"
WARN = "bold yellow"


def new_table(*columns: tuple[str, int]) -> DataTable[typing.Any]:
    table: DataTable[typing.Any] = DataTable(cursor_type="row", zebra_stripes=True)
    for label, width in columns:
        table.add_column(label, width=width, key=label)
    return table


def refill(table: DataTable[typing.Any], rows: list[tuple[str, list[typing.Any]]]) -> None:
    """Replace the rows, keeping the cursor on the same row key when it is still there."""
    current: str | None = None
    if table.row_count and 0 <= table.cursor_row < table.row_count:
        current = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    keys = [key for key, _ in rows]
    if current in keys:
        table.move_cursor(row=keys.index(current), animate=False, scroll=False)


def selected_key(table: DataTable[typing.Any]) -> str | None:
    if not table.row_count or not 0 <= table.cursor_row < table.row_count:
        return None
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
