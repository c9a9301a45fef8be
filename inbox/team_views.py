"""Team pages: leads see their team's people, load, channels and queue health, and change them.

They live in the inbox, the floor that sees mentions, routing and teams; ``teams`` itself holds who is in a
team and what they may do.

Members of a team may read its page; only its leads (and admins) may change anything. A team the user is not
in does not exist for them (404), including for forged form posts.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from channels.models import Channel, Segment
from inbox import canned as canned_responses
from inbox.actions import assignment as assigning
from inbox.forms import CannedResponseForm
from inbox.models import CannedResponse
from inbox.team_selectors import team_health, team_members
from routing import handovers
from routing.handovers import team_accounts, team_handover_get, team_handovers
from teams import services
from teams.models import ChannelHandover, Membership, Team
from teams.roles import team_leaders, user_name
from teams.selectors import teams_for


def _team_or_404(request: HttpRequest, slug: str) -> Team:
    return get_object_or_404(teams_for(user=request.user), slug=slug)


def _lead_action(view: Callable[..., str]) -> Callable[..., HttpResponse]:
    """POST-only; the team must be one the user leads (404 otherwise); a TeamActionError becomes a message."""

    @login_required
    @require_POST
    @wraps(view)
    def run(request: HttpRequest, slug: str, **kwargs: Any) -> HttpResponse:
        team = _team_or_404(request, slug)
        if not services.user_leads(request.user, team):
            raise Http404("No such team")
        try:
            done = view(request, team, **kwargs)
        except services.TeamActionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, done)
        return redirect("teams:detail", slug=team.slug)

    return run


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    teams = list(teams_for(user=request.user))
    if len(teams) == 1:
        return redirect("teams:detail", slug=teams[0].slug)
    return render(request, "teams/index.html", {"teams": [(t, team_health(team=t)) for t in teams]})


@login_required
@require_GET
def detail(request: HttpRequest, slug: str) -> HttpResponse:
    team = _team_or_404(request, slug)
    can_manage = services.user_leads(request.user, team)
    members = team_members(team=team)
    in_team = {row.membership.user_id for row in members}
    accounts = team_accounts(team=team)
    context = {
        "team": team,
        "members": members,
        "accounts": accounts,
        "handovers": team_handovers(team=team),
        "leaders": team_leaders(team_id=team.pk),
        "health": team_health(team=team),
        "can_manage": can_manage,
        "modes": Team.Assignment.choices,
        "roles": Membership.Role.choices,
    }
    if can_manage:
        context["candidates"] = (
            get_user_model().objects.filter(is_active=True).exclude(pk__in=in_team).order_by("username")
        )
        context["other_channels"] = (
            Channel.objects.exclude(pk__in=[row.channel.pk for row in accounts])
            .select_related("segment__team", "team_override")
            .order_by("handle")
        )
        context["other_teams"] = Team.objects.exclude(pk=team.pk).order_by("name")
        context["crisis_take"] = handovers.crisis_take_allowed(team=team)
    return render(request, "teams/detail.html", context)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value or default)
    except ValueError:
        return -1


@_lead_action
def member_add(request: HttpRequest, team: Team) -> str:
    user = get_object_or_404(get_user_model(), pk=_int(request.POST.get("user"), 0), is_active=True)
    services.team_member_add(
        actor=request.user,
        team=team,
        user=user,
        role=request.POST.get("role", Membership.Role.AGENT),
        capacity=_int(request.POST.get("capacity"), 20),
    )
    return f"{user_name(user)} joined {team}."


@_lead_action
def member_update(request: HttpRequest, team: Team, membership_id: int) -> str:
    membership = get_object_or_404(
        Membership.objects.select_related("user", "team"), pk=membership_id, team=team
    )
    services.team_member_update(
        actor=request.user,
        membership=membership,
        role=request.POST.get("role") or None,
        capacity=_int(request.POST.get("capacity"), membership.capacity),
    )
    return f"Saved {user_name(membership.user)}."


@_lead_action
def member_remove(request: HttpRequest, team: Team, membership_id: int) -> str:
    membership = get_object_or_404(
        Membership.objects.select_related("user", "team"), pk=membership_id, team=team
    )
    assigning.team_member_remove(actor=request.user, membership=membership)
    name = user_name(membership.user)
    return f"{name} left {team}; their open mentions went back to the queue."


@_lead_action
def member_away(request: HttpRequest, team: Team, membership_id: int) -> str:
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=membership_id, team=team)
    away = request.POST.get("away") == "on"
    returned = assigning.member_set_away(actor=request.user, user=membership.user, is_away=away)
    name = user_name(membership.user)
    if away:
        plural = "s" if len(returned) != 1 else ""
        return f"{name} is away; {len(returned)} open mention{plural} went back to the queue."
    return f"{name} is back."


@_lead_action
def assignment(request: HttpRequest, team: Team) -> str:
    assigning.team_assignment_set(actor=request.user, team=team, mode=request.POST.get("mode", ""))
    return f"Assignment: {team.get_assignment_display()}."


@_lead_action
def channel_request(request: HttpRequest, team: Team) -> str:
    """Ask another team for one of its accounts (a forged id of the team's own account is refused)."""
    channel = get_object_or_404(Channel, pk=_int(request.POST.get("channel"), 0))
    handover = handovers.channel_handover_request(actor=request.user, team=team, channel=channel)
    return (
        f"Asked {handover.from_team} for {channel.handle}; "
        "it comes to this team when their lead (or an admin) accepts."
    )


@_lead_action
def channel_offer(request: HttpRequest, team: Team) -> str:
    channel = get_object_or_404(Channel, pk=_int(request.POST.get("channel"), 0))
    to_team = get_object_or_404(Team, pk=_int(request.POST.get("to_team"), 0))
    handovers.channel_handover_offer(actor=request.user, team=team, channel=channel, to_team=to_team)
    return (
        f"Offered {channel.handle} to {to_team}; it stays with {team} until their lead (or an admin) accepts."
    )


@_lead_action
def channel_crisis_take(request: HttpRequest, team: Team) -> str:
    channel = get_object_or_404(Channel, pk=_int(request.POST.get("channel"), 0))
    handover = handovers.channel_crisis_take(actor=request.user, team=team, channel=channel)
    return f"{channel.handle} now belongs to {team} (crisis mode); {handover.from_team} has been told."


@_lead_action
def channel_release(request: HttpRequest, team: Team, channel_id: int) -> str:
    channel = get_object_or_404(Channel.objects.select_related("segment"), pk=channel_id)
    handovers.channel_release(actor=request.user, team=team, channel=channel)
    return f"{channel.handle} went back to {Team.objects.get(pk=channel.owning_team_id)}."


def _handover_or_404(team: Team, handover_id: int, *, answering: bool) -> ChannelHandover:
    try:
        return team_handover_get(team=team, handover_id=handover_id, answering=answering)
    except ChannelHandover.DoesNotExist:
        raise Http404("No such hand-over") from None


@_lead_action
def handover_accept(request: HttpRequest, team: Team, handover_id: int) -> str:
    handover = _handover_or_404(team, handover_id, answering=True)
    handovers.channel_handover_accept(actor=request.user, handover=handover)
    return f"{handover.channel.handle} now belongs to {handover.to_team}."


@_lead_action
def handover_decline(request: HttpRequest, team: Team, handover_id: int) -> str:
    handover = _handover_or_404(team, handover_id, answering=True)
    handovers.channel_handover_decline(actor=request.user, handover=handover)
    return f"Declined: {handover.channel.handle} stays with {handover.from_team}."


@_lead_action
def handover_withdraw(request: HttpRequest, team: Team, handover_id: int) -> str:
    handover = _handover_or_404(team, handover_id, answering=False)
    handovers.channel_handover_withdraw(actor=request.user, handover=handover)
    return f"Withdrawn: {handover.channel.handle} stays with {handover.from_team}."


@login_required
@require_POST
def my_away(request: HttpRequest) -> HttpResponse:
    """The header's "Away" switch: the user's own away state in all their teams."""
    away = request.POST.get("away") == "on"
    returned = assigning.member_set_away(actor=request.user, user=request.user, is_away=away)
    if away:
        messages.info(
            request,
            f"You are away: auto-assignment skips you, and {len(returned)} open mention"
            f"{'s' if len(returned) != 1 else ''} went back to your teams' queues.",
        )
    else:
        messages.info(request, "Welcome back: auto-assignment includes you again.")
    next_url = request.POST.get("next", "")
    return redirect(next_url if next_url.startswith("/") and not next_url.startswith("//") else "inbox:index")


def _led_team_or_404(request: HttpRequest, slug: str) -> Team:
    """A team the person is in (404 otherwise) and leads (403 for its other members)."""
    team = _team_or_404(request, slug)
    if not services.user_leads(request.user, team):
        raise PermissionDenied("Only the team's leads and admins edit its canned responses.")
    return team


def _team_canned_or_404(team: Team, canned_id: int) -> CannedResponse:
    """One of the team's segments' canned responses; another team's is not found."""
    found = CannedResponse.objects.select_related("segment")
    return get_object_or_404(found, pk=canned_id, segment__team=team)


def _preview(request: HttpRequest, body: str, segment: Segment) -> str:
    """The body as the person would send it to a made-up author from the segment's first account."""
    values = canned_responses.preview_values(agent_name=user_name(request.user), segment=segment)
    return canned_responses.canned_fill(body, values)


@login_required
@require_GET
def canned_list(request: HttpRequest, slug: str) -> HttpResponse:
    """The canned responses of the team's segments, each with its preview."""
    team = _led_team_or_404(request, slug)
    rows = [
        (canned, _preview(request, canned.body, canned.segment))
        for canned in canned_responses.canned_responses_for_team(team=team)
    ]
    context = {"team": team, "rows": rows, "has_segments": canned_responses.team_segments(team=team).exists()}
    return render(request, "teams/canned_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def canned_edit(request: HttpRequest, slug: str, canned_id: int | None = None) -> HttpResponse:
    """A new canned response, or a change to one; "Preview" shows the filled-in text without saving (no
    JavaScript needed)."""
    team = _led_team_or_404(request, slug)
    segments = canned_responses.team_segments(team=team)
    canned = None
    if canned_id is not None:
        canned = _team_canned_or_404(team, canned_id)
    if request.method == "POST":
        form = CannedResponseForm(request.POST, segments=segments)
    elif canned is not None:
        form = CannedResponseForm(
            initial={"segment": canned.segment, "title": canned.title, "body": canned.body}, segments=segments
        )
    else:
        form = CannedResponseForm(initial={"segment": segments.first()}, segments=segments)
    valid = form.is_bound and form.is_valid()
    if valid and request.POST.get("action") != "preview":
        try:
            canned_responses.canned_response_save(user=request.user, canned=canned, **form.cleaned_data)
        except canned_responses.CannedResponseError as exc:
            raise PermissionDenied(str(exc)) from exc
        messages.success(request, f"Canned response “{form.cleaned_data['title']}” saved.")
        return redirect("teams:canned_list", slug=team.slug)
    preview = None
    if valid:
        preview = _preview(request, form.cleaned_data["body"], form.cleaned_data["segment"])
    elif not form.is_bound and canned is not None:
        preview = _preview(request, canned.body, canned.segment)
    context = {
        "team": team,
        "form": form,
        "canned": canned,
        "preview": preview,
        "placeholders": canned_responses.PLACEHOLDERS,
    }
    return render(request, "teams/canned_edit.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def canned_delete(request: HttpRequest, slug: str, canned_id: int) -> HttpResponse:
    team = _led_team_or_404(request, slug)
    canned = _team_canned_or_404(team, canned_id)
    try:
        canned_responses.canned_response_delete(user=request.user, canned=canned)
    except canned_responses.CannedResponseError as exc:
        raise PermissionDenied(str(exc)) from exc
    messages.success(request, f"Canned response “{canned.title}” deleted.")
    return redirect("teams:canned_list", slug=team.slug)
