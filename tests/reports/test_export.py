"""CSV export of a report chart (reports/export.py): exactly the numbers drawn, in the table's layout, and
safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.utils import timezone

from reports.charts import Chart, Kind, Label, Matrix, MatrixKind, Series, chart_svg, chart_table
from reports.export import chart_csv, chart_csv_response, csv_filename


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def drawn_values(chart: Chart | Matrix) -> list[float]:
    root = ET.fromstring(str(chart_svg(chart)))
    return [float(el.get("data-value")) for el in root.iter() if "chart__point" in el.get("class", "")]


def days(count: int) -> list:
    start = timezone.localdate() - timedelta(days=count)
    return [start + timedelta(days=i) for i in range(count)]


def sentiment() -> Chart:
    return Chart(
        kind=Kind.SHARE,
        title="Sentiment, Care",
        x=days(3),
        series=[
            Series("Negative", [1, 0, 2]),
            Series("Neutral", [2, 0, None]),
            Series("Positive", [1, 0, 6]),
        ],
        x_label="Day",
        unit="posts",
    )


@pytest.mark.parametrize("kind", list(Kind))
def test_the_csv_holds_exactly_the_drawn_numbers_in_the_tables_layout(kind: Kind) -> None:
    chart = Chart(
        kind=kind,
        title="Volume",
        x=days(3),
        series=[Series("Care", [4, 0, 9]), Series("Press", [None, 2.4, 1])],
        x_label="Day",
    )

    rows = rows_of(chart_csv(chart))
    table = chart_table(chart)
    series_cells = [row[1:3] for row in rows[1:]]  # a share chart adds its total after the series

    assert rows[0][:3] == ["Day", "Care", "Press"]
    assert [row[0] for row in rows[1:]] == [row.header for row in table.rows]
    assert series_cells == [
        ["" if c.value is None else str(c.value) for c in row.cells[:2]] for row in table.rows
    ]
    # The SVG draws series by series; the CSV is laid out day by day.
    by_series = [float(cells[s]) for s in range(2) for cells in series_cells if cells[s] != ""]
    assert drawn_values(chart) == by_series


def test_a_share_chart_exports_shares_and_the_total_behind_them() -> None:
    rows = rows_of(chart_csv(sentiment()))

    assert rows == [
        ["Day", "Negative", "Neutral", "Positive", "Total (posts)"],
        [days(3)[0].isoformat(), "25.0", "50.0", "25.0", "4"],
        [days(3)[1].isoformat(), "", "", "", "0"],
        [days(3)[2].isoformat(), "25.0", "", "75.0", "8"],
    ]


def test_a_matrix_exports_each_count_followed_by_its_share() -> None:
    matrix = Matrix(
        kind=MatrixKind.MATRIX,
        title="Misroutes",
        rows=[Label("@promo"), Label("@events")],
        columns=[Label("Care"), Label("Crisis")],
        cells=[[12, 0], [3, 9]],
        shares=[[75.0, 50.0], [33.333, 100.0]],
        share_label="moved automatically",
        row_label="Arrival account",
        column_label="Owning segment",
    )

    rows = rows_of(chart_csv(matrix))

    assert rows == [
        [
            "Arrival account \\ Owning segment",
            "Care",
            "Care: moved automatically (%)",
            "Crisis",
            "Crisis: moved automatically (%)",
        ],
        ["'@promo", "12", "75.0", "0", ""],
        ["'@events", "3", "33.3", "9", "100.0"],
    ]
    assert drawn_values(matrix) == [12.0, 0.0, 3.0, 9.0]


def test_labels_that_a_spreadsheet_would_run_as_formulas_are_quoted_and_others_kept_whole() -> None:
    hostile = '=HYPERLINK("http://evil.example","click")'
    chart = Chart(
        kind=Kind.BARS,
        title="t",
        x=[hostile, "+1 555", "-x", "@care", 'say "hi", & <b>'],
        series=[Series("=SUM(A1:A2)", [1, 2, 3, 4, 5])],
    )

    rows = rows_of(chart_csv(chart))

    assert rows[0] == ["", "'=SUM(A1:A2)"]
    assert [row[0] for row in rows[1:]] == [f"'{hostile}", "'+1 555", "'-x", "'@care", 'say "hi", & <b>']
    assert [row[1] for row in rows[1:]] == ["1", "2", "3", "4", "5"]


def test_an_empty_chart_exports_its_header_only() -> None:
    chart = Chart(kind=Kind.LINE, title="Nothing", x=[], series=[Series("Care", [])], x_label="Day")

    assert rows_of(chart_csv(chart)) == [["Day", "Care"]]


def test_the_download_is_utf8_with_a_bom_and_an_ascii_file_name() -> None:
    chart = Chart(kind=Kind.LINE, title='Café "volume" <b>', x=days(1), series=[Series("Crème", [3])])

    response = chart_csv_response(chart, suffix="2026-09-01 to 2026-11-29")
    body = response.content.decode("utf-8")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        response["Content-Disposition"] == 'attachment; filename="cafe-volume-b_2026-09-01-to-2026-11-29.csv"'
    )
    assert body.startswith("\ufeff")
    assert rows_of(body.removeprefix("\ufeff"))[0] == ["", "Crème"]


def test_a_file_name_never_carries_a_quote_or_a_path() -> None:
    chart = Chart(kind=Kind.LINE, title='../"x"', x=[], series=[])

    assert csv_filename(chart, suffix='a"/../b') == "x_a-..-b.csv"
