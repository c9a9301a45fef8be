"""Sign-in, the person's own settings page (/me/: name, preferences, API tokens) and the password change
page. Each acts on the signed-in person only, so the check is being signed in."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from users.forms import ApiTokenCreateForm, PreferencesForm, SignInForm
from users.models import ApiToken
from users.selectors import api_tokens_for_user, preferences_for_user
from users.services import api_token_create, api_token_revoke, password_change, preferences_update


class SignInView(auth_views.LoginView):
    """Django's login view with the throttled form; a locked-out attempt answers 429."""

    form_class = SignInForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form: SignInForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.lock is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.lock.minutes * 60)
        return response


def _preferences_form(request: HttpRequest) -> PreferencesForm:
    preferences = preferences_for_user(user=request.user)
    return PreferencesForm(
        initial={
            "first_name": request.user.first_name,
            "last_name": request.user.last_name,
            "density": preferences.density,
            "theme": preferences.theme,
            "signature": preferences.signature,
            "time_zone": preferences.time_zone,
        }
    )


def _account_page(
    request: HttpRequest,
    *,
    form: ApiTokenCreateForm | None = None,
    preferences_form: PreferencesForm | None = None,
    new_key: str | None = None,
    status: int = 200,
) -> HttpResponse:
    response = render(
        request,
        "users/account.html",
        {
            "form": form or ApiTokenCreateForm(),
            "preferences_form": preferences_form or _preferences_form(request),
            "tokens": api_tokens_for_user(user=request.user),
            "new_key": new_key,
        },
        status=status,
    )
    add_never_cache_headers(response)  # the page may show a new key once: no cache keeps it
    return response


@login_required
def account(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _account_page(request)
    preferences_form = PreferencesForm(request.POST)
    if not preferences_form.is_valid():
        return _account_page(request, preferences_form=preferences_form, status=400)
    preferences_update(user=request.user, **preferences_form.cleaned_data)
    messages.success(request, "Settings saved.")
    return redirect("users:account")


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    form = ApiTokenCreateForm(request.POST)
    if not form.is_valid():
        return _account_page(request, form=form, status=400)
    _token, key = api_token_create(
        user=request.user, name=form.cleaned_data["name"], lifetime_days=form.cleaned_data["lifetime_days"]
    )
    # Shown in this answer and never again: not put in a message (the message store may be a cookie).
    return _account_page(request, new_key=key)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = api_token_revoke(user=request.user, token_id=token_id)
    except ApiToken.DoesNotExist:
        raise Http404("No such token.") from None
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("users:account")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change page; the change also revokes every API token and ends other sessions."""

    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("users:account")

    def form_valid(self, form) -> HttpResponse:
        revoked = password_change(user=form.user, new_password=form.cleaned_data["new_password1"])
        update_session_auth_hash(self.request, form.user)  # this session stays; the others end
        tokens = "no API tokens" if revoked == 0 else f"{revoked} API token{'s' if revoked > 1 else ''}"
        messages.success(
            self.request, f"Password changed. Your other sessions were signed out and {tokens} revoked."
        )
        return redirect(self.get_success_url())
