"""Reads of the people app. Access: a person is visible to whoever may see one of their handles' mentions
(``inbox.selectors.mentions_visible_to``, the inbox's own rule) and to admins; on a profile, mentions the
viewer may not see are counted, never shown."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import TruncMonth

from foundation.models import DomainEvent
from inbox.models import Author, Mention, Reply
from inbox.selectors import OPEN_ESCALATION_STATES, mentions_visible_to
from people.models import MergeSuggestion, Person, PersonAuthor, PersonNote
from routing.models import Escalation
from teams.roles import user_is_admin

PROFILE_MENTIONS = 30  # newest first, a page at a time ("Show older")
SUGGESTIONS_PAGE = 50
HANDOFF_VERBS = ("mention.handed_off", "mention.case_linked", "mention.case_status_changed")


def persons_visible_to(*, user: AbstractBaseUser) -> QuerySet[Person]:
    """Persons with at least one mention the user may see (every person for admins)."""
    if user_is_admin(user):
        return Person.objects.all()
    visible = mentions_visible_to(user=user).filter(author__person_link__person=OuterRef("pk"))
    return Person.objects.filter(Exists(visible))


def person_get(*, user: AbstractBaseUser, person_id: int) -> Person:
    """One person the user may see; ``Person.DoesNotExist`` (a 404) otherwise."""
    return persons_visible_to(user=user).get(pk=person_id)


def author_visible(*, user: AbstractBaseUser, author_id: int) -> Author:
    """An author the user may see a mention of (any author for admins); ``Author.DoesNotExist`` otherwise."""
    if user_is_admin(user):
        return Author.objects.get(pk=author_id)
    if not mentions_visible_to(user=user).filter(author_id=author_id).exists():
        raise Author.DoesNotExist
    return Author.objects.get(pk=author_id)


@dataclass(frozen=True)
class MonthSentiment:
    month: datetime
    mentions: int
    positive: int
    negative: int
    average: float | None


@dataclass(frozen=True)
class Profile:
    person: Person
    handles: list[Author]
    mentions: list[Mention]  # the newest the viewer may see
    visible_count: int
    hidden_count: int  # mentions of this person on teams the viewer may not see
    sentiment: list[MonthSentiment]
    intents: list[tuple[str, int]]
    first_contact: datetime | None
    last_contact: datetime | None
    replied: int  # visible mentions we answered
    response_median_seconds: float | None
    response_slowest_seconds: float | None
    notes: list[PersonNote]
    escalations: list[Escalation]
    handoffs: list[DomainEvent]
    suggestions: list[MergeSuggestion] = field(default_factory=list)
    can_manage: bool = False  # export and erase: admins
    chart: list[SentimentBar] = field(default_factory=list)
    older_than: int | None = None  # the last mention shown, when older ones follow ("Show older")
    paged: bool = False  # showing an older page


def person_profile(*, user: AbstractBaseUser, person: Person, before: int | None = None) -> Profile:
    """Everything a person's profile shows to ``user``: a fixed number of queries whatever the number of
    mentions. The counts, months and intents come from one grouped query; the mention history is a page
    of the newest ``PROFILE_MENTIONS`` (older than mention ``before`` when given, for "Show older")."""
    handles = list(Author.objects.filter(person_link__person=person).order_by("network", "handle"))
    handle_ids = [a.pk for a in handles]
    theirs = Mention.objects.filter(author_id__in=handle_ids)
    visible = mentions_visible_to(user=user).filter(author_id__in=handle_ids)
    seen_count, hidden_count, months, intents, first, last = _profile_counts(
        user=user, theirs=theirs, handle_ids=handle_ids
    )
    page = visible.select_related("team").order_by("-created_at", "-id")
    if before is not None:
        anchor = visible.filter(pk=before).values_list("created_at", flat=True).first()
        if anchor is not None:
            # created <= anchor in front lets PostgreSQL walk the index (DESIGN.md, keysets).
            page = page.filter(created_at__lte=anchor).filter(
                Q(created_at__lt=anchor) | Q(created_at=anchor, id__lt=before)
            )
    mentions = list(page[: PROFILE_MENTIONS + 1])
    # Response times: from each visible mention's arrival to our first reply (a rejected draft is no reply).
    first_replies = (
        Reply.objects.filter(mention__in=visible)
        .exclude(state=Reply.State.REJECTED)
        .values("mention_id", "mention__received_at")
        .annotate(first=Min("created_at"))
        .order_by()
    )
    waits = sorted(
        max(0.0, (row["first"] - row["mention__received_at"]).total_seconds()) for row in first_replies
    )
    escalations = list(
        Escalation.objects.filter(mention__in=visible, state__in=OPEN_ESCALATION_STATES)
        .select_related("from_team", "to_team", "mention")
        .order_by("-created_at")
    )
    handoffs = list(
        DomainEvent.objects.filter(verb__in=HANDOFF_VERBS, mention_id__in=visible.values("id"))
        .select_related("actor")
        .order_by("-created_at", "-id")[:20]
    )
    return Profile(
        person=person,
        handles=handles,
        mentions=mentions[:PROFILE_MENTIONS],
        visible_count=seen_count,
        hidden_count=hidden_count,
        sentiment=months,
        chart=sentiment_bars(months),
        intents=intents,
        first_contact=first,
        last_contact=last,
        replied=len(waits),
        response_median_seconds=median(waits) if waits else None,
        response_slowest_seconds=waits[-1] if waits else None,
        notes=list(person.notes.select_related("author")[:50]),
        escalations=escalations,
        handoffs=handoffs,
        suggestions=suggestions_for_person(user=user, person=person, handle_ids=handle_ids),
        can_manage=user_is_admin(user),
        older_than=mentions[PROFILE_MENTIONS - 1].pk if len(mentions) > PROFILE_MENTIONS else None,
        paged=before is not None,
    )


def _profile_counts(
    *, user: AbstractBaseUser, theirs: QuerySet[Mention], handle_ids: list[int]
) -> tuple[int, int, list[MonthSentiment], list[tuple[str, int]], datetime | None, datetime | None]:
    """Seen and hidden counts, sentiment per month, intents, first and last contact, from one query
    grouped by (seen, month, intent, sentiment label): a few dozen rows, whatever the number of mentions."""
    if user_is_admin(user):
        seen = ExpressionWrapper(Value(True), output_field=BooleanField())
    else:
        visible_ids = mentions_visible_to(user=user).filter(author_id__in=handle_ids).values("id")
        seen = ExpressionWrapper(Q(id__in=visible_ids), output_field=BooleanField())
    rows = (
        theirs.annotate(seen=seen, month=TruncMonth("created_at"))
        .values("seen", "month", "intent", "sentiment_label")
        .annotate(
            n=Count("id"),
            scored=Count("sentiment"),
            total=Sum("sentiment"),
            first=Min("created_at"),
            last=Max("created_at"),
        )
        .order_by()
    )
    seen_count = hidden_count = 0
    per_month: dict[datetime, list] = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    per_intent: dict[str, int] = defaultdict(int)
    first = last = None
    for row in rows:
        if not row["seen"]:
            hidden_count += row["n"]
            continue
        seen_count += row["n"]
        month = per_month[row["month"]]
        month[0] += row["n"]
        month[1] += row["n"] if row["sentiment_label"] == Mention.SentimentLabel.POSITIVE else 0
        month[2] += row["n"] if row["sentiment_label"] == Mention.SentimentLabel.NEGATIVE else 0
        month[3] += row["scored"]
        month[4] += row["total"] or 0.0
        if row["intent"]:
            per_intent[row["intent"]] += row["n"]
        first = row["first"] if first is None else min(first, row["first"])
        last = row["last"] if last is None else max(last, row["last"])
    months = [
        MonthSentiment(
            month=month,
            mentions=n,
            positive=positive,
            negative=negative,
            average=total / scored if scored else None,
        )
        for month, (n, positive, negative, scored, total) in sorted(per_month.items())
    ]
    ranked = sorted(per_intent.items(), key=lambda item: (-item[1], item[0]))
    intents = [(intent.replace("_", " "), n) for intent, n in ranked]
    return seen_count, hidden_count, months, intents, first, last


def suggestions_for_person(
    *, user: AbstractBaseUser, person: Person, handle_ids: list[int] | None = None
) -> list[MergeSuggestion]:
    """Open suggestions naming one of the person's handles whose other handle the user may see too."""
    if handle_ids is None:
        handle_ids = list(PersonAuthor.objects.filter(person=person).values_list("author_id", flat=True))
    rows = list(
        MergeSuggestion.objects.filter(
            Q(author_id__in=handle_ids) | Q(other_id__in=handle_ids), state=MergeSuggestion.State.OPEN
        ).order_by("-confidence", "id")[:SUGGESTIONS_PAGE]
    )
    other_ids = {s.other_id if s.author_id in handle_ids else s.author_id for s in rows}
    may_see = _authors_visible(user=user, author_ids=other_ids)
    authors = Author.objects.in_bulk(other_ids)
    shown = []
    for s in rows:
        other = s.other_id if s.author_id in handle_ids else s.author_id
        if other in may_see:
            s.candidate = authors[other]
            shown.append(s)
    return shown


def suggestions_open(*, user: AbstractBaseUser) -> list[MergeSuggestion]:
    """Open suggestions, most confident first, both of whose handles the user may see."""
    rows = list(
        MergeSuggestion.objects.filter(state=MergeSuggestion.State.OPEN)
        .select_related("author", "other")
        .order_by("-confidence", "id")[: SUGGESTIONS_PAGE * 4]
    )
    may_see = _authors_visible(user=user, author_ids={a for s in rows for a in (s.author_id, s.other_id)})
    return [s for s in rows if s.author_id in may_see and s.other_id in may_see][:SUGGESTIONS_PAGE]


def suggestion_get(*, user: AbstractBaseUser, suggestion_id: int) -> MergeSuggestion:
    """A suggestion both of whose handles the user may see; ``DoesNotExist`` otherwise."""
    suggestion = MergeSuggestion.objects.get(pk=suggestion_id)
    if _authors_visible(user=user, author_ids={suggestion.author_id, suggestion.other_id}) != {
        suggestion.author_id,
        suggestion.other_id,
    }:
        raise MergeSuggestion.DoesNotExist
    return suggestion


def _authors_visible(*, user: AbstractBaseUser, author_ids: set[int]) -> set[int]:
    if not author_ids:
        return set()
    if user_is_admin(user):
        return set(author_ids)
    return set(
        mentions_visible_to(user=user)
        .filter(author_id__in=author_ids)
        .values_list("author_id", flat=True)
        .distinct()
    )


def person_export(*, person: Person) -> dict:
    """Everything stored about a person, as JSON-able data (admins: ``views.person_export`` checks)."""
    handles = list(Author.objects.filter(person_link__person=person).order_by("id"))
    handle_ids = [a.pk for a in handles]
    mentions = Mention.objects.filter(author_id__in=handle_ids).order_by("created_at", "id")
    replies: dict[int, list[dict]] = defaultdict(list)
    for reply in Reply.objects.filter(mention__author_id__in=handle_ids).order_by("created_at", "id"):
        replies[reply.mention_id].append(
            {
                "text": reply.text,
                "state": reply.state,
                "created_at": _iso(reply.created_at),
                "direct": reply.is_direct,
            }
        )
    return {
        "person": {
            "id": person.pk,
            "display_name": person.display_name,
            "vip": person.is_vip,
            "tags": person.tags,
            "segments": person.segments,
            "created_at": _iso(person.created_at),
            "erased_at": _iso(person.erased_at),
        },
        "handles": [
            {
                "network": a.network,
                "external_id": a.external_id,
                "handle": a.handle,
                "display_name": a.display_name,
                "followers": a.follower_count,
                "verified": a.is_verified,
                "first_seen_at": _iso(a.first_seen_at),
                "last_seen_at": _iso(a.last_seen_at),
            }
            for a in handles
        ],
        "mentions": [
            {
                "id": m.pk,
                "network": m.network,
                "external_id": m.external_id,
                "kind": m.kind,
                "text": m.text,
                "url": m.url,
                "created_at": _iso(m.created_at),
                "intent": m.intent,
                "sentiment": m.sentiment,
                "sentiment_label": m.sentiment_label,
                "labels": m.labels,
                "status": m.status,
                "replies": replies.get(m.pk, []),
            }
            for m in mentions
        ],
        "notes": [
            {"body": n.body, "created_at": _iso(n.created_at), "by": getattr(n.author, "username", "")}
            for n in person.notes.select_related("author").order_by("created_at", "id")
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class SentimentBar:
    """One month of the profile's sentiment chart in the SVG's units: positive mentions rise from the
    middle line, negative ones hang below it."""

    x: int
    positive_y: float
    positive_height: float
    negative_height: float
    label: str
    title: str


CHART_BAR = 24  # width of a month's bar, in the SVG's units
CHART_GAP = 6
CHART_HALF = 40  # height above (and below) the middle line
CHART_MONTHS = 24  # the newest months shown


def sentiment_bars(months: list[MonthSentiment]) -> list[SentimentBar]:
    """The newest ``CHART_MONTHS`` months as bars scaled to the busiest month (no chart library: the
    reports app's charts are a floor above people)."""
    shown = months[-CHART_MONTHS:]
    peak = max((max(m.positive, m.negative) for m in shown), default=0) or 1
    bars = []
    for i, m in enumerate(shown):
        up = round(CHART_HALF * m.positive / peak, 1)
        bars.append(
            SentimentBar(
                x=i * (CHART_BAR + CHART_GAP),
                positive_y=CHART_HALF - up,
                positive_height=up,
                negative_height=round(CHART_HALF * m.negative / peak, 1),
                label=m.month.strftime("%b %y"),
                title=f"{m.month:%B %Y}: {m.positive} positive, {m.negative} negative of {m.mentions}",
            )
        )
    return bars


def persons_in_segment(persons: QuerySet[Person], segment: str) -> QuerySet[Person]:
    """Persons whose computed segments (or VIP flag) include ``segment``."""
    if connection.vendor == "postgresql":
        return persons.filter(segments__contains=[segment])
    return persons.filter(segments__icontains=json.dumps(segment))  # SQLite has no JSON containment


def person_mention_counts(*, user: AbstractBaseUser, person: Person) -> tuple[int, int]:
    """How many of the person's mentions the user may see, and how many are on teams they may not."""
    handle_ids = list(PersonAuthor.objects.filter(person=person).values_list("author_id", flat=True))
    seen, hidden, *_ = _profile_counts(
        user=user, theirs=Mention.objects.filter(author_id__in=handle_ids), handle_ids=handle_ids
    )
    return seen, hidden
