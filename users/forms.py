"""Sign-in (throttled) and API token forms."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from users.models import ApiToken
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
