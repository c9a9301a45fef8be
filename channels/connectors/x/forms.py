"""The form of the page where an admin starts connecting an X account."""

from __future__ import annotations

from django import forms

from channels.forms import search_queries, segment_field


class XConnectForm(forms.Form):
    """What to do with an X account once X has authorised it: its segment and what to listen for."""

    segment = segment_field()
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
        return search_queries(self.cleaned_data["listening_queries"])
