"""REST API serializers: small input serializers per operation, and the output shapes they share.

Inputs only parse and check types; the selectors and services decide what the user may see and do. No
output ever carries a channel's credentials.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import serializers

from channels.connectors.registry import network_choices, registered_networks
from channels.models import Channel, Segment
from inbox.actions.escalations import escalation_of
from inbox.actions.triage import BULK_ACTIONS, BULK_MAX, NOTE_MAX
from inbox.forms import InboxFilterForm
from inbox.lines import LineRefused, parse_created_at, post_from_object
from inbox.models import Author, Mention, Note, Reply
from inbox.selectors import INBOX_PAGE_SIZE, QUEUES, cursor_decode
from routing.facts import INTENTS
from routing.models import Escalation, Rule
from teams.models import Team
from teams.roles import user_name

PAGE_SIZE_MAX = 200  # a page the list renders in well under a second; longer walks follow the cursor
API_DEFAULT_QUEUE = "all"  # an API client asks for everything it may see unless it names a queue
LABELS_MAX = 50  # labels one request may add or remove; more is a bulk job, not a correction
SEARCH_MAX = 200  # characters of a search; longer is a pasted post, not a query

_PRIORITY_NAMES = {choice.name.lower(): choice.value for choice in Mention.Priority}


# --- Fields -------------------------------------------------------------------------------------------------


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "enum": list(Mention.Priority.values)},
            {"type": "string", "enum": list(_PRIORITY_NAMES)},
        ],
        "description": "10 low, 20 normal, 30 high, 40 urgent; the names work too.",
    }
)
class PriorityField(serializers.Field):
    """A priority by value (10, 20, 30, 40) or by name (low, normal, high, urgent)."""

    default_error_messages = {"invalid": "Choose low, normal, high or urgent (or 10, 20, 30, 40)."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str):
            name = data.strip().lower()
            if name in _PRIORITY_NAMES:
                return _PRIORITY_NAMES[name]
            data = name
        try:
            value = int(data)
        except (TypeError, ValueError):
            self.fail("invalid")
        if isinstance(data, bool) or value not in Mention.Priority.values:
            self.fail("invalid")
        return value

    def to_representation(self, value: int) -> int:
        return value


def _active_users() -> Any:
    return get_user_model().objects.filter(is_active=True)


# --- Outputs ------------------------------------------------------------------------------------------------


class UserRefOut(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.SerializerMethodField()

    def get_name(self, user: Any) -> str:
        return user_name(user)


class TeamRefOut(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "slug", "name"]


class ChannelRefOut(serializers.ModelSerializer):
    segment = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Channel
        fields = ["id", "slug", "network", "handle", "segment"]


class AuthorOut(serializers.ModelSerializer):
    class Meta:
        model = Author
        fields = [
            "id",
            "network",
            "external_id",
            "handle",
            "display_name",
            "follower_count",
            "is_verified",
            "tags",
        ]


class EscalationOut(serializers.ModelSerializer):
    from_team = TeamRefOut()
    to_team = TeamRefOut()
    decided_by = UserRefOut(allow_null=True)

    class Meta:
        model = Escalation
        fields = [
            "id",
            "state",
            "from_team",
            "to_team",
            "reason",
            "created_at",
            "due_at",
            "escalated_to_lead_at",
            "bounce_reason",
            "decided_at",
            "decided_by",
        ]


class NoteOut(serializers.ModelSerializer):
    author = UserRefOut(allow_null=True)

    class Meta:
        model = Note
        fields = ["id", "author", "body", "created_at"]


class ReplyOut(serializers.ModelSerializer):
    author = UserRefOut(allow_null=True)
    reviewed_by = UserRefOut(allow_null=True)
    channel = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Reply
        fields = [
            "id",
            "mention",
            "channel",
            "author",
            "text",
            "is_direct",
            "state",
            "error",
            "attempts",
            "external_id",
            "url",
            "reviewed_by",
            "review_note",
            "created_at",
            "sent_at",
        ]


class MentionOut(serializers.ModelSerializer):
    """A mention as the list shows it. ``escalation`` is its open escalation, if any."""

    author = AuthorOut()
    team = TeamRefOut(allow_null=True)
    assignee = UserRefOut(allow_null=True)
    channels = serializers.SerializerMethodField()
    escalation = serializers.SerializerMethodField()

    class Meta:
        model = Mention
        fields = [
            "id",
            "network",
            "external_id",
            "kind",
            "text",
            "url",
            "created_at",
            "received_at",
            "author",
            "channels",
            "team",
            "assignee",
            "status",
            "priority",
            "intent",
            "intent_confidence",
            "sentiment",
            "sentiment_label",
            "is_misdirected",
            "labels",
            "requires_approval",
            "escalation",
            "routed_at",
            "snoozed_until",
            "closed_at",
            "updated_at",
        ]

    @extend_schema_field(ChannelRefOut(many=True))
    def get_channels(self, mention: Mention) -> list[dict]:
        # The list prefetches them, the detail selector attaches them; sorted here so neither is re-queried.
        channels = getattr(mention, "receiving_channels", None)
        if channels is None:
            channels = mention.channels.all()
        return ChannelRefOut(sorted(channels, key=lambda c: c.pk), many=True).data

    @extend_schema_field(EscalationOut(allow_null=True))
    def get_escalation(self, mention: Mention) -> dict | None:
        open_escalations = getattr(mention, "open_escalations", None)
        if open_escalations is None:
            escalation = escalation_of(mention)
        else:
            escalation = open_escalations[0] if open_escalations else None
        return EscalationOut(escalation).data if escalation is not None else None


class MentionDetailOut(MentionOut):
    """A mention with its routing decision and explanation, its escalations, notes and replies.

    Rendered from ``inbox.selectors.MentionDetail``; ``can_work`` says whether the user may act on it
    (a team that sent it away may look, not act).
    """

    decision = serializers.JSONField(
        help_text="The routing decision: owner, rules fired, explanation, rule set and model versions."
    )
    escalations = EscalationOut(many=True)
    notes = NoteOut(many=True)
    replies = ReplyOut(many=True)
    can_work = serializers.BooleanField()

    class Meta(MentionOut.Meta):
        fields = [
            *MentionOut.Meta.fields,
            "conversation_key",
            "in_reply_to",
            "decision",
            "escalations",
            "notes",
            "replies",
            "can_work",
        ]

    def to_representation(self, detail: Any) -> dict:
        mention = detail.mention
        open_escalations = [
            e
            for e in detail.escalations
            if e.state in (Escalation.State.PENDING, Escalation.State.ESCALATED_TO_LEAD)
        ]
        mention.open_escalations = open_escalations
        data = MentionOut(mention, context=self.context).data
        data.update(
            conversation_key=mention.conversation_key,
            in_reply_to=mention.in_reply_to,
            decision=mention.decision,
            escalations=EscalationOut(detail.escalations, many=True).data,
            notes=NoteOut(detail.notes, many=True).data,
            replies=ReplyOut(detail.replies, many=True).data,
            can_work=detail.can_work,
        )
        return data


class MentionPageOut(serializers.Serializer):
    results = MentionOut(many=True)
    next = serializers.URLField(allow_null=True, help_text="The next page, or null on the last one.")


class ErrorOut(serializers.Serializer):
    detail = serializers.CharField()


class AssignConflictOut(serializers.Serializer):
    detail = serializers.CharField()
    assignee = serializers.CharField(help_text="Who holds the mention now.")


class BulkSkippedOut(serializers.Serializer):
    id = serializers.IntegerField()
    reason = serializers.CharField()


class BulkOut(serializers.Serializer):
    done = serializers.ListField(child=serializers.IntegerField())
    skipped = BulkSkippedOut(many=True)


class SegmentRefOut(serializers.ModelSerializer):
    class Meta:
        model = Segment
        fields = ["id", "slug", "name"]


class ChannelOut(serializers.ModelSerializer):
    """A brand account, without its credentials or pull cursor."""

    segment = SegmentRefOut()
    team = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = [
            "id",
            "slug",
            "network",
            "handle",
            "external_account_id",
            "segment",
            "team",
            "state",
            "needs_reauth",
            "listening_queries",
            "poll_seconds",
            "last_pull_at",
            "last_pull_summary",
            "next_pull_at",
            "created_at",
        ]

    @extend_schema_field(TeamRefOut)
    def get_team(self, channel: Channel) -> dict:
        return TeamRefOut(channel.team_override or channel.segment.team).data


class MemberOut(serializers.Serializer):
    id = serializers.IntegerField(source="user.id")
    username = serializers.CharField(source="user.username")
    name = serializers.SerializerMethodField()
    role = serializers.CharField()

    def get_name(self, membership: Any) -> str:
        return user_name(membership.user)


class TeamOut(serializers.ModelSerializer):
    segments = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    members = MemberOut(many=True, source="memberships")

    class Meta:
        model = Team
        fields = ["id", "slug", "name", "description", "segments", "members"]


class RuleOut(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Rule
        fields = ["id", "position", "name", "enabled", "when", "then", "created_by", "updated_at"]


# --- Inputs -------------------------------------------------------------------------------------------------


class MentionListQuery(serializers.Serializer):
    """The list's query string: a page cursor and size, and the inbox's filters, which the inbox filter form
    checks (``inbox.forms.InboxFilterForm``: the same check as the pages' and saved views'). ``queue``
    defaults to ``all``. Empty values are ignored."""

    cursor = serializers.CharField(required=False, help_text="The `next` link's cursor.")
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=PAGE_SIZE_MAX, default=INBOX_PAGE_SIZE
    )

    def validate_cursor(self, value: str) -> str:
        try:
            cursor_decode(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value

    def validate(self, attrs: dict) -> dict:
        form = InboxFilterForm({"queue": API_DEFAULT_QUEUE, **self.initial_data})
        if not form.is_valid():
            raise serializers.ValidationError(
                {
                    "non_field_errors" if name == "__all__" else name: list(errors)
                    for name, errors in form.errors.items()
                }
            )
        attrs["filters"] = form.filters()
        return attrs


def _filter_parameter(name: str, kind: Any = OpenApiTypes.STR, help_text: str = "", enum: Any = None):
    return OpenApiParameter(
        name, kind, OpenApiParameter.QUERY, required=False, description=help_text, enum=enum
    )


# The filters as the schema shows them; InboxFilterForm is what checks them.
FILTER_PARAMETERS = [
    _filter_parameter("queue", help_text="Default `all`: everything the user may see.", enum=list(QUEUES)),
    _filter_parameter("team", OpenApiTypes.INT, "Team id."),
    _filter_parameter("segment", help_text="Segment slug of a receiving channel."),
    _filter_parameter("channel", help_text="Slug of a receiving channel."),
    _filter_parameter("network", enum=registered_networks()),
    _filter_parameter("kind", enum=Mention.Kind.values),
    _filter_parameter("status", enum=Mention.Status.values),
    _filter_parameter("intent", enum=list(INTENTS)),
    _filter_parameter("sentiment", enum=Mention.SentimentLabel.values),
    _filter_parameter("priority", help_text="10 low, 20 normal, 30 high, 40 urgent; the names work too."),
    _filter_parameter("assignee", help_text='"me", "none" or a user id.'),
    _filter_parameter("label"),
    _filter_parameter("misdirected", help_text="yes or no (true/false, 1/0)."),
    _filter_parameter("escalated", help_text="Has an open escalation: yes or no (true/false, 1/0)."),
    _filter_parameter("since", OpenApiTypes.DATE, "Posted on or after this day (2006 to a year from today)."),
    _filter_parameter(
        "until", OpenApiTypes.DATE, "Posted on or before this day (2006 to a year from today)."
    ),
    _filter_parameter("q", help_text="Text or author handle."),
]


class MentionCreateIn(serializers.Serializer):
    """One line of an ``import_mentions`` file, plus the slug of the channel that received it.

    Validated as the import validates a line; other fields are kept in the mention's raw payload.
    """

    channel = serializers.SlugRelatedField(
        slug_field="slug", queryset=Channel.objects.select_related("segment")
    )
    external_id = serializers.CharField(max_length=Mention._meta.get_field("external_id").max_length)
    text = serializers.CharField(allow_blank=True, trim_whitespace=False)
    author_handle = serializers.CharField(max_length=Author._meta.get_field("handle").max_length)
    created_at = serializers.CharField(help_text="ISO-8601 with a UTC offset, e.g. 2026-05-01T09:30:00Z.")
    author_id = serializers.CharField(
        required=False, max_length=Author._meta.get_field("external_id").max_length
    )
    author_name = serializers.CharField(required=False, allow_blank=True)
    author_followers = serializers.IntegerField(required=False, min_value=0)
    in_reply_to = serializers.CharField(required=False, allow_blank=True)
    network = serializers.ChoiceField(choices=network_choices(), required=False, help_text="The channel's.")
    kind = serializers.ChoiceField(choices=Mention.Kind.choices, required=False, default=Mention.Kind.MENTION)
    url = serializers.CharField(
        required=False, allow_blank=True, max_length=Mention._meta.get_field("url").max_length
    )

    def validate_created_at(self, value: str) -> str:
        try:
            parse_created_at(value)
        except LineRefused as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value

    def validate(self, attrs: dict) -> dict:
        line = {name: value for name, value in self.initial_data.items() if name != "channel"}
        try:
            attrs["post"] = post_from_object(line, default_network=attrs["channel"].network)
        except LineRefused as exc:
            raise serializers.ValidationError(str(exc)) from None
        return attrs


class AssignIn(serializers.Serializer):
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=_active_users(), allow_null=True, help_text="User id; null unassigns."
    )
    expected_assignee = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Who the client saw holding it (user id, null for nobody); someone else → 409.",
    )


class SentimentIn(serializers.Serializer):
    label = serializers.ChoiceField(choices=Mention.SentimentLabel.choices, help_text="The right sentiment.")


class RerouteIn(serializers.Serializer):
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), required=False, help_text="Team id."
    )
    segment = serializers.SlugRelatedField(
        slug_field="slug", queryset=Segment.objects.select_related("team"), required=False
    )
    intent = serializers.ChoiceField(choices=INTENTS, required=False)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")

    def validate(self, attrs: dict) -> dict:
        if "team" in attrs and "segment" in attrs:
            raise serializers.ValidationError({"segment": "Give a team or a segment, not both."})
        if not ({"team", "segment", "intent"} & attrs.keys()):
            raise serializers.ValidationError({"team": "Give a team, a segment or an intent to re-route to."})
        return attrs


class OwnerDecisionIn(serializers.Serializer):
    team = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Team.objects.all(),
        allow_null=True,
        help_text="Slug of the team that owns it; `null` (or the mention's own team) keeps it where it is.",
    )


NOT_SPAM_INTENTS = tuple(intent for intent in INTENTS if intent != Mention.SPAM_INTENT)


class NotSpamIn(serializers.Serializer):
    intent = serializers.ChoiceField(
        choices=NOT_SPAM_INTENTS,
        required=False,
        help_text="What it is instead; `other` when left out.",
    )


class LabelIn(serializers.Serializer):
    add = serializers.ListField(
        child=serializers.CharField(max_length=60), required=False, max_length=LABELS_MAX
    )
    remove = serializers.ListField(
        child=serializers.CharField(max_length=60), required=False, max_length=LABELS_MAX
    )


class PriorityIn(serializers.Serializer):
    priority = PriorityField()


class SnoozeIn(serializers.Serializer):
    until = serializers.DateTimeField(help_text="ISO-8601; within a year.")


class NoteIn(serializers.Serializer):
    body = serializers.CharField(max_length=NOTE_MAX)


class ReplyIn(serializers.Serializer):
    text = serializers.CharField()
    is_direct = serializers.BooleanField(default=False, help_text="Send as a direct message.")
    seen_reply_id = serializers.IntegerField(
        default=0,
        min_value=0,
        help_text="The newest reply the client showed; a newer one by someone else → 409.",
    )
    confirm = serializers.BooleanField(
        default=False, help_text="Send even though someone else replied since."
    )


class BounceIn(serializers.Serializer):
    reason = serializers.CharField(
        max_length=2000, help_text="Why it is not ours; the sending team reads it."
    )


class RejectIn(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class BulkIn(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=BULK_MAX
    )
    action = serializers.ChoiceField(choices=BULK_ACTIONS)
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=_active_users(), required=False, help_text="assign"
    )
    labels = serializers.ListField(
        child=serializers.CharField(max_length=60), required=False, max_length=LABELS_MAX, help_text="label"
    )
    priority = PriorityField(required=False, help_text="priority")
    until = serializers.DateTimeField(required=False, help_text="snooze")
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), required=False, help_text="reroute"
    )
    segment = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Segment.objects.select_related("team"),
        required=False,
        help_text="reroute",
    )
    intent = serializers.ChoiceField(choices=INTENTS, required=False, help_text="reroute, not_spam")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")

    def validate(self, attrs: dict) -> dict:
        if "team" in attrs and "segment" in attrs:
            raise serializers.ValidationError({"segment": "Give a team or a segment, not both."})
        segment = attrs.pop("segment", None)
        if segment is not None:
            attrs["team"] = segment.team
        return attrs
