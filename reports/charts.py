"""Report charts drawn on the server as SVG, with their table view and their links to the inbox.

Drawn here, not by a charting library: for one 90-day, six-series line chart whose points link to the inbox,
pygal 3.1.3 took 62 ms of CPU and 330 KB of SVG against 6 ms and 179 KB here (same run, this machine), with
no heat map or matrix and colours written into the SVG; a report page draws several charts in 300 ms, and
CSS custom properties let a chart follow the page's light or dark theme. Labels are escaped throughout.

The contract for the data layer: build a ``Chart`` (values over a shared x axis: days, hours or categories)
or a ``Matrix`` (rows by columns: the misroute matrix, the hour-by-weekday heat map), then call
``chart_render`` for the page. ``chart_table`` and ``reports.export.chart_csv`` read the same
``chart_drawn`` numbers the SVG draws, so the table and the CSV are exactly what is on screen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache, partial
from html import escape as _html_escape
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from inbox.selectors import InboxFilters

X = date | datetime | str
# The standard library's escape (& < > " ' all escaped): Django's adds a lazy-string wrapper that cost a
# tenth of a 90-day chart's render over its thousand labels, links and tooltips.
escape = partial(_html_escape, quote=True)
Filters = Mapping[str, Any]

# Geometry of the drawing (viewBox units; the SVG scales to its container's width).
WIDTH = 720
HEIGHT = 300
MARGIN_LEFT = 56  # room for a five-digit y tick label at 11px
MARGIN_RIGHT = 16
MARGIN_TOP = 16
MARGIN_BOTTOM = 40  # x tick labels and the axis label
Y_TICKS = 5  # gridlines a reader can follow across 650 units without losing the line
X_TICKS_MAX = 8  # "Dec 12" at 11px needs about 80 units
SERIES_STYLES = (
    8  # colours, dash patterns and marker shapes in socialops.css; the ninth series reuses the first
)
MARKER_SIZE = 3.0
CELL_GAP = 2
INBOX_QUEUE = "all"  # report counts include closed and snoozed posts, so their posts are in "All I may see"


class Kind(StrEnum):
    """How a ``Chart`` draws its series."""

    LINE = "line"  # several series over time, each its own line
    AREA = "area"  # series stacked over time (volume by segment: the top edge is the total)
    BARS = "bars"  # one bar per series in each group (by team, by account)
    STACKED_BARS = "stacked_bars"
    SHARE = "share"  # each x's values as shares of its total, stacked to 100% (sentiment over time)


class MatrixKind(StrEnum):
    HEATMAP = "heatmap"  # hour of day by day of week: shade only, numbers in the table view
    MATRIX = "matrix"  # arrival account by owning segment: counts (and shares) printed in the cells


@dataclass(frozen=True)
class Series:
    """One named line, band or bar colour. ``values`` line up with the chart's ``x``; None is no data (a gap,
    not a zero). ``filters`` narrow the inbox link of each of its points (``{"segment": "crisis"}``).
    Without ``style`` the n-th series takes style n."""

    name: str
    values: Sequence[float | None]
    filters: Filters = field(default_factory=dict)
    style: int | None = None  # pin a colour, dash and marker (0-7): negative sentiment in red everywhere
    # The previous period drawn over this one ("compare with the previous period"): its points link to the
    # days they counted, this far from the x they are drawn at (timedelta(days=-90) for the 90 days before).
    period_offset: timedelta = timedelta(0)
    # False when the inbox cannot list this series' posts (handled counts by the day a post was closed; the
    # inbox filters by the day it was posted): its points link nowhere, the chart's other series still do.
    linked: bool = True


@dataclass(frozen=True)
class Chart:
    """Series over a shared x axis.

    ``x`` holds days (``date``), hours (``datetime``) or category names (``str``); values are zero or more
    (counts, durations, shares). A point's inbox link merges ``filters`` (the page's: team, segment,
    channel, network, since, until), its series' filters and its x's: ``x_filters[i]`` when given, else
    the day of a date or datetime x. ``precision`` is the decimals drawn, shown and exported (a share is
    always drawn to one decimal).
    """

    kind: Kind
    title: str
    x: Sequence[X]
    series: Sequence[Series]
    x_label: str = ""
    y_label: str = ""
    unit: str = ""  # "posts", "min", "%": said after each value in a point's tooltip
    description: str = ""  # one sentence for screen readers, said before "the table view has the numbers"
    filters: Filters = field(default_factory=dict)
    x_filters: Sequence[Filters] | None = None
    precision: int = 0
    linked: bool = True  # False when the inbox cannot show a point's posts (an average over many days)


@dataclass(frozen=True)
class Label:
    """A row or column of a ``Matrix`` and the inbox filters of its posts."""

    name: str
    filters: Filters = field(default_factory=dict)


@dataclass(frozen=True)
class Matrix:
    """Counts by row and column. ``shares`` (same shape, 0-100, optional) are printed under each count with
    ``share_label`` ("moved automatically"). A cell links to the inbox with ``filters`` and its row's and
    column's filters, unless ``linked`` is False (the inbox has no hour or weekday filter: the heat map)."""

    kind: MatrixKind
    title: str
    rows: Sequence[Label]
    columns: Sequence[Label]
    cells: Sequence[Sequence[float | None]]
    row_label: str = ""
    column_label: str = ""
    unit: str = ""
    description: str = ""
    shares: Sequence[Sequence[float | None]] | None = None
    share_label: str = ""
    filters: Filters = field(default_factory=dict)
    precision: int = 0
    linked: bool = True


# --- What is drawn ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drawn:
    """The numbers a chart draws, in table layout: one row per x (or matrix row), one column per series (or
    matrix column). ``totals`` are the per-row denominators of a share chart; ``shares`` a matrix's."""

    row_names: list[str]
    column_names: list[str]
    values: list[list[float | None]]  # [row][column]
    links: list[list[str]]  # "" where a value has no link
    totals: list[float] | None = None
    shares: list[list[float | None]] | None = None

    @property
    def is_empty(self) -> bool:
        return not any(v for row in self.values for v in row)


def x_text(value: X) -> str:
    """An x as the table and the CSV write it: ISO day, ISO hour, or the category name."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _x_tick(value: X, *, hourly_span: bool) -> str:
    if isinstance(value, datetime):
        return value.strftime("%b %-d %H:%M") if hourly_span else value.strftime("%b %-d")
    if isinstance(value, date):
        return value.strftime("%b %-d")
    return str(value)


def _round(value: float | None, precision: int) -> float | None:
    if value is None:
        return None
    rounded = round(float(value), precision)
    return int(rounded) if precision == 0 else rounded


_INBOX_FIELDS = frozenset(f.name for f in fields(InboxFilters))


def _inbox_query(filters: Filters) -> dict[str, str]:
    """``filters`` as the inbox's query values, checked against its filter names."""
    unknown = set(filters) - _INBOX_FIELDS
    if unknown:
        raise ValueError(f"The inbox has no filter named {', '.join(sorted(unknown))}.")
    values = dict(filters)
    for name in ("since", "until"):  # the inbox filters by day
        if isinstance(values.get(name), datetime):
            values[name] = values[name].date()
    query = InboxFilters(**values).as_query()
    # as_query fills the queue's default; a point's link sets the queue itself.
    return {name: value for name, value in query.items() if name in values}


def _link(path: str, *parts: Mapping[str, str]) -> str:
    merged: dict[str, str] = {"queue": INBOX_QUEUE}
    for part in parts:
        merged.update(part)
    return f"{path}?{'&'.join(_query_pair(k, v) for k, v in merged.items())}"


def inbox_url(filters: Filters, *, path: str = "") -> str:
    """The inbox list filtered to ``filters`` (names of the inbox's own filters: team, segment, channel,
    network, kind, intent, sentiment, since, until, ...). An unknown name raises ValueError: a link the
    inbox would ignore would show more posts than the point counts."""
    return _link(path or reverse("inbox:index"), _inbox_query(filters))


@lru_cache(maxsize=4096)
def _query_pair(name: str, value: str) -> str:
    # urlencode per point cost a fifth of a 90-day chart's render; the same few pairs repeat on every point.
    return urlencode({name: value})


def _x_own_filters(chart: Chart, index: int, offset: timedelta = timedelta(0)) -> Filters:
    if chart.x_filters is not None:
        return chart.x_filters[index]
    value = chart.x[index]
    if isinstance(value, date):  # a datetime too: the inbox filters by day
        day = (value + offset).date() if isinstance(value, datetime) else value + offset
        return {"since": day, "until": day}
    return {}


def chart_drawn(chart: Chart | Matrix) -> Drawn:
    """The numbers ``chart`` draws, rounded as drawn; the SVG, the table and the CSV all read these."""
    if isinstance(chart, Matrix):
        return _matrix_drawn(chart)
    if chart.x_filters is not None and len(chart.x_filters) != len(chart.x):
        raise ValueError("x_filters must have one entry per x.")
    for series in chart.series:
        if len(series.values) != len(chart.x):
            raise ValueError(f"Series {series.name!r} has {len(series.values)} values for {len(chart.x)} x.")
    columns = [series.name for series in chart.series]
    values: list[list[float | None]] = []
    links: list[list[str]] = []
    totals: list[float] | None = [] if chart.kind == Kind.SHARE else None
    path = reverse("inbox:index")
    series_queries = [_inbox_query({**chart.filters, **series.filters}) for series in chart.series]
    for i in range(len(chart.x)):
        raw = [series.values[i] for series in chart.series]
        if totals is not None:
            total = sum(v for v in raw if v is not None)
            totals.append(_round(total, chart.precision))
            row = [_round(100 * v / total, 1) if v is not None and total else None for v in raw]
        else:
            row = [_round(v, chart.precision) for v in raw]
        values.append(row)
        if chart.linked:
            # Encoded once per series and once per x; a point's link only joins the two.
            x_query = _inbox_query(_x_own_filters(chart, i))
            row_links = []
            for series, series_query, v in zip(chart.series, series_queries, row, strict=True):
                if not v or not series.linked:  # no posts behind a zero
                    row_links.append("")
                    continue
                own = x_query
                if series.period_offset:
                    own = _inbox_query(_x_own_filters(chart, i, series.period_offset))
                row_links.append(_link(path, series_query, own))
            links.append(row_links)
        else:
            links.append(["" for _ in row])
    return Drawn(
        row_names=[x_text(x) for x in chart.x],
        column_names=columns,
        values=values,
        links=links,
        totals=totals,
    )


def _matrix_drawn(matrix: Matrix) -> Drawn:
    if len(matrix.cells) != len(matrix.rows) or any(len(r) != len(matrix.columns) for r in matrix.cells):
        raise ValueError("cells must have one row per row label and one value per column label.")
    values = [[_round(v, matrix.precision) for v in row] for row in matrix.cells]
    shares = None
    if matrix.shares is not None:
        if len(matrix.shares) != len(values) or any(len(r) != len(matrix.columns) for r in matrix.shares):
            raise ValueError("shares must have the shape of cells.")
        # A share of no posts is no number: it is neither drawn nor exported.
        shares = [
            [_round(share, 1) if value else None for share, value in zip(share_row, row, strict=True)]
            for share_row, row in zip(matrix.shares, values, strict=True)
        ]
    path = reverse("inbox:index")
    column_queries = [_inbox_query(column.filters) for column in matrix.columns]
    row_queries = [_inbox_query({**matrix.filters, **row.filters}) for row in matrix.rows]
    links = [
        [
            _link(path, row_query, column_query) if matrix.linked and v else ""
            for column_query, v in zip(column_queries, row_values, strict=True)
        ]
        for row_query, row_values in zip(row_queries, values, strict=True)
    ]
    return Drawn(
        row_names=[row.name for row in matrix.rows],
        column_names=[column.name for column in matrix.columns],
        values=values,
        links=links,
        shares=shares,
    )


def chart_is_empty(chart: Chart | Matrix) -> bool:
    """No number to draw: the page says so instead of drawing empty axes."""
    return chart_drawn(chart).is_empty


# --- The table view -----------------------------------------------------------------------------------------


def value_text(value: float | None, *, precision: int = 0, percent: bool = False) -> str:
    """A drawn number as the table and tooltips show it: grouped thousands, "—" for no data."""
    if value is None:
        return "—"
    text = f"{value:,.{precision}f}"
    return f"{text}%" if percent else text


@dataclass(frozen=True)
class Cell:
    value: float | None
    text: str
    link: str = ""
    share: float | None = None
    share_text: str = ""


@dataclass(frozen=True)
class TableRow:
    header: str
    cells: list[Cell]
    share_label: str = ""

    @property
    def cells_html(self) -> SafeString:
        """The row's ``<td>`` cells. Written here, not in the template: a 90-day table has 540 cells, and
        Django's template loop over them cost as much as drawing the chart."""
        out = []
        for cell in self.cells:
            text = escape(cell.text)
            inner = f'<a href="{escape(cell.link)}">{text}</a>' if cell.link else text
            if cell.share_text:
                label = f" {escape(self.share_label)}" if self.share_label else ""
                inner += f'<span class="chart-table__share">{escape(cell.share_text)}{label}</span>'
            out.append(f"<td>{inner}</td>")
        return mark_safe("".join(out))  # noqa: S308 -- every part escaped above


@dataclass(frozen=True)
class Table:
    """What ``templates/reports/_table.html`` renders: the chart's numbers as text."""

    caption: str
    corner: str  # the header over the row names ("Day", "Arrival account \\ owning segment")
    columns: list[str]
    rows: list[TableRow]
    unit: str = ""
    share_label: str = ""


def _precision(chart: Chart | Matrix) -> int:
    return 1 if isinstance(chart, Chart) and chart.kind == Kind.SHARE else chart.precision


def chart_table(chart: Chart | Matrix, *, drawn: Drawn | None = None) -> Table:
    """The table view of ``chart``: the same numbers as drawn, each linked like its point."""
    drawn = drawn or chart_drawn(chart)
    precision = _precision(chart)
    is_share = isinstance(chart, Chart) and chart.kind == Kind.SHARE
    columns = list(drawn.column_names)
    if drawn.totals is not None:
        columns.append(f"Total ({chart.unit})" if chart.unit else "Total")
    rows = []
    for r, name in enumerate(drawn.row_names):
        cells = []
        for c, value in enumerate(drawn.values[r]):
            share = drawn.shares[r][c] if drawn.shares is not None else None
            cells.append(
                Cell(
                    value=value,
                    text=value_text(value, precision=precision, percent=is_share),
                    link=drawn.links[r][c],
                    share=share,
                    share_text=value_text(share, precision=1, percent=True) if drawn.shares else "",
                )
            )
        if drawn.totals is not None:
            total = drawn.totals[r]
            cells.append(Cell(value=total, text=value_text(total, precision=chart.precision)))
        rows.append(TableRow(header=name, cells=cells, share_label=getattr(chart, "share_label", "")))
    if isinstance(chart, Matrix):
        corner = " \\ ".join(part for part in (chart.row_label, chart.column_label) if part)
        share_label = chart.share_label
    else:
        corner, share_label = chart.x_label, ""
    unit = "%" if is_share else chart.unit
    return Table(
        caption=chart.title, corner=corner, columns=columns, rows=rows, unit=unit, share_label=share_label
    )


# --- The SVG ------------------------------------------------------------------------------------------------


def _nice_step(span: float, ticks: int) -> float:
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _y_scale(top: float) -> tuple[float, list[float]]:
    """A round top of the axis at or above ``top`` and its ticks from zero."""
    if top <= 0:
        return 1.0, [0.0, 1.0]
    step = _nice_step(top, Y_TICKS)
    ticks = [step * i for i in range(math.ceil(top / step - 1e-9) + 1)]
    return ticks[-1], ticks


def _num(value: float) -> str:
    return f"{value:.1f}"  # a tenth of a viewBox unit is finer than a pixel at any width we draw


def _tick_text(value: float, percent: bool) -> str:
    text = f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
    return f"{text}%" if percent else text


# Marker outlines by series style, as (dx, dy) corners around the point in MARKER_SIZE units; styles 0 and 7
# are a dot and a ring, 5 and 6 are stroked crosses.
_MARKER_OUTLINES = {
    1: ((-1, -1), (1, -1), (1, 1), (-1, 1)),  # square
    2: ((0, -1.3), (1.3, 0), (0, 1.3), (-1.3, 0)),  # diamond
    3: ((0, -1.3), (1.3, 1), (-1.3, 1)),  # triangle up
    4: ((0, 1.3), (1.3, -1), (-1.3, -1)),  # triangle down
}
_MARKER_STROKES = {
    5: (((-1, -1), (1, 1)), ((1, -1), (-1, 1))),  # cross
    6: (((0, -1.3), (0, 1.3)), ((-1.3, 0), (1.3, 0))),  # plus
}


def _marker(shape: int, cx: float, cy: float) -> str:
    s = MARKER_SIZE
    style = shape % SERIES_STYLES

    def at(dx: float, dy: float) -> str:
        return f"{_num(cx + dx * s)} {_num(cy + dy * s)}"

    if style in _MARKER_OUTLINES:
        d = "M" + "L".join(at(dx, dy) for dx, dy in _MARKER_OUTLINES[style]) + "Z"
        return f'<path class="chart__marker" d="{d}"/>'
    if style in _MARKER_STROKES:
        d = "".join(f"M{at(*start)}L{at(*end)}" for start, end in _MARKER_STROKES[style])
        return f'<path class="chart__marker chart__marker--stroke" d="{d}"/>'
    ring = " chart__marker--ring" if style == 7 else ""
    return f'<circle class="chart__marker{ring}" cx="{_num(cx)}" cy="{_num(cy)}" r="{_num(s)}"/>'


def _point(body: str, *, tooltip: str, value: float | None, link: str, series: int | None = None) -> str:
    """One drawn number: its shape, a native tooltip, its value for the tests and scripts, and its link."""
    series_attr = f' data-series="{series}"' if series is not None else ""
    data = f'data-value="{_num_attr(value)}"{series_attr}'
    inner = f"<title>{escape(tooltip)}</title>{body}"
    if link:
        # Out of the tab order: 540 stops per chart would trap a keyboard; the table view's links are theirs.
        return f'<a class="chart__point" href="{escape(link)}" tabindex="-1" {data}>{inner}</a>'
    return f'<g class="chart__point" {data}>{inner}</g>'


# Bar hatching by series style, so bars differ by more than colour: (path in a 6x6 tile, stroke width).
_HATCHES = {
    1: ("M0 6L6 0M-1 1L1 -1M5 7L7 5", 1.2),  # diagonal /
    2: ("M0 0L6 6M-1 5L1 7M5 -1L7 1", 1.2),  # diagonal \\
    3: ("M0 3H6", 1.4),  # horizontal
    4: ("M3 0V6", 1.4),  # vertical
    5: ("M2.5 2.5h1v1h-1Z", 1.0),  # dots
    6: ("M0 3H6M3 0V6", 1.0),  # grid
    7: ("M0 6L6 0M0 0L6 6", 0.9),  # cross-hatch
}


def _pattern_defs(uid: str, styles: Sequence[int]) -> str:
    tiles = []
    for style in sorted(set(styles)):
        if style not in _HATCHES:
            continue
        path, width = _HATCHES[style]
        tiles.append(
            f'<pattern id="{uid}-hatch-{style}" width="6" height="6" patternUnits="userSpaceOnUse">'
            f'<rect class="chart__fill--{style}" width="6" height="6"/>'
            f'<path class="chart__hatch" d="{path}" stroke-width="{width}"/></pattern>'
        )
    return f"<defs>{''.join(tiles)}</defs>" if tiles else ""


def _bar_fill(uid: str, style: int) -> str:
    return f"url(#{uid}-hatch-{style})" if style in _HATCHES else "currentColor"


def _num_attr(value: float | None) -> str:
    return "" if value is None else repr(value)


def _svg_open(uid: str, kind: str, title: str, desc: str, *, height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart--{kind}" id="{uid}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{uid}-title {uid}-desc" '
        f'preserveAspectRatio="xMidYMid meet">'
        f'<title id="{uid}-title">{escape(title)}</title><desc id="{uid}-desc">{escape(desc)}</desc>'
    )


def _desc(chart: Chart | Matrix, what: str) -> str:
    lead = f"{chart.description} " if chart.description else ""
    return f"{lead}{what} The table view has the numbers."


def _empty_svg(uid: str, chart: Chart | Matrix) -> str:
    message = "No posts match this range and these filters."
    return (
        _svg_open(uid, "empty", chart.title, _desc(chart, message), height=120)
        + f'<text class="chart__empty" x="{WIDTH // 2}" y="64" text-anchor="middle">{escape(message)}</text>'
        + "</svg>"
    )


def _x_positions(count: int, left: float, width: float) -> list[float]:
    if count == 1:
        return [left + width / 2]
    return [left + width * i / (count - 1) for i in range(count)]


def _x_tick_indexes(count: int, limit: int = X_TICKS_MAX) -> list[int]:
    if count <= limit:
        return list(range(count))
    step = math.ceil((count - 1) / (limit - 1))
    return list(range(0, count, step))


def _axes(chart: Chart, top: float, ticks: list[float], *, percent: bool) -> list[str]:
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    out = ['<g class="chart__axis chart__axis--y">']
    for tick in ticks:
        y = MARGIN_TOP + plot_h * (1 - tick / top)
        out.append(
            f'<line class="chart__grid" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{_num(y)}" '
            f'y2="{_num(y)}"/><text class="chart__tick" x="{MARGIN_LEFT - 6}" y="{_num(y + 4)}" '
            f'text-anchor="end">{escape(_tick_text(tick, percent))}</text>'
        )
    if chart.y_label:
        out.append(
            f'<text class="chart__axis-label" transform="rotate(-90)" x="{-(MARGIN_TOP + plot_h / 2):.0f}" '
            f'y="12" text-anchor="middle">{escape(chart.y_label)}</text>'
        )
    out.append("</g>")
    return out


def _x_labels(chart: Chart, positions: list[float]) -> list[str]:
    hourly_span = (
        len(chart.x) > 1
        and all(isinstance(x, datetime) for x in chart.x[:2])
        and chart.x[1] - chart.x[0] < timedelta(days=1)
    )
    baseline = HEIGHT - MARGIN_BOTTOM
    out = ['<g class="chart__axis chart__axis--x">']
    out.append(
        f'<line class="chart__baseline" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{baseline}" '
        f'y2="{baseline}"/>'
    )
    for i in _x_tick_indexes(len(chart.x)):
        out.append(
            f'<text class="chart__tick" x="{_num(positions[i])}" y="{baseline + 16}" text-anchor="middle">'
            f"{escape(_x_tick(chart.x[i], hourly_span=hourly_span))}</text>"
        )
    if chart.x_label:
        out.append(
            f'<text class="chart__axis-label" x="{(WIDTH + MARGIN_LEFT - MARGIN_RIGHT) / 2:.0f}" '
            f'y="{HEIGHT - 4}" text-anchor="middle">{escape(chart.x_label)}</text>'
        )
    out.append("</g>")
    return out


def _tooltip(series: str, x: str, value: float | None, *, precision: int, unit: str, percent: bool) -> str:
    unit_text = f" {unit}" if unit and not percent else ""
    return f"{series}, {x}: {value_text(value, precision=precision, percent=percent)}{unit_text}"


def series_style(chart: Chart, index: int) -> int:
    """The CSS style (colour, dash, marker, hatching) of the chart's ``index``-th series."""
    pinned = chart.series[index].style
    return (index if pinned is None else pinned) % SERIES_STYLES


def _series_svg(uid: str, chart: Chart, drawn: Drawn) -> str:
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    baseline = MARGIN_TOP + plot_h
    stacked = chart.kind in (Kind.AREA, Kind.STACKED_BARS, Kind.SHARE)
    percent = chart.kind == Kind.SHARE
    precision = _precision(chart)
    if percent:
        top, ticks = 100.0, [0.0, 25.0, 50.0, 75.0, 100.0]
    else:
        sums = [sum(v or 0 for v in row) for row in drawn.values] if stacked else []
        highest = max(sums) if stacked else max((v or 0 for row in drawn.values for v in row), default=0)
        top, ticks = _y_scale(float(highest))

    def y_of(value: float) -> float:
        return baseline - plot_h * value / top

    count = len(chart.x)
    bars = chart.kind in (Kind.BARS, Kind.STACKED_BARS)
    if bars:
        band = plot_w / count
        positions = [MARGIN_LEFT + band * (i + 0.5) for i in range(count)]
    else:
        positions = _x_positions(count, MARGIN_LEFT, plot_w)
    out = [*_axes(chart, top, ticks, percent=percent), *_x_labels(chart, positions)]
    if bars:
        out.insert(0, _pattern_defs(uid, [series_style(chart, s) for s in range(len(chart.series))]))
    x_names = drawn.row_names
    base = [0.0] * count
    layers: list[str] = []
    for s, series in enumerate(chart.series):
        style = series_style(chart, s)
        column = [row[s] for row in drawn.values]
        points = []
        group = [f'<g class="chart__series chart__series--{style}" data-name="{escape(series.name)}">']
        if bars:
            groups = 1 if chart.kind == Kind.STACKED_BARS else len(chart.series)
            bar_w = band * 0.8 / groups
            for i, value in enumerate(column):
                if value is None:  # no data is no bar (a zero is a bar of no height, with its tooltip)
                    continue
                left = MARGIN_LEFT + band * (i + 0.1) + (0 if groups == 1 else bar_w * s)
                low = base[i] if chart.kind == Kind.STACKED_BARS else 0.0
                high = low + (value or 0)
                body = (
                    f'<rect class="chart__bar" x="{_num(left)}" y="{_num(y_of(high))}" '
                    f'width="{_num(max(bar_w - 1, 1))}" height="{_num(y_of(low) - y_of(high))}" '
                    f'fill="{_bar_fill(uid, style)}"/>'
                )
                tip = _tooltip(
                    series.name, x_names[i], value, precision=precision, unit=chart.unit, percent=False
                )
                points.append(_point(body, tooltip=tip, value=value, link=drawn.links[i][s], series=s))
                if chart.kind == Kind.STACKED_BARS:
                    base[i] = high
            group.extend(points)
        else:
            tops = []
            for i, value in enumerate(column):
                low = base[i] if stacked else 0.0
                tops.append(None if value is None else y_of(low + value))
            if stacked:
                upper = [(positions[i], y_of(base[i] + (v or 0))) for i, v in enumerate(column)]
                lower = [(positions[i], y_of(base[i])) for i in range(count)][::-1]
                area = "M" + "L".join(f"{_num(x)} {_num(y)}" for x, y in [*upper, *lower]) + "Z"
                layers.append(f'<path class="chart__area chart__area--{style}" d="{area}"/>')
                for i, v in enumerate(column):
                    base[i] += v or 0
            path, pen_up = [], True
            for i, y in enumerate(tops):
                if y is None:
                    pen_up = True
                    continue
                path.append(f"{'M' if pen_up else 'L'}{_num(positions[i])} {_num(y)}")
                pen_up = False
            group.append(f'<path class="chart__line" d="{"".join(path)}"/>')
            for i, (value, y) in enumerate(zip(column, tops, strict=True)):
                if y is None:
                    continue
                tip = _tooltip(
                    series.name, x_names[i], value, precision=precision, unit=chart.unit, percent=percent
                )
                group.append(
                    _point(
                        _marker(style, positions[i], y),
                        tooltip=tip,
                        value=value,
                        link=drawn.links[i][s],
                        series=s,
                    )
                )
        group.append("</g>")
        out.extend(group)
    if layers:
        out.insert(0, '<g class="chart__areas">' + "".join(layers) + "</g>")
    return "".join(out)


def _matrix_svg(uid: str, matrix: Matrix, drawn: Drawn) -> str:
    heat = matrix.kind == MatrixKind.HEATMAP
    label_w = 132 if not heat else 48
    header_h = 28
    cols, rows = len(matrix.columns), len(matrix.rows)
    cell_w = (WIDTH - label_w - MARGIN_RIGHT) / cols
    cell_h = 22 if heat else (44 if drawn.shares else 30)
    height = header_h + rows * cell_h + (36 if heat else 8)
    highest = max((v or 0 for row in drawn.values for v in row), default=0) or 1
    what = (
        f"A grid of {rows} rows by {cols} columns; the darker a cell, the more posts."
        if heat
        else f"A grid of {rows} rows by {cols} columns with the count in each cell."
    )
    out = [_svg_open(uid, matrix.kind.value, matrix.title, _desc(matrix, what), height=height)]
    every = 3 if heat and cols > 12 else 1  # 24 hour labels do not fit side by side; every third does
    for c, column in enumerate(matrix.columns):
        if c % every:
            continue
        x = label_w + cell_w * (c + 0.5)
        out.append(
            f'<text class="chart__tick" x="{_num(x)}" y="{header_h - 10}" text-anchor="middle">'
            f"{escape(_truncate(column.name, int(cell_w / 6.5) if not heat else 6))}</text>"
        )
    for r, row in enumerate(matrix.rows):
        y = header_h + r * cell_h
        out.append(
            f'<text class="chart__tick" x="{label_w - 8}" y="{_num(y + cell_h / 2 + 4)}" text-anchor="end">'
            f"{escape(_truncate(row.name, 20))}</text>"
        )
        for c, column in enumerate(matrix.columns):
            value = drawn.values[r][c]
            share = drawn.shares[r][c] if drawn.shares is not None else None
            x = label_w + c * cell_w
            strength = (value or 0) / highest
            # Opacity over the surface keeps one hue readable on light and dark; text flips to the
            # strong ink once the shade passes the middle.
            opacity = 0.06 + 0.94 * strength if value else 0.0
            cell_class = "chart__cell" if value else "chart__cell chart__cell--none"
            body = [
                f'<rect class="{cell_class}" x="{_num(x + CELL_GAP / 2)}" y="{_num(y + CELL_GAP / 2)}" '
                f'width="{_num(cell_w - CELL_GAP)}" height="{_num(cell_h - CELL_GAP)}" '
                f'fill-opacity="{opacity:.2f}"/>'
            ]
            text_class = "chart__cell-text" + (" chart__cell-text--on-strong" if strength > 0.55 else "")
            if not heat:
                body.append(
                    f'<text class="{text_class}" x="{_num(x + cell_w / 2)}" y="{_num(y + 19)}" '
                    f'text-anchor="middle">{escape(value_text(value, precision=matrix.precision))}</text>'
                )
                if drawn.shares is not None and share is not None:
                    share_text = escape(value_text(share, precision=1, percent=True))
                    body.append(
                        f'<text class="{text_class} chart__cell-share" x="{_num(x + cell_w / 2)}" '
                        f'y="{_num(y + 35)}" text-anchor="middle">{share_text}</text>'
                    )
            unit = f" {matrix.unit}" if matrix.unit else ""
            tip = f"{row.name}, {column.name}: {value_text(value, precision=matrix.precision)}{unit}"
            if share is not None:
                tip += f" ({value_text(share, precision=1, percent=True)} {matrix.share_label})".rstrip()
            out.append(_point("".join(body), tooltip=tip, value=value, link=drawn.links[r][c]))
    if heat:
        y = header_h + rows * cell_h + 10
        unit = f" {matrix.unit}" if matrix.unit else ""
        top_text = escape(value_text(highest, precision=matrix.precision) + unit)
        ramp = f'x="{label_w + 14}" y="{y}" width="120" height="14"'
        out.append(
            f'<g class="chart__scale" aria-hidden="true">'
            f'<text class="chart__tick" x="{label_w}" y="{y + 12}">0</text>'
            f'<defs><linearGradient id="{uid}-ramp"><stop class="chart__ramp-stop" offset="0" '
            f'stop-opacity="0.06"/><stop class="chart__ramp-stop" offset="1"/></linearGradient></defs>'
            f'<rect class="chart__scale-ramp" {ramp} fill="url(#{uid}-ramp)"/>'
            f'<text class="chart__tick" x="{label_w + 140}" y="{y + 12}">{top_text}</text></g>'
        )
    out.append("</svg>")
    return "".join(out)


def _truncate(text: str, limit: int) -> str:
    limit = max(limit, 3)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_KIND_WORDS = {
    Kind.LINE: "Lines",
    Kind.AREA: "Stacked areas",
    Kind.BARS: "Grouped bars",
    Kind.STACKED_BARS: "Stacked bars",
    Kind.SHARE: "Shares of each total, stacked to 100%,",
}


def chart_svg(chart: Chart | Matrix, *, uid: str | None = None, drawn: Drawn | None = None) -> SafeString:
    """``chart`` as inline SVG markup, every label escaped; an empty chart says so in words."""
    uid = uid or f"chart-{uuid4().hex[:10]}"
    drawn = drawn or chart_drawn(chart)
    if drawn.is_empty:
        return mark_safe(_empty_svg(uid, chart))  # noqa: S308 -- built from escaped parts only
    if isinstance(chart, Matrix):
        return mark_safe(_matrix_svg(uid, chart, drawn))  # noqa: S308 -- built from escaped parts only
    names = ", ".join(s.name for s in chart.series)
    along = f" ({chart.x_label})" if chart.x_label else ""
    what = f"{_KIND_WORDS[chart.kind]} for {names}; {len(chart.x)} values along the x axis{along}."
    markup = (
        _svg_open(uid, chart.kind.value, chart.title, _desc(chart, what))
        + _series_svg(uid, chart, drawn)
        + "</svg>"
    )
    return mark_safe(markup)  # noqa: S308 -- built from escaped parts only


# --- The page's part ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LegendEntry:
    name: str
    style: int  # the CSS series style: colour, dash pattern, marker shape and bar hatching
    swatch: SafeString  # a small drawing of the line, marker or bar, hidden from screen readers


@dataclass(frozen=True)
class RenderedChart:
    """What ``templates/reports/_chart.html`` shows: the drawing, its legend and its table view."""

    uid: str
    title: str
    kind: str
    svg: SafeString
    table: Table
    legend: list[LegendEntry]
    is_empty: bool


def _legend_swatch(uid: str, style: int, kind: str) -> SafeString:
    if kind in (Kind.BARS, Kind.STACKED_BARS):
        defs = _pattern_defs(uid, [style])
        body = f'<rect class="chart__bar" x="3" y="1" width="18" height="12" fill="{_bar_fill(uid, style)}"/>'
    else:
        defs = ""
        body = '<path class="chart__line" d="M0 7H24"/>' + _marker(style, 12, 7)
    return mark_safe(  # noqa: S308 -- built from numbers and constant markup
        f'<svg class="chart-legend__swatch" viewBox="0 0 24 14" aria-hidden="true" focusable="false">'
        f'{defs}<g class="chart__series chart__series--{style}">{body}</g></svg>'
    )


def chart_render(chart: Chart | Matrix) -> RenderedChart:
    """Everything the chart partial needs, computed once per chart in the view."""
    uid = f"chart-{uuid4().hex[:10]}"
    drawn = chart_drawn(chart)
    kind = chart.kind.value
    legend: list[LegendEntry] = []
    if isinstance(chart, Chart) and len(chart.series) > 1:
        legend = [
            LegendEntry(
                name=s.name,
                style=series_style(chart, i),
                swatch=_legend_swatch(f"{uid}-legend-{i}", series_style(chart, i), kind),
            )
            for i, s in enumerate(chart.series)
        ]
    return RenderedChart(
        uid=uid,
        title=chart.title,
        kind=kind,
        svg=chart_svg(chart, uid=uid, drawn=drawn),
        table=chart_table(chart, drawn=drawn),
        legend=legend,
        is_empty=drawn.is_empty,
    )
