"""What the report pages show, read from the rollups only (never the mentions table), for one user.

Who sees what: admins every team (and mentions no team owns yet); team leads the teams they lead; others
nothing (``ReportAccessDenied``). Each selector takes the acting user and a ``ReportFilters`` (date range and
team, segment, account and network filters) and returns plain frozen dataclasses: time buckets and series of
numbers, tables of rows, ready to draw, to show as a table and to export as CSV.

Counts by arrival: a mention counts in the hour it arrived (its first response, SLA, escalations and
corrections with it); "handled" and resolution times count in the hour it was closed. A mention counts
under its current team, intent and priority. Times are in seconds, buckets and days in UTC.

Ranges up to three days are read by the hour (``HourRollup``); longer ones, and any split by intent, kind
or priority, by the whole day (``DayRollup``: a day partly in the range counts whole). A read that neither
filters nor groups by segment, account or network (the headline totals, by team, the heat map) reads the
same cells summed per team (``TeamHourRollup``, ``TeamDayRollup``): the same numbers from a tenth of the rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q, Sum
from django.utils import timezone

from channels.models import Channel, Segment
from inbox.models import Mention
from reports.latency import percentile
from reports.models import (
    BUCKETS,
    HISTOGRAMS,
    RULE,
    SPLITS,
    AgentDayRollup,
    DayRollup,
    HourRollup,
    LoadRollup,
    TallyRollup,
    TeamDayRollup,
    TeamHourRollup,
    histogram_columns,
)
from routing.models import Rule
from teams.models import Membership, Team
from teams.roles import user_is_admin, user_led_team_ids

HOUR, DAY, WEEK = "hour", "day", "week"
HOURLY_UP_TO = timedelta(days=3)  # longer ranges are drawn by day
DAILY_UP_TO = timedelta(days=120)  # ... and longer ones by week
DIMENSIONS = ("team", "segment", "channel", "network", "intent", "kind", "priority")
# The heat map covers the last four weeks of the range: each weekday and hour four times over, and a read of
# the hourly rollup that stays the same size however long the range.
HEAT_MAP_SPAN = timedelta(weeks=4)
TOP = 8  # series a chart shows by name; the rest are summed as "Other"
OTHER = "Other"
NO_TEAM = "No team"


class ReportAccessDenied(PermissionError):
    """Only team leads and admins read reports."""


@dataclass(frozen=True)
class ReportFilters:
    """The range [start, end) and the filters of a report; empty filters mean everything the user sees."""

    start: datetime
    end: datetime
    team_ids: tuple[int, ...] = ()
    segment_ids: tuple[int, ...] = ()
    channel_ids: tuple[int, ...] = ()
    networks: tuple[str, ...] = ()

    @property
    def granularity(self) -> str:
        length = self.end - self.start
        return HOUR if length <= HOURLY_UP_TO else DAY if length <= DAILY_UP_TO else WEEK

    def previous(self) -> ReportFilters:
        """The same filters over the period of the same length just before."""
        length = self.end - self.start
        return ReportFilters(
            self.start - length, self.start, self.team_ids, self.segment_ids, self.channel_ids, self.networks
        )


@dataclass(frozen=True)
class Series:
    """One line or bar series: a value per bucket of the report (None where there is nothing to measure)."""

    key: str
    label: str
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class Latency:
    """Median and 90th percentile, wall-clock and in business hours of the SLA calendar (seconds)."""

    count: int
    median: float | None
    p90: float | None
    business_median: float | None
    business_p90: float | None


@dataclass(frozen=True)
class Totals:
    received: int
    handled: int
    replied: int
    reopened: int
    breaches: int
    sla_share: float | None  # first responses within the SLA target, of those under a policy
    first_response: Latency
    resolution: Latency


@dataclass(frozen=True)
class Overview:
    buckets: tuple[datetime, ...]
    granularity: str
    by: str
    volume: tuple[Series, ...]  # received per bucket, one series per value of ``by``
    received: Series
    handled: Series
    backlog: Series  # open at the end of each bucket
    totals: Totals
    previous: Totals  # the period of the same length before


@dataclass(frozen=True)
class ResponsivenessRow:
    key: str
    label: str
    totals: Totals


@dataclass(frozen=True)
class Responsiveness:
    buckets: tuple[datetime, ...]
    granularity: str
    first_response_median: Series
    first_response_p90: Series
    business_first_response_median: Series
    resolution_median: Series
    resolution_p90: Series
    sla_share: Series
    breaches: Series
    reopened: Series
    totals: Totals
    by: str
    rows: tuple[ResponsivenessRow, ...]
    # weekday (0 Monday) x hour of day (UTC) of arrival over the last four weeks of the range (at most):
    # mentions and median first response (seconds)
    heat_counts: tuple[tuple[int, ...], ...]
    heat_first_response: tuple[tuple[float | None, ...], ...]


@dataclass(frozen=True)
class MisrouteCell:
    channel_id: int
    team_id: int
    received: int
    moved_auto: int
    moved_by_agent: int


@dataclass(frozen=True)
class Routing:
    buckets: tuple[datetime, ...]
    granularity: str
    channels: tuple[tuple[int, str], ...]  # matrix rows: the account a post arrived on
    owners: tuple[tuple[int, str], ...]  # matrix columns: the team that owned it, named by its segments
    matrix: tuple[MisrouteCell, ...]
    escalations: int
    accepted: int
    bounced: int
    to_lead: int
    mean_seconds_to_accept: float | None
    routed: Series
    corrections: Series
    corrections_per_100: Series
    corrected_intents: tuple[tuple[str, int], ...]  # the intent routing gave, most corrected first
    rules: tuple[tuple[int, str, int], ...]  # rule id, name, times fired; most first


@dataclass(frozen=True)
class Sentiment:
    buckets: tuple[datetime, ...]
    granularity: str
    by: str
    # per value of ``by``: shares (0 to 1) negative, neutral, positive per bucket
    groups: tuple[tuple[str, str, Series, Series, Series], ...]
    negative: Series
    neutral: Series
    positive: Series
    # The counts behind the shares (a share chart draws counts, and its table shows their totals): overall,
    # and per value of ``by`` in the order of ``groups``.
    counts: tuple[Series, ...] = ()
    group_counts: tuple[tuple[Series, ...], ...] = ()


@dataclass(frozen=True)
class AgentRow:
    user_id: int
    name: str
    handled: int
    replies: int
    first_response: Latency
    open_load: int
    capacity: int
    away_since: datetime | None


@dataclass(frozen=True)
class TeamRow:
    team_id: int
    name: str
    backlog: int
    sla_share: float | None
    breaches: int


@dataclass(frozen=True)
class People:
    agents: tuple[AgentRow, ...]
    teams: tuple[TeamRow, ...]


# --- Access and filters -------------------------------------------------------------------------------------


def report_team_scope(user: Any) -> frozenset[int] | None:
    """The teams the user may read reports of; None for every team (admins)."""
    if not getattr(user, "is_authenticated", False):
        raise ReportAccessDenied("Sign in to read reports.")
    if user_is_admin(user):
        return None
    led = frozenset(user_led_team_ids(user))
    if not led:
        raise ReportAccessDenied("Reports are for team leads and admins.")
    return led


def _teams(user: Any, filters: ReportFilters) -> list[int] | None:
    """The teams a read covers: the filter within the user's scope; None for all (admins, no filter)."""
    scope = report_team_scope(user)
    teams = set(filters.team_ids)
    if scope is not None:
        teams = (teams & scope) if teams else set(scope)
        if not teams:
            teams = {-1}  # filtered to teams the user does not lead: nothing
    return sorted(teams) if teams else None


@dataclass(frozen=True)
class _Read:
    """One read of a rollup: its table, WHERE clause and parameters, the SQL of a row's bucket, and the
    buckets of the report."""

    table: str
    where: str
    params: tuple[Any, ...]
    bucket: str
    granularity: str
    buckets: tuple[datetime, ...]

    def rows(self, select: str, *, group: str = "", order: str = "") -> list[tuple]:
        sql = f"SELECT {select} FROM {self.table} WHERE {self.where}"  # noqa: S608  (our names)
        if group:
            sql += f" GROUP BY {group}"
        if order:
            sql += f" ORDER BY {order}"
        return _rows(sql, self.params)


def _read(
    user: Any,
    filters: ReportFilters,
    *,
    split: str = "",
    hourly: bool = False,
    since_ever: bool = False,
    teams_only: bool = False,
) -> _Read:
    """The read of ``filters`` for ``user``: by the hour for short ranges (or ``hourly``), else by the day;
    ``split``: the day table's split by intent, kind or priority. ``since_ever``: from the first row on,
    up to the end of the range. ``teams_only``: the caller selects no dimension but ``team_id``, so
    without a segment, account or network filter the team rollups answer."""
    granularity = filters.granularity
    by_hour = hourly or (granularity == HOUR and not split)
    if granularity == HOUR and not by_hour:
        granularity = DAY
    per_team = (
        teams_only and not split and not (filters.segment_ids or filters.channel_ids or filters.networks)
    )
    clauses: list[str] = []
    params: list[Any] = []
    if by_hour:
        table = (TeamHourRollup if per_team else HourRollup)._meta.db_table
        clauses.append("hour < %s")
        params.append(filters.end)
        if not since_ever:
            clauses.append("hour >= %s")
            params.append(filters.start)
        bucket = f"date_trunc('{granularity}', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    else:
        if per_team:
            table = TeamDayRollup._meta.db_table
        else:
            table = DayRollup._meta.db_table
            clauses.append("dim = %s")
            params.append(split)
        clauses.append("day < %s")
        params.append(_end_day(filters.end))
        if not since_ever:
            clauses.append("day >= %s")
            params.append(filters.start.astimezone(UTC).date())
        day = "day" if granularity == DAY else "date_trunc('week', day)::date"
        bucket = f"({day})::timestamp AT TIME ZONE 'UTC'"
    teams = _teams(user, filters)
    if teams is not None:
        clauses.append("team_id = ANY(%s)")
        params.append(teams)
    for column, values in (
        ("segment_id", filters.segment_ids),
        ("channel_id", filters.channel_ids),
        ("network", filters.networks),
    ):
        if values:
            clauses.append(f"{column} = ANY(%s)")
            params.append(list(values))
    return _Read(
        table, " AND ".join(clauses), tuple(params), bucket, granularity, _buckets(filters, granularity)
    )


def _rows(sql: str, params: Sequence[Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _buckets(filters: ReportFilters, granularity: str) -> tuple[datetime, ...]:
    step = {HOUR: timedelta(hours=1), DAY: timedelta(days=1), WEEK: timedelta(weeks=1)}[granularity]
    out, at = [], _truncate(filters.start, granularity)
    while at < filters.end:
        out.append(at)
        at += step
    return tuple(out)


def _truncate(when: datetime, granularity: str) -> datetime:
    when = when.astimezone(UTC)
    if granularity == HOUR:
        return when.replace(minute=0, second=0, microsecond=0)
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday()) if granularity == WEEK else day


def day_start(day: date) -> datetime:
    """The start of ``day`` in UTC, the zone of the rollups' hours and days."""
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def _end_day(end: datetime) -> date:
    """The first day not in a range ending at ``end`` (a day partly in the range counts)."""
    end = end.astimezone(UTC)
    day = end.date()
    return day if end == datetime.combine(day, datetime.min.time(), tzinfo=UTC) else day + timedelta(days=1)


def _series(
    key: str, label: str, buckets: Sequence[datetime], values: dict[datetime, float | None]
) -> Series:
    return Series(key, label, tuple(values.get(b) for b in buckets))


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


# --- Totals -------------------------------------------------------------------------------------------------

_TOTAL_COLUMNS = (
    "received",
    "handled",
    "replied",
    "reopened",
    "breaches",
    "sla_measured",
    "sla_answered",
    "frt_count",
)
_HISTOGRAM_COLUMNS = tuple(c for h in HISTOGRAMS for c in histogram_columns(h))
_SUMS = ", ".join(f"coalesce(sum({c}), 0)" for c in (*_TOTAL_COLUMNS, *_HISTOGRAM_COLUMNS))


# Where each histogram starts among _HISTOGRAM_COLUMNS (a totals row holds them in that order).
_HISTOGRAM_AT = {h: _HISTOGRAM_COLUMNS.index(histogram_columns(h)[0]) for h in HISTOGRAMS}


def _latency(histograms: Sequence[int], wall: str, business: str) -> Latency:
    w = [int(n) for n in histograms[_HISTOGRAM_AT[wall] : _HISTOGRAM_AT[wall] + BUCKETS]]
    b = [int(n) for n in histograms[_HISTOGRAM_AT[business] : _HISTOGRAM_AT[business] + BUCKETS]]
    return Latency(sum(w), percentile(w, 0.5), percentile(w, 0.9), percentile(b, 0.5), percentile(b, 0.9))


def _totals(row: Sequence[int]) -> Totals:
    values = {k: int(v) for k, v in zip(_TOTAL_COLUMNS, row[: len(_TOTAL_COLUMNS)], strict=True)}
    histograms = row[len(_TOTAL_COLUMNS) :]
    return Totals(
        received=values["received"],
        handled=values["handled"],
        replied=values["replied"],
        reopened=values["reopened"],
        breaches=values["breaches"],
        sla_share=_ratio(values["sla_answered"], values["sla_measured"]),
        first_response=_latency(histograms, "frt_w", "frt_b"),
        resolution=_latency(histograms, "res_w", "res_b"),
    )


def report_totals(*, user: Any, filters: ReportFilters) -> Totals:
    """The headline numbers of the range."""
    (row,) = _read(user, filters, teams_only=True).rows(_SUMS)
    return _totals(row)


# --- Labels of dimension values -----------------------------------------------------------------------------


def _labels(by: str, keys: Sequence[Any]) -> dict[Any, str]:
    if by == "team":
        names = dict(Team.objects.filter(pk__in=keys).values_list("pk", "name"))
        return {k: names.get(k, NO_TEAM) for k in keys}
    if by == "segment":
        names = dict(Segment.objects.filter(pk__in=keys).values_list("pk", "name"))
        return {k: names.get(k, "No segment") for k in keys}
    if by == "channel":
        names = dict(Channel.objects.filter(pk__in=keys).values_list("pk", "handle"))
        return {k: names.get(k, "No account") for k in keys}
    if by == "priority":
        priorities = {str(value): label for value, label in Mention.Priority.choices}
        return {k: priorities.get(str(k), str(k)) for k in keys}
    if by == "kind":
        return {k: dict(Mention.Kind.choices).get(k, k) for k in keys}
    return {k: (str(k).replace("_", " ") or "none") for k in keys}


def _column(by: str) -> tuple[str, str]:
    """The column of a dimension, and the day table's split it needs ("" for none)."""
    if by not in DIMENSIONS:
        raise ValueError(f"Unknown dimension {by!r}; expected one of {', '.join(DIMENSIONS)}.")
    if by in SPLITS:
        return "value", by
    return ("network" if by == "network" else f"{by}_id"), ""


# --- Overview -----------------------------------------------------------------------------------------------


def report_overview(*, user: Any, filters: ReportFilters, by: str = "segment") -> Overview:
    """Volume over time by ``by``, new vs handled, the open backlog, and the totals against the period
    before."""
    column, split = _column(by)
    read = _read(user, filters, split=split)
    per_value: dict[Any, dict[datetime, float]] = defaultdict(lambda: defaultdict(float))
    received: dict[datetime, float] = defaultdict(float)
    handled: dict[datetime, float] = defaultdict(float)
    for bucket, value, r, h in read.rows(
        f"{read.bucket}, {column}, sum(received), sum(handled)", group="1, 2"
    ):
        per_value[value][bucket] += r
        received[bucket] += r
        handled[bucket] += h
    backlog, running = {}, float(_open_before(user, filters, read))
    for b in read.buckets:
        running += received.get(b, 0) - handled.get(b, 0)
        backlog[b] = running
    return Overview(
        buckets=read.buckets,
        granularity=read.granularity,
        by=by,
        volume=_top_series(by, per_value, read.buckets),
        received=_series("received", "New", read.buckets, received),
        handled=_series("handled", "Handled", read.buckets, handled),
        backlog=_series("backlog", "Open backlog", read.buckets, backlog),
        totals=report_totals(user=user, filters=filters),
        previous=report_totals(user=user, filters=filters.previous()),
    )


def _open_before(user: Any, filters: ReportFilters, read: _Read) -> int:
    """Mentions open when the first bucket of ``read`` begins: received before it, not handled before it.
    Whole days from the day table, and the hours of the first day from the hour table."""
    first = read.buckets[0] if read.buckets else _truncate(filters.start, read.granularity)
    first_day = datetime.combine(first.date(), datetime.min.time(), tzinfo=UTC)
    open_sum = "coalesce(sum(received) - sum(handled), 0)"
    ((days,),) = _read(user, _until(filters, first_day), since_ever=True, teams_only=True).rows(open_sum)
    hours = 0
    if first > first_day:
        hours_filters = ReportFilters(first_day, first, *_dims(filters))
        ((hours,),) = _read(user, hours_filters, hourly=True, teams_only=True).rows(open_sum)
    return int(days) + int(hours)


def _until(filters: ReportFilters, end: datetime) -> ReportFilters:
    """The filters over a range ending at ``end``, long enough to be read by the day (with ``since_ever``:
    every day before ``end``)."""
    return ReportFilters(end - DAILY_UP_TO - timedelta(days=1), end, *_dims(filters))


def _dims(filters: ReportFilters) -> tuple:
    return (filters.team_ids, filters.segment_ids, filters.channel_ids, filters.networks)


def _top_series(by: str, per_value: dict[Any, dict[datetime, float]], buckets: Sequence[datetime]) -> tuple:
    ranked = sorted(per_value, key=lambda v: (-sum(per_value[v].values()), str(v)))
    labels = _labels(by, ranked[:TOP])
    series = [_series(str(v), labels[v], buckets, per_value[v]) for v in ranked[:TOP]]
    if len(ranked) > TOP:
        other: dict[datetime, float] = defaultdict(float)
        for v in ranked[TOP:]:
            for b, n in per_value[v].items():
                other[b] += n
        series.append(_series("other", OTHER, buckets, other))
    return tuple(series)


# --- Responsiveness -----------------------------------------------------------------------------------------


def report_responsiveness(*, user: Any, filters: ReportFilters, by: str = "team") -> Responsiveness:
    """First response and resolution times (median, 90th percentile; wall-clock and business hours), the share
    answered within SLA, breaches and reopened mentions: over time, by ``by``, and as a weekday x hour of day
    heat map of arrivals."""
    column, split = _column(by)
    read = _read(user, filters, teams_only=by == "team")
    # One scan of the range summed three ways at once: per bucket, per value of ``by`` and in all.
    bucket_sums: dict[datetime, Sequence[int]] = {}
    value_sums: dict[Any, Sequence[int]] = {}
    all_sums: Sequence[int] = [0] * (len(_TOTAL_COLUMNS) + len(_HISTOGRAM_COLUMNS))
    value = column if not split else "0"
    for grouped, bucket, value_of, *sums in read.rows(
        f"grouping({read.bucket}, {value}), {read.bucket}, {value}, {_SUMS}",
        group="GROUPING SETS ((2), (3), ())",
    ):
        if grouped == 1:  # by bucket
            bucket_sums[bucket] = sums
        elif grouped == 2:  # by value
            value_sums[value_of] = sums
        else:
            all_sums = sums
    if split:
        value_sums = {
            row[0]: row[1:] for row in _read(user, filters, split=split).rows(f"value, {_SUMS}", group="1")
        }
    per_bucket = {b: _totals(sums) for b, sums in bucket_sums.items()}
    per_value = {v: _totals(sums) for v, sums in value_sums.items()}
    frt_w = ", ".join(f"sum({c})" for c in histogram_columns("frt_w"))
    heat_counts = [[0] * 24 for _ in range(7)]
    heat_frt: list[list[float | None]] = [[None] * 24 for _ in range(7)]
    heat_from = max(filters.start, filters.end - HEAT_MAP_SPAN)
    heat = _read(user, ReportFilters(heat_from, filters.end, *_dims(filters)), hourly=True, teams_only=True)
    for dow, hour_of_day, received, *histogram in heat.rows(
        "extract(isodow FROM hour AT TIME ZONE 'UTC')::int - 1, "
        f"extract(hour FROM hour AT TIME ZONE 'UTC')::int, sum(received), {frt_w}",
        group="1, 2",
    ):
        heat_counts[dow][hour_of_day] = int(received)
        heat_frt[dow][hour_of_day] = percentile([int(n) for n in histogram], 0.5)
    buckets = read.buckets

    def pick(name: str, label: str, get: Any) -> Series:
        return _series(name, label, buckets, {b: get(t) for b, t in per_bucket.items()})

    labels = _labels(by, list(per_value))
    ranked = sorted(per_value, key=lambda v: (-per_value[v].received, str(v)))
    return Responsiveness(
        buckets=buckets,
        granularity=read.granularity,
        first_response_median=pick("frt_median", "First response, median", lambda t: t.first_response.median),
        first_response_p90=pick("frt_p90", "First response, 90th percentile", lambda t: t.first_response.p90),
        business_first_response_median=pick(
            "frt_business_median",
            "First response in business hours, median",
            lambda t: t.first_response.business_median,
        ),
        resolution_median=pick("res_median", "Resolution, median", lambda t: t.resolution.median),
        resolution_p90=pick("res_p90", "Resolution, 90th percentile", lambda t: t.resolution.p90),
        sla_share=pick("sla_share", "Answered within SLA", lambda t: t.sla_share),
        breaches=pick("breaches", "SLA breaches", lambda t: t.breaches),
        reopened=pick("reopened", "Reopened", lambda t: t.reopened),
        totals=_totals(all_sums),
        by=by,
        rows=tuple(ResponsivenessRow(str(v), labels[v], per_value[v]) for v in ranked),
        heat_counts=tuple(tuple(row) for row in heat_counts),
        heat_first_response=tuple(tuple(row) for row in heat_frt),
    )


# --- Routing ------------------------------------------------------------------------------------------------


def report_routing(*, user: Any, filters: ReportFilters, top: int = 10) -> Routing:
    """The misroute matrix (receiving account x owning team), escalations, corrections per 100 routed posts
    over time, the intents most often corrected and the rules by how often they fired."""
    read = _read(user, filters)
    matrix = [
        MisrouteCell(*map(int, row))
        for row in read.rows(
            "channel_id, team_id, sum(received), sum(moved_auto), sum(moved_by_agent)",
            group="1, 2",
            order="1, 2",
        )
    ]
    # The escalations of the range and the corrections per bucket: one read of the team rollup, both ways.
    per_team = _read(user, filters, teams_only=True)
    routed: dict[datetime, float] = {}
    corrections: dict[datetime, float] = {}
    for grouped, bucket, r, c, *outcomes in per_team.rows(
        f"grouping({per_team.bucket}), {per_team.bucket}, sum(routed), sum(corrections), "
        "coalesce(sum(escalations), 0), coalesce(sum(esc_accepted), 0), coalesce(sum(esc_bounced), 0), "
        "coalesce(sum(esc_to_lead), 0), coalesce(sum(esc_accept_seconds), 0)",
        group="GROUPING SETS ((2), ())",
    ):
        if grouped:  # the whole range
            escalations, accepted, bounced, to_lead, accept_seconds = outcomes
        else:
            routed[bucket], corrections[bucket] = r, c
    per_100 = {b: (100 * corrections[b] / routed[b] if routed[b] else None) for b in routed}
    counted: dict[str, list[tuple[str, int]]] = {"intent": [], "rule": []}
    teams = _teams(user, filters)
    tally_sql = (
        f"SELECT what, name, sum(count) FROM {TallyRollup._meta.db_table} "  # noqa: S608
        "WHERE day >= %s AND day < %s" + (" AND team_id = ANY(%s)" if teams is not None else "")
    )
    tally_params: list[Any] = [filters.start.astimezone(UTC).date(), _end_day(filters.end)]
    if teams is not None:
        tally_params.append(teams)
    for what, name, count in _rows(tally_sql + " GROUP BY 1, 2 ORDER BY 3 DESC, 2", tally_params):
        if len(counted[what]) < top:
            counted[what].append((name, int(count)))
    fired = [(int(n), count) for n, count in counted[RULE] if n.isdigit()]
    rule_names = dict(Rule.objects.filter(pk__in=[n for n, _ in fired]).values_list("pk", "name"))
    channel_ids = sorted({c.channel_id for c in matrix})
    team_ids = sorted({c.team_id for c in matrix})
    buckets = read.buckets
    return Routing(
        buckets=buckets,
        granularity=read.granularity,
        channels=tuple(_labels("channel", channel_ids).items()),
        owners=tuple(_owner_labels(team_ids).items()),
        matrix=tuple(matrix),
        escalations=int(escalations),
        accepted=int(accepted),
        bounced=int(bounced),
        to_lead=int(to_lead),
        mean_seconds_to_accept=_ratio(accept_seconds, accepted),
        routed=_series("routed", "Routed", buckets, routed),
        corrections=_series("corrections", "Corrections", buckets, corrections),
        corrections_per_100=_series("corrections_per_100", "Corrections per 100 routed", buckets, per_100),
        corrected_intents=tuple(counted["intent"]),
        rules=tuple((n, rule_names.get(n, f"Rule {n}"), count) for n, count in fired),
    )


def _owner_labels(team_ids: Sequence[int]) -> dict[int, str]:
    """A team as the owner of posts: the names of the segments it owns, else its own name."""
    segments: dict[int, list[str]] = defaultdict(list)
    for team_id, name in (
        Segment.objects.filter(team_id__in=team_ids).order_by("position", "id").values_list("team_id", "name")
    ):
        segments[team_id].append(name)
    teams = _labels("team", team_ids)
    return {t: ", ".join(segments[t]) if segments[t] else teams[t] for t in team_ids}


# --- Sentiment ----------------------------------------------------------------------------------------------


def report_sentiment(*, user: Any, filters: ReportFilters, by: str = "segment") -> Sentiment:
    """The share of negative, neutral and positive mentions over time, overall and per value of ``by``
    (segment or account)."""
    column, split = _column(by)
    read = _read(user, filters, split=split)
    overall: dict[datetime, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    grouped: dict[Any, dict[datetime, list[float]]] = defaultdict(
        lambda: defaultdict(lambda: [0.0, 0.0, 0.0])
    )
    for bucket, value, *counts in read.rows(
        f"{read.bucket}, {column}, sum(negative), sum(neutral), sum(positive)", group="1, 2"
    ):
        for i, n in enumerate(counts):
            overall[bucket][i] += n
            grouped[value][bucket][i] += n
    buckets = read.buckets
    names = (("negative", "Negative"), ("neutral", "Neutral"), ("positive", "Positive"))

    def shares(counts: dict[datetime, list[float]], key: str) -> tuple[Series, Series, Series]:
        out = []
        for i, (name, label) in enumerate(names):
            values = {b: _ratio(c[i], sum(c)) for b, c in counts.items()}
            out.append(_series(f"{key}:{name}" if key else name, label, buckets, values))
        return out[0], out[1], out[2]

    def counted(counts: dict[datetime, list[float]], key: str) -> tuple[Series, Series, Series]:
        out = []
        for i, (name, label) in enumerate(names):
            values = {b: c[i] for b, c in counts.items()}
            out.append(_series(f"{key}:{name}" if key else name, label, buckets, values))
        return out[0], out[1], out[2]

    ranked = sorted(grouped, key=lambda v: (-sum(sum(c) for c in grouped[v].values()), str(v)))
    labels = _labels(by, ranked)
    negative, neutral, positive = shares(overall, "")
    return Sentiment(
        buckets=buckets,
        granularity=read.granularity,
        by=by,
        groups=tuple((str(v), labels[v], *shares(grouped[v], str(v))) for v in ranked),
        negative=negative,
        neutral=neutral,
        positive=positive,
        counts=counted(overall, ""),
        group_counts=tuple(counted(grouped[v], str(v)) for v in ranked),
    )


# --- People at work -----------------------------------------------------------------------------------------


def report_people(*, user: Any, filters: ReportFilters) -> People:
    """Per agent: mentions handled, replies, first response times, open load against capacity, away since;
    per team: open backlog and SLA attainment. Segment, account and network filters do not apply to people."""
    teams = _teams(user, filters)
    hist = ", ".join(f"sum({c})" for c in (*histogram_columns("frt_w"), *histogram_columns("frt_b")))
    sql = (
        f"SELECT user_id, sum(handled), sum(replies), {hist} FROM {AgentDayRollup._meta.db_table} "  # noqa: S608
        "WHERE day >= %s AND day < %s"
        + (" AND team_id = ANY(%s)" if teams is not None else "")
        + " GROUP BY 1"
    )
    params: list[Any] = [filters.start.astimezone(UTC).date(), _end_day(filters.end)]
    if teams is not None:
        params.append(teams)
    per_agent = _rows(sql, params)
    memberships = Membership.objects.all() if teams is None else Membership.objects.filter(team_id__in=teams)
    capacity: dict[int, int] = defaultdict(int)
    away: dict[int, datetime | None] = {}
    for user_id, cap, is_away, since in memberships.values_list(
        "user_id", "capacity", "is_away", "away_since"
    ):
        capacity[user_id] += cap
        if is_away:
            away[user_id] = since
    user_ids = sorted({row[0] for row in per_agent} | set(capacity))
    load = _open_load(user_ids, teams)
    names = {
        u.pk: u.get_full_name() or u.get_username() for u in get_user_model().objects.filter(pk__in=user_ids)
    }
    stats = {row[0]: row[1:] for row in per_agent}
    agents = []
    for user_id in user_ids:
        handled, replies, *histograms = stats.get(user_id, (0, 0, *([0] * (2 * BUCKETS))))
        w, b = [int(n) for n in histograms[:BUCKETS]], [int(n) for n in histograms[BUCKETS:]]
        agents.append(
            AgentRow(
                user_id=user_id,
                name=names.get(user_id, f"User {user_id}"),
                handled=int(handled),
                replies=int(replies),
                first_response=Latency(
                    sum(w), percentile(w, 0.5), percentile(w, 0.9), percentile(b, 0.5), percentile(b, 0.9)
                ),
                open_load=load.get(user_id, 0),
                capacity=capacity.get(user_id, 0),
                away_since=away.get(user_id),
            )
        )
    agents.sort(key=lambda a: (-a.handled, a.name))
    return People(agents=tuple(agents), teams=_team_rows(user, filters))


def _open_load(user_ids: Sequence[int], teams: list[int] | None) -> dict[int, int]:
    """Open mentions (new, open, pending) each person holds now, from the load rollup."""
    load = LoadRollup.objects.filter(user_id__in=user_ids)
    if teams is not None:
        load = load.filter(team_id__in=teams)
    return dict(load.values("user_id").annotate(n=Sum("open")).values_list("user_id", "n"))


def _team_rows(user: Any, filters: ReportFilters) -> tuple[TeamRow, ...]:
    read = _read(user, filters, teams_only=True)
    until = _read(user, _until(filters, filters.end), since_ever=True, teams_only=True)
    backlog = dict(until.rows("team_id, sum(received) - sum(handled)", group="1"))
    sla = {
        team: (answered, measured, breaches)
        for team, answered, measured, breaches in read.rows(
            "team_id, sum(sla_answered), sum(sla_measured), sum(breaches)", group="1"
        )
    }
    team_ids = sorted(set(backlog) | set(sla))
    names = _labels("team", team_ids)
    return tuple(
        TeamRow(
            team_id=t,
            name=names[t],
            backlog=int(backlog.get(t, 0)),
            sla_share=_ratio(*sla[t][:2]) if t in sla else None,
            breaches=int(sla[t][2]) if t in sla else 0,
        )
        for t in team_ids
    )


def rule_hits_by_window(rule_ids: Sequence[int], windows_days: Sequence[int]) -> dict[int, dict[int, int]]:
    """How often each rule fired in each window of days (today, UTC, and the days before it), summed over
    teams from the tally: one query over at most the longest window's days, whatever the mentions' number.
    Routing's rules page reads it through ``routing.hit_counts`` (registered in ``reports.apps``)."""
    if not rule_ids or not windows_days:
        return {}
    today = timezone.now().astimezone(UTC).date()
    since = {days: today - timedelta(days=days - 1) for days in windows_days}
    rows = (
        TallyRollup.objects.filter(
            what=RULE, name__in=[str(rule_id) for rule_id in rule_ids], day__gte=min(since.values())
        )
        .values("name")
        .annotate(**{f"hits_{days}": Sum("count", filter=Q(day__gte=day)) for days, day in since.items()})
    )
    return {int(row["name"]): {days: int(row[f"hits_{days}"] or 0) for days in windows_days} for row in rows}
