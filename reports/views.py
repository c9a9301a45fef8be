"""The report pages under /reports/: overview, responsiveness, routing, sentiment and people at work.

Each page reads its selector once for the range and filters of the query string, turns the numbers into
charts (``reports.charts``), and draws them with their table views; ``?csv=<chart>`` with the same query
answers the CSV of exactly that chart instead. Team leads see their teams, admins every team; anyone else
gets a 403. Points link to the inbox under its own filter names (``reports.charts.inbox_url``); a series the
inbox cannot list (counted by the day a post was closed, an average of corrections) links nowhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from channels.models import Channel, Segment
from reports import selectors
from reports.charts import Chart, Kind, Label, Matrix, MatrixKind, Series, chart_render
from reports.digest import digest_enabled, digest_set
from reports.export import chart_csv_response
from reports.forms import ReportFilterForm, Scope
from reports.selectors import ReportAccessDenied

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SENTIMENT_STYLES = {"negative": 7, "neutral": 6, "positive": 2}  # red, grey, green on every chart
SENTIMENT_GROUPS = 6  # small multiples per segment or account; the rest are in the overall chart
SPLIT_NAMES = {
    "team": "Team",
    "segment": "Segment",
    "channel": "Account",
    "network": "Network",
    "intent": "Intent",
    "kind": "Kind",
    "priority": "Priority",
}
BREACH_LABEL = "sla-breached"  # the label the SLA tick puts on a breached mention (inbox.actions.sla)


@dataclass(frozen=True)
class Stat:
    """A headline number, and the same number for the period before when the page compares."""

    label: str
    value: str
    previous: str = ""


@dataclass
class ReportPage:
    """What a report page shows: headline numbers, charts by name (the ``?csv=`` names) and extra tables."""

    stats: list[Stat] = field(default_factory=list)
    charts: dict[str, Chart | Matrix] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    slug: str
    title: str
    intro: str
    template: str
    build: Callable[[Any, Scope], ReportPage]
    splits: tuple[str, ...] = ()


# --- Numbers as text ----------------------------------------------------------------------------------------


def duration_text(seconds: float | None) -> str:
    """A response time as a person reads it: "45 s", "12 min", "3.5 h", "2.1 d"; "—" for none."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def share_text(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.1f}%"


def count_text(value: int) -> str:
    return f"{value:,}"


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600


def _percent(share: float | None) -> float | None:
    return None if share is None else 100 * share


# --- Axes and links -----------------------------------------------------------------------------------------


def _x(buckets: Sequence[datetime], granularity: str) -> list[date | datetime]:
    """Buckets as the chart's x: hours stay hours; days and weeks are drawn and exported as their first
    day."""
    return list(buckets) if granularity == selectors.HOUR else [b.date() for b in buckets]


def _x_filters(buckets: Sequence[datetime], granularity: str, scope: Scope) -> list[dict[str, date]]:
    """The inbox days of each bucket (the inbox filters by day): an hour's day, a day, a week's days within
    the range."""
    out = []
    for bucket in buckets:
        first = bucket.date()
        last = first + timedelta(days=6) if granularity == selectors.WEEK else first
        out.append({"since": max(first, scope.since), "until": min(last, scope.until)})
    return out


def _range_filters(scope: Scope) -> dict[str, Any]:
    return {**scope.link_filters, "since": scope.since, "until": scope.until}


def _split_filters(by: str, keys: Sequence[str]) -> dict[str, dict[str, Any] | None]:
    """The inbox filter of each value of a split (None where the inbox has none: no team, "Other")."""
    if by == "segment":
        slugs = dict(Segment.objects.filter(pk__in=_ints(keys)).values_list("pk", "slug"))
        return {k: {"segment": slugs[int(k)]} if k.isdigit() and int(k) in slugs else None for k in keys}
    if by == "channel":
        slugs = dict(Channel.objects.filter(pk__in=_ints(keys)).values_list("pk", "slug"))
        return {k: {"channel": slugs[int(k)]} if k.isdigit() and int(k) in slugs else None for k in keys}
    if by in ("team", "priority"):
        return {k: {by: int(k)} if k.isdigit() and int(k) else None for k in keys}
    return {k: {by: k} if k and k != "other" else None for k in keys}


def _ints(keys: Sequence[str]) -> list[int]:
    return [int(k) for k in keys if k.isdigit()]


def _time_chart(
    kind: Kind,
    title: str,
    buckets: Sequence[datetime],
    granularity: str,
    scope: Scope,
    series: Sequence[Series],
    **extra: Any,
) -> Chart:
    """A chart over the report's buckets, each point linked to its days in the inbox."""
    return Chart(
        kind=kind,
        title=title,
        x=_x(buckets, granularity),
        series=list(series),
        x_label={selectors.HOUR: "Hour (UTC)", selectors.DAY: "Day", selectors.WEEK: "Week"}[granularity],
        filters=scope.link_filters,
        x_filters=_x_filters(buckets, granularity, scope),
        **extra,
    )


def _values(series: selectors.Series, convert: Callable[[Any], float | None] = lambda v: v) -> list:
    return [convert(v) for v in series.values]


# --- Overview -----------------------------------------------------------------------------------------------


def overview_build(user: Any, scope: Scope) -> ReportPage:
    report = selectors.report_overview(user=user, filters=scope.filters, by=scope.by)
    split = SPLIT_NAMES[scope.by].lower()
    keys = _split_filters(scope.by, [s.key for s in report.volume])
    volume = [
        Series(s.label, _values(s), keys[s.key] or {}, linked=keys[s.key] is not None) for s in report.volume
    ]
    totals, previous = report.totals, report.previous
    backlog = report.backlog.values[-1] if report.backlog.values else None
    page = ReportPage(
        stats=[
            Stat("Received", count_text(totals.received), count_text(previous.received)),
            Stat("Handled", count_text(totals.handled), count_text(previous.handled)),
            Stat("Answered", count_text(totals.replied), count_text(previous.replied)),
            Stat(
                "First response, median",
                duration_text(totals.first_response.median),
                duration_text(previous.first_response.median),
            ),
            Stat("Answered within SLA", share_text(totals.sla_share), share_text(previous.sla_share)),
            Stat("Open at the end", "—" if backlog is None else count_text(int(backlog))),
        ]
    )
    common = (report.buckets, report.granularity, scope)
    page.charts["volume"] = _time_chart(
        Kind.AREA,
        f"Mentions received by {split}",
        *common,
        volume,
        y_label="Mentions",
        unit="posts",
        description=f"Mentions received in each period, stacked by {split}.",
    )
    page.charts["new_handled"] = _time_chart(
        Kind.LINE,
        "New and handled",
        *common,
        [
            Series("New", _values(report.received)),
            # closed in that period: the inbox filters by the day a post arrived, not the day it was closed
            Series("Handled", _values(report.handled), linked=False),
        ],
        y_label="Mentions",
        unit="posts",
        description="Mentions that arrived and mentions closed in each period.",
    )
    page.charts["backlog"] = _time_chart(
        Kind.LINE,
        "Open backlog",
        *common,
        [Series("Open backlog", _values(report.backlog), linked=False)],
        y_label="Open mentions",
        unit="posts",
        description="Mentions still open at the end of each period.",
    )
    return page


# --- Responsiveness -----------------------------------------------------------------------------------------


def responsiveness_build(user: Any, scope: Scope) -> ReportPage:
    report = selectors.report_responsiveness(user=user, filters=scope.filters, by=scope.by)
    split = SPLIT_NAMES[scope.by].lower()
    t = report.totals
    page = ReportPage(
        stats=[
            Stat("First response, median", duration_text(t.first_response.median)),
            Stat("First response, 90th percentile", duration_text(t.first_response.p90)),
            Stat("Same in business hours, median", duration_text(t.first_response.business_median)),
            Stat("Resolution, median", duration_text(t.resolution.median)),
            Stat("Answered within SLA", share_text(t.sla_share)),
            Stat("SLA breaches", count_text(t.breaches)),
            Stat("Reopened", count_text(t.reopened)),
        ]
    )
    common = (report.buckets, report.granularity, scope)
    page.charts["first_response"] = _time_chart(
        Kind.LINE,
        "First response time",
        *common,
        [
            Series("Median", _values(report.first_response_median, _minutes)),
            Series("90th percentile", _values(report.first_response_p90, _minutes)),
            Series("Median in business hours", _values(report.business_first_response_median, _minutes)),
        ],
        y_label="Minutes",
        unit="min",
        precision=1,
        description="First response times of the mentions that arrived in each period, in minutes.",
    )
    page.charts["resolution"] = _time_chart(
        Kind.LINE,
        "Resolution time",
        *common,
        [
            Series("Median", _values(report.resolution_median, _hours), linked=False),
            Series("90th percentile", _values(report.resolution_p90, _hours), linked=False),
        ],
        y_label="Hours",
        unit="h",
        precision=1,
        description="From arrival to closing, of the mentions closed in each period, in hours.",
    )
    page.charts["sla"] = _time_chart(
        Kind.LINE,
        "Answered within SLA",
        *common,
        [Series("Answered within SLA", _values(report.sla_share, _percent))],
        y_label="% of first responses",
        unit="%",
        precision=1,
        description="The share of first responses within the SLA target, of the mentions under a policy.",
    )
    page.charts["breaches"] = _time_chart(
        Kind.BARS,
        "SLA breaches and reopened mentions",
        *common,
        [
            Series("SLA breaches", _values(report.breaches), {"label": BREACH_LABEL}),
            Series("Reopened", _values(report.reopened), linked=False),
        ],
        y_label="Mentions",
        unit="posts",
    )
    keys = _split_filters(scope.by, [row.key for row in report.rows])
    rows = list(report.rows)
    range_filters = _range_filters(scope)
    by_x = [row.label for row in rows]
    by_filters = [keys[row.key] or {} for row in rows]
    page.charts["first_response_by"] = Chart(
        kind=Kind.BARS,
        title=f"First response by {split}",
        x=by_x,
        series=[
            Series("Median", [_minutes(row.totals.first_response.median) for row in rows]),
            Series("90th percentile", [_minutes(row.totals.first_response.p90) for row in rows]),
        ],
        x_label=SPLIT_NAMES[scope.by],
        y_label="Minutes",
        unit="min",
        precision=1,
        filters=range_filters,
        x_filters=by_filters,
        linked=all(keys[row.key] for row in rows),
    )
    page.charts["sla_by"] = Chart(
        kind=Kind.BARS,
        title=f"Answered within SLA by {split}",
        x=by_x,
        series=[Series("Answered within SLA", [_percent(row.totals.sla_share) for row in rows])],
        x_label=SPLIT_NAMES[scope.by],
        y_label="% of first responses",
        unit="%",
        precision=1,
        filters=range_filters,
        x_filters=by_filters,
        linked=all(keys[row.key] for row in rows),
    )
    weekdays = [Label(day) for day in WEEKDAYS]
    hours = [Label(f"{hour:02d}") for hour in range(24)]
    page.charts["heat_map"] = Matrix(
        kind=MatrixKind.HEATMAP,
        title="Arrivals by weekday and hour (UTC)",
        rows=weekdays,
        columns=hours,
        cells=[list(row) for row in report.heat_counts],
        row_label="Weekday",
        column_label="Hour",
        unit="posts",
        description=(
            "Mentions that arrived in each hour of each weekday, over the last four weeks of the range."
        ),
        linked=False,  # the inbox has no hour or weekday filter
    )
    page.charts["heat_first_response"] = Matrix(
        kind=MatrixKind.HEATMAP,
        title="Median first response by weekday and hour of arrival (UTC)",
        rows=weekdays,
        columns=hours,
        cells=[[_minutes(v) for v in row] for row in report.heat_first_response],
        row_label="Weekday",
        column_label="Hour",
        unit="min",
        description=(
            "How long the first response took, by when the mention arrived, over the last four weeks."
        ),
        linked=False,
    )
    page.extra["rows"] = [
        {
            "label": row.label,
            "received": count_text(row.totals.received),
            "frt_median": duration_text(row.totals.first_response.median),
            "frt_p90": duration_text(row.totals.first_response.p90),
            "frt_business": duration_text(row.totals.first_response.business_median),
            "res_median": duration_text(row.totals.resolution.median),
            "sla": share_text(row.totals.sla_share),
            "breaches": count_text(row.totals.breaches),
            "reopened": count_text(row.totals.reopened),
        }
        for row in rows
    ]
    page.extra["split"] = SPLIT_NAMES[scope.by]
    return page


# --- Routing ------------------------------------------------------------------------------------------------


def routing_build(user: Any, scope: Scope) -> ReportPage:
    report = selectors.report_routing(user=user, filters=scope.filters)
    received = sum(c.received for c in report.matrix)
    moved_auto = sum(c.moved_auto for c in report.matrix)
    moved_agent = sum(c.moved_by_agent for c in report.matrix)
    routed = sum(v or 0 for v in report.routed.values)
    corrections = sum(v or 0 for v in report.corrections.values)
    page = ReportPage(
        stats=[
            Stat("Received", count_text(received)),
            Stat("Moved by routing", count_text(moved_auto)),
            Stat("Moved by an agent", count_text(moved_agent)),
            Stat("Corrections per 100 routed", "—" if not routed else f"{100 * corrections / routed:.1f}"),
            Stat("Escalations", count_text(report.escalations)),
            Stat("Time to accept, mean", duration_text(report.mean_seconds_to_accept)),
        ]
    )
    channel_slugs = dict(
        Channel.objects.filter(pk__in=[c for c, _ in report.channels]).values_list("pk", "slug")
    )
    cells = {(c.channel_id, c.team_id): c for c in report.matrix}
    rows = [
        Label(name, {"channel": channel_slugs[pk]} if pk in channel_slugs else {})
        for pk, name in report.channels
    ]
    columns = [Label(name, {"team": pk} if pk else {}) for pk, name in report.owners]
    counts, shares = [], []
    for channel_id, _ in report.channels:
        count_row, share_row = [], []
        for team_id, _ in report.owners:
            cell = cells.get((channel_id, team_id))
            moved = (cell.moved_auto + cell.moved_by_agent) if cell else 0
            count_row.append(cell.received if cell else 0)
            share_row.append(100 * cell.moved_auto / moved if cell and moved else None)
        counts.append(count_row)
        shares.append(share_row)
    # A cell links only when the inbox can name both its account and its team.
    linked = all(row.filters for row in rows) and all(column.filters for column in columns)
    page.charts["misroutes"] = Matrix(
        kind=MatrixKind.MATRIX,
        title="Where posts arrived and who owned them",
        rows=rows,
        columns=columns,
        cells=counts,
        shares=shares,
        share_label="of the moved, by routing",
        row_label="Arrival account",
        column_label="Owning team",
        unit="posts",
        description=(
            "Rows are the brand account a post arrived on, columns the team that owned it; under a count, "
            "the share of the moved posts that routing moved (the rest an agent re-routed)."
        ),
        filters=_range_filters(scope),
        linked=linked,
    )
    page.charts["escalations"] = Chart(
        kind=Kind.BARS,
        title="Escalations",
        x=["Opened", "Accepted", "Bounced", "Timed out to the lead"],
        series=[Series("Escalations", [report.escalations, report.accepted, report.bounced, report.to_lead])],
        x_label="Outcome",
        y_label="Escalations",
        unit="escalations",
        linked=False,  # the inbox filters by open escalations only
    )
    common = (report.buckets, report.granularity, scope)
    page.charts["correction_rate"] = _time_chart(
        Kind.LINE,
        "Corrections per 100 routed posts",
        *common,
        [Series("Corrections per 100 routed", _values(report.corrections_per_100), linked=False)],
        y_label="Per 100 routed",
        precision=1,
        description="Re-routes and bounces per 100 posts routing decided: routing's error rate.",
    )
    page.charts["corrected_intents"] = Chart(
        kind=Kind.BARS,
        title="Intents most often corrected",
        x=[name.replace("_", " ") or "none" for name, _ in report.corrected_intents],
        series=[Series("Corrections", [count for _, count in report.corrected_intents])],
        x_label="Intent routing gave",
        y_label="Corrections",
        unit="corrections",
        linked=False,  # the inbox filters by the intent a post has now, not the one routing gave
    )
    page.charts["rules"] = Chart(
        kind=Kind.BARS,
        title="Rules by how often they fired",
        x=[name for _, name, _ in report.rules],
        series=[Series("Times fired", [count for _, _, count in report.rules])],
        x_label="Rule",
        y_label="Times fired",
        unit="posts",
        linked=False,  # the inbox has no filter by rule
    )
    return page


# --- Sentiment ----------------------------------------------------------------------------------------------


def _sentiment_series(counts: Sequence[selectors.Series], extra: dict[str, Any]) -> list[Series]:
    out = []
    for series in counts:
        name = series.key.rpartition(":")[2]
        out.append(
            Series(series.label, _values(series), {**extra, "sentiment": name}, style=SENTIMENT_STYLES[name])
        )
    return out


def sentiment_build(user: Any, scope: Scope) -> ReportPage:
    report = selectors.report_sentiment(user=user, filters=scope.filters, by=scope.by)
    common = (report.buckets, report.granularity, scope)
    totals = [sum(v or 0 for v in series.values) for series in report.counts]
    whole = sum(totals)
    page = ReportPage(
        stats=[
            Stat(label, "—" if not whole else f"{100 * n / whole:.1f}%")
            for label, n in zip(("Negative", "Neutral", "Positive"), totals, strict=True)
        ]
    )
    page.charts["sentiment"] = _time_chart(
        Kind.SHARE,
        "Sentiment",
        *common,
        _sentiment_series(report.counts, {}),
        y_label="Share of mentions",
        unit="posts",
        description="The share of negative, neutral and positive mentions among those that arrived.",
    )
    keys = _split_filters(scope.by, [key for key, *_ in report.groups])
    split = SPLIT_NAMES[scope.by].lower()
    for (key, label, *_), counts in list(zip(report.groups, report.group_counts, strict=True))[
        :SENTIMENT_GROUPS
    ]:
        if keys[key] is None:
            continue
        page.charts[f"sentiment_{scope.by}_{key}"] = _time_chart(
            Kind.SHARE,
            f"Sentiment, {label}",
            *common,
            _sentiment_series(counts, keys[key]),
            y_label="Share of mentions",
            unit="posts",
            description=f"The share of negative, neutral and positive mentions of this {split}.",
        )
    return page


# --- People at work -----------------------------------------------------------------------------------------


def people_build(user: Any, scope: Scope) -> ReportPage:
    report = selectors.report_people(user=user, filters=scope.filters)
    agents = list(report.agents)
    range_filters = {"team": scope.link_filters["team"]} if "team" in scope.link_filters else {}
    range_filters |= {"since": scope.since, "until": scope.until}
    page = ReportPage(
        stats=[
            Stat("Handled", count_text(sum(a.handled for a in agents))),
            Stat("Replies", count_text(sum(a.replies for a in agents))),
            Stat("Open now", count_text(sum(a.open_load for a in agents))),
            Stat("Away now", count_text(sum(1 for a in agents if a.away_since is not None))),
        ]
    )
    names = [a.name for a in agents]
    page.charts["agents_work"] = Chart(
        kind=Kind.BARS,
        title="Handled and replies per person",
        x=names,
        series=[
            # closed while theirs; the inbox lists their closed posts that arrived in the range
            Series("Handled", [a.handled for a in agents], {"status": "closed"}),
            Series("Replies", [a.replies for a in agents], linked=False),
        ],
        x_label="Person",
        y_label="Mentions",
        unit="posts",
        filters=range_filters,
        x_filters=[{"assignee": str(a.user_id)} for a in agents],
    )
    page.charts["agents_load"] = Chart(
        kind=Kind.BARS,
        title="Open load and capacity per person (now)",
        x=names,
        series=[
            Series("Open load", [a.open_load for a in agents]),
            Series("Capacity", [a.capacity for a in agents], linked=False),
        ],
        x_label="Person",
        y_label="Mentions",
        unit="posts",
        # what they hold now, whenever it arrived: new, open and pending (the inbox's status filter takes one)
        linked=False,
    )
    teams = list(report.teams)
    page.charts["teams_backlog"] = Chart(
        kind=Kind.BARS,
        title="Open backlog per team",
        x=[t.name for t in teams],
        series=[Series("Open backlog", [t.backlog for t in teams])],
        x_label="Team",
        y_label="Open mentions",
        unit="posts",
        linked=False,  # open at the end of the range, whenever they arrived
    )
    page.charts["teams_sla"] = Chart(
        kind=Kind.BARS,
        title="Answered within SLA per team",
        x=[t.name for t in teams],
        series=[Series("Answered within SLA", [_percent(t.sla_share) for t in teams])],
        x_label="Team",
        y_label="% of first responses",
        unit="%",
        precision=1,
        filters={"since": scope.since, "until": scope.until},
        x_filters=[{"team": t.team_id} if t.team_id else {} for t in teams],
        linked=all(t.team_id for t in teams),
    )
    page.extra["agents"] = [
        {
            "name": a.name,
            "handled": count_text(a.handled),
            "replies": count_text(a.replies),
            "frt_median": duration_text(a.first_response.median),
            "frt_p90": duration_text(a.first_response.p90),
            "load": f"{a.open_load} of {a.capacity}" if a.capacity else str(a.open_load),
            "over": a.capacity and a.open_load > a.capacity,
            "away_since": a.away_since,
        }
        for a in agents
    ]
    page.extra["teams"] = [
        {
            "name": t.name,
            "backlog": count_text(t.backlog),
            "sla": share_text(t.sla_share),
            "breaches": t.breaches,
        }
        for t in teams
    ]
    return page


# --- The pages ----------------------------------------------------------------------------------------------

REPORTS = {
    report.slug: report
    for report in (
        Report(
            "overview",
            "Overview",
            "Volume over time, new against handled and the open backlog, against the period before.",
            "reports/report.html",
            overview_build,
            ("segment", "channel", "network", "intent", "kind"),
        ),
        Report(
            "responsiveness",
            "Responsiveness",
            "First response and resolution times, the SLA, breaches and reopened mentions.",
            "reports/responsiveness.html",
            responsiveness_build,
            ("team", "segment", "channel", "network", "priority"),
        ),
        Report(
            "routing",
            "Routing",
            "Where posts arrived against who owned them, escalations and how often people corrected routing.",
            "reports/report.html",
            routing_build,
        ),
        Report(
            "sentiment",
            "Sentiment",
            "The share of negative, neutral and positive mentions over time.",
            "reports/report.html",
            sentiment_build,
            ("segment", "channel"),
        ),
        Report(
            "people",
            "People at work",
            "What each person handled and holds, and each team's backlog and SLA.",
            "reports/people.html",
            people_build,
        ),
    )
}


def _csv_suffix(scope: Scope) -> str:
    return f"{scope.since.isoformat()}_{scope.until.isoformat()}"


def _csv_url(request: HttpRequest, name: str) -> str:
    query = request.GET.copy()
    query["csv"] = name
    return f"{request.path}?{query.urlencode()}"


def _carry_query(request: HttpRequest) -> str:
    """The range and filters, for the links to the other reports (each report has its own splits)."""
    query = request.GET.copy()
    for name in ("csv", "by"):
        query.pop(name, None)
    return query.urlencode()


def _report_view(slug: str) -> Callable[[HttpRequest], HttpResponse]:
    report = REPORTS[slug]

    @login_required
    @require_GET
    def view(request: HttpRequest) -> HttpResponse:
        splits = tuple((name, SPLIT_NAMES[name]) for name in report.splits)
        if connection.vendor != "postgresql":
            # The selectors' SQL is PostgreSQL's (date_trunc, ANY, time zones); the embedded SQLite default
            # keeps the rollups but cannot read them.
            try:
                selectors.report_team_scope(request.user)
            except ReportAccessDenied as denied:
                raise PermissionDenied(str(denied)) from denied
            return render(
                request,
                "reports/report.html",
                {"report": report, "reports": REPORTS.values(), "needs_postgresql": True},
            )
        query = request.GET.copy()
        wanted_csv = query.pop("csv", [""])[-1]
        try:
            form = ReportFilterForm(query or None, user=request.user, splits=splits)
        except ReportAccessDenied as denied:
            raise PermissionDenied(str(denied)) from denied
        page: ReportPage | None = None
        scope: Scope | None = None
        if not form.is_bound or form.is_valid():
            scope = form.scope()
            try:
                page = report.build(request.user, scope)
            except ReportAccessDenied as denied:
                raise PermissionDenied(str(denied)) from denied
        if wanted_csv:
            if page is None or scope is None or wanted_csv not in page.charts:
                raise Http404("No such chart on this report.")
            return chart_csv_response(page.charts[wanted_csv], suffix=_csv_suffix(scope))
        charts = [
            {"name": name, "chart": chart_render(chart), "csv_url": _csv_url(request, name)}
            for name, chart in (page.charts.items() if page else ())
        ]
        return render(
            request,
            report.template,
            {
                "report": report,
                "reports": REPORTS.values(),
                "form": form,
                "scope": scope,
                "page": page,
                "charts": {c["name"]: c for c in charts},
                "chart_list": charts,
                "is_empty": bool(charts) and all(c["chart"].is_empty for c in charts),
                "digest_enabled": digest_enabled(user=request.user),
                "carry_query": _carry_query(request),
            },
        )

    view.__name__ = f"{slug}_report"
    view.__doc__ = f"The {report.title} report; a 403 to anyone but team leads and admins."
    return view


overview = _report_view("overview")
responsiveness = _report_view("responsiveness")
routing = _report_view("routing")
sentiment = _report_view("sentiment")
people = _report_view("people")


@login_required
@require_POST
def digest(request: HttpRequest) -> HttpResponse:
    """Switch the weekly digest email on or off for the signed-in lead or admin."""
    try:
        selectors.report_team_scope(request.user)
    except ReportAccessDenied as denied:
        raise PermissionDenied(str(denied)) from denied
    enabled = request.POST.get("enabled") == "on"
    digest_set(user=request.user, enabled=enabled)
    if enabled and not request.user.email:
        messages.warning(
            request, "Weekly digest on, but your account has no email address: add one on the Account page."
        )
    else:
        messages.success(
            request, "Weekly digest on: it comes every Monday morning." if enabled else "Weekly digest off."
        )
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("reports:overview")
    return redirect(back)
