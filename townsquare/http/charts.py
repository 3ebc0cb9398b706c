"""Server-side SVG charts for the dashboard: no JavaScript, no CDN, no library.

:func:`bar_chart` draws one metric's days as bars with a baseline, the highest value and the
first and last dates. The SVG is an image to assistive technology (`role="img"`) named by its
`<title>` and described by its `<desc>` (a one-sentence summary), and each bar carries its
own `<title>` (date and value, shown on hover); the page puts the numbers in a table beside
it as well. Colours meet WCAG's 3:1 contrast for graphics on white.
"""

from __future__ import annotations

import dataclasses
import typing
from html import escape

if typing.TYPE_CHECKING:
    import datetime
    from collections.abc import Sequence

__all__ = ["BarChart", "bar_chart", "summary"]

WIDTH: typing.Final = 600
HEIGHT: typing.Final = 180
_LEFT: typing.Final = 52
_TOP: typing.Final = 14
_BOTTOM: typing.Final = 26
_FONT: typing.Final = 16
"""In viewBox units: about 10 px on a 390 px wide phone, 16 px at full width."""
_BAR: typing.Final = "#4752c4"
_AXIS: typing.Final = "#595959"


@dataclasses.dataclass(frozen=True, slots=True)
class BarChart:
    """What :func:`bar_chart` draws."""

    chart_id: str
    """Unique in the page: the ids of the title and description derive from it."""
    title: str
    unit: str
    days: Sequence[datetime.date]
    values: Sequence[int]


def _date(day: datetime.date) -> str:
    return day.strftime("%b %d").replace(" 0", " ")


def _compact(value: int) -> str:
    """An axis label that fits the margin: 9,999, 12k, 1.2M."""
    if value < 10_000:
        return f"{value:,}"
    if value < 1_000_000:
        return f"{value // 1000}k"
    return f"{value / 1_000_000:.1f}M"


def summary(chart: BarChart) -> str:
    """The chart in one sentence: total, busiest day, last day."""
    if not chart.values or not any(chart.values):
        return f"No {chart.unit} in the last {len(chart.values)} days."
    total = sum(chart.values)
    peak = max(range(len(chart.values)), key=lambda i: (chart.values[i], i))
    return (
        f"{total:,} {chart.unit} in the last {len(chart.values)} days; the most on "
        f"{_date(chart.days[peak])} ({chart.values[peak]:,}); {chart.values[-1]:,} on "
        f"{_date(chart.days[-1])}."
    )


def bar_chart(chart: BarChart) -> str:
    """The chart as an inline `<svg>` element (escaped text; safe to mark as markup)."""
    n = max(1, len(chart.values))
    top = max((*chart.values, 0))
    scale = max(top, 1)
    plot_w = WIDTH - _LEFT - 4
    plot_h = HEIGHT - _TOP - _BOTTOM
    slot = plot_w / n
    gap = min(2.0, slot / 4)
    base = _TOP + plot_h
    title_id, desc_id = f"{chart.chart_id}-title", f"{chart.chart_id}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(chart.chart_id)}" class="chart" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-labelledby="{escape(title_id)}" aria-describedby="{escape(desc_id)}" '
        'preserveAspectRatio="xMidYMid meet" font-family="system-ui, sans-serif" '
        f'font-size="{_FONT}">',
        f'<title id="{escape(title_id)}">{escape(chart.title)}</title>',
        f'<desc id="{escape(desc_id)}">{escape(summary(chart))}</desc>',
    ]
    for i, (day, value) in enumerate(zip(chart.days, chart.values, strict=True)):
        height = 0.0 if value <= 0 else max(1.0, plot_h * value / scale)
        x = _LEFT + i * slot + gap / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{base - height:.1f}" width="{slot - gap:.1f}" '
            f'height="{height:.1f}" fill="{_BAR}" data-day="{day.isoformat()}" '
            f'data-value="{value}"><title>{escape(_date(day))}: {value:,} '
            f"{escape(chart.unit)}</title></rect>"
        )
    parts += [
        f'<line x1="{_LEFT}" y1="{base}" x2="{WIDTH - 4}" y2="{base}" stroke="{_AXIS}"/>',
        f'<text x="{_LEFT - 6}" y="{base}" text-anchor="end" fill="{_AXIS}">0</text>',
    ]
    if top > 0:
        parts.append(
            f'<text x="{_LEFT - 6}" y="{_TOP + _FONT * 0.6:.0f}" text-anchor="end" '
            f'fill="{_AXIS}">{_compact(top)}</text>'
        )
    if chart.days:
        parts += [
            f'<text x="{_LEFT}" y="{HEIGHT - 4}" fill="{_AXIS}">'
            f"{escape(_date(chart.days[0]))}</text>",
            f'<text x="{WIDTH - 4}" y="{HEIGHT - 4}" text-anchor="end" fill="{_AXIS}">'
            f"{escape(_date(chart.days[-1]))}</text>",
        ]
    parts.append("</svg>")
    return "".join(parts)
