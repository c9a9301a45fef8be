"""Forms of the inbox pages: the list's filters and the triage actions' inputs."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from channels.models import Channel, Network, Segment
from inbox.models import Mention
from inbox.selectors import DEFAULT_QUEUE, QUEUES, InboxFilters
from routing.facts import INTENTS
from teams.models import Team

YES_NO = [("", "Any"), ("yes", "Yes"), ("no", "No")]


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def _segment_choices() -> list[tuple[str, str]]:
    return [("", "Any segment"), *Segment.objects.values_list("slug", "name")]


def _channel_choices() -> list[tuple[str, str]]:
    return [("", "Any account"), *Channel.objects.order_by("handle").values_list("slug", "handle")]


class InboxFilterForm(forms.Form):
    """The list's queue and filters, from the query string. Bad values are named, not ignored."""

    queue = forms.ChoiceField(choices=list(QUEUES.items()), required=False)
    q = forms.CharField(required=False, max_length=200, label="Search")
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False, empty_label="Any team")
    # Callables: read from the database only when a page shows the field or a request filters by it.
    segment = forms.ChoiceField(required=False, choices=_segment_choices)
    channel = forms.ChoiceField(required=False, choices=_channel_choices)
    network = forms.ChoiceField(choices=[("", "Any network"), *Network.choices], required=False)
    kind = forms.ChoiceField(choices=[("", "Any kind"), *Mention.Kind.choices], required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *Mention.Status.choices], required=False)
    intent = forms.ChoiceField(
        choices=[("", "Any intent"), *((i, i.replace("_", " ")) for i in INTENTS)], required=False
    )
    sentiment = forms.ChoiceField(
        choices=[("", "Any sentiment"), *Mention.SentimentLabel.choices], required=False
    )
    priority = forms.TypedChoiceField(
        choices=[("", "Any priority"), *Mention.Priority.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    assignee = forms.CharField(required=False, max_length=20)
    label = forms.CharField(required=False, max_length=40)
    misdirected = forms.ChoiceField(choices=YES_NO, required=False)
    escalated = forms.ChoiceField(choices=YES_NO, required=False)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean_assignee(self) -> str:
        value = self.cleaned_data["assignee"].strip()
        if value in ("", "me", "none") or value.isdigit():
            return value
        raise forms.ValidationError("Choose me, none or a person.")

    def clean(self) -> dict:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return data

    def filters(self) -> InboxFilters:
        """The valid filters; call after is_valid(). Invalid fields filter nothing (the form shows why)."""
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

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Any integer is acceptable here; the selector decides which of them the user may touch.
        self.fields["ids"].valid_value = lambda value: str(value).isdigit()
