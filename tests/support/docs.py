"""Reading the docs' tables, for the tests that keep a table and its code in step."""

from __future__ import annotations

__all__ = ["table_rows"]


def table_rows(text: str) -> dict[str, list[str]]:
    """Each markdown table row whose first cell is code (`` `name` ``): name -> its cells."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0].strip("` ")] = cells
    return rows
