"""Report charts (reports/charts.py): what is drawn equals the table view, labels are escaped, an empty
chart says so, and every point links to the inbox filtered to the posts behind it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, time, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django import forms
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from reports.charts import (
    Chart,
    Kind,
    Label,
    Matrix,
    MatrixKind,
    Series,
    chart_drawn,
    chart_render,
    chart_svg,
    chart_table,
    inbox_url,
)

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & \'quoted\' "team"'
STYLESHEET = Path(__file__).resolve().parents[2] / "static" / "css" / "socialops.css"


def days(count: int) -> list:
    start = timezone.localdate() - timedelta(days=count)
    return [start + timedelta(days=i) for i in range(count)]


def volume_chart(kind: Kind = Kind.LINE, **extra) -> Chart:
    x = days(4)
    return Chart(
        kind=kind,
        title="Volume by segment",
        x=x,
        series=[
            Series("Customer relations", [3, 0, 7, None], {"segment": "customer-relations"}),
            Series("Crisis", [1, 2, 0, 5], {"segment": "crisis"}),
        ],
        x_label="Day",
        y_label="Posts",
        unit="posts",
        filters={"team": 4},
        **extra,
    )


def misroute_matrix(**extra) -> Matrix:
    return Matrix(
        kind=MatrixKind.MATRIX,
        title="Misroutes",
        rows=[Label("@promo", {"channel": "promo"}), Label("@events", {"channel": "events"})],
        columns=[
            Label("Customer relations", {"segment": "customer-relations"}),
            Label("Crisis", {"segment": "crisis"}),
        ],
        cells=[[12, 0], [3, 9]],
        shares=[[75.0, None], [33.333, 100.0]],
        share_label="moved automatically",
        row_label="Arrival account",
        column_label="Owning segment",
        unit="posts",
        **extra,
    )


def parsed(chart: Chart | Matrix) -> ET.Element:
    return ET.fromstring(str(chart_svg(chart)))


def points(root: ET.Element) -> list[ET.Element]:
    return [el for el in root.iter() if "chart__point" in el.get("class", "")]


def drawn_by_series(root: ET.Element) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for point in points(root):
        out.setdefault(int(point.get("data-series")), []).append(float(point.get("data-value")))
    return out


def query(url: str) -> dict[str, list[str]]:
    parts = urlsplit(url)
    assert parts.path == reverse("inbox:index")
    return parse_qs(parts.query)


# --- What is drawn is what the table says -------------------------------------------------------------------


@pytest.mark.parametrize("kind", [Kind.LINE, Kind.AREA, Kind.BARS, Kind.STACKED_BARS, Kind.SHARE])
def test_every_drawn_value_is_the_table_value_of_its_series_and_x(kind: Kind) -> None:
    chart = volume_chart(kind)

    table = chart_table(chart)
    root = parsed(chart)

    for s in range(len(chart.series)):
        from_table = [row.cells[s].value for row in table.rows if row.cells[s].value is not None]
        assert drawn_by_series(root)[s] == [float(v) for v in from_table]


def test_a_share_chart_draws_each_days_shares_of_its_total_and_tables_the_total() -> None:
    chart = volume_chart(Kind.SHARE)

    table = chart_table(chart)

    assert [[cell.text for cell in row.cells] for row in table.rows] == [
        ["75.0%", "25.0%", "4"],
        ["0.0%", "100.0%", "2"],
        ["100.0%", "0.0%", "7"],
        ["—", "100.0%", "5"],
    ]
    assert table.columns == ["Customer relations", "Crisis", "Total (posts)"]


def test_values_are_drawn_tabled_and_exported_at_the_charts_precision() -> None:
    chart = Chart(
        kind=Kind.LINE,
        title="Median first response",
        x=days(2),
        series=[Series("All", [12.349, 7.06])],
        precision=1,
    )

    assert chart_drawn(chart).values == [[12.3], [7.1]]
    assert drawn_by_series(parsed(chart)) == {0: [12.3, 7.1]}
    assert [row.cells[0].text for row in chart_table(chart).rows] == ["12.3", "7.1"]


def test_bar_heights_are_proportional_to_their_values_and_stacks_add_up() -> None:
    chart = Chart(
        kind=Kind.STACKED_BARS,
        title="Open by team",
        x=["Care", "Press"],
        series=[Series("New", [10, 30]), Series("Open", [20, 0])],
    )

    bars = {
        (int(p.get("data-series")), i % 2): p.find(f"{SVG}rect") for i, p in enumerate(points(parsed(chart)))
    }
    height = {key: float(rect.get("height")) for key, rect in bars.items()}

    assert height[(0, 0)] * 3 == pytest.approx(height[(0, 1)], abs=0.2)
    assert height[(1, 0)] == pytest.approx(height[(0, 0)] * 2, abs=0.2)
    # The second layer sits on the first: its bottom is the first's top.
    first_top = float(bars[(0, 0)].get("y"))
    second = bars[(1, 0)]
    assert float(second.get("y")) + float(second.get("height")) == pytest.approx(first_top, abs=0.2)


def test_a_missing_value_is_a_gap_in_the_line_not_a_zero() -> None:
    chart = Chart(kind=Kind.LINE, title="Backlog", x=days(5), series=[Series("Open", [4, 5, None, 6, 7])])

    root = parsed(chart)
    line = next(el for el in root.iter(f"{SVG}path") if el.get("class") == "chart__line")

    assert drawn_by_series(root) == {0: [4.0, 5.0, 6.0, 7.0]}
    assert line.get("d").count("M") == 2
    assert chart_table(chart).rows[2].cells[0].text == "—"


def test_values_that_do_not_line_up_with_the_x_axis_are_refused() -> None:
    chart = Chart(kind=Kind.LINE, title="t", x=days(3), series=[Series("a", [1, 2])])

    with pytest.raises(ValueError, match="2 values for 3 x"):
        chart_render(chart)


def test_a_matrix_draws_counts_and_shares_as_its_table_does() -> None:
    matrix = misroute_matrix()

    table = chart_table(matrix)
    root = parsed(matrix)

    assert [float(p.get("data-value")) for p in points(root)] == [12.0, 0.0, 3.0, 9.0]
    assert [[(c.text, c.share_text) for c in row.cells] for row in table.rows] == [
        [("12", "75.0%"), ("0", "—")],
        [("3", "33.3%"), ("9", "100.0%")],
    ]
    texts = [el.text for el in root.iter(f"{SVG}text")]
    assert "33.3%" in texts
    assert table.corner == "Arrival account \\ Owning segment"


# --- Links to the inbox -------------------------------------------------------------------------------------


def test_a_point_links_to_the_inbox_filtered_by_page_series_and_day() -> None:
    chart = volume_chart()
    day = chart.x[1]

    link = chart_drawn(chart).links[1][1]

    assert query(link) == {
        "queue": ["all"],
        "team": ["4"],
        "segment": ["crisis"],
        "since": [day.isoformat()],
        "until": [day.isoformat()],
    }
    linked = [p for p in points(parsed(chart)) if p.get("data-series") == "1"]
    assert linked[1].get("href") == link
    # A mouse follows a point; a keyboard follows the same link in the table view, not 540 tab stops.
    assert {p.get("tabindex") for p in linked if p.get("href")} == {"-1"}


def test_a_zero_or_a_missing_value_has_no_posts_to_link_to() -> None:
    links = chart_drawn(volume_chart()).links

    assert [links[1][0], links[3][0], links[2][1]] == ["", "", ""]
    assert all(links[0])


def test_the_previous_period_drawn_over_this_one_links_to_the_days_it_counted() -> None:
    x = days(7)
    chart = Chart(
        kind=Kind.LINE,
        title="Volume, this week and last",
        x=x,
        series=[
            Series("This week", [1] * 7),
            Series("Week before", [2] * 7, period_offset=timedelta(days=-7)),
        ],
    )

    links = chart_drawn(chart).links

    assert query(links[3][0])["since"] == [x[3].isoformat()]
    assert query(links[3][1])["since"] == [(x[3] - timedelta(days=7)).isoformat()]
    assert query(links[3][1])["until"] == [(x[3] - timedelta(days=7)).isoformat()]


def test_an_hourly_point_links_to_its_day_because_the_inbox_filters_by_day() -> None:
    start = datetime.combine(timezone.localdate(), time(9), tzinfo=timezone.get_current_timezone())
    chart = Chart(
        kind=Kind.LINE, title="Today", x=[start, start + timedelta(hours=1)], series=[Series("All", [1, 2])]
    )

    assert query(chart_drawn(chart).links[1][0])["since"] == [start.date().isoformat()]


def test_x_filters_replace_the_day_and_the_series_filters_narrow_the_page_filters() -> None:
    chart = Chart(
        kind=Kind.BARS,
        title="By account",
        x=["@care", "@promo"],
        series=[Series("Negative", [2, 1], {"sentiment": "negative"})],
        filters={"segment": "crisis", "network": "x"},
        x_filters=[{"channel": "care"}, {"channel": "promo"}],
    )

    assert query(chart_drawn(chart).links[1][0]) == {
        "queue": ["all"],
        "segment": ["crisis"],
        "channel": ["promo"],
        "network": ["x"],
        "sentiment": ["negative"],
    }


def test_a_filter_the_inbox_does_not_have_is_refused_rather_than_linking_to_too_many_posts() -> None:
    with pytest.raises(ValueError, match="hour"):
        inbox_url({"hour": 9})


def test_a_matrix_cell_links_with_its_row_and_column_and_an_empty_cell_has_no_link() -> None:
    links = chart_drawn(misroute_matrix()).links

    assert query(links[1][1]) == {"queue": ["all"], "channel": ["events"], "segment": ["crisis"]}
    assert links[0][1] == ""


def test_a_heat_map_the_inbox_cannot_filter_draws_no_links() -> None:
    heat = Matrix(
        kind=MatrixKind.HEATMAP,
        title="Posts by hour",
        rows=[Label(d) for d in ("Mon", "Tue")],
        columns=[Label(f"{h:02d}") for h in range(24)],
        cells=[[h for h in range(24)], [1] * 24],
        linked=False,
    )

    root = parsed(heat)

    assert len(points(root)) == 48
    assert list(root.iter(f"{SVG}a")) == []
    assert all(cell.link == "" for row in chart_table(heat).rows for cell in row.cells)


# --- Escaping, accessibility, theme -------------------------------------------------------------------------


def hostile_chart() -> Chart:
    return Chart(
        kind=Kind.BARS,
        title=HOSTILE,
        x=[HOSTILE, "@care"],
        series=[Series(HOSTILE, [1, 2]), Series("b&b", [3, 4])],
        x_label=HOSTILE,
        y_label=HOSTILE,
        unit=HOSTILE,
        description=HOSTILE,
    )


def test_hostile_labels_are_text_in_the_svg_never_markup() -> None:
    svg = str(chart_svg(hostile_chart()))

    root = ET.fromstring(svg)  # well-formed: no label broke out of its element or attribute

    assert "<script" not in svg
    assert [el for el in root.iter() if el.tag.endswith("script")] == []
    assert root.find(f"{SVG}title").text == HOSTILE
    assert HOSTILE in root.find(f"{SVG}desc").text
    assert any(el.text == HOSTILE for el in root.iter(f"{SVG}text"))
    assert {g.get("data-name") for g in root.iter(f"{SVG}g") if g.get("data-name")} == {HOSTILE, "b&b"}


def test_hostile_labels_are_escaped_in_the_chart_partial_legend_and_table() -> None:
    html = render_to_string(
        "reports/_chart.html", {"chart": chart_render(hostile_chart()), "csv_url": "/r.csv?a=1&b=2"}
    )

    assert "<script" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;quoted&#x27;" in html
    assert 'href="/r.csv?a=1&amp;b=2"' in html


def test_hostile_matrix_labels_are_escaped() -> None:
    matrix = Matrix(
        kind=MatrixKind.MATRIX,
        title=HOSTILE,
        rows=[Label(HOSTILE)],
        columns=[Label(HOSTILE)],
        cells=[[5]],
        row_label=HOSTILE,
    )

    svg = str(chart_svg(matrix))

    assert "<script" not in svg
    assert ET.fromstring(svg).find(f"{SVG}title").text == HOSTILE


def test_each_chart_is_an_image_named_by_its_title_and_described_with_a_pointer_to_the_table() -> None:
    for chart in (volume_chart(), misroute_matrix()):
        root = parsed(chart)
        ids = {el.get("id"): el for el in root.iter() if el.get("id")}

        assert root.get("role") == "img"
        labelled_by = root.get("aria-labelledby").split()
        assert [ids[i].tag for i in labelled_by] == [f"{SVG}title", f"{SVG}desc"]
        assert ids[labelled_by[0]].text == chart.title
        assert ids[labelled_by[1]].text.endswith("The table view has the numbers.")


def test_every_point_has_a_tooltip_with_its_series_x_and_value() -> None:
    chart = volume_chart()

    titles = [p.find(f"{SVG}title").text for p in points(parsed(chart))]

    assert f"Crisis, {chart.x[3].isoformat()}: 5 posts" in titles
    assert len(titles) == 7  # eight values, one of them missing


def test_series_differ_by_marker_shape_and_dash_not_colour_alone() -> None:
    chart = Chart(kind=Kind.LINE, title="t", x=days(2), series=[Series(f"s{i}", [1, 2]) for i in range(8)])

    root = parsed(chart)
    # Every series has the same values, so same-shaped markers would be the same element.
    shapes = set()
    for group in root.iter(f"{SVG}g"):
        if "chart__series" in group.get("class", ""):
            marker = next(el for el in group.iter() if "chart__marker" in el.get("class", ""))
            shapes.add((marker.tag, marker.get("class"), marker.get("d"), marker.get("r")))
    css = STYLESHEET.read_text()

    assert len(shapes) == 8
    assert (
        len(set(re.findall(r"\.chart__series--(\d) \.chart__line \{ stroke-dasharray: ([^;]+);", css))) == 7
    )


def test_bars_of_different_series_are_hatched_differently_with_ids_unique_to_the_chart() -> None:
    chart = Chart(kind=Kind.BARS, title="t", x=["a"], series=[Series(f"s{i}", [1]) for i in range(3)])

    first, second = parsed(chart), parsed(chart)
    fills = [p.find(f"{SVG}rect").get("fill") for p in points(first)]
    pattern_ids = [el.get("id") for el in first.iter(f"{SVG}pattern")]

    assert len(set(fills)) == 3
    assert [f"url(#{i})" for i in pattern_ids] == fills[1:]
    assert set(pattern_ids).isdisjoint(el.get("id") for el in second.iter(f"{SVG}pattern"))


def test_a_pinned_style_keeps_a_series_look_whatever_its_place() -> None:
    chart = Chart(
        kind=Kind.SHARE,
        title="Sentiment",
        x=days(1),
        series=[Series("Negative", [1], style=7), Series("Positive", [1], style=2)],
    )

    classes = [g.get("class") for g in parsed(chart).iter(f"{SVG}g") if "chart__series" in g.get("class", "")]

    assert classes == ["chart__series chart__series--7", "chart__series chart__series--2"]


def test_no_colour_is_written_into_the_svg_so_it_follows_the_theme() -> None:
    svgs = [str(chart_svg(volume_chart(kind))) for kind in Kind] + [str(chart_svg(misroute_matrix()))]

    assert [re.findall(r'(?:fill|stroke|stop-color)="#', svg) for svg in svgs] == [[]] * len(svgs)


def test_the_dark_theme_redefines_every_chart_colour() -> None:
    css = STYLESHEET.read_text()
    # The charts' own dark block: the first one after their light colours (the page's theme has its own).
    charts_dark = css.index("@media (prefers-color-scheme: dark)", css.index("--chart-0:"))
    light = set(re.findall(r"(--chart-[a-z0-9-]+):", css[:charts_dark]))
    dark_block = css[charts_dark:].split("\n}\n")[0]
    themed_block = css.split('[data-theme="dark"] .chart-panel {')[1].split("\n}\n")[0]

    assert {f"--chart-{i}" for i in range(8)} <= light
    assert set(re.findall(r"(--chart-[a-z0-9-]+):", dark_block)) == light
    assert set(re.findall(r"(--chart-[a-z0-9-]+):", themed_block)) == light


# --- Empty data ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "chart",
    [
        Chart(kind=Kind.LINE, title="Nothing", x=[], series=[]),
        Chart(kind=Kind.AREA, title="Zeros", x=days(3), series=[Series("a", [0, 0, None])]),
        Matrix(
            kind=MatrixKind.HEATMAP, title="Quiet", rows=[Label("Mon")], columns=[Label("00")], cells=[[0]]
        ),
    ],
    ids=["no-x", "zeros", "heatmap"],
)
def test_an_empty_chart_says_there_is_nothing_instead_of_drawing_empty_axes(chart: Chart | Matrix) -> None:
    rendered = chart_render(chart)
    root = ET.fromstring(str(rendered.svg))
    html = render_to_string("reports/_chart.html", {"chart": rendered, "csv_url": "/r.csv"})

    assert rendered.is_empty
    assert root.get("role") == "img"
    assert [el.text for el in root.iter(f"{SVG}text")] == ["No posts match this range and these filters."]
    assert points(root) == []
    assert "Download CSV" not in html
    assert "Widen the dates or clear a filter." in html


# --- The partials -------------------------------------------------------------------------------------------


def test_the_chart_partial_shows_legend_drawing_table_and_csv_link() -> None:
    chart = volume_chart()
    rendered = chart_render(chart)

    html = render_to_string("reports/_chart.html", {"chart": rendered, "csv_url": "/reports/volume.csv"})

    assert html.count('class="chart-legend__item"') == 2
    assert html.count("<svg") == 3  # the chart and two legend swatches
    assert 'href="/reports/volume.csv"' in html
    assert html.count('<th scope="row">') == len(chart.x)
    link = chart_drawn(chart).links[0][0].replace("&", "&amp;")
    assert f'<a href="{link}">3</a>' in html


class ReportFilters(forms.Form):
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    team = forms.ChoiceField(required=False, choices=[("", "Any team"), ("4", HOSTILE)])
    segment = forms.ChoiceField(required=False, choices=[("", "Any segment"), ("crisis", "Crisis")])
    channel = forms.ChoiceField(required=False, choices=[("", "Any account"), ("care", "@care")])
    network = forms.ChoiceField(required=False, choices=[("", "Any network"), ("x", "X")])


def test_the_filters_partial_sends_the_inbox_filter_names_and_shows_errors() -> None:
    form = ReportFilters({"since": "not a day", "team": "4", "segment": "crisis"})
    form.is_valid()

    html = render_to_string("reports/_filters.html", {"form": form, "action": "/reports/"})

    names = re.findall(r'name="([a-z]+)"', html)
    assert names == ["since", "until", "team", "segment", "channel", "network"]
    assert 'method="get"' in html
    assert "Enter a valid date." in html
    assert '<option value="crisis" selected>Crisis</option>' in html
    assert "<script" not in html
    assert ">Account</label>" in html
