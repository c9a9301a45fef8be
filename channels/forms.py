"""Forms of the pages where an admin connects brand accounts."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django import forms

from channels.models import Segment

MAX_QUERY_LENGTH = 512  # X's recent search refuses a longer query (Basic and Pro access)
MAX_QUERIES = 20  # one search query ORs them all together; more would not fit X's 512 characters anyway
_HASHTAG = re.compile(r"#?(\w+)")


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


def _lines(text: str) -> list[str]:
    """The non-empty lines of a textarea, stripped, each once, in the order typed."""
    return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


class XConnectForm(forms.Form):
    """What to do with an X account once X has authorised it: its segment and what to listen for."""

    segment = _segment_field()
    listening_queries = forms.CharField(
        label="Listening queries",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=(
            "One X search query per line: brand keywords, hashtags or product names, e.g. "
            "northwind or #northwindtrails. Mentions of the account are always received."
        ),
    )

    def clean_listening_queries(self) -> list[str]:
        queries = _lines(self.cleaned_data["listening_queries"])
        if len(queries) > MAX_QUERIES:
            raise forms.ValidationError(f"At most {MAX_QUERIES} queries, one per line.")
        too_long = [query for query in queries if len(query) > MAX_QUERY_LENGTH]
        if too_long:
            raise forms.ValidationError(
                f"A query may be at most {MAX_QUERY_LENGTH} characters; this one is longer: "
                f"{too_long[0][:60]}…"
            )
        return queries


class MastodonConnectForm(forms.Form):
    """A Mastodon account, connected with an access token created in the account's own settings."""

    instance_url = forms.URLField(
        label="Instance address",
        assume_scheme="https",
        max_length=200,
        widget=forms.URLInput(attrs={"placeholder": "https://mastodon.social", "autocomplete": "url"}),
        help_text="The server the account lives on, e.g. https://mastodon.social.",
    )
    access_token = forms.CharField(
        label="Access token",
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=(
            "In the account's Preferences → Development → New application, with the read and write scopes. "
            "It is stored encrypted and never shown again."
        ),
    )
    segment = _segment_field()
    listening_queries = forms.CharField(
        label="Hashtags to listen to",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text=(
            "One hashtag per line, e.g. #northwind. Their public timelines on this instance are "
            "received along with the account's mentions."
        ),
    )

    def clean_instance_url(self) -> str:
        parts = urlsplit(self.cleaned_data["instance_url"])
        if parts.scheme != "https":
            raise forms.ValidationError(
                "Use the instance's https:// address: an access token must not travel over plain http."
            )
        if parts.username or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise forms.ValidationError(
                "Enter only the instance's address, such as https://mastodon.social, without a path."
            )
        return f"https://{parts.netloc.lower()}"

    def clean_listening_queries(self) -> list[str]:
        tags: list[str] = []
        for line in _lines(self.cleaned_data["listening_queries"]):
            match = _HASHTAG.fullmatch(line)
            if match is None:
                raise forms.ValidationError(
                    f"{line!r} is not a hashtag. On Mastodon only hashtags can be listened to, one per line."
                )
            tags.append(f"#{match.group(1)}")
        if len(tags) > MAX_QUERIES:
            raise forms.ValidationError(f"At most {MAX_QUERIES} hashtags, one per line.")
        return list(dict.fromkeys(tags))
