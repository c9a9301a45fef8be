"""Inbox pages. Thin: they parse input, call one selector or service, and render.

The page is three panes: queues (with live counts), the list of the chosen queue with its filters, and the
detail of the open mention. htmx swaps the list and the detail in place; every action also works as a plain
form post (without JavaScript) and answers with the page.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.handlers.asgi import ASGIRequest
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from inbox import streams
from inbox.actions import escalations, replies, triage
from inbox.actions import routing as routing_actions
from inbox.forms import (
    BulkForm,
    InboxFilterForm,
    OwnerDecisionForm,
    ReplyForm,
    RerouteForm,
    SnoozeForm,
    ascii_id,
)
from inbox.models import Mention, Reply, SavedView
from inbox.presence import presence_record
from inbox.selectors import (
    COUNT_CAP,
    DEFAULT_QUEUE,
    INBOX_PAGE_SIZE,
    OPEN_ESCALATION_STATES,
    QUEUES,
    InboxFilters,
    MentionPage,
    mention_detail,
    mention_get,
    mentions_for_inbox,
    mentions_visible_to,
    owner_questions,
    queue_counts,
    queues_for,
    replies_awaiting_approval,
    reply_get,
    saved_views_for,
)
from inbox.streams import framer, last_event_id
from routing.facts import INTENTS
from routing.models import Escalation
from teams.models import Team
from teams.roles import (
    team_leaders,
    user_is_admin,
    user_leads_team,
    user_led_team_ids,
    user_name,
    user_team_ids,
)

LIST_LIMIT_MAX = 200  # a live refresh re-fetches as many rows as the agent has loaded, up to this
NOT_SPAM_INTENTS = [intent for intent in INTENTS if intent != Mention.SPAM_INTENT]
# The states the templates compare with, by name: a renamed value cannot silently stop matching.
STATES = {"MentionStatus": Mention.Status, "ReplyState": Reply.State, "EscalationState": Escalation.State}


def _login_or_client_redirect(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like login_required, but a background htmx request from an expired session sends the whole page to
    the login form instead of swapping the form into a pane."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            if request.htmx:
                return HttpResponseClientRedirect(redirect_to_login(reverse("inbox:index")).url)
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return guarded


def _int(value: str | None, default: int | None = None) -> int | None:
    number = ascii_id(value)  # ASCII digits only: int() reads "٣" as 3 and raises on "²"
    return default if number is None else number


# --- The list -----------------------------------------------------------------------------------------------


def _list_context(request: HttpRequest, data: Any = None) -> dict[str, Any]:
    """The list for the filters in ``data`` (the query string unless given). Invalid filters list nothing:
    ``filter_error`` says why, and the views answer 400."""
    data = request.GET if data is None else data
    form = InboxFilterForm(data or None)
    filter_error = "" if not form.is_bound or form.is_valid() else form.problems()
    filters = form.filters() if form.is_bound else InboxFilters()
    limit = min(max(_int(request.GET.get("limit"), INBOX_PAGE_SIZE) or INBOX_PAGE_SIZE, 1), LIST_LIMIT_MAX)
    after = request.GET.get("after", "")
    cursor_error = ""
    if filter_error:
        page = MentionPage(mentions=[])
    else:
        try:
            page = mentions_for_inbox(user=request.user, filters=filters, after=after, limit=limit)
        except ValueError as exc:
            cursor_error = str(exc)
            page = mentions_for_inbox(user=request.user, filters=filters, limit=limit)
    query = filters.as_query()
    return {
        "form": form,
        "filters": filters,
        "filter_query": urlencode(query),
        "queue_name": QUEUES.get(filters.queue, ""),
        "page": page,
        "mentions": page.mentions,
        "viewers": page.viewers,
        "next_url": (
            f"{reverse('inbox:mention_list')}?{urlencode({**query, 'after': page.next_cursor})}"
            if page.next_cursor
            else ""
        ),
        "is_next_page": bool(after) and not cursor_error,
        "cursor_error": cursor_error,
        "filter_error": filter_error,
        "open_id": _int(request.GET.get("open")),
        # The "Needs a decision" queue offers each post's move to any team beside the likelier one.
        "decide_teams": list(Team.objects.order_by("name")) if filters.queue == "decide" else [],
        # Reversed once, not once a row: "/inbox/mentions/" + id + "/".
        "detail_url": reverse("inbox:detail", args=[0]).removesuffix("0/"),
        **STATES,
    }


def _page_context(request: HttpRequest, data: Any = None) -> dict[str, Any]:
    context = _list_context(request, data)
    user = request.user
    context.update(
        queues=queues_for(user=user),
        saved_views=saved_views_for(user=user),
        teams=Team.objects.order_by("name")
        if user_is_admin(user)
        else Team.objects.filter(pk__in=user_team_ids(user)),
        has_team=user_is_admin(user) or bool(user_team_ids(user)),
        intents=INTENTS,
        people=get_user_model()
        .objects.filter(memberships__team_id__in=user_team_ids(user))
        .distinct()
        .order_by("username")
        if not user_is_admin(user)
        else get_user_model().objects.filter(is_active=True).order_by("username"),
        bulk_form=BulkForm(),
        count_cap=COUNT_CAP,
    )
    return context


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The shared inbox: queues, the chosen queue's mentions, and (with ?open=ID) one mention's detail."""
    context = _page_context(request)
    open_id = context["open_id"]
    if open_id is not None:
        context.update(_detail_context(request, open_id))
    return render(request, "inbox/index.html", context, status=400 if context["filter_error"] else 200)


@_login_or_client_redirect
@require_GET
def mention_list(request: HttpRequest) -> HttpResponse:
    """The list alone (htmx swaps it in on filter changes, live events and "load more")."""
    context = _list_context(request)
    template = "inbox/_rows.html" if context["is_next_page"] else "inbox/_mention_list.html"
    return render(request, template, context, status=400 if context["filter_error"] else 200)


@_login_or_client_redirect
@require_GET
def counts(request: HttpRequest) -> HttpResponse:
    """The queues' counts, capped (an exact count over a big team costs too much to run on every event)."""
    counts = queue_counts(user=request.user)
    rows = [(key, name, counts.get(key)) for key, name in queues_for(user=request.user).items()]
    current = request.GET.get("queue") or DEFAULT_QUEUE
    return render(request, "inbox/_counts.html", {"rows": rows, "count_cap": COUNT_CAP, "current": current})


# --- The detail pane ----------------------------------------------------------------------------------------


def _detail_context(request: HttpRequest, mention_id: int, **extra: Any) -> dict[str, Any]:
    """What the detail pane shows and offers, the same whether the pane comes alone (htmx) or inside the
    whole page (``?open=ID``); ``extra`` carries a message and any bound forms to show again."""
    try:
        detail = mention_detail(user=request.user, mention_id=mention_id)
    except Mention.DoesNotExist:
        raise Http404("No such mention") from None
    mention = detail.mention
    last_reply = max((r.pk for r in detail.replies), default=0)
    owner_question = owner_questions([mention]).get(mention.pk)
    return {
        "detail": detail,
        "reroute_form": RerouteForm(initial={"team": mention.team_id}),
        "snooze_form": SnoozeForm(),
        "reply_form": ReplyForm(initial={"seen_reply_id": last_reply}),
        "priorities": Mention.Priority.choices,
        "intents": INTENTS,
        "sentiment_labels": Mention.SentimentLabel.choices,
        "not_spam_intents": NOT_SPAM_INTENTS,
        "not_spam_default": triage.NOT_SPAM_INTENT,
        "open_escalation": next((e for e in detail.escalations if e.state in OPEN_ESCALATION_STATES), None),
        "can_approve": user_leads_team(request.user, mention.team_id),
        "owner_question": owner_question,
        "can_decide": bool(owner_question) and user_leads_team(request.user, mention.team_id),
        "decision_by_admins": bool(
            owner_question and mention.team_id and team_leaders(team_id=mention.team_id).admins_stand_in
        ),
        "approval_by_admins": bool(
            mention.requires_approval
            and mention.team_id
            and team_leaders(team_id=mention.team_id).admins_stand_in
        ),
        **STATES,
        **extra,
    }


def _render_detail(request: HttpRequest, mention_id: int, *, status: int = 200, **extra: Any) -> HttpResponse:
    context = _detail_context(request, mention_id, **extra)
    return render(request, "inbox/_detail.html", context, status=status)


@_login_or_client_redirect
@require_GET
def detail(request: HttpRequest, mention_id: int) -> HttpResponse:
    """One mention: thread, author, decision and explanation, escalation, replies, notes, audit trail."""
    if not request.htmx:
        return redirect(f"{reverse('inbox:index')}?open={mention_id}")
    return _render_detail(request, mention_id)


# --- Actions ------------------------------------------------------------------------------------------------


def _action_response(
    request: HttpRequest, mention_id: int, *, notice: str = "", error: str = "", **extra: Any
):
    """After an action: htmx gets the re-rendered detail pane (and the list is told to refresh); a plain form
    post goes back to the page."""
    if request.htmx:
        try:
            response = _render_detail(request, mention_id, notice=notice, error=error, **extra)
        except Http404:
            # The action moved it out of the user's sight (re-routed to another team): say so in the pane.
            response = render(request, "inbox/_detail_gone.html", {"notice": notice})
        return trigger_client_event(response, "inbox:changed", {"id": mention_id})
    return redirect(f"{reverse('inbox:index')}?open={mention_id}")


def _mention_action(view: Callable[..., str]) -> Callable[..., HttpResponse]:
    """Look the mention up through the selector (404 when the user may not see it), run the action, and turn
    a TriageError into a message in the pane."""

    @_login_or_client_redirect
    @require_POST
    @wraps(view)
    def run(request: HttpRequest, mention_id: int) -> HttpResponse:
        try:
            mention = mention_get(user=request.user, mention_id=mention_id)
        except Mention.DoesNotExist:
            raise Http404("No such mention") from None
        try:
            result = view(request, mention)
        except triage.TriageError as exc:
            return _action_response(request, mention_id, error=str(exc))
        if isinstance(result, HttpResponse):
            return result
        return _action_response(request, mention_id, notice=result or "")

    return run


@_mention_action
def assign(request: HttpRequest, mention: Mention) -> str:
    who = request.POST.get("assignee", "")
    expected = request.POST.get("expected_assignee")
    expected_id: Any = triage.ANY_ASSIGNEE
    if expected is not None:
        expected_id = _int(expected)
    if who == "me":
        assignee = request.user
    elif who in ("", "none"):
        assignee = None
    else:
        assignee = get_object_or_404(get_user_model(), pk=_int(who, 0), is_active=True)
    triage.mention_assign(
        actor=request.user, mention=mention, assignee=assignee, expected_assignee_id=expected_id
    )
    return f"Assigned to {user_name(assignee)}." if assignee else "Unassigned."


@_mention_action
def reroute(request: HttpRequest, mention: Mention) -> str | HttpResponse:
    form = RerouteForm(request.POST)
    if not form.is_valid():
        return _action_response(
            request,
            mention.pk,
            error=" ".join(form.non_field_errors()) or "Check the form.",
            reroute_form=form,
        )
    data = form.cleaned_data
    moved = routing_actions.mention_reroute(
        actor=request.user, mention=mention, team=data["team"], intent=data["intent"], reason=data["reason"]
    )
    return f"Re-routed to {moved.team}." if moved.team else "Re-routed."


@_mention_action
def owner_decide(request: HttpRequest, mention: Mention) -> str | HttpResponse:
    """A lead keeps a post routing was unsure of (no team) or moves it to the team chosen."""
    form = OwnerDecisionForm(request.POST)
    if not form.is_valid():
        raise triage.TriageError(" ".join([*form.non_field_errors(), *form.errors.get("team", [])]))
    decided = routing_actions.mention_owner_decide(
        actor=request.user, mention=mention, team=form.cleaned_data["team"]
    )
    if not request.htmx:
        # Back to the queue the lead works through (the post may have moved out of their sight).
        return redirect(f"{reverse('inbox:index')}?queue=decide")
    if decided.team_id == mention.team_id:
        return f"Kept with {decided.team or 'no team'}; routing learns from your decision."
    return f"Moved to {decided.team}; routing learns from your decision."


@_mention_action
def sentiment(request: HttpRequest, mention: Mention) -> str:
    label = request.POST.get("sentiment", "")
    if label not in Mention.SentimentLabel.values:
        raise triage.TriageError("Choose negative, neutral or positive.")
    corrected = routing_actions.mention_sentiment_correct(actor=request.user, mention=mention, label=label)
    return f"Sentiment corrected to {corrected.get_sentiment_label_display().lower()}."


@_mention_action
def label(request: HttpRequest, mention: Mention) -> str:
    add = [part for part in request.POST.get("add", "").split(",")]
    remove = request.POST.getlist("remove")
    triage.mention_label(actor=request.user, mention=mention, add=add, remove=remove)
    return "Labels saved."


@_mention_action
def priority(request: HttpRequest, mention: Mention) -> str:
    value = _int(request.POST.get("priority"))
    triage.mention_prioritize(
        actor=request.user, mention=mention, priority=value if value is not None else -1
    )
    return "Priority set."


@_mention_action
def snooze(request: HttpRequest, mention: Mention) -> str | HttpResponse:
    form = SnoozeForm(request.POST)
    if not form.is_valid():
        return _action_response(request, mention.pk, error=form.errors["until"][0], snooze_form=form)
    until = form.cleaned_data["until"]
    triage.mention_snooze(actor=request.user, mention=mention, until=until)
    return f"Snoozed until {timezone.localtime(until):%a %d %b, %H:%M}."


@_mention_action
def close(request: HttpRequest, mention: Mention) -> str:
    triage.mention_close(actor=request.user, mention=mention)
    return "Closed."


@_mention_action
def reopen(request: HttpRequest, mention: Mention) -> str:
    triage.mention_reopen(actor=request.user, mention=mention)
    return "Reopened."


@_mention_action
def spam(request: HttpRequest, mention: Mention) -> str:
    triage.mention_mark_spam(actor=request.user, mention=mention)
    return "Marked as spam and closed; routing learns from it."


@_mention_action
def not_spam(request: HttpRequest, mention: Mention) -> str:
    moved = triage.mention_mark_not_spam(
        actor=request.user, mention=mention, intent=request.POST.get("intent", "")
    )
    return f"Not spam: back in the queue as {moved.intent.replace('_', ' ')}; routing learns from it."


@_mention_action
def note(request: HttpRequest, mention: Mention) -> str:
    triage.note_add(actor=request.user, mention=mention, body=request.POST.get("body", ""))
    return "Note added."


@_mention_action
def reply(request: HttpRequest, mention: Mention) -> str | HttpResponse:
    form = ReplyForm(request.POST)
    if not form.is_valid():
        return _action_response(request, mention.pk, error="Write a reply before sending.", reply_form=form)
    data = form.cleaned_data
    try:
        sent = replies.reply_create(
            actor=request.user,
            mention=mention,
            text=data["text"],
            is_direct=data["is_direct"],
            seen_reply_id=data["seen_reply_id"] or 0,
            confirm=data["confirm"],
        )
    except replies.ReplyCollision as exc:
        return _action_response(request, mention.pk, collision=str(exc), reply_form=form)
    except triage.TriageError as exc:
        return _action_response(request, mention.pk, error=str(exc), reply_form=form)
    if sent.state == Reply.State.AWAITING_APPROVAL:
        if mention.team_id and team_leaders(team_id=mention.team_id).admins_stand_in:
            return "Reply saved; a rule asks for approval: an admin will approve (this team has no lead)."
        return "Reply saved; a rule asks a team lead to approve it before it is sent."
    return "Reply queued for sending."


@_mention_action
def escalation_accept(request: HttpRequest, mention: Mention) -> str:
    escalation = escalations.escalation_of(mention)
    if escalation is None:
        raise triage.TriageError("This mention has no escalation waiting.")
    escalations.escalation_accept(actor=request.user, escalation=escalation)
    return f"Accepted for {escalation.to_team}."


@_mention_action
def escalation_bounce(request: HttpRequest, mention: Mention) -> str:
    escalation = escalations.escalation_of(mention)
    if escalation is None:
        raise triage.TriageError("This mention has no escalation waiting.")
    escalations.escalation_bounce(
        actor=request.user, escalation=escalation, reason=request.POST.get("reason", "")
    )
    return f"Bounced back to {escalation.from_team}."


def _reply_action(action: Callable[..., Reply], done: str, *, fields: tuple[str, ...] = ()) -> Callable:
    """A view for a reply service; ``fields`` are the form fields it takes as keyword arguments."""

    @_login_or_client_redirect
    @require_POST
    def run(request: HttpRequest, reply_id: int) -> HttpResponse:
        # Seeing the mention is the first gate (404 otherwise); the service checks the role.
        try:
            target = reply_get(user=request.user, reply_id=reply_id)
        except Reply.DoesNotExist:
            raise Http404("No such reply") from None
        try:
            action(actor=request.user, reply=target, **{name: request.POST.get(name, "") for name in fields})
        except triage.TriageError as exc:
            return _action_response(request, target.mention_id, error=str(exc))
        return _action_response(request, target.mention_id, notice=done)

    return run


reply_approve = _reply_action(replies.reply_approve, "Reply approved and queued for sending.")
reply_reject = _reply_action(
    replies.reply_reject, "Reply rejected; the agent sees your note.", fields=("note",)
)
reply_retry = _reply_action(replies.reply_retry, "Sending again.")


# --- Bulk ---------------------------------------------------------------------------------------------------


@_login_or_client_redirect
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """One action on the selected mentions; the list refreshes and the bar says what was done and skipped."""
    form = BulkForm(request.POST)
    if not form.is_valid():
        message = "; ".join(f"{e}" for errors in form.errors.values() for e in errors)
        return render(request, "inbox/_bulk_result.html", {"error": message}, status=200)
    data = form.cleaned_data
    reason = data.get("reason") or ""
    if data["action"] == "bounce_escalation":
        reason = data.get("bounce_reason") or reason  # the bar's own box; ``reason`` as the API names it
    mentions = list(mentions_visible_to(user=request.user).filter(pk__in=data["ids"]))
    missing = len(set(data["ids"])) - len(mentions)
    try:
        result = triage.mentions_bulk_apply(
            actor=request.user,
            mentions=mentions,
            action=data["action"],
            assignee=data.get("assignee"),
            labels=(data.get("labels") or "").split(","),
            priority=data.get("priority"),
            until=data.get("until"),
            team=data.get("team"),
            intent=data.get("intent") or "",
            reason=reason,
        )
    except triage.TriageError as exc:
        return render(request, "inbox/_bulk_result.html", {"error": str(exc)})
    response = render(request, "inbox/_bulk_result.html", {"result": result, "missing": missing})
    if not request.htmx:
        return redirect("inbox:index")
    return trigger_client_event(response, "inbox:changed", {"ids": result.done})


# --- Saved views --------------------------------------------------------------------------------------------


@login_required
@require_POST
def saved_view_save(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "").strip()[:80]
    form = InboxFilterForm(request.POST)
    if not form.is_valid():
        # A view that can only ever fail is not kept: the page says why, beside the filters.
        context = _page_context(request, request.POST)
        context["view_not_saved"] = True
        return render(request, "inbox/index.html", context, status=400)
    filters = form.filters().as_query()
    team_id = _int(request.POST.get("share_with"))
    if team_id is not None and not (user_is_admin(request.user) or team_id in user_team_ids(request.user)):
        raise Http404
    if name:
        SavedView.objects.update_or_create(
            owner=request.user, name=name, defaults={"filters": filters, "team_id": team_id}
        )
    return redirect(f"{reverse('inbox:index')}?{urlencode(filters)}")


@login_required
@require_POST
def saved_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    get_object_or_404(SavedView, pk=view_id, owner=request.user).delete()
    return redirect("inbox:index")


# --- Approvals ----------------------------------------------------------------------------------------------


@login_required
@require_GET
def approvals(request: HttpRequest) -> HttpResponse:
    """Replies a rule held for approval, for the leads who may approve them."""
    return render(
        request, "inbox/approvals.html", {"replies": list(replies_awaiting_approval(user=request.user)[:200])}
    )


# --- Live: presence and the event stream -------------------------------------------------------------------


@_login_or_client_redirect
@require_POST
def presence(request: HttpRequest, mention_id: int) -> HttpResponse:
    """The browser says the agent is looking at (or typing a reply to, or has left) a mention. Answers who
    else is there, and tells the other browsers."""
    try:
        mention = mention_get(user=request.user, mention_id=mention_id)
    except Mention.DoesNotExist:
        raise Http404("No such mention") from None
    viewers = presence_record(mention=mention, user=request.user, state=request.POST.get("state", "viewing"))
    return JsonResponse({"viewers": [v for v in viewers if v["user"] != request.user.pk]})


@_login_or_client_redirect
@require_GET
def events(request: HttpRequest) -> StreamingHttpResponse:
    """Server-sent events: what changed in the user's teams, as it happens (``inbox.streams``). The stream
    ends after a few minutes and the browser reconnects, catching up from the last event it saw."""
    frame = framer(
        admin=user_is_admin(request.user),
        team_ids=set(user_team_ids(request.user)),
        led_team_ids=set(user_led_team_ids(request.user)),
        username=request.user.get_username(),
    )
    last_id = last_event_id(request.headers, request.GET)
    if isinstance(request, ASGIRequest):
        body = streams.stream_async(frame=frame, last_id=last_id)
    else:
        body = streams.stream_sync(frame=frame, last_id=last_id)
    # The stream lives for minutes and needs no database: give the connection back now rather than hold
    # one per open inbox (with the embedded default, each poll opens and closes its own).
    connection.close()
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events through as they come
    return response
