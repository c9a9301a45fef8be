"""CSV export of a report chart: exactly the numbers it draws, in the layout of its table view."""

from __future__ import annotations

import csv
import io
import re

from django.http import HttpResponse
from django.utils.text import slugify

from reports.charts import Chart, Matrix, chart_drawn, chart_table

# A spreadsheet runs a cell that starts with one of these as a formula; labels come from networks and users
# ("=HYPERLINK(...)" as a display name), so a text cell starting with one is written with a leading quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text_cell(text: str) -> str:
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _number_cell(value: float | None) -> str:
    return "" if value is None else str(value)


def chart_csv(chart: Chart | Matrix) -> str:
    """The chart's table as CSV: a header row, then one row per x (or matrix row). Numbers are written as
    drawn (rounded as drawn, shares in percent), no data as an empty cell; a matrix with shares adds a
    "<column>: <share label> (%)" column after each count."""
    drawn = chart_drawn(chart)
    table = chart_table(chart, drawn=drawn)
    has_shares = drawn.shares is not None
    header = [table.corner]
    for name in table.columns:
        header.append(name)
        if has_shares:
            header.append(f"{name}: {table.share_label or 'share'} (%)")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_text_cell(h) for h in header])
    for row in table.rows:
        cells = [_text_cell(row.header)]
        for cell in row.cells:
            cells.append(_number_cell(cell.value))
            if has_shares:
                cells.append(_number_cell(cell.share))
        writer.writerow(cells)
    return out.getvalue()


def csv_filename(chart: Chart | Matrix, *, suffix: str = "") -> str:
    """A file name from the chart's title and ``suffix`` (the range, "2026-09-01_2026-11-29"): ASCII only."""
    stem = slugify(chart.title) or "chart"
    tail = re.sub(r"[^0-9A-Za-z_.-]+", "-", suffix).strip("-")
    return f"{stem}_{tail}.csv" if tail else f"{stem}.csv"


def chart_csv_response(chart: Chart | Matrix, *, suffix: str = "") -> HttpResponse:
    """The CSV as a download (UTF-8 with a byte-order mark, which spreadsheets need to read accents)."""
    response = HttpResponse("\ufeff" + chart_csv(chart), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{csv_filename(chart, suffix=suffix)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
