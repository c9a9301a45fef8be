"""Sign-in (throttled), API token and preferences forms."""

from __future__ import annotations

import zoneinfo

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from users.models import ApiToken, Preferences
from users.services import DEFAULT_LIFETIME
from users.sign_in import SignInLock, client_address, sign_in_check, sign_in_failed, sign_in_succeeded


class SignInForm(AuthenticationForm):
    """Django's sign-in form behind the sign-in throttle: a locked-out attempt is refused before the
    password is even checked."""

    lock: SignInLock | None = None

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = client_address(self.request)
        self.lock = sign_in_check(username=username, address=address)
        if self.lock is not None:
            raise ValidationError(self.lock.message, code="locked")
        try:
            cleaned = super().clean()
        except ValidationError:
            self.lock = sign_in_failed(username=username, address=address)
            if self.lock is not None:
                raise ValidationError(self.lock.message, code="locked") from None
            raise
        sign_in_succeeded(username=username, address=address)
        return cleaned


class ApiTokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What it is for, e.g. “Nightly export”.", widget=forms.TextInput()
    )
    lifetime_days = forms.TypedChoiceField(
        label="Expires after",
        choices=ApiToken.Lifetime.choices,
        coerce=int,
        initial=DEFAULT_LIFETIME,
    )


def _time_zone_choices() -> list[tuple[str, str]]:
    zones = sorted(zone for zone in zoneinfo.available_timezones() if "/" in zone or zone == "UTC")
    return [("", f"The installation's ({settings.TIME_ZONE})"), *((zone, zone) for zone in zones)]


class PreferencesForm(forms.Form):
    """Name, list density, theme, reply signature and time zone (the /me/ page)."""

    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    density = forms.ChoiceField(
        choices=Preferences.Density.choices,
        widget=forms.RadioSelect,
        label="Inbox density",
    )
    theme = forms.ChoiceField(choices=Preferences.Theme.choices, widget=forms.RadioSelect, label="Theme")
    signature = forms.CharField(
        max_length=Preferences.SIGNATURE_MAX_LENGTH,
        required=False,
        label="Reply signature",
        help_text=Preferences._meta.get_field("signature").help_text,
    )
    time_zone = forms.ChoiceField(
        choices=_time_zone_choices,
        required=False,
        label="Time zone",
        help_text="Times in the app are shown in this zone.",
    )

    def clean_signature(self) -> str:
        return self.cleaned_data["signature"].strip()
