"""Reads of the inbox. Every selector takes the acting user and returns only what that user may see.

Who sees what: admins see every mention; everyone else sees the mentions their teams own (a post escalated
to a team is owned by it while the escalation waits) and the ones their teams sent away and that still wait
for the other team. The same selectors serve the pages and the REST API, so access lives here only.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import BooleanField, Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from channels.models import Channel, Segment
from foundation.access import may_work_on
from foundation.models import DomainEvent
from inbox.models import Author, CannedResponse, Mention, MentionChannel, Note, Reply, SavedView
from inbox.outbox import reply_waiting
from inbox.presence import viewers_of
from inbox.search import sqlite_text_filter
from routing.models import Escalation
from teams.models import Membership, Team
from teams.roles import actor_of, user_is_admin, user_led_team_ids, user_team_ids

INBOX_PAGE_SIZE = 50  # a screenful and a half on a laptop; more pages come by keyset, never OFFSET
COUNT_CAP = 1000  # sidebar counts stop here ("999+"): an exact count over a big team costs tens of ms
SEARCH_AUTHORS_MAX = 500  # authors a handle search may match before the text search is all that counts

ACTIVE_STATUSES = (Mention.Status.NEW, Mention.Status.OPEN, Mention.Status.PENDING)
OPEN_ESCALATION_STATES = (Escalation.State.PENDING, Escalation.State.ESCALATED_TO_LEAD)

QUEUES: dict[str, str] = {
    "mine": "My mentions",
    "team": "Team queue",
    "escalated": "Escalated to my team",
    "sent": "Sent away",
    "decide": "Needs a decision",
    "snoozed": "Snoozed",
    "closed": "Closed",
    "spam": "Spam",
    "all": "All I may see",
}
DEFAULT_QUEUE = "team"
# Queues only leads (and admins) have: the others neither see them listed nor find anything in them.
LEAD_QUEUES = frozenset({"decide"})
# How routing's explanation starts the sentence saying a lead must decide who owns a post
# (routing.engine._owner_sentence).
NEEDS_DECISION_SENTENCE = "Needs a decision:"


@dataclass(frozen=True)
class InboxFilters:
    """What the list shows: a queue and the filters on top of it. Empty values filter nothing."""

    queue: str = DEFAULT_QUEUE
    team: int | None = None
    segment: str = ""
    channel: str = ""
    network: str = ""
    kind: str = ""
    status: str = ""
    intent: str = ""
    sentiment: str = ""
    priority: int | None = None
    assignee: str = ""  # "me", "none" or a user id
    label: str = ""
    author_segment: str = ""  # one of routing.facts.AUTHOR_SEGMENTS (inbox.Author.segments)
    misdirected: bool | None = None
    escalated: bool | None = None
    since: date | None = None
    until: date | None = None
    q: str = ""

    def as_query(self) -> dict[str, str]:
        """The filters as query-string values, leaving out the empty ones (for links and saved views)."""
        out = {}
        for name, value in self.__dict__.items():
            if value is None or value == "":
                continue
            if isinstance(value, bool):
                value = "yes" if value else "no"
            out[name] = str(value)
        return out


@dataclass(frozen=True)
class MentionPage:
    mentions: list[Mention]
    next_cursor: str = ""
    viewers: dict[int, list[str]] = field(default_factory=dict)


# --- Visibility ---------------------------------------------------------------------------------------------


def _sent_away(team_ids: Sequence[int]) -> QuerySet:
    return Escalation.objects.filter(from_team_id__in=team_ids, state__in=OPEN_ESCALATION_STATES).values(
        "mention_id"
    )


def mentions_visible_to(*, user: AbstractBaseUser) -> QuerySet[Mention]:
    """Every mention the user may open."""
    mentions = Mention.objects.all()
    if user_is_admin(user):
        return mentions
    team_ids = user_team_ids(user)
    return mentions.filter(Q(team_id__in=team_ids) | Q(id__in=_sent_away(team_ids)))


def mention_get(*, user: AbstractBaseUser, mention_id: int, for_update: bool = False) -> Mention:
    """One mention the user may see; ``Mention.DoesNotExist`` (a 404) when it does not exist for them."""
    mentions = mentions_visible_to(user=user)
    if for_update:
        mentions = mentions.select_for_update(of=("self",))
    return mentions.select_related("author", "team", "assignee").get(pk=mention_id)


def mention_is_workable_by(*, user: AbstractBaseUser, mention: Mention) -> bool:
    """Whether the user may act on the mention (its team's members and admins), not only look at it."""
    return may_work_on(actor_of(user), team_id=mention.team_id)


# --- The list -----------------------------------------------------------------------------------------------


def _queue(user: AbstractBaseUser, queue: str, *, is_admin: bool, team_ids: list[int]) -> QuerySet[Mention]:
    mentions = Mention.objects.all()
    mine = Q() if is_admin else Q(team_id__in=team_ids)
    # Spam, whoever said so, is in none of the work queues: it has a view of its own.
    working = mentions.exclude(intent=Mention.SPAM_INTENT)
    if queue == "mine":
        return working.filter(mine, assignee=user, status__in=ACTIVE_STATUSES)
    if queue == "team":
        return working.filter(mine, assignee=None, status__in=(Mention.Status.NEW, Mention.Status.OPEN))
    if queue == "escalated":
        received = Escalation.objects.filter(state__in=OPEN_ESCALATION_STATES)
        if not is_admin:
            received = received.filter(to_team_id__in=team_ids)
        return working.filter(mine, id__in=received.values("mention_id"))
    if queue == "sent":
        sent = Escalation.objects.filter(state__in=OPEN_ESCALATION_STATES)
        if not is_admin:
            sent = sent.filter(from_team_id__in=team_ids)
        return working.filter(id__in=sent.values("mention_id"))
    if queue == "decide":
        # Routing was unsure who owns them (the partial index mention_needs_decision_idx); a closed one was
        # handled by the team that has it, which is what the owner model learns from it.
        undecided = working.filter(decision__needs_decision=True).exclude(status=Mention.Status.CLOSED)
        return undecided if is_admin else undecided.filter(team_id__in=user_led_team_ids(user))
    if queue == "snoozed":
        return working.filter(mine, status=Mention.Status.SNOOZED)
    if queue == "closed":
        return working.filter(mine, status=Mention.Status.CLOSED)
    if queue == "spam":
        return mentions.filter(mine, intent=Mention.SPAM_INTENT)
    if is_admin:
        return mentions
    return mentions.filter(Q(team_id__in=team_ids) | Q(id__in=_sent_away(team_ids)))


def _text_search(mentions: QuerySet[Mention], q: str) -> QuerySet[Mention]:
    q = q.strip()
    # Handles are matched for "@name" or a single word; a phrase is about the text, and matching it against
    # every author's handle would cost a scan of the authors for nothing.
    handle = q.lstrip("@") if q.startswith("@") or " " not in q else ""
    author_ids = list(
        Author.objects.filter(handle__icontains=handle).values_list("id", flat=True)[:SEARCH_AUTHORS_MAX]
        if handle
        else []
    )
    if connection.vendor == "postgresql":
        # The same expression as the GIN index mention_text_search_idx, so PostgreSQL can use it.
        text = RawSQL(
            "to_tsvector('simple'::regconfig, inbox_mention.text)"
            " @@ websearch_to_tsquery('simple'::regconfig, %s)",
            (q,),
            output_field=BooleanField(),
        )
        matches = Q(text)
    else:
        # SQLite (the embedded default): the FTS5 index of migration 0009, read with the same syntax.
        matches = sqlite_text_filter(q)
    if author_ids:
        matches |= Q(author_id__in=author_ids)
    return mentions.filter(matches)


def _apply_filters(mentions: QuerySet[Mention], f: InboxFilters, user: AbstractBaseUser) -> QuerySet[Mention]:
    if f.team is not None:
        mentions = mentions.filter(team_id=f.team)
    if f.segment:
        mentions = mentions.filter(
            Exists(MentionChannel.objects.filter(mention_id=OuterRef("pk"), channel__segment__slug=f.segment))
        )
    if f.channel:
        mentions = mentions.filter(
            Exists(MentionChannel.objects.filter(mention_id=OuterRef("pk"), channel__slug=f.channel))
        )
    for name in ("network", "kind", "status", "intent"):
        value = getattr(f, name)
        if value:
            mentions = mentions.filter(**{name: value})
    if f.sentiment:
        mentions = mentions.filter(sentiment_label=f.sentiment)
    if f.priority is not None:
        mentions = mentions.filter(priority=f.priority)
    if f.assignee == "me":
        mentions = mentions.filter(assignee=user)
    elif f.assignee == "none":
        mentions = mentions.filter(assignee=None)
    elif f.assignee:
        mentions = mentions.filter(assignee_id=int(f.assignee))
    if f.label:
        if connection.vendor == "postgresql":
            mentions = mentions.filter(labels__contains=[f.label])
        else:
            # SQLite (the embedded default) has no JSON containment: find the quoted label in the stored list.
            mentions = mentions.filter(labels__icontains=json.dumps(f.label))
    if f.author_segment:
        if connection.vendor == "postgresql":
            mentions = mentions.filter(author__segments__contains=[f.author_segment])
        else:
            mentions = mentions.filter(author__segments__icontains=json.dumps(f.author_segment))
    if f.misdirected is not None:
        mentions = mentions.filter(is_misdirected=f.misdirected)
    if f.escalated is not None:
        open_escalation = Exists(
            Escalation.objects.filter(mention_id=OuterRef("pk"), state__in=OPEN_ESCALATION_STATES)
        )
        mentions = mentions.filter(open_escalation if f.escalated else ~open_escalation)
    tz = timezone.get_current_timezone()
    if f.since:
        mentions = mentions.filter(created_at__gte=datetime.combine(f.since, time.min, tzinfo=tz))
    if f.until:
        mentions = mentions.filter(
            created_at__lt=datetime.combine(f.until + timedelta(days=1), time.min, tzinfo=tz)
        )
    if f.q:
        mentions = _text_search(mentions, f.q)
    return mentions


def cursor_encode(created_at: datetime, mention_id: int) -> str:
    """An opaque keyset cursor: the (created_at, id) of the last mention on a page."""
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{mention_id}".encode()).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[datetime, int]:
    """The (created_at, id) of a cursor; ``ValueError`` with a readable message when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, mention_id = raw.rpartition("|")
        created_at = parse_datetime(stamp)
        if created_at is None:
            raise ValueError
        return created_at, int(mention_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError("The page cursor is not valid; start again from the first page.") from None


def mentions_for_inbox(
    *,
    user: AbstractBaseUser,
    filters: InboxFilters | None = None,
    after: str = "",
    limit: int = INBOX_PAGE_SIZE,
) -> MentionPage:
    """A page of the user's queue with its filters, newest first, with what the list shows loaded.

    Keyset paging on (created_at, id): the ``created_at <= c`` term in front lets PostgreSQL walk the queue
    index from the cursor instead of counting rows as OFFSET would. Always the same number of queries,
    whatever the page size.
    """
    f = filters or InboxFilters()
    is_admin = user_is_admin(user)
    team_ids = [] if is_admin else user_team_ids(user)
    mentions = _apply_filters(_queue(user, f.queue, is_admin=is_admin, team_ids=team_ids), f, user)
    if after:
        created_at, last_id = cursor_decode(after)
        mentions = mentions.filter(
            Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=last_id),
            created_at__lte=created_at,
        )
    rows = list(
        mentions.select_related("author", "team", "assignee")
        .prefetch_related(
            # Into a list of its own (to_attr): a prefetch into the related manager builds a filtered
            # queryset for every row, a third of the list's time.
            Prefetch(
                "channels",
                queryset=Channel.objects.select_related("segment").order_by("id"),
                to_attr="receiving_channels",
            ),
            Prefetch(
                "escalations",
                queryset=Escalation.objects.filter(state__in=OPEN_ESCALATION_STATES).select_related(
                    "from_team", "to_team"
                ),
                to_attr="open_escalations",
            ),
        )
        .order_by("-created_at", "-id")[: limit + 1]
    )
    next_cursor = ""
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = cursor_encode(rows[-1].created_at, rows[-1].id)
    viewers = viewers_of([m.id for m in rows])
    questions = owner_questions(rows) if f.queue == "decide" else {}
    for m in rows:
        m.viewers = viewers.get(m.id, [])
        m.owner_question = questions.get(m.id)
    return MentionPage(mentions=rows, next_cursor=next_cursor, viewers=viewers)


def queues_for(*, user: AbstractBaseUser) -> dict[str, str]:
    """The queues the user has: every one for leads and admins, all but the leads' own for the others."""
    if user_is_admin(user) or user_led_team_ids(user):
        return dict(QUEUES)
    return {key: name for key, name in QUEUES.items() if key not in LEAD_QUEUES}


def queue_counts(*, user: AbstractBaseUser) -> dict[str, int]:
    """How many mentions wait in each of the user's queues, capped at COUNT_CAP (shown as "999+")."""
    is_admin = user_is_admin(user)
    team_ids = [] if is_admin else user_team_ids(user)
    return {
        queue: _queue(user, queue, is_admin=is_admin, team_ids=team_ids).values("id")[:COUNT_CAP].count()
        for queue in queues_for(user=user)
        if queue not in ("all", "closed", "spam")
    }


@dataclass(frozen=True)
class OwnerQuestion:
    """What routing was unsure of about who owns a post, for the lead who decides."""

    sentence: str  # routing's "Needs a decision: …" sentence ("" when the explanation has none)
    likelier: Team | None  # the other team routing found as likely, when the sentence names one


def owner_questions(mentions: Sequence[Mention]) -> dict[int, OwnerQuestion]:
    """The owner question of each mention that waits for a lead's decision (``decision.needs_decision``)."""
    waiting = [m for m in mentions if (m.decision or {}).get("needs_decision")]
    if not waiting:
        return {}
    teams = list(Team.objects.order_by("name"))
    questions = {}
    for mention in waiting:
        sentence = next(
            (
                line
                for line in mention.decision.get("explanation") or []
                if isinstance(line, str) and line.startswith(NEEDS_DECISION_SENTENCE)
            ),
            "",
        )
        # The decision names the owner model's likeliest team; decisions stored before it did name it in the
        # sentence only: "…, but team <name> is as likely (…)".
        slug = mention.decision.get("owner_team")
        likelier = next(
            (
                team
                for team in teams
                if team.pk != mention.team_id
                and (team.slug == slug if slug else f"but team {team.name} is " in sentence)
            ),
            None,
        )
        questions[mention.pk] = OwnerQuestion(sentence=sentence, likelier=likelier)
    return questions


# --- The detail pane ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MentionDetail:
    mention: Mention
    thread: list[Mention]
    replies: list[Reply]
    notes: list[Note]
    escalations: list[Escalation]
    audit: list[DomainEvent]
    author_history: list[Mention]
    canned: list[CannedResponse]
    teammates: list
    teams: list[Team]
    viewers: list[dict]
    can_work: bool


THREAD_MAX = 50
AUTHOR_HISTORY_MAX = 10
AUDIT_MAX = 50


def mention_detail(*, user: AbstractBaseUser, mention_id: int) -> MentionDetail:
    """Everything the detail pane shows about one mention the user may see."""
    mention = mention_get(user=user, mention_id=mention_id)
    visible = mentions_visible_to(user=user)
    thread = [mention]
    if mention.conversation_key:
        thread = list(
            visible.filter(network=mention.network, conversation_key=mention.conversation_key)
            .select_related("author")
            .order_by("created_at", "id")[:THREAD_MAX]
        )
    escalations = list(
        mention.escalations.select_related("from_team", "to_team", "decided_by").order_by("id")
    )
    mention_type = ContentType.objects.get_for_model(Mention)
    escalation_type = ContentType.objects.get_for_model(Escalation)
    audit = list(
        DomainEvent.objects.filter(
            Q(object_type=mention_type, object_id=str(mention.pk))
            | Q(object_type=escalation_type, object_id__in=[str(e.pk) for e in escalations])
        )
        .select_related("actor")
        .order_by("-created_at", "-id")[:AUDIT_MAX]
    )
    channels = list(mention.channels.select_related("segment"))
    segment_ids = {c.segment_id for c in channels}
    canned = list(CannedResponse.objects.filter(Q(segment_id__in=segment_ids) | Q(segment=None)))
    teammates = []
    if mention.team_id:
        teammates = list(
            get_user_model()
            .objects.filter(memberships__team_id=mention.team_id, is_active=True)
            .order_by("username")
            .distinct()
        )
    mention.receiving_channels = channels
    replies = list(mention.replies.select_related("author", "channel", "reviewed_by"))
    now = timezone.now()
    for reply in replies:
        reply.waiting = reply_waiting(reply, now=now)
    return MentionDetail(
        mention=mention,
        thread=thread,
        replies=replies,
        notes=list(mention.notes.select_related("author")),
        escalations=escalations,
        audit=audit,
        author_history=list(
            visible.filter(author_id=mention.author_id)
            .exclude(pk=mention.pk)
            .order_by("-created_at", "-id")[:AUTHOR_HISTORY_MAX]
        ),
        canned=canned,
        teammates=teammates,
        teams=list(Team.objects.order_by("name")),
        viewers=viewers_of([mention.pk]).get(mention.pk, []),
        can_work=mention_is_workable_by(user=user, mention=mention),
    )


# --- Saved views and approvals ------------------------------------------------------------------------------


def saved_views_for(*, user: AbstractBaseUser) -> list[SavedView]:
    """The user's own views and the ones shared with their teams."""
    return list(
        SavedView.objects.filter(Q(owner=user) | Q(team_id__in=user_team_ids(user))).select_related(
            "team", "owner"
        )
    )


def replies_awaiting_approval(*, user: AbstractBaseUser) -> QuerySet[Reply]:
    """Replies a rule held for approval that this user may approve: leads of the mention's team, admins."""
    replies = Reply.objects.filter(state=Reply.State.AWAITING_APPROVAL).select_related(
        "mention", "mention__author", "author", "channel"
    )
    if user_is_admin(user):
        return replies
    led = Membership.objects.filter(user=user, role=Membership.Role.LEAD).values("team_id")
    return replies.filter(mention__team_id__in=led)


# --- What the REST API reads beside mentions ----------------------------------------------------------------


def reply_get(*, user: AbstractBaseUser, reply_id: int) -> Reply:
    """One reply on a mention the user may see; ``Reply.DoesNotExist`` (a 404) when it does not exist for
    them."""
    return Reply.objects.select_related("mention", "author", "channel", "reviewed_by").get(
        pk=reply_id, mention__in=mentions_visible_to(user=user)
    )


def channels_visible_to(*, user: AbstractBaseUser) -> QuerySet[Channel]:
    """Every channel for admins; for everyone else the channels their teams own. Newest last."""
    channels = Channel.objects.select_related("segment__team", "team_override").order_by("id")
    if user_is_admin(user):
        return channels
    team_ids = user_team_ids(user)
    return channels.filter(
        Q(team_override_id__in=team_ids) | Q(team_override=None, segment__team_id__in=team_ids)
    )


def teams_visible_to(*, user: AbstractBaseUser) -> QuerySet[Team]:
    """Every team for admins; for everyone else their own teams. With segments and members loaded."""
    teams = Team.objects.prefetch_related(
        Prefetch("segments", queryset=Segment.objects.order_by("position", "name")),
        Prefetch(
            "memberships", queryset=Membership.objects.select_related("user").order_by("user__username")
        ),
    ).order_by("name")
    if user_is_admin(user):
        return teams
    return teams.filter(id__in=user_team_ids(user))
