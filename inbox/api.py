"""REST API views under /api/v1/: one view per operation, thin.

Each view parses its input with its own serializer, reads through ``inbox.selectors`` (so a mention the
user may not see is a 404 on every endpoint) and calls one action of ``inbox.actions`` or
``inbox.services``. A refused action (``TriageError``) is a 400 with ``{"detail": why}``; someone else
holding the mention, or having replied since, is a 409.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from inbox import serializers as s
from inbox.actions.base import TriageError
from inbox.actions.escalations import escalation_accept, escalation_bounce, escalation_of
from inbox.actions.replies import ReplyCollision, reply_approve, reply_create, reply_reject, reply_retry
from inbox.actions.routing import mention_owner_decide, mention_reroute, mention_sentiment_correct
from inbox.actions.triage import (
    AssignmentConflict,
    mention_assign,
    mention_close,
    mention_label,
    mention_mark_not_spam,
    mention_mark_spam,
    mention_prioritize,
    mention_reopen,
    mention_snooze,
    mentions_bulk_apply,
    note_add,
)
from inbox.models import Mention, Reply
from inbox.selectors import (
    channels_visible_to,
    mention_detail,
    mention_get,
    mentions_for_inbox,
    mentions_visible_to,
    reply_get,
    teams_visible_to,
)
from inbox.services import mentions_ingest
from routing.models import Rule
from teams.roles import user_is_admin

NOT_FOUND = OpenApiResponse(s.ErrorOut, description="No such mention, or not one this user may see.")
REFUSED = OpenApiResponse(
    s.ErrorOut, description="Invalid input, or an action the user or state does not allow."
)
ACTION_RESPONSES = {200: s.MentionOut, 400: REFUSED, 404: NOT_FOUND}


class IsAdmin(BasePermission):
    message = "Only admins can do that."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return user_is_admin(request.user)


class InboxApi(APIView):
    # The services' refusals become the same HTTP answers in every view. (A comment, not a docstring: the
    # schema would show a docstring as the description of every operation.)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, AssignmentConflict):
            return Response({"detail": str(exc), "assignee": exc.assignee}, status=status.HTTP_409_CONFLICT)
        if isinstance(exc, ReplyCollision):
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        if isinstance(exc, TriageError):
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        if isinstance(exc, Mention.DoesNotExist | Reply.DoesNotExist):
            exc = NotFound()
        return super().handle_exception(exc)


def _parse(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _mention(request: Request, mention_id: int) -> Mention:
    return mention_get(user=request.user, mention_id=mention_id)


# --- Mentions -----------------------------------------------------------------------------------------------


class MentionsApi(InboxApi):
    @property
    def max_body_bytes(self) -> int:
        # A mention created here is one import line: the same limit, checked before the body is parsed.
        return settings.SOCIALOPS_IMPORT_MAX_LINE_BYTES

    @extend_schema(
        operation_id="mentions_list",
        summary="List mentions",
        description=(
            "Newest first, a page at a time: follow `next` (keyset paging, stable while mentions arrive). "
            "Filters are those of the inbox; `queue` defaults to `all` (everything the user may see)."
        ),
        parameters=[s.MentionListQuery, *s.FILTER_PARAMETERS],
        responses={200: s.MentionPageOut, 400: REFUSED},
    )
    def get(self, request: Request) -> Response:
        query = _parse(s.MentionListQuery, {k: v for k, v in request.query_params.items() if v.strip()})
        page = mentions_for_inbox(
            user=request.user, filters=query["filters"], after=query.get("cursor", ""), limit=query["limit"]
        )
        next_url = None
        if page.next_cursor:
            next_url = replace_query_param(request.build_absolute_uri(), "cursor", page.next_cursor)
        return Response({"results": s.MentionOut(page.mentions, many=True).data, "next": next_url})

    @extend_schema(
        operation_id="mentions_create",
        summary="Add a mention from a generic source (admins)",
        description=(
            "Stored and routed like a line of `import_mentions` received on `channel`. Idempotent: a post "
            "already stored answers 200 with the stored mention, a new one 201."
        ),
        request=s.MentionCreateIn,
        responses={
            201: s.MentionDetailOut,
            200: OpenApiResponse(s.MentionDetailOut, description="Already stored; nothing changed."),
            400: REFUSED,
            403: s.ErrorOut,
        },
    )
    def post(self, request: Request) -> Response:
        if not user_is_admin(request.user):
            self.permission_denied(request, message="Only admins can add mentions.")
        data = _parse(s.MentionCreateIn, request.data)
        post = data["post"]
        result = mentions_ingest(channel=data["channel"], posts=[post], cursor=None)
        if result.rejected:
            raise serializers.ValidationError({"detail": result.rejected[0].reason})
        if result.inserted_ids:
            mention_id, answer = result.inserted_ids[0], status.HTTP_201_CREATED
        else:
            mention_id = (
                mentions_visible_to(user=request.user)
                .values_list("id", flat=True)
                .get(network=post.network, external_id=post.external_id)
            )
            answer = status.HTTP_200_OK
        detail = mention_detail(user=request.user, mention_id=mention_id)
        return Response(s.MentionDetailOut(detail).data, status=answer)


class MentionDetailApi(InboxApi):
    @extend_schema(
        operation_id="mentions_retrieve",
        summary="One mention with its routing decision, escalations, notes and replies",
        responses={200: s.MentionDetailOut, 404: NOT_FOUND},
    )
    def get(self, request: Request, mention_id: int) -> Response:
        detail = mention_detail(user=request.user, mention_id=mention_id)
        return Response(s.MentionDetailOut(detail).data)


class MentionAssignApi(InboxApi):
    @extend_schema(
        operation_id="mentions_assign",
        summary="Assign or unassign",
        description="409 when someone else holds it (or not the one named in `expected_assignee`).",
        request=s.AssignIn,
        responses={**ACTION_RESPONSES, 409: s.AssignConflictOut},
    )
    def post(self, request: Request, mention_id: int) -> Response:
        mention = _mention(request, mention_id)
        data = _parse(s.AssignIn, request.data)
        expected = {"expected_assignee_id": data["expected_assignee"]} if "expected_assignee" in data else {}
        assigned = mention_assign(actor=request.user, mention=mention, assignee=data["assignee"], **expected)
        return Response(s.MentionOut(assigned).data)


class MentionRerouteApi(InboxApi):
    @extend_schema(
        operation_id="mentions_reroute",
        summary="Re-route to a team (or a segment's team) and/or correct the intent",
        request=s.RerouteIn,
        responses=ACTION_RESPONSES,
    )
    def post(self, request: Request, mention_id: int) -> Response:
        mention = _mention(request, mention_id)
        data = _parse(s.RerouteIn, request.data)
        moved = mention_reroute(actor=request.user, mention=mention, **data)
        return Response(s.MentionOut(moved).data)


class MentionSentimentApi(InboxApi):
    @extend_schema(
        operation_id="mentions_sentiment",
        summary="Correct the sentiment label (the sentiment model learns from it)",
        request=s.SentimentIn,
        responses=ACTION_RESPONSES,
    )
    def post(self, request: Request, mention_id: int) -> Response:
        mention = _mention(request, mention_id)
        data = _parse(s.SentimentIn, request.data)
        corrected = mention_sentiment_correct(actor=request.user, mention=mention, label=data["label"])
        return Response(s.MentionOut(corrected).data)


class MentionOwnerApi(InboxApi):
    @extend_schema(
        operation_id="mentions_owner",
        summary="Decide who owns a post routing was unsure of (leads of the mention's team, admins)",
        description=(
            "For a mention whose decision says `needs_decision`: `team` null (or the mention's own team) "
            "keeps it where it is, another team's slug moves it there. Routing learns from the decision. "
            "400 when the mention needs no decision or the user is not a lead of its team."
        ),
        request=s.OwnerDecisionIn,
        responses=ACTION_RESPONSES,
    )
    def post(self, request: Request, mention_id: int) -> Response:
        mention = _mention(request, mention_id)
        data = _parse(s.OwnerDecisionIn, request.data)
        decided = mention_owner_decide(actor=request.user, mention=mention, team=data["team"])
        return Response(s.MentionOut(decided).data)


class MentionLabelApi(InboxApi):
    @extend_schema(
        operation_id="mentions_label",
        summary="Add and remove labels",
        request=s.LabelIn,
        responses=ACTION_RESPONSES,
    )
    def post(self, request: Request, mention_id: int) -> Response:
        mention = _mention(request, mention_id)
        data = _parse(s.LabelIn, request.data)
        labelled = mention_label(actor=request.user, mention=mention, **data)
        return Response(s.MentionOut(labelled).data)


class MentionPriorityApi(InboxApi):
    @extend_schema(
        operation_id="mentions_priority",
        summary="Set the priority",
        request=s.PriorityIn,
        responses=ACTION_RESPONSES,
    )
    def post(self, request: Request, mention_id: int) -> Response:
        mention = _mention(request, mention_id)
        data = _parse(s.PriorityIn, request.data)
        return Response(s.MentionOut(mention_prioritize(actor=request.user, mention=mention, **data)).data)


class MentionSnoozeApi(InboxApi):
    @extend_schema(
        operation_id="mentions_snooze",
        summary="Snooze until a time; it comes back open then",
        request=s.SnoozeIn,
        responses=ACTION_RESPONSES,
    )
    def post(self, request: Request, mention_id: int) -> Response:
        mention = _mention(request, mention_id)
        data = _parse(s.SnoozeIn, request.data)
        return Response(s.MentionOut(mention_snooze(actor=request.user, mention=mention, **data)).data)


class MentionCloseApi(InboxApi):
    @extend_schema(operation_id="mentions_close", summary="Close", request=None, responses=ACTION_RESPONSES)
    def post(self, request: Request, mention_id: int) -> Response:
        mention = _mention(request, mention_id)
        return Response(s.MentionOut(mention_close(actor=request.user, mention=mention)).data)


class MentionReopenApi(InboxApi):
    @extend_schema(operation_id="mentions_reopen", summary="Reopen", request=None, responses=ACTION_RESPONSES)
    def post(self, request: Request, mention_id: int) -> Response:
        mention = _mention(request, mention_id)
        return Response(s.MentionOut(mention_reopen(actor=request.user, mention=mention)).data)


class MentionSpamApi(InboxApi):
    @extend_schema(
        operation_id="mentions_spam",
        summary="Mark as spam: closed, labelled, and learnt by the classifier",
        request=None,
        responses=ACTION_RESPONSES,
    )
    def post(self, request: Request, mention_id: int) -> Response:
        mention = _mention(request, mention_id)
        return Response(s.MentionOut(mention_mark_spam(actor=request.user, mention=mention)).data)


class MentionNotSpamApi(InboxApi):
    @extend_schema(
        operation_id="mentions_not_spam",
        summary="Not spam after all: back in the team's queue, and learnt by the classifier",
        description="`intent` says what it is instead (`other` when left out).",
        request=s.NotSpamIn,
        responses=ACTION_RESPONSES,
    )
    def post(self, request: Request, mention_id: int) -> Response:
        mention = _mention(request, mention_id)
        data = _parse(s.NotSpamIn, request.data)
        return Response(s.MentionOut(mention_mark_not_spam(actor=request.user, mention=mention, **data)).data)


class MentionNoteApi(InboxApi):
    @extend_schema(
        operation_id="mentions_notes_create",
        summary="Add an internal note",
        request=s.NoteIn,
        responses={201: s.NoteOut, 400: REFUSED, 404: NOT_FOUND},
    )
    def post(self, request: Request, mention_id: int) -> Response:
        mention = _mention(request, mention_id)
        data = _parse(s.NoteIn, request.data)
        note = note_add(actor=request.user, mention=mention, **data)
        return Response(s.NoteOut(note).data, status=status.HTTP_201_CREATED)


class MentionReplyApi(InboxApi):
    @extend_schema(
        operation_id="mentions_replies_create",
        summary="Reply through the channel the post arrived on",
        description=(
            "Queued for sending, or held for a lead's approval when a rule asked for one. 409 when someone "
            "else replied after `seen_reply_id`; send again with `confirm` to reply anyway."
        ),
        request=s.ReplyIn,
        responses={
            201: s.ReplyOut,
            400: REFUSED,
            404: NOT_FOUND,
            409: OpenApiResponse(s.ErrorOut, description="Someone else replied since."),
        },
    )
    def post(self, request: Request, mention_id: int) -> Response:
        mention = _mention(request, mention_id)
        data = _parse(s.ReplyIn, request.data)
        reply = reply_create(actor=request.user, mention=mention, **data)
        return Response(s.ReplyOut(reply).data, status=status.HTTP_201_CREATED)


def _open_escalation(request: Request, mention_id: int) -> Any:
    escalation = escalation_of(_mention(request, mention_id))
    if escalation is None:
        raise TriageError("This mention has no open escalation.")
    return escalation


class EscalationAcceptApi(InboxApi):
    @extend_schema(
        operation_id="mentions_escalation_accept",
        summary="Accept the mention's open escalation: the team it was escalated to takes it",
        request=None,
        responses={200: s.EscalationOut, 400: REFUSED, 404: NOT_FOUND},
    )
    def post(self, request: Request, mention_id: int) -> Response:
        escalation = _open_escalation(request, mention_id)
        return Response(s.EscalationOut(escalation_accept(actor=request.user, escalation=escalation)).data)


class EscalationBounceApi(InboxApi):
    @extend_schema(
        operation_id="mentions_escalation_bounce",
        summary="Bounce the mention's open escalation back to the team that received it",
        request=s.BounceIn,
        responses={200: s.EscalationOut, 400: REFUSED, 404: NOT_FOUND},
    )
    def post(self, request: Request, mention_id: int) -> Response:
        escalation = _open_escalation(request, mention_id)
        data = _parse(s.BounceIn, request.data)
        bounced = escalation_bounce(actor=request.user, escalation=escalation, **data)
        return Response(s.EscalationOut(bounced).data)


class MentionsBulkApi(InboxApi):
    @extend_schema(
        operation_id="mentions_bulk",
        summary="Apply one action to up to 1000 mentions",
        description=(
            "Mentions the user may not work on, or that are not there for them, are skipped with a reason; "
            "the rest are done. Parameters by action: assign `assignee`; label `labels`; priority `priority`;"
            " snooze `until`; reroute `team` or `segment`, and/or `intent`, with `reason`; not_spam `intent`."
        ),
        request=s.BulkIn,
        responses={200: s.BulkOut, 400: REFUSED},
    )
    def post(self, request: Request) -> Response:
        data = _parse(s.BulkIn, request.data)
        ids = data.pop("ids")
        mentions = list(mentions_visible_to(user=request.user).filter(pk__in=ids))
        result = mentions_bulk_apply(actor=request.user, mentions=mentions, **data)
        skipped = dict(result.skipped)
        skipped.update(dict.fromkeys(set(ids) - {m.pk for m in mentions}, "not found"))
        return Response(
            {
                "done": sorted(result.done),
                "skipped": [{"id": pk, "reason": reason} for pk, reason in sorted(skipped.items())],
            }
        )


# --- Replies ------------------------------------------------------------------------------------------------

REPLY_RESPONSES = {
    200: s.ReplyOut,
    400: REFUSED,
    404: OpenApiResponse(s.ErrorOut, description="No such reply, or not one this user may see."),
}


class ReplyApproveApi(InboxApi):
    @extend_schema(
        operation_id="replies_approve",
        summary="Approve a held reply (leads of the mention's team, admins); it is sent",
        request=None,
        responses=REPLY_RESPONSES,
    )
    def post(self, request: Request, reply_id: int) -> Response:
        reply = reply_get(user=request.user, reply_id=reply_id)
        return Response(s.ReplyOut(reply_approve(actor=request.user, reply=reply)).data)


class ReplyRejectApi(InboxApi):
    @extend_schema(
        operation_id="replies_reject",
        summary="Reject a held reply, with a note for its author",
        request=s.RejectIn,
        responses=REPLY_RESPONSES,
    )
    def post(self, request: Request, reply_id: int) -> Response:
        reply = reply_get(user=request.user, reply_id=reply_id)
        data = _parse(s.RejectIn, request.data)
        return Response(s.ReplyOut(reply_reject(actor=request.user, reply=reply, **data)).data)


class ReplyRetryApi(InboxApi):
    @extend_schema(
        operation_id="replies_retry",
        summary="Send a failed reply again",
        request=None,
        responses=REPLY_RESPONSES,
    )
    def post(self, request: Request, reply_id: int) -> Response:
        reply = reply_get(user=request.user, reply_id=reply_id)
        return Response(s.ReplyOut(reply_retry(actor=request.user, reply=reply)).data)


# --- Channels, teams, rules ---------------------------------------------------------------------------------


class ChannelsApi(InboxApi):
    @extend_schema(
        operation_id="channels_list",
        summary="Channels: all for admins, your teams' for everyone else",
        responses=s.ChannelOut(many=True),
    )
    def get(self, request: Request) -> Response:
        return Response(s.ChannelOut(channels_visible_to(user=request.user), many=True).data)


class TeamsApi(InboxApi):
    @extend_schema(
        operation_id="teams_list",
        summary="Teams with their segments and members: all for admins, your own for everyone else",
        responses=s.TeamOut(many=True),
    )
    def get(self, request: Request) -> Response:
        return Response(s.TeamOut(teams_visible_to(user=request.user), many=True).data)


class RulesApi(InboxApi):
    permission_classes = [IsAuthenticated, IsAdmin]

    @extend_schema(
        operation_id="rules_list",
        summary="Routing rules in the order they run (admins)",
        responses={200: s.RuleOut(many=True), 403: s.ErrorOut},
    )
    def get(self, request: Request) -> Response:
        rules = Rule.objects.select_related("created_by").order_by("position", "id")
        return Response(s.RuleOut(rules, many=True).data)
