"""Hand-off pages: the detail pane's hand-off section and its actions (agents), and the integrations' admin
pages. Views parse, call one service or selector, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from channels.crypto import CredentialsUnreadable
from channels.views import admin_required
from inbox.models import Mention
from inbox.selectors import mention_get
from integrations.handoff.forms import HandOffIntegrationForm
from integrations.handoff.selectors import handoff_get, handoff_integrations_for_admin, mention_handoffs
from integrations.handoff.services import (
    HandOffError,
    handoff_integration_save,
    handoff_integration_test,
    handoff_retry,
    integration_secret,
    mention_hand_off,
    secret_masked,
)
from integrations.models import HandOffIntegration

SECTION_TEMPLATE = "integrations/_mention_handoffs.html"


def _section(request: HttpRequest, mention: Mention, *, notice: str = "", error: str = "") -> HttpResponse:
    """htmx gets the re-rendered section; a plain form post goes back to the inbox with the mention open."""
    if request.htmx:
        context = {
            "section": mention_handoffs(user=request.user, mention=mention),
            "notice": notice,
            "error": error,
        }
        return render(request, SECTION_TEMPLATE, context)
    if error:
        messages.error(request, error)
    return redirect(f"{reverse('inbox:index')}?open={mention.pk}")


@login_required
@require_POST
def hand_off(request: HttpRequest, mention_id: int) -> HttpResponse:
    try:
        mention = mention_get(user=request.user, mention_id=mention_id)
    except Mention.DoesNotExist:
        raise Http404 from None
    raw = request.POST.get("integration", "")
    integration = HandOffIntegration.objects.filter(pk=raw).first() if raw.isdigit() else None
    if integration is None:
        return _section(request, mention, error="Choose where to hand it off.")
    try:
        mention_hand_off(actor=request.user, mention=mention, integration=integration)
    except HandOffError as exc:
        return _section(request, mention, error=str(exc))
    return _section(request, mention, notice=f"Handing off to {integration.name}…")


@login_required
@require_POST
def retry(request: HttpRequest, handoff_id: int) -> HttpResponse:
    handoff = handoff_get(user=request.user, handoff_id=handoff_id)
    try:
        handoff_retry(actor=request.user, handoff=handoff)
    except HandOffError as exc:
        return _section(request, handoff.mention, error=str(exc))
    return _section(request, handoff.mention, notice=f"Trying {handoff.integration.name} again…")


# --- Admin pages -------------------------------------------------------------------------------------------


def _masked(integration: HandOffIntegration) -> str:
    try:
        secret = integration_secret(integration)
    except CredentialsUnreadable:
        return "unreadable: set it again"
    return secret_masked(secret.get("token") or secret.get("authorization") or "")


@admin_required
def integrations(request: HttpRequest) -> HttpResponse:
    rows = [(i, _masked(i)) for i in handoff_integrations_for_admin(user=request.user)]
    return render(request, "integrations/handoff/index.html", {"rows": rows})


@admin_required
def integration_new(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@admin_required
def integration_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, get_object_or_404(HandOffIntegration, pk=pk))


def _edit(request: HttpRequest, integration: HandOffIntegration | None) -> HttpResponse:
    form = HandOffIntegrationForm(request.POST or None, integration=integration)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            saved = handoff_integration_save(
                actor=request.user,
                integration=integration,
                name=d["name"],
                kind=d["kind"],
                config=form.config(),
                secret=form.secret(),
                team_id=d["team"].pk if d["team"] else None,
                is_active=d["is_active"],
            )
        except HandOffError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Saved {saved.name}.")
            return redirect("handoff:integrations")
    context: dict[str, Any] = {
        "form": form,
        "integration": integration,
        "masked": _masked(integration) if integration else "",
    }
    return render(request, "integrations/handoff/edit.html", context)


@admin_required
@require_POST
def integration_test(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_object_or_404(HandOffIntegration, pk=pk)
    try:
        said = handoff_integration_test(actor=request.user, integration=integration)
    except HandOffError as exc:
        messages.error(request, f"{integration.name}: {exc}")
    else:
        messages.success(request, f"{integration.name}: {said}")
    return redirect("handoff:integrations")
