"""Slack notification pages: admins manage every team's notifiers, leads their own team's."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from integrations.models import SlackNotifier
from integrations.slack import (
    SlackError,
    notifier_url_masked,
    notifiers_visible_to,
    recent_messages,
    slack_notifier_save,
    slack_notifier_test,
)
from teams.models import Team
from teams.roles import user_is_admin, user_leads_team, user_led_team_ids


class SlackNotifierForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.none())
    name = forms.CharField(max_length=100, initial="Slack")
    url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        label="Incoming webhook URL",
        widget=forms.PasswordInput(render_value=False),
        help_text="From Slack's Incoming Webhooks (or any service that takes the same JSON). "
        "Leave empty to keep the stored one.",
    )
    on_escalations = forms.BooleanField(required=False, initial=True, label="Escalations")
    on_sla_breaches = forms.BooleanField(required=False, initial=True, label="SLA breaches")
    on_crisis_mode = forms.BooleanField(
        required=False, initial=True, label="Crisis mode switched on or off, and the crisis radar's incidents"
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def __init__(self, *args: Any, teams: QuerySet[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams


def _manager_required(request: HttpRequest) -> HttpResponse | None:
    """Admins and team leads; anyone else gets a 404, so the pages stay unknown."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not (user_is_admin(request.user) or user_led_team_ids(request.user)):
        raise Http404
    return None


def _teams(request: HttpRequest) -> QuerySet[Team]:
    teams = Team.objects.order_by("name")
    return teams if user_is_admin(request.user) else teams.filter(pk__in=user_led_team_ids(request.user))


def notifiers(request: HttpRequest) -> HttpResponse:
    if (response := _manager_required(request)) is not None:
        return response
    visible = notifiers_visible_to(user=request.user)
    rows = [(n, notifier_url_masked(n)) for n in visible]
    context = {"rows": rows, "recent": recent_messages(notifiers=visible)}
    return render(request, "integrations/slack/index.html", context)


def notifier_new(request: HttpRequest) -> HttpResponse:
    if (response := _manager_required(request)) is not None:
        return response
    return _edit(request, None)


def notifier_edit(request: HttpRequest, pk: int) -> HttpResponse:
    if (response := _manager_required(request)) is not None:
        return response
    notifier = get_object_or_404(SlackNotifier, pk=pk)
    if not user_leads_team(request.user, notifier.team_id):
        raise Http404
    return _edit(request, notifier)


def _edit(request: HttpRequest, notifier: SlackNotifier | None) -> HttpResponse:
    initial = None
    if notifier is not None:
        initial = {
            "team": notifier.team_id,
            "name": notifier.name,
            "on_escalations": notifier.on_escalations,
            "on_sla_breaches": notifier.on_sla_breaches,
            "on_crisis_mode": notifier.on_crisis_mode,
            "is_active": notifier.is_active,
        }
    form = SlackNotifierForm(request.POST or None, initial=initial, teams=_teams(request))
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            saved = slack_notifier_save(
                actor=request.user,
                notifier=notifier,
                team=d["team"],
                name=d["name"],
                url=d["url"],
                on_escalations=d["on_escalations"],
                on_sla_breaches=d["on_sla_breaches"],
                on_crisis_mode=d["on_crisis_mode"],
                is_active=d["is_active"],
            )
        except SlackError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Saved {saved.name} for {saved.team.name}.")
            return redirect("slack:notifiers")
    context = {
        "form": form,
        "notifier": notifier,
        "masked": notifier_url_masked(notifier) if notifier else "",
    }
    return render(request, "integrations/slack/edit.html", context)


@require_POST
def notifier_test(request: HttpRequest, pk: int) -> HttpResponse:
    if (response := _manager_required(request)) is not None:
        return response
    notifier = get_object_or_404(SlackNotifier.objects.select_related("team"), pk=pk)
    if not user_leads_team(request.user, notifier.team_id):
        raise Http404
    try:
        said = slack_notifier_test(actor=request.user, notifier=notifier)
    except SlackError as exc:
        messages.error(request, f"{notifier.name}: {exc}")
    else:
        messages.success(request, f"{notifier.name}: {said}")
    return redirect("slack:notifiers")
