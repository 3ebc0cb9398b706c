"""Server-side SVG charts for the dashboard: no JavaScript, no CDN, no library.

:func:`bar_chart` draws one metric's days as bars with a baseline, the highest value and the
first and last dates; a chart of several series (joins and leaves) puts each day's bars side
by side, one colour per series, named in a legend. The SVG is an image to assistive
technology (`role="img"`) named by its `<title>` and described by its `<desc>` (a summary,
one sentence per series), and each bar carries its own `<title>` (date and value, shown on
hover); the page puts the numbers in a table beside it as well. Colours meet WCAG's 3:1
contrast for graphics on white.
"""

from __future__ import annotations

import dataclasses
import typing
from html import escape

if typing.TYPE_CHECKING:
    import datetime
    from collections.abc import Sequence

__all__ = ["BarChart", "Series", "bar_chart", "summary"]

WIDTH: typing.Final = 600
HEIGHT: typing.Final = 180
_LEFT: typing.Final = 52
_TOP: typing.Final = 14
_BOTTOM: typing.Final = 26
_FONT: typing.Final = 16
"""In viewBox units: about 10 px on a 390 px wide phone, 16 px at full width."""
_BAR: typing.Final = "#4752c4"
_BARS: typing.Final = (_BAR, "#b3401d")
"""One colour per series, each at least 3:1 on white: blue and burnt orange, told apart with
the common colour-vision deficiencies; a day's bars are always in series order, and the
legend, each bar's title and the page's table name the series as well."""
_AXIS: typing.Final = "#595959"


@dataclasses.dataclass(frozen=True, slots=True)
class Series:
    """A further series of a :class:`BarChart` (drawn beside its first)."""

    name: str
    """In the legend ("Leaves"), and `data-series` of its bars with the chart's own first."""
    unit: str
    values: Sequence[int]


@dataclasses.dataclass(frozen=True, slots=True)
class BarChart:
    """What :func:`bar_chart` draws: `values` per day, and any `more` series beside them."""

    chart_id: str
    """Unique in the page: the ids of the title and description derive from it."""
    title: str
    unit: str
    days: Sequence[datetime.date]
    values: Sequence[int]
    name: str = ""
    """The first series' name in the legend; only shown with `more`."""
    more: Sequence[Series] = ()

    def series(self) -> list[Series]:
        """Every series, the first made of the chart's own `values`."""
        return [Series(self.name or self.title, self.unit, self.values), *self.more]


def _date(day: datetime.date) -> str:
    return day.strftime("%b %d").replace(" 0", " ")


def _compact(value: int) -> str:
    """An axis label that fits the margin: 9,999, 12k, 1.2M."""
    if value < 10_000:
        return f"{value:,}"
    if value < 1_000_000:
        return f"{value // 1000}k"
    return f"{value / 1_000_000:.1f}M"


def _sentence(days: Sequence[datetime.date], unit: str, values: Sequence[int]) -> str:
    if not values or not any(values):
        return f"No {unit} in the last {len(values)} days."
    total = sum(values)
    peak = max(range(len(values)), key=lambda i: (values[i], i))
    return (
        f"{total:,} {unit} in the last {len(values)} days; the most on "
        f"{_date(days[peak])} ({values[peak]:,}); {values[-1]:,} on {_date(days[-1])}."
    )


def summary(chart: BarChart) -> str:
    """The chart in one sentence per series: total, busiest day, last day."""
    return " ".join(_sentence(chart.days, s.unit, s.values) for s in chart.series())


def bar_chart(chart: BarChart) -> str:
    """The chart as an inline `<svg>` element (escaped text; safe to mark as markup)."""
    series = chart.series()
    n = max(1, len(chart.days))
    top = max((value for one in series for value in one.values), default=0)
    top = max(top, 0)
    scale = max(top, 1)
    plot_w = WIDTH - _LEFT - 4
    plot_h = HEIGHT - _TOP - _BOTTOM
    slot = plot_w / n
    gap = min(2.0, slot / 4)
    bar_w = (slot - gap) / len(series)
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
    for k, one in enumerate(series):
        colour = _BARS[k % len(_BARS)]
        tag = f' data-series="{escape(one.name)}"' if len(series) > 1 else ""
        for i, (day, value) in enumerate(zip(chart.days, one.values, strict=True)):
            height = 0.0 if value <= 0 else max(1.0, plot_h * value / scale)
            x = _LEFT + i * slot + gap / 2 + k * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{base - height:.1f}" width="{bar_w:.1f}" '
                f'height="{height:.1f}" fill="{colour}" data-day="{day.isoformat()}" '
                f'data-value="{value}"{tag}><title>{escape(_date(day))}: {value:,} '
                f"{escape(one.unit)}</title></rect>"
            )
    if len(series) > 1:
        parts.append(_legend(series))
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


def _legend(series: Sequence[Series]) -> str:
    """The series' names with their colours, in the bottom margin between the two dates."""
    parts = ['<g class="legend">']
    x = WIDTH / 2 - 80 * len(series) / 2
    for k, one in enumerate(series):
        parts.append(
            f'<rect x="{x:.1f}" y="{HEIGHT - 15}" width="12" height="12" '
            f'fill="{_BARS[k % len(_BARS)]}"/>'
            f'<text x="{x + 16:.1f}" y="{HEIGHT - 4}" fill="{_AXIS}">{escape(one.name)}</text>'
        )
        x += 80
    parts.append("</g>")
    return "".join(parts)
