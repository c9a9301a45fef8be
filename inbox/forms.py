"""Forms of the inbox pages: the list's filters and the triage actions' inputs."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from channels.connectors.base import EARLIEST_POST_AT
from channels.connectors.registry import network_choices
from channels.models import Channel, Segment
from inbox.canned import unknown_placeholders
from inbox.models import Mention
from inbox.selectors import DEFAULT_QUEUE, QUEUES, InboxFilters
from routing.facts import AUTHOR_SEGMENTS, INTENTS
from teams.models import Team

YES_NO = [("", "Any"), ("yes", "Yes"), ("no", "No")]
# What the API has always accepted beside yes and no.
_YES_NO_SPELLINGS = {"yes": "yes", "true": "yes", "1": "yes", "no": "no", "false": "no", "0": "no"}
_PRIORITY_NAMES = {choice.name.lower(): str(choice.value) for choice in Mention.Priority}

ID_MAX = 2**63 - 1  # ids are PostgreSQL bigints; a longer number is no id, and would not fit a query
_ASCII_ID = re.compile(r"[0-9]{1,19}")
# Filter dates: nothing was posted before 2006; a year ahead is room for a view saved for a coming event,
# and keeps the day after the last one (which the list filters on) a date Python can hold.
FILTER_DATE_AHEAD = timedelta(days=366)


def ascii_id(value: Any) -> int | None:
    """``value`` as an id when it is written in ASCII digits and fits a bigint, else None.

    ``int()`` alone reads "٣" as 3 and raises on "²" (a digit to ``str.isdigit``), so ids from a query
    string or a form are read here.
    """
    text = str(value).strip() if value is not None else ""
    if not _ASCII_ID.fullmatch(text) or int(text) > ID_MAX:
        return None
    return int(text)


def _network_choices() -> list[tuple[str, str]]:
    return [("", "Any network"), *network_choices()]


class FilterDateField(forms.DateField):
    """A day to filter on: from 2006 (no post is older) to a year from today. A date outside that would
    filter nothing more, and near year 9999 it cannot even be turned into a time to compare with."""

    widget = forms.DateInput(attrs={"type": "date"})

    def validate(self, value: date | None) -> None:
        super().validate(value)
        if value is None:
            return
        earliest = EARLIEST_POST_AT.date()
        latest = timezone.localdate() + FILTER_DATE_AHEAD
        if value < earliest:
            raise forms.ValidationError(
                f"Choose a day from {earliest} on: no post is older.", code="too_early"
            )
        if value > latest:
            raise forms.ValidationError(
                f"Choose a day up to {latest}: no post is dated later.", code="too_late"
            )


class AsciiIdModelChoiceField(forms.ModelChoiceField):
    """A model chosen by id, the id written in ASCII digits."""

    def to_python(self, value: Any) -> Any:
        if value in self.empty_values:
            return None
        if ascii_id(value) is None:
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class YesNoField(forms.ChoiceField):
    """Yes, no or any; true/false and 1/0 are read as yes and no."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=YES_NO, required=False, **kwargs)

    def to_python(self, value: Any) -> str:
        value = super().to_python(value).strip().lower()
        return _YES_NO_SPELLINGS.get(value, value)


class PriorityFilterField(forms.TypedChoiceField):
    """A priority by value (10, 20, 30, 40) or by name (low, normal, high, urgent)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            choices=[("", "Any priority"), *Mention.Priority.choices],
            coerce=int,
            empty_value=None,
            required=False,
            **kwargs,
        )

    def to_python(self, value: Any) -> str:
        value = super().to_python(value).strip().lower()
        return _PRIORITY_NAMES.get(value, value)


def _field_name(form: forms.Form, name: str) -> str:
    if name not in form.fields:
        return "Filters"
    return str(form[name].label)


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def _segment_choices() -> list[tuple[str, str]]:
    return [("", "Any segment"), *Segment.objects.values_list("slug", "name")]


def _channel_choices() -> list[tuple[str, str]]:
    return [("", "Any account"), *Channel.objects.order_by("handle").values_list("slug", "handle")]


class InboxFilterForm(forms.Form):
    """The list's queue and filters, from a query string or a saved view: the one check of them for the
    pages, the API and saved views. A bad value is named, and nothing is listed until it is put right."""

    queue = forms.ChoiceField(choices=list(QUEUES.items()), required=False)
    q = forms.CharField(required=False, max_length=200, label="Search")
    team = AsciiIdModelChoiceField(queryset=Team.objects.all(), required=False, empty_label="Any team")
    # Callables: read from the database only when a page shows the field or a request filters by it.
    segment = forms.ChoiceField(required=False, choices=_segment_choices)
    channel = forms.ChoiceField(required=False, choices=_channel_choices)
    network = forms.ChoiceField(choices=_network_choices, required=False)
    kind = forms.ChoiceField(choices=[("", "Any kind"), *Mention.Kind.choices], required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *Mention.Status.choices], required=False)
    intent = forms.ChoiceField(
        choices=[("", "Any intent"), *((i, i.replace("_", " ")) for i in INTENTS)], required=False
    )
    sentiment = forms.ChoiceField(
        choices=[("", "Any sentiment"), *Mention.SentimentLabel.choices], required=False
    )
    priority = PriorityFilterField()
    assignee = forms.CharField(required=False, max_length=20)
    label = forms.CharField(required=False, max_length=40)
    author_segment = forms.ChoiceField(
        choices=[("", "Any author segment"), *((s, s.capitalize()) for s in AUTHOR_SEGMENTS)], required=False
    )
    misdirected = YesNoField()
    escalated = YesNoField()
    since = FilterDateField(required=False)
    until = FilterDateField(required=False)

    def clean_assignee(self) -> str:
        value = self.cleaned_data["assignee"].strip().lower()
        if value in ("", "me", "none"):
            return value
        person = ascii_id(value)
        if person is None:
            raise forms.ValidationError("Choose me, none or a person (by user id, in digits 0-9).")
        return str(person)

    def problems(self) -> str:
        """The errors in one line, each after the name of its filter, for a 400 answer or a message."""
        return "; ".join(
            f"{_field_name(self, name)}: {' '.join(errors)}" for name, errors in self.errors.items()
        )

    def clean(self) -> dict:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return data

    def filters(self) -> InboxFilters:
        """The valid filters; call after is_valid(). Invalid fields are left out: list nothing with them
        (the pages and the API answer 400 instead), but the rest still fills the form and the links."""
        data = {name: value for name, value in self.cleaned_data.items() if name not in self.errors}
        team = data.get("team")
        return InboxFilters(
            queue=data.get("queue") or DEFAULT_QUEUE,
            team=team.pk if team else None,
            segment=data.get("segment") or "",
            channel=data.get("channel") or "",
            network=data.get("network") or "",
            kind=data.get("kind") or "",
            status=data.get("status") or "",
            intent=data.get("intent") or "",
            sentiment=data.get("sentiment") or "",
            priority=data.get("priority"),
            assignee=data.get("assignee") or "",
            label=(data.get("label") or "").strip().lower(),
            author_segment=data.get("author_segment") or "",
            misdirected=_yes_no(data.get("misdirected") or ""),
            escalated=_yes_no(data.get("escalated") or ""),
            since=data.get("since"),
            until=data.get("until"),
            q=(data.get("q") or "").strip(),
        )


class RerouteForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False, empty_label="Keep the team")
    intent = forms.ChoiceField(
        choices=[("", "Keep the intent"), *((i, i.replace("_", " ")) for i in INTENTS)], required=False
    )
    reason = forms.CharField(required=False, max_length=500)

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("team") and not data.get("intent"):
            raise forms.ValidationError("Choose the team or the intent it should have.")
        return data


class OwnerDecisionForm(forms.Form):
    """A lead's decision on a post routing was unsure of: no team keeps it where it is."""

    team = forms.ModelChoiceField(
        queryset=Team.objects.all(),
        required=False,
        error_messages={"invalid_choice": "That team does not exist any more; choose another."},
    )
    # Set by the "Move" forms: an empty team there is a forgotten choice, not "keep it".
    move = forms.BooleanField(required=False)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("move") and not data.get("team") and not self.errors:
            raise forms.ValidationError("Choose the team to move it to.")
        return data


class SnoozeForm(forms.Form):
    until = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        error_messages={
            "required": "Choose when it should come back.",
            "invalid": "That is not a date and time.",
        },
    )


class ReplyForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=10_000)
    is_direct = forms.BooleanField(required=False)
    seen_reply_id = forms.IntegerField(required=False, min_value=0)
    confirm = forms.BooleanField(required=False)


class BulkForm(forms.Form):
    ids = forms.TypedMultipleChoiceField(
        coerce=int, choices=[], error_messages={"required": "Select mentions first."}
    )
    action = forms.ChoiceField(
        choices=[
            ("assign", "Assign to"),
            ("unassign", "Unassign"),
            ("close", "Close"),
            ("reopen", "Reopen"),
            ("label", "Add label"),
            ("priority", "Set priority"),
            ("snooze", "Snooze until"),
            ("spam", "Mark as spam"),
            ("not_spam", "Not spam"),
            ("reroute", "Re-route to team"),
            ("accept_escalation", "Accept escalation"),
            ("bounce_escalation", "Bounce escalation back"),
        ]
    )
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True), required=False
    )
    labels = forms.CharField(required=False, max_length=200)
    priority = forms.TypedChoiceField(
        choices=Mention.Priority.choices, coerce=int, required=False, empty_value=None
    )
    until = SnoozeForm.base_fields["until"].__class__(
        required=False, input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
    )
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)
    intent = forms.ChoiceField(
        choices=[("", "Other"), *((i, i.replace("_", " ")) for i in INTENTS if i != Mention.SPAM_INTENT)],
        required=False,
    )
    reason = forms.CharField(required=False, max_length=500)
    # The bar's bounce reason has a name of its own: without JavaScript every parameter of the bar is sent,
    # and one ``reason`` for both would let the (empty) bounce box overwrite a re-route's reason.
    bounce_reason = forms.CharField(required=False, max_length=500)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Any integer is acceptable here; the selector decides which of them the user may touch.
        self.fields["ids"].valid_value = lambda value: ascii_id(value) is not None


class CannedResponseForm(forms.Form):
    """A canned response of one of the team's segments (the team page's canned responses)."""

    segment = forms.ModelChoiceField(queryset=Segment.objects.none(), empty_label=None)
    title = forms.CharField(max_length=120)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        max_length=2000,
        help_text="Placeholders: {author}, {author_name}, {agent}, {channel}.",
    )

    def __init__(self, *args: Any, segments: QuerySet[Segment], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = segments

    def clean_body(self) -> str:
        body = self.cleaned_data["body"]
        unknown = unknown_placeholders(body)
        if unknown:
            names = ", ".join(f"{{{name}}}" for name in unknown)
            raise forms.ValidationError(
                f"Unknown placeholder {names}: use {{author}}, {{author_name}}, {{agent}} or {{channel}}."
            )
        return body
