"""Notifications to people: what the domain events address to one person, under the bell in the header.

The consumer ``notifications`` reads the events in order (``foundation.events.events_consume``) and writes one
``Notification`` per person and event, in the transaction that moves its position, so a notification is
written once however often the consumer runs. Who gets what:

* ``mentioned``: ``@username`` in an internal note (``mention.noted``), for people who may see the mention
  (its team's members, and admins), never the note's author;
* ``escalation``: a post routing escalated to a team (``mention.routed`` with ``escalated_to``), for that
  team's members;
* ``approval``: a reply held for approval (``reply.awaiting_approval``), for the leads of the mention's team
  (the admins when it has none), as ``teams.roles.team_leaders`` says;
* ``sla_warning``: an SLA clock about to run out (``sla.warning``), for the mention's assignee;
* ``assigned``: a mention assigned to someone by someone else, or by auto-assignment.

After commit, a live event tells the person's open inbox (the bell's count, and a browser notification when
they chose it); the people who chose e-mail for a kind get one, sent by a task.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from foundation.live import event_publish
from foundation.models import DomainEvent
from inbox.models import Mention, Note
from integrations.models import Notification, NotificationChoice
from teams.models import Membership, Team
from teams.roles import ADMINS_GROUP, team_leaders, user_name

logger = logging.getLogger(__name__)

CONSUMER = "notifications"
EMAIL_TASK = "integrations.tasks.notification_emails_send"
LIST_SIZE = 50
Kind = Notification.Kind
# ``@name`` in a note: a username as Django allows them (letters, digits and @.+-_), not an e-mail address's
# domain part (the @ must not follow a word character).
_AT_NAME = re.compile(r"(?<![\w@.+-])@([\w.+-]+)")
_VERBS = frozenset(
    {"mention.noted", "mention.routed", "reply.awaiting_approval", "sla.warning", "mention.assigned"}
    | {"mention.auto_assigned"}
)


def at_names(body: str) -> set[str]:
    """The usernames a note calls by ``@name``, lower-cased (a trailing full stop ends a sentence)."""
    return {name.rstrip(".").lower() for name in _AT_NAME.findall(body or "") if name.rstrip(".")}


def _admin_ids() -> set[int]:
    people = get_user_model().objects.filter(is_active=True)
    return set(
        people.filter(Q(is_superuser=True) | Q(groups__name=ADMINS_GROUP)).values_list("pk", flat=True)
    )


def _mention_label(mention: Mention | None) -> str:
    if mention is None:
        return "a mention"
    return f"@{mention.author.handle}'s post" if mention.author_id else "a mention"


def notifications_handle(events: Sequence[DomainEvent]) -> list[Notification]:
    """Turn a batch of events into notifications (in the consumer's transaction); after commit, tell the
    people's open inboxes and queue the e-mails. Returns what it wrote."""
    events = [
        e for e in events if e.verb in _VERBS and (e.verb != "mention.routed" or e.after.get("escalated_to"))
    ]
    if not events:
        return []
    mention_ids = {e.mention_id for e in events if e.mention_id}
    mentions = Mention.objects.select_related("author").in_bulk(mention_ids) if mention_ids else {}
    users = get_user_model().objects.filter(is_active=True)
    admins: set[int] | None = None
    members: dict[int, set[int]] = defaultdict(set)
    for team_id, user_id in Membership.objects.filter(user__is_active=True).values_list("team_id", "user_id"):
        members[team_id].add(user_id)
    teams = list(Team.objects.values_list("pk", "slug", "name"))
    team_ids = {slug: pk for pk, slug, _ in teams}
    team_names = {pk: name for pk, _, name in teams}
    leaders: dict[int, list[int]] = {}  # per team, looked up once a batch
    actors = {u.pk: user_name(u) for u in users.filter(pk__in={e.actor_id for e in events if e.actor_id})}

    rows: list[Notification] = []

    def add(user_ids: Iterable[int], event: DomainEvent, kind: str, text: str) -> None:
        for user_id in set(user_ids) - {event.actor_id}:
            rows.append(
                Notification(
                    user_id=user_id,
                    kind=kind,
                    event_id=event.pk,
                    mention_id=event.mention_id,
                    text=text[:300],
                    actor_name=actors.get(event.actor_id, ""),
                    created_at=event.created_at,
                )
            )

    notes = Note.objects.in_bulk([e.after.get("note") for e in events if e.verb == "mention.noted"])
    for event in events:
        mention = mentions.get(event.mention_id)
        about = _mention_label(mention)
        who = actors.get(event.actor_id, "Someone")
        if event.verb == "mention.noted":
            note = notes.get(event.after.get("note"))
            names = at_names(note.body) if note else set()
            if not names or mention is None:
                continue
            if admins is None:
                admins = _admin_ids()
            may_see = members.get(mention.team_id, set()) | admins
            called = (
                users.annotate(lower=Lower("username")).filter(lower__in=names).values_list("pk", flat=True)
            )
            add(
                (u for u in called if u in may_see),
                event,
                Kind.MENTIONED,
                f"{who} mentioned you in a note on {about}",
            )
        elif event.verb == "mention.routed" and event.after.get("escalated_to"):
            to_team = team_ids.get(event.after["escalated_to"])
            if to_team is not None:
                name = team_names.get(to_team, "your team")
                add(members.get(to_team, ()), event, Kind.ESCALATION, f"Routing escalated {about} to {name}")
        elif event.verb == "reply.awaiting_approval" and mention is not None and mention.team_id is not None:
            if mention.team_id not in leaders:
                leaders[mention.team_id] = [u.pk for u in team_leaders(team_id=mention.team_id).users]
            add(
                leaders[mention.team_id],
                event,
                Kind.APPROVAL,
                f"{who}'s reply to {about} waits for your approval",
            )
        elif event.verb == "sla.warning" and mention is not None and mention.assignee_id:
            add([mention.assignee_id], event, Kind.SLA_WARNING, f"The SLA of {about} runs out soon")
        elif event.verb in {"mention.assigned", "mention.auto_assigned"}:
            assignee = event.after.get("assignee")
            if isinstance(assignee, int):
                how = "Auto-assignment" if event.verb == "mention.auto_assigned" else who
                add([assignee], event, Kind.ASSIGNED, f"{how} assigned {about} to you")
    if not rows:
        return []
    created = Notification.objects.bulk_create(rows, ignore_conflicts=True)
    transaction.on_commit(lambda: _after_commit(rows), robust=True)
    return created


def _after_commit(rows: Sequence[Notification]) -> None:
    by_user: dict[int, list[Notification]] = defaultdict(list)
    for row in rows:
        by_user[row.user_id].append(row)
    usernames = dict(get_user_model().objects.filter(pk__in=by_user).values_list("pk", "username"))
    for user_id, mine in by_user.items():
        event_publish(
            "notification.new",
            {
                "users": [usernames.get(user_id, "")],
                "teams": [],
                "unread": notifications_unread_count(user_id=user_id),
                "notices": [{"kind": n.kind, "text": n.text, "mention": n.mention_id} for n in mine],
                "actor": "",
            },
        )
    emailed = set(
        NotificationChoice.objects.filter(email=True, user_id__in=by_user).values_list("user_id", "kind")
    )
    if any((r.user_id, r.kind) in emailed for r in rows):
        current_app.send_task(EMAIL_TASK, args=[sorted({r.event_id for r in rows})])


def notification_emails_send(*, event_ids: Sequence[int]) -> int:
    """E-mail the notifications of these events to the people who chose e-mail for their kind (one message
    per person). Returns the messages sent."""
    chosen = set(NotificationChoice.objects.filter(email=True).values_list("user_id", "kind"))
    rows = (
        Notification.objects.filter(event_id__in=event_ids).select_related("user").order_by("user_id", "id")
    )
    by_user: dict[Any, list[Notification]] = defaultdict(list)
    for row in rows:
        if row.user.email and (row.user_id, row.kind) in chosen:
            by_user[row.user].append(row)
    base = getattr(settings, "SOCIALOPS_BASE_URL", "").rstrip("/")
    sent = 0
    for user, mine in by_user.items():
        lines = [
            f"- {n.text}" + (f": {base}/inbox/?open={n.mention_id}" if n.mention_id else "") for n in mine
        ]
        subject = mine[0].text if len(mine) == 1 else f"{len(mine)} notifications from socialops"
        body = "\n".join([*lines, "", f"All your notifications: {base}/notifications/"])
        try:
            send_mail(subject[:150], body, None, [user.email])
        except Exception:  # a mail server away loses the e-mail, never the notification under the bell
            logger.warning("could not e-mail notifications to %s", user.pk, exc_info=True)
            continue
        sent += 1
    return sent


# --- Reading and marking ------------------------------------------------------------------------------------


def notifications_unread_count(*, user_id: int) -> int:
    return Notification.objects.filter(user_id=user_id, read_at__isnull=True).count()


def notifications_for(*, user: Any, unread_only: bool = False) -> list[Notification]:
    rows = Notification.objects.filter(user=user)
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    return list(rows.order_by("-id")[:LIST_SIZE])


def notifications_mark_read(*, user: Any, ids: Sequence[int] | None = None) -> int:
    """Mark the person's own notifications read: these ``ids`` (others' are ignored), or all of them."""
    rows = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    return rows.update(read_at=timezone.now())


def notification_choices(*, user: Any) -> list[tuple[str, str, NotificationChoice]]:
    """Each kind with its label and the person's choice (unsaved defaults where they chose nothing)."""
    saved = {c.kind: c for c in NotificationChoice.objects.filter(user=user)}
    return [
        (kind, label, saved.get(kind) or NotificationChoice(user=user, kind=kind))
        for kind, label in Notification.Kind.choices
    ]


def notification_choices_save(*, user: Any, browser: Iterable[str], email: Iterable[str]) -> None:
    """Save which kinds the person wants in the browser and by e-mail (unknown kinds are ignored)."""
    kinds = set(Notification.Kind.values)
    browser, email = set(browser) & kinds, set(email) & kinds
    with transaction.atomic():
        for kind in kinds:
            NotificationChoice.objects.update_or_create(
                user=user, kind=kind, defaults={"browser": kind in browser, "email": kind in email}
            )
