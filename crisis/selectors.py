"""What people may see of the radar, and what the incident page shows.

Incidents are for team leads and admins. Admins see every incident; a lead sees the incidents that concern
one of the teams they lead (``crisis.actions.incident_team_ids``): the team owning the incident's segment,
the team owning its brand account, and the crisis-management segment's team, which sees them all (a crisis
is its job); an organisation-wide incident (an emerging term, the whole brand's volume) concerns every team.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from crisis.actions import user_may_respond
from crisis.models import Incident
from crisis.signals import terms_of
from foundation.models import DomainEvent
from inbox.models import Mention
from routing.handovers import crisis_team_id
from teams.roles import user_is_admin, user_led_team_ids

INCIDENT_PAGE_SIZE = 50
MENTIONS_MAX = (
    200  # the mentions listed on an incident's page (bulk actions take at most the inbox's BULK_MAX)
)
LEAD_IN = timedelta(minutes=30)  # the timeline starts this long before the first alert
BUCKET_MINUTES = 5
TIMELINE_MAX = timedelta(hours=24)  # the timeline of a long incident shows its first day
SAMPLES = 5
TOP = 8


def user_sees_incidents(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Admins and the leads of any team."""
    return user.is_authenticated and (user_is_admin(user) or bool(user_led_team_ids(user)))


def _visible(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Incident]:
    if not user_sees_incidents(user):
        raise PermissionDenied
    incidents = Incident.objects.all()
    if user_is_admin(user):
        return incidents
    led = user_led_team_ids(user)
    if crisis_team_id() in led:
        return incidents
    return incidents.filter(
        Q(segment__isnull=True, channel__isnull=True)
        | Q(segment__team_id__in=led)
        | Q(channel__team_override_id__in=led)
        | Q(channel__team_override__isnull=True, channel__segment__team_id__in=led)
    )


def incidents_for(
    *, user: AbstractBaseUser | AnonymousUser, search: str = "", status: str = ""
) -> QuerySet[Incident]:
    """The incidents ``user`` may see, newest first, those whose summary or terms contain ``search``, of
    ``status`` if given. Anyone but a lead or an admin is refused."""
    incidents = _visible(user)
    if status in Incident.Status.values:
        incidents = incidents.filter(status=status)
    search = search.strip()
    if search:
        incidents = incidents.filter(
            Q(summary__icontains=search) | Q(terms__icontains=search) | Q(closing_summary__icontains=search)
        )
    return incidents.order_by("-opened_at", "-id")


def incident_for(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> Incident:
    """One incident ``user`` may see: 403 for anyone but leads and admins, 404 for one they may not see."""
    incident = (
        _visible(user)
        .select_related("segment", "channel", "channel__segment", "closed_by", "crisis_mode_by")
        .filter(pk=pk)
        .first()
    )
    if incident is None or not user_may_respond(user, incident):
        raise Http404("No such incident.")
    return incident


# --- The incident page -------------------------------------------------------------------------------------


def incident_window(incident: Incident, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The time the incident's posts arrived in: from its first alert's window to its close (or now)."""
    windows = [int(a.get("window_minutes") or 0) for a in incident.alerts[:1]]
    start = incident.opened_at - timedelta(minutes=max(windows or [0]))
    end = incident.closed_at or now or timezone.now()
    return start, max(end, incident.last_alert_at)


def incident_mentions(incident: Incident, *, now: datetime | None = None) -> QuerySet[Mention]:
    """The posts of the incident: received in its window on its account (its segment's accounts; any for an
    organisation-wide incident) that are negative, crisis signals, or name one of its terms. Newest first."""
    start, end = incident_window(incident, now=now)
    mentions = Mention.objects.filter(received_at__gte=start, received_at__lte=end)
    if incident.channel_id is not None:
        mentions = mentions.filter(receipts__channel_id=incident.channel_id)
    elif incident.segment_id is not None:
        mentions = mentions.filter(receipts__channel__segment_id=incident.segment_id)
    matching = Q(sentiment_label=Mention.SentimentLabel.NEGATIVE) | Q(intent="crisis_signal")
    for term in incident.terms[:10]:
        matching |= Q(text__icontains=term)
    return mentions.filter(matching).distinct().order_by("-received_at", "-id")


@dataclass(frozen=True)
class Bucket:
    at: datetime
    posts: int
    negative: int
    crisis: int


def incident_timeline(incident: Incident, *, now: datetime | None = None) -> list[Bucket]:
    """Every post of the incident's account or segment per 5 minutes, with its negative and crisis-signal
    posts, from half an hour before the first alert to the close (or now), at most a day."""
    start, end = incident_window(incident, now=now)
    start = min(start, incident.opened_at - LEAD_IN)
    end = min(end, start + TIMELINE_MAX)
    mentions = Mention.objects.filter(received_at__gte=start, received_at__lte=end)
    if incident.channel_id is not None:
        mentions = mentions.filter(receipts__channel_id=incident.channel_id)
    elif incident.segment_id is not None:
        mentions = mentions.filter(receipts__channel__segment_id=incident.segment_id)
    step = BUCKET_MINUTES * 60
    first = int(start.timestamp()) // step
    counts: dict[int, list[int]] = {}
    rows = mentions.values_list("pk", "received_at", "sentiment_label", "intent").distinct()  # a row a post
    for _, received, label, intent in rows:
        row = counts.setdefault(int(received.timestamp()) // step, [0, 0, 0])
        row[0] += 1
        row[1] += label == Mention.SentimentLabel.NEGATIVE
        row[2] += intent == "crisis_signal"
    last = int(end.timestamp()) // step
    return [
        Bucket(datetime.fromtimestamp(b * step, tz=start.tzinfo), *counts.get(b, [0, 0, 0]))
        for b in range(first, last + 1)
    ]


def incident_terms(incident: Incident, texts: list[str]) -> list[tuple[str, int]]:
    """The words and two-word phrases most posts of the incident share (the radar's own terms), most first;
    the alerts' terms come first when the posts carry them."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(terms_of(text))
    named = [(t, counts[t]) for t in incident.terms if counts[t]]
    rest = [(t, n) for t, n in counts.most_common(TOP * 3) if n >= 2 and t not in incident.terms]
    return (named + rest)[:TOP]


@dataclass(frozen=True)
class Reached:
    handle: str
    name: str
    followers: int
    posts: int
    network: str


def incident_authors(mentions: QuerySet[Mention]) -> list[Reached]:
    """The incident's authors with the most followers (the most-reached first), with their post counts."""
    rows = (
        Mention.objects.filter(pk__in=mentions.values("pk"))
        .values("author__handle", "author__display_name", "author__network")
        .annotate(followers=Coalesce(Max("author__follower_count"), 0), posts=Count("pk"))
        .order_by("-followers", "author__handle")[:TOP]
    )
    return [
        Reached(
            r["author__handle"], r["author__display_name"], r["followers"], r["posts"], r["author__network"]
        )
        for r in rows
    ]


def incident_audit(incident: Incident) -> QuerySet[DomainEvent]:
    """Who did what about the incident (its own events), and what was done to its mentions while it was
    open (assignments, replies, re-routes), oldest first."""
    own = Q(object_type__app_label="crisis", object_type__model="incident", object_id=str(incident.pk))
    on_mentions = Q(
        mention_id__in=incident_mentions(incident).values("pk"),
        created_at__gte=incident.opened_at,
        actor__isnull=False,
    )
    return (
        DomainEvent.objects.filter(own | on_mentions)
        .select_related("actor")
        .order_by("created_at", "id")[:200]
    )
