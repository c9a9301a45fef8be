"""charts: the cost of drawing each kind of report chart at realistic sizes, as a report page pays it.

Each figure times ``chart_render`` (the numbers, the SVG, the table view and the legend) plus the chart
partial rendered to HTML, the whole of what one chart adds to a page whose numbers are already read:

- ``render_p95_ms_<kind>``: p95 over ``ROUNDS`` renders; line, area: 90 days x 6 series (volume by segment);
  share: 90 days x 3 (sentiment); bars, stacked_bars: 10 accounts x 6 series; heatmap: 7 x 24; matrix:
  10 accounts x 6 segments with shares. Every point links to the inbox except the heat map's.
- ``render_ms_<kind>``: the same samples' median, min and max.
- ``render_cpu_p95_ms_<kind>``: p95 of the CPU time this process spent (what other work on a busy machine
  does not inflate, unlike the wall-clock figures).
- ``html_kb_<kind>``: the size of the rendered partial (markup sent per chart, before compression).
- ``page_p95_ms_all_kinds``: all seven on one page, the worst case a report page draws.
- ``load_average_1m``: the machine's load when the measures began (wall-clock figures swing with it).
"""

from __future__ import annotations

import math
import os
import random
import time
from datetime import timedelta

from bench.__main__ import Report

ROUNDS = 40
QUICK_ROUNDS = 5
DAYS = 90
SEGMENTS = [
    "Customer relations",
    "Crisis management",
    "Reputation management",
    "Event coverage",
    "Product promotion",
    "Issue advocacy",
]


def p95(samples: list[float]) -> float:
    """The 95th percentile (nearest rank)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _charts() -> dict:
    from django.utils import timezone

    from reports.charts import Chart, Kind, Label, Matrix, MatrixKind, Series

    rng = random.Random(15)
    start = timezone.localdate() - timedelta(days=DAYS)
    days = [start + timedelta(days=i) for i in range(DAYS)]
    filters = {"team": 1, "network": "x"}
    by_segment = [
        Series(name, [rng.randint(0, 4000) for _ in days], {"segment": f"segment-{i}"})
        for i, name in enumerate(SEGMENTS)
    ]
    accounts = [f"@brand_account_{i}" for i in range(10)]
    by_account = [
        Series(name, [rng.randint(0, 900) for _ in accounts], {"segment": f"segment-{i}"})
        for i, name in enumerate(SEGMENTS)
    ]
    account_filters = [{"channel": f"brand-account-{i}"} for i in range(10)]
    sentiment = [
        Series(name, [rng.randint(0, 600) for _ in days], {"sentiment": name.lower()}, style=style)
        for name, style in (("Negative", 7), ("Neutral", 6), ("Positive", 2))
    ]
    common = {"x_label": "Day", "y_label": "Posts", "unit": "posts", "filters": filters}
    return {
        "line": Chart(kind=Kind.LINE, title="Volume by segment", x=days, series=by_segment, **common),
        "area": Chart(kind=Kind.AREA, title="Open backlog by segment", x=days, series=by_segment, **common),
        "share": Chart(kind=Kind.SHARE, title="Sentiment", x=days, series=sentiment, **common),
        "bars": Chart(
            kind=Kind.BARS,
            title="Volume by account",
            x=accounts,
            series=by_account,
            x_filters=account_filters,
            unit="posts",
            filters=filters,
        ),
        "stacked_bars": Chart(
            kind=Kind.STACKED_BARS,
            title="Volume by account and segment",
            x=accounts,
            series=by_account,
            x_filters=account_filters,
            unit="posts",
            filters=filters,
        ),
        "heatmap": Matrix(
            kind=MatrixKind.HEATMAP,
            title="Posts by hour and weekday",
            rows=[Label(day) for day in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")],
            columns=[Label(f"{hour:02d}") for hour in range(24)],
            cells=[[rng.randint(0, 3000) for _ in range(24)] for _ in range(7)],
            unit="posts",
            linked=False,
        ),
        "matrix": Matrix(
            kind=MatrixKind.MATRIX,
            title="Misroutes",
            rows=[Label(name, f) for name, f in zip(accounts, account_filters, strict=True)],
            columns=[Label(name, {"segment": f"segment-{i}"}) for i, name in enumerate(SEGMENTS)],
            cells=[[rng.randint(0, 500) for _ in SEGMENTS] for _ in accounts],
            shares=[[rng.uniform(0, 100) for _ in SEGMENTS] for _ in accounts],
            share_label="moved automatically",
            row_label="Arrival account",
            column_label="Owning segment",
            unit="posts",
            filters=filters,
        ),
    }


def _draw(chart) -> str:
    from django.template.loader import render_to_string

    from reports.charts import chart_render

    return render_to_string(
        "reports/_chart.html", {"chart": chart_render(chart), "csv_url": "/reports/x.csv"}
    )


def run(report: Report, *, quick: bool = False) -> None:
    rounds = QUICK_ROUNDS if quick else ROUNDS
    report("load_average_1m", os.getloadavg()[0])
    charts = _charts()
    for chart in charts.values():  # the first render loads templates and URL patterns
        _draw(chart)
    for kind, chart in charts.items():
        samples, cpu = [], []
        for _ in range(rounds):
            started, started_cpu = time.perf_counter(), time.process_time()
            html = _draw(chart)
            samples.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        report(f"render_p95_ms_{kind}", p95(samples))
        report(f"render_ms_{kind}", samples)
        report(f"render_cpu_p95_ms_{kind}", p95(cpu))
        report(f"html_kb_{kind}", round(len(html.encode()) / 1024, 1))
    pages = []
    for _ in range(max(rounds // 4, 2)):
        started = time.perf_counter()
        for chart in charts.values():
            _draw(chart)
        pages.append((time.perf_counter() - started) * 1000)
    report("page_p95_ms_all_kinds", p95(pages))
