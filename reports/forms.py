"""The report pages' range and filters, read from the query string under the inbox's own names (since,
until, team, segment, channel, network), so a report's filters carry over to its links into the inbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from channels.models import Channel, Network, Segment
from reports.selectors import ReportFilters, day_start, report_team_scope
from teams.models import Team

DEFAULT_DAYS = 30  # a month: by the day, enough to see a week's rhythm twice over
MAX_DAYS = 731  # two years by the week is still a chart a person can read


@dataclass(frozen=True)
class Scope:
    """What a valid form asks for: the selectors' filters, the inbox filters every link of the page carries,
    the chosen split and the days of the range (both included)."""

    filters: ReportFilters
    link_filters: dict[str, Any]
    by: str
    since: date
    until: date


class ReportFilterForm(forms.Form):
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    team = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    segment = forms.ChoiceField(required=False)
    channel = forms.ChoiceField(required=False, label="Account")
    network = forms.ChoiceField(required=False)
    by = forms.ChoiceField(required=False, label="Split by")

    def __init__(
        self, *args: Any, user: Any, splits: tuple[tuple[str, str], ...] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        scope = report_team_scope(user)  # ReportAccessDenied for anyone but leads and admins
        teams = Team.objects.order_by("name")
        if scope is not None:
            teams = teams.filter(pk__in=scope)
        team_choices = list(teams.values_list("pk", "name"))
        self.led_team_ids = tuple(pk for pk, _ in team_choices)
        self.is_admin = scope is None
        if len(team_choices) > 1 or self.is_admin:
            self.fields["team"].choices = [("", "All my teams" if scope else "All teams"), *team_choices]
        else:
            del self.fields["team"]  # a lead of one team has nothing to choose
        self.fields["segment"].choices = [("", "All segments"), *Segment.objects.values_list("slug", "name")]
        self.fields["channel"].choices = [
            ("", "All accounts"),
            *Channel.objects.values_list("slug", "handle"),
        ]
        self.fields["network"].choices = [("", "All networks"), *Network.choices]
        if splits:
            self.fields["by"].choices = list(splits)
            self.splits = splits
        else:
            del self.fields["by"]
            self.splits = ()
        today = timezone.localdate()
        self.fields["since"].initial = today - timedelta(days=DEFAULT_DAYS - 1)
        self.fields["until"].initial = today

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        today = timezone.localdate()
        until = until or (since + timedelta(days=DEFAULT_DAYS - 1) if since and since < today else today)
        since = since or until - timedelta(days=DEFAULT_DAYS - 1)
        if since > until:
            raise forms.ValidationError("The range ends before it begins: swap the dates.")
        if (until - since).days + 1 > MAX_DAYS:
            raise forms.ValidationError(f"Pick a range of at most {MAX_DAYS} days.")
        data["since"], data["until"] = since, until
        return data

    def scope(self) -> Scope:
        """The selectors' filters and the links' inbox filters of a valid form (the defaults when unbound)."""
        data = self.cleaned_data if self.is_bound else self.clean_defaults()
        since, until = data["since"], data["until"]
        team = data.get("team")
        segment = data.get("segment") or ""
        channel = data.get("channel") or ""
        network = data.get("network") or ""
        link: dict[str, Any] = {}
        if team is not None:
            link["team"] = team
        elif not self.is_admin and len(self.led_team_ids) == 1:
            link["team"] = self.led_team_ids[0]  # the inbox would also list posts of teams only joined
        if segment:
            link["segment"] = segment
        if channel:
            link["channel"] = channel
        if network:
            link["network"] = network
        filters = ReportFilters(
            start=day_start(since),
            end=day_start(until + timedelta(days=1)),
            team_ids=(team,) if team is not None else (),
            segment_ids=tuple(Segment.objects.filter(slug=segment).values_list("pk", flat=True))
            if segment
            else (),
            channel_ids=tuple(Channel.objects.filter(slug=channel).values_list("pk", flat=True))
            if channel
            else (),
            networks=(network,) if network else (),
        )
        by = data.get("by") or (self.splits[0][0] if self.splits else "")
        return Scope(filters=filters, link_filters=link, by=by, since=since, until=until)

    def clean_defaults(self) -> dict[str, Any]:
        return {"since": self.fields["since"].initial, "until": self.fields["until"].initial}
