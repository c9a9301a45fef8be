"""The form of the page where an admin connects a Mastodon account."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import forms

from channels.connectors.mastodon.rules import hashtags
from channels.forms import segment_field


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
    segment = segment_field()
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
        try:
            return hashtags(self.cleaned_data["listening_queries"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
