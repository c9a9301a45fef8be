"""The REST API, version 1: mounted at /api/v1/ (see inbox.api for the views)."""

from django.contrib.auth.decorators import login_required
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from inbox import api
from integrations.api import MentionHandOffsApi
from people.api import PersonDetailApi, PersonsApi
from socialops.security import csp_allow_inline_styles
from users.api import TokenObtainApi

app_name = "api"

mention = "mentions/<int:mention_id>/"
reply = "replies/<int:reply_id>/"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file (?script), as script-src 'self' needs;
    # people who are not signed in are sent to the sign-in page.
    path(
        "docs/",
        login_required(csp_allow_inline_styles(SpectacularSwaggerSplitView.as_view(url_name="api:schema"))),
        name="docs",
    ),
    path("auth/token/", TokenObtainApi.as_view(), name="token"),
    path("mentions/", api.MentionsApi.as_view(), name="mentions"),
    path("mentions/bulk/", api.MentionsBulkApi.as_view(), name="mentions_bulk"),
    path(mention, api.MentionDetailApi.as_view(), name="mention"),
    path(f"{mention}assign/", api.MentionAssignApi.as_view(), name="mention_assign"),
    path(f"{mention}reroute/", api.MentionRerouteApi.as_view(), name="mention_reroute"),
    path(f"{mention}sentiment/", api.MentionSentimentApi.as_view(), name="mention_sentiment"),
    path(f"{mention}owner/", api.MentionOwnerApi.as_view(), name="mention_owner"),
    path(f"{mention}label/", api.MentionLabelApi.as_view(), name="mention_label"),
    path(f"{mention}priority/", api.MentionPriorityApi.as_view(), name="mention_priority"),
    path(f"{mention}snooze/", api.MentionSnoozeApi.as_view(), name="mention_snooze"),
    path(f"{mention}close/", api.MentionCloseApi.as_view(), name="mention_close"),
    path(f"{mention}reopen/", api.MentionReopenApi.as_view(), name="mention_reopen"),
    path(f"{mention}spam/", api.MentionSpamApi.as_view(), name="mention_spam"),
    path(f"{mention}not-spam/", api.MentionNotSpamApi.as_view(), name="mention_not_spam"),
    path(f"{mention}notes/", api.MentionNoteApi.as_view(), name="mention_notes"),
    path(f"{mention}replies/", api.MentionReplyApi.as_view(), name="mention_replies"),
    path(f"{mention}hand-offs/", MentionHandOffsApi.as_view(), name="mention_hand_offs"),
    path(f"{mention}escalation/accept/", api.EscalationAcceptApi.as_view(), name="escalation_accept"),
    path(f"{mention}escalation/bounce/", api.EscalationBounceApi.as_view(), name="escalation_bounce"),
    path(f"{reply}approve/", api.ReplyApproveApi.as_view(), name="reply_approve"),
    path(f"{reply}reject/", api.ReplyRejectApi.as_view(), name="reply_reject"),
    path(f"{reply}retry/", api.ReplyRetryApi.as_view(), name="reply_retry"),
    path("channels/", api.ChannelsApi.as_view(), name="channels"),
    path("teams/", api.TeamsApi.as_view(), name="teams"),
    path("rules/", api.RulesApi.as_view(), name="rules"),
    path("persons/", PersonsApi.as_view(), name="persons"),
    path("persons/<int:person_id>/", PersonDetailApi.as_view(), name="person"),
]
