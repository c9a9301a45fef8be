"""The form of the page where an admin connects a Bluesky account."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django import forms

from channels.connectors.bluesky.client import DEFAULT_SERVICE
from channels.forms import segment_field

MAX_HANDLE_LENGTH = 253  # a handle is a domain name
# An app password as Bluesky shows it: four groups of four letters and digits.
_APP_PASSWORD = re.compile(r"[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}")
_HANDLE = re.compile(r"(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]")


class BlueskyConnectForm(forms.Form):
    """A Bluesky account, connected with its handle and an app password created in its settings."""

    identifier = forms.CharField(
        label="Handle",
        max_length=MAX_HANDLE_LENGTH + 1,
        widget=forms.TextInput(attrs={"placeholder": "northwind.bsky.social", "spellcheck": "false"}),
        help_text="The account's handle, e.g. northwind.bsky.social or northwind.com.",
    )
    app_password = forms.CharField(
        label="App password",
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=(
            "Settings → Privacy and security → App passwords → Add. Tick “Allow access to your direct "
            "messages” to receive and answer them here. It is stored encrypted and never shown again."
        ),
    )
    service = forms.URLField(
        label="Server",
        required=False,
        assume_scheme="https",
        max_length=200,
        widget=forms.URLInput(attrs={"placeholder": DEFAULT_SERVICE}),
        help_text="Only for an account on its own server; leave empty for Bluesky's.",
    )
    segment = segment_field()

    def clean_identifier(self) -> str:
        handle = self.cleaned_data["identifier"].strip().lstrip("@").lower()
        if not _HANDLE.fullmatch(handle):
            raise forms.ValidationError("Enter the handle as a domain name, e.g. northwind.bsky.social.")
        return handle

    def clean_app_password(self) -> str:
        password = self.cleaned_data["app_password"].strip().lower()
        if not _APP_PASSWORD.fullmatch(password):
            raise forms.ValidationError(
                "Use an app password (four groups of four characters, like abcd-efgh-ijkl-mnop), not the "
                "account's own password."
            )
        return password

    def clean_service(self) -> str:
        service = self.cleaned_data.get("service") or DEFAULT_SERVICE
        parts = urlsplit(service)
        if parts.scheme != "https":
            raise forms.ValidationError(
                "Use the server's https:// address: a password must not travel over http."
            )
        if parts.username or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise forms.ValidationError("Enter only the server's address, such as https://bsky.social.")
        return f"https://{parts.netloc.lower()}"
