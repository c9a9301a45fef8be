"""Forms of the pages where an admin connects brand accounts and changes their settings."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from channels.connectors.base import ListeningQueries
from channels.connectors.registry import capabilities_for
from channels.models import Channel, Network, Segment
from teams.models import Team

MAX_QUERY_LENGTH = 512  # X's recent search refuses a longer query (Basic and Pro access)
MAX_QUERIES = 20  # one search query ORs them all together; more would not fit X's 512 characters anyway
MIN_POLL_SECONDS = 15  # the demo channels' cadence; pulling more often only spends the network's rate budget
MAX_POLL_SECONDS = 24 * 60 * 60  # an account worth pulling less than daily is better paused
_HANDLE = re.compile(r"@?(\w{1,50})")


class _SegmentField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Segment) -> str:
        return f"{obj.name} (team {obj.team.name})"


def _segment_field() -> forms.ModelChoiceField:
    return _SegmentField(
        queryset=Segment.objects.select_related("team"),
        to_field_name="slug",
        empty_label="Choose a segment",
        help_text="What the account is for; its mentions go to this segment's team.",
        error_messages={"required": "Choose the segment this account serves."},
    )


# The connect forms in each network's folder (channels/connectors/<network>/forms.py) use it too.
segment_field = _segment_field


def _lines(text: str) -> list[str]:
    """The non-empty lines of a textarea, stripped, each once, in the order typed."""
    return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


def search_queries(text: str) -> list[str]:
    """Search queries, one a line, within what one X recent-search query can hold: what a network listens
    for unless its connector declares otherwise (``capabilities.listening_queries``)."""
    queries = _lines(text)
    if len(queries) > MAX_QUERIES:
        raise forms.ValidationError(f"At most {MAX_QUERIES} queries, one per line.")
    too_long = [query for query in queries if len(query) > MAX_QUERY_LENGTH]
    if too_long:
        raise forms.ValidationError(
            f"A query may be at most {MAX_QUERY_LENGTH} characters; this one is longer: {too_long[0][:60]}…"
        )
    return queries


def _declared_listening(network: str) -> ListeningQueries | None:
    capabilities = capabilities_for(network)
    return capabilities.listening_queries if capabilities is not None else None


def listening_queries_cleaned(network: str, text: str) -> list[str]:
    """What an admin typed as a channel's listening queries, as ``network`` listens for them."""
    declared = _declared_listening(network)
    if declared is None:
        return search_queries(text)
    try:
        return declared.parse(text)
    except ValueError as exc:
        raise forms.ValidationError(str(exc)) from None


def _poll_field() -> forms.IntegerField:
    return forms.IntegerField(
        label="Pull every (seconds)",
        required=False,
        min_value=MIN_POLL_SECONDS,
        max_value=MAX_POLL_SECONDS,
        help_text="Leave empty for the segment's cadence.",
        error_messages={
            "min_value": f"Pull no more often than every {MIN_POLL_SECONDS} seconds.",
            "max_value": "Pull at least once a day, or pause the channel instead.",
        },
    )


def _queries_field(network: str) -> forms.CharField:
    declared = _declared_listening(network)
    if declared is not None:
        label, help_text = declared.label, declared.help_text
    else:
        label, help_text = (
            "Listening queries",
            (
                "One search query per line: brand keywords, hashtags or product names, e.g. northwind or "
                "#northwindtrails. Mentions of the account are always received."
            ),
        )
    return forms.CharField(
        label=label,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=help_text,
    )


class SimulatedConnectForm(forms.Form):
    """A brand account on the simulated network, which makes up realistic posts for demos and trials."""

    handle = forms.CharField(
        label="Handle",
        max_length=51,
        widget=forms.TextInput(attrs={"placeholder": "@northwind_help", "spellcheck": "false"}),
        help_text="Letters, digits and underscores, e.g. @northwind_help. Posts are made up for it.",
    )
    segment = _segment_field()
    listening_queries = _queries_field(Network.SIMULATED)
    poll_interval_seconds = _poll_field()

    def clean_handle(self) -> str:
        match = _HANDLE.fullmatch(self.cleaned_data["handle"].strip())
        if match is None:
            raise forms.ValidationError(
                "Use letters, digits and underscores only, at most 50, e.g. @northwind_help."
            )
        return f"@{match.group(1)}"

    def clean_listening_queries(self) -> list[str]:
        return search_queries(self.cleaned_data["listening_queries"])


class _TeamField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Team) -> str:
        return obj.name


class ChannelSettingsForm(forms.Form):
    """What an admin may change about a connected channel. Its tokens are never shown: where the network's
    searches take an app bearer token (X), a new one can be typed in to replace the stored one, or the
    stored one forgotten."""

    segment = _segment_field()
    team_override = _TeamField(
        label="Owning team",
        queryset=Team.objects.all(),
        to_field_name="slug",
        required=False,
        empty_label="The segment's team",
        help_text="Only when this account's mentions belong to another team than its segment's.",
    )
    poll_interval_seconds = _poll_field()
    bearer_token = forms.CharField(
        label="App bearer token for search",
        required=False,
        strip=True,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=(
            "From the X developer portal (your app's Keys and tokens). Searches for the listening queries "
            "then spend the app's budget, not the account's. It is stored encrypted and never shown again; "
            "leave empty to keep the one stored."
        ),
    )
    forget_bearer_token = forms.BooleanField(label="Forget the stored app bearer token", required=False)

    def __init__(self, *args: Any, channel: Channel, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.channel = channel
        self.fields["listening_queries"] = _queries_field(channel.network)
        self.order_fields(["segment", "team_override", "listening_queries", "poll_interval_seconds"])
        capabilities = capabilities_for(channel.network)
        if capabilities is not None and not capabilities.listening:
            del self.fields["listening_queries"]
        if capabilities is None or not capabilities.search_app_token:
            del self.fields["bearer_token"]
        if "bearer_token" not in self.fields or not channel.credentials.get("bearer_token"):
            del self.fields["forget_bearer_token"]
        segment_default = channel.segment.default_poll_seconds
        self.fields[
            "poll_interval_seconds"
        ].help_text = f"Leave empty for the segment's cadence (every {segment_default} seconds)."

    def clean_listening_queries(self) -> list[str]:
        return listening_queries_cleaned(self.channel.network, self.cleaned_data["listening_queries"])

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("bearer_token") and data.get("forget_bearer_token"):
            self.add_error(
                "forget_bearer_token", "Either type a new bearer token or forget the stored one, not both."
            )
        return data
