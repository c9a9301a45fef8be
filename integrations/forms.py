"""The webhook subscription form: where, which events, which mentions."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from channels.models import Channel, Segment
from inbox.models import Mention
from integrations.destinations import DestinationRefused, destination_check
from integrations.models import WebhookSubscription
from integrations.webhooks import SubscriptionFields
from routing.facts import INTENTS
from teams.models import Team

# Verbs as foundation.events records them: "mention.assigned", "escalation.accepted", "sla.breached".
_VERB = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")
KNOWN_VERBS = (
    "mention.received",
    "mention.routed",
    "mention.assigned",
    "mention.closed",
    "mention.reopened",
    "reply.sent",
    "escalation.opened",
    "escalation.accepted",
    "sla.breached",
    "webhook.paused",
    "incident.opened",
    "incident.crisis_mode_on",
    "incident.closed",
)
MAX_EVENT_TYPES = 50


class WebhookSubscriptionForm(forms.Form):
    name = forms.CharField(max_length=100, error_messages={"required": "Give the subscription a name."})
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        help_text="Where socialops POSTs each event. It must resolve to a public address.",
        error_messages={"required": "Give the URL the events are sent to."},
    )
    event_types = forms.CharField(
        label="Events",
        initial="*",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One event type a line, such as " + ", ".join(KNOWN_VERBS[:4]) + "; * for every event.",
        error_messages={"required": "Name at least one event type, or * for all."},
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"), to_field_name="slug", required=False, empty_label="Any team"
    )
    segment = forms.ModelChoiceField(
        queryset=Segment.objects.order_by("position"),
        to_field_name="slug",
        required=False,
        empty_label="Any segment",
    )
    channel = forms.ModelChoiceField(
        queryset=Channel.objects.order_by("handle"),
        to_field_name="slug",
        required=False,
        empty_label="Any channel",
    )
    intent = forms.ChoiceField(
        choices=[("", "Any intent"), *((i, i.replace("_", " ")) for i in INTENTS)], required=False
    )
    min_priority = forms.TypedChoiceField(
        label="Priority",
        choices=[("", "Any priority"), *((p.value, f"{p.label} or higher") for p in Mention.Priority)],
        coerce=int,
        empty_value=None,
        required=False,
    )

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            destination_check(url)
        except DestinationRefused as exc:
            raise forms.ValidationError(f"socialops cannot send to this URL: {exc}.") from None
        return url

    def clean_event_types(self) -> list[str]:
        types = list(
            dict.fromkeys(
                t.strip() for t in re.split(r"[\s,]+", self.cleaned_data["event_types"]) if t.strip()
            )
        )
        if not types:
            raise forms.ValidationError("Name at least one event type, or * for all.")
        if len(types) > MAX_EVENT_TYPES:
            raise forms.ValidationError(f"At most {MAX_EVENT_TYPES} event types; use * for all.")
        wrong = [t for t in types if t != WebhookSubscription.ALL_EVENTS and not _VERB.fullmatch(t)]
        if wrong:
            raise forms.ValidationError(
                f"{wrong[0]!r} is not an event type: they read like mention.assigned (lower case, a dot)."
            )
        return [WebhookSubscription.ALL_EVENTS] if WebhookSubscription.ALL_EVENTS in types else types

    def fields_value(self) -> SubscriptionFields:
        data = self.cleaned_data
        return SubscriptionFields(
            name=data["name"],
            url=data["url"],
            event_types=data["event_types"],
            team=data["team"],
            segment=data["segment"],
            channel=data["channel"],
            intent=data["intent"],
            min_priority=data["min_priority"],
        )

    @staticmethod
    def initial_for(subscription: WebhookSubscription) -> dict[str, Any]:
        return {
            "name": subscription.name,
            "url": subscription.url,
            "event_types": "\n".join(subscription.event_types),
            "team": subscription.team.slug if subscription.team else None,
            "segment": subscription.segment.slug if subscription.segment else None,
            "channel": subscription.channel.slug if subscription.channel else None,
            "intent": subscription.intent,
            "min_priority": subscription.min_priority,
        }
