"""Triage services: each action checks who may do it, changes the mention once, writes one audit event with
the state before and after, and publishes one live event after commit (read here from the real Redis
channel); a refused action changes nothing, audits nothing and publishes nothing."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

import foundation.live
from foundation.models import DomainEvent
from inbox.actions.base import TriageError
from inbox.actions.escalations import escalation_accept, escalation_bounce
from inbox.actions.replies import ReplyCollision, reply_approve, reply_create, reply_reject, reply_retry
from inbox.actions.routing import mention_reroute
from inbox.actions.triage import (
    AssignmentConflict,
    labels_clean,
    mention_assign,
    mention_close,
    mention_label,
    mention_mark_not_spam,
    mention_mark_spam,
    mention_prioritize,
    mention_reopen,
    mention_snooze,
    mentions_bulk_apply,
    mentions_wake,
    note_add,
)
from inbox.models import Mention, Note, Reply, SlaPolicy
from inbox.presence import presence_record, viewers_of
from routing.models import Correction, Escalation
from teams.models import Membership
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    MentionFactory,
    TeamFactory,
    UserFactory,
    segment,
)

NOT_OURS = "Only members of the mention's team can do that; it belongs to another team now."
NOT_A_LEAD = "Only a lead of the mention's team (or an admin) can approve or reject replies."


@pytest.fixture(autouse=True)
def _quick_passwords(settings) -> None:
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher"
    ]  # users are made by the dozen


class LiveEvents:
    """A subscriber to the live-event channel, as a browser's stream would be."""

    def __init__(self, pubsub: Any) -> None:
        self.pubsub = pubsub

    def received(self, *, quiet: float = 0.3) -> list[dict]:
        """Every event published so far, waiting ``quiet`` seconds after the last one for stragglers."""
        out = []
        while (message := self.pubsub.get_message(timeout=quiet)) is not None:
            # Less the id each event is given (tests/foundation/test_live.py checks the ids).
            out.append({k: v for k, v in json.loads(message["data"]).items() if k != "id"})
        return out


@pytest.fixture
def live(monkeypatch) -> Iterator[LiveEvents]:
    # Redis pub/sub ignores the database number, and other checkouts' suites publish on the same server at
    # the same time: this run listens on a channel of its own, through the same publish path.
    monkeypatch.setattr(foundation.live, "EVENTS_CHANNEL", f"socialops:events:test:{uuid.uuid4().hex}")
    client = redis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(foundation.live.EVENTS_CHANNEL)
    pubsub.get_message(timeout=1)  # the subscription is confirmed: nothing published from now on is missed
    yield LiveEvents(pubsub)
    pubsub.close()
    client.close()


def queued_tasks() -> list[tuple[str, str]]:
    """(task name, arguments) of the Celery messages waiting in the real broker queue."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        messages = [json.loads(raw) for raw in client.lrange("celery", 0, -1)]
    finally:
        client.close()
    return sorted((m["headers"]["task"], m["headers"]["argsrepr"]) for m in messages)


def audit_of(mention: Mention) -> list[tuple]:
    return list(
        DomainEvent.objects.filter(object_id=str(mention.pk), object_type__model="mention")
        .order_by("id")
        .values_list("verb", "actor_id", "before", "after")
    )


def fresh(mention: Mention) -> Mention:
    return Mention.objects.get(pk=mention.pk)


# --- People and mentions ------------------------------------------------------------------------------------


@pytest.fixture
def care():
    return segment("customer-relations").team


@pytest.fixture
def crisis():
    return segment("crisis-management").team


@pytest.fixture
def ada(care):
    return MembershipFactory(
        team=care, user__username="ada", user__first_name="Ada", user__last_name="L"
    ).user


@pytest.fixture
def ben(care):
    return MembershipFactory(
        team=care, user__username="ben", user__first_name="Ben", user__last_name="M"
    ).user


@pytest.fixture
def lead(care):
    return MembershipFactory(team=care, role=Membership.Role.LEAD, user__username="lee").user


@pytest.fixture
def cris(crisis):
    return MembershipFactory(team=crisis, user__username="cris", user__first_name="Cris").user


@pytest.fixture
def admin():
    return UserFactory(username="root", admin=True)


@pytest.fixture
def care_channel():
    return ChannelFactory(slug="northwind-help", network="x", segment=segment("customer-relations"))


@pytest.fixture
def mention(care, care_channel) -> Mention:
    return MentionFactory(team=care, on_channels=[care_channel], text="Where is my order?", intent="other")


def event(kind: str, m: Mention, actor: str, **extra: Any) -> dict:
    return {"kind": kind, "ids": [m.pk], "teams": [m.team_id], "actor": actor, **extra}


# --- Assignment ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_assigning_opens_the_mention_audits_it_and_tells_the_browsers(
    ada, mention, live, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assigned = mention_assign(actor=ada, mention=mention, assignee=ada)

    stored = fresh(mention)
    assert (stored.assignee_id, stored.status) == (ada.pk, Mention.Status.OPEN)
    assert stored.updated_at is not None
    assert assigned.assignee_id == ada.pk
    assert audit_of(mention) == [
        (
            "mention.assigned",
            ada.pk,
            {"assignee": None, "status": "new"},
            {"assignee": ada.pk, "status": "open"},
        )
    ]
    assert live.received() == [event("mention.assigned", mention, "ada", assignee="Ada L")]


@pytest.mark.django_db
def test_the_second_of_two_agents_assigning_is_told_who_took_it_and_the_first_keeps_it(
    ada, ben, mention, live, django_capture_on_commit_callbacks
):
    mention_assign(actor=ada, mention=mention, assignee=ada)  # Ben's page still shows it unassigned

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(AssignmentConflict) as conflict,
    ):
        mention_assign(actor=ben, mention=mention, assignee=ben)

    assert str(conflict.value) == "Ada L took this mention first."
    assert conflict.value.assignee == "Ada L"
    assert fresh(mention).assignee_id == ada.pk
    assert [verb for verb, *_ in audit_of(mention)] == ["mention.assigned"]
    assert callbacks == []
    assert live.received() == []


@pytest.mark.django_db
def test_assigning_with_a_stale_expectation_is_a_conflict_and_with_the_right_one_takes_over(
    ada, ben, mention
):
    mention_assign(actor=ada, mention=mention, assignee=ada)

    with pytest.raises(AssignmentConflict, match=re.escape("Ada L took this mention first.")):
        mention_assign(actor=ben, mention=mention, assignee=ben, expected_assignee_id=None)
    taken = mention_assign(actor=ben, mention=mention, assignee=ben, expected_assignee_id=ada.pk)

    assert taken.assignee_id == fresh(mention).assignee_id == ben.pk
    assert [a[2:] for a in audit_of(mention)][-1] == (
        {"assignee": ada.pk, "status": "open"},
        {"assignee": ben.pk, "status": "open"},
    )


@pytest.mark.django_db
def test_assigning_again_to_the_one_who_has_it_is_no_conflict(ada, mention):
    mention_assign(actor=ada, mention=mention, assignee=ada)

    assert mention_assign(actor=ada, mention=mention, assignee=ada).assignee_id == ada.pk


@pytest.mark.django_db
def test_unassigning_without_saying_who_was_expected_lets_whoever_holds_it_go(
    ada, mention, live, django_capture_on_commit_callbacks
):
    mention_assign(actor=ada, mention=mention, assignee=ada)

    with django_capture_on_commit_callbacks(execute=True):
        mention_assign(actor=ada, mention=mention, assignee=None)

    assert fresh(mention).assignee_id is None
    assert audit_of(mention)[-1] == (
        "mention.unassigned",
        ada.pk,
        {"assignee": ada.pk, "status": "open"},
        {"assignee": None, "status": "open"},
    )
    assert live.received() == [event("mention.assigned", mention, "ada", assignee="")]


@pytest.mark.django_db
def test_unassigning_with_a_stale_expectation_is_a_conflict(ada, ben, mention):
    mention_assign(actor=ben, mention=mention, assignee=ben)

    with pytest.raises(AssignmentConflict, match=re.escape("Ben M took this mention first.")):
        mention_assign(actor=ada, mention=mention, assignee=None, expected_assignee_id=ada.pk)

    assert fresh(mention).assignee_id == ben.pk


@pytest.mark.django_db
def test_someone_outside_the_team_cannot_be_assigned(
    ada, cris, mention, live, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(TriageError) as refused:
        mention_assign(actor=ada, mention=mention, assignee=cris)

    assert str(refused.value) == "Cris is not a member of team Customer Care; re-route it first."
    assert fresh(mention).assignee_id is None
    assert audit_of(mention) == []
    assert live.received() == []


@pytest.mark.django_db
def test_an_admin_may_be_assigned_anywhere(ada, admin, mention):
    assert mention_assign(actor=ada, mention=mention, assignee=admin).assignee_id == admin.pk


@pytest.mark.django_db
def test_another_team_cannot_assign(cris, mention):
    with pytest.raises(TriageError, match=re.escape(NOT_OURS)):
        mention_assign(actor=cris, mention=mention, assignee=cris)

    assert fresh(mention).assignee_id is None
    assert audit_of(mention) == []


@pytest.mark.django_db(transaction=True)
def test_two_agents_assigning_at_the_same_moment_one_wins_and_the_other_hears_who(live):
    team = TeamFactory(name="Night shift")
    ada = MembershipFactory(team=team, user__username="ada", user__first_name="Ada").user
    ben = MembershipFactory(team=team, user__username="ben", user__first_name="Ben").user
    mention = MentionFactory(team=team)
    ada_wrote, ada_may_commit = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def ada_assigns() -> None:
        try:
            with transaction.atomic():  # Ada's request is still open: her row lock is held until it commits
                outcome["ada"] = mention_assign(actor=ada, mention=mention, assignee=ada)
                ada_wrote.set()
                ada_may_commit.wait(10)
        finally:
            connection.close()

    def ben_assigns() -> None:
        try:
            outcome["ben"] = mention_assign(actor=ben, mention=mention, assignee=ben)
        except Exception as exc:  # the test looks at what it was
            outcome["ben"] = exc
        finally:
            connection.close()

    first = threading.Thread(target=ada_assigns)
    first.start()
    assert ada_wrote.wait(10)
    second = threading.Thread(target=ben_assigns)
    second.start()
    # Ben read the mention as unassigned when he opened it; his write now waits on Ada's lock.
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        waiting = 0
        while waiting == 0 and time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            waiting = cursor.fetchone()[0]
    ada_may_commit.set()
    first.join(10)
    second.join(10)

    assert waiting == 1
    assert isinstance(outcome["ben"], AssignmentConflict)
    assert str(outcome["ben"]) == "Ada took this mention first."
    assert fresh(mention).assignee_id == ada.pk
    assert [verb for verb, *_ in audit_of(mention)] == ["mention.assigned"]
    assert live.received() == [event("mention.assigned", mention, "ada", assignee="Ada")]


@pytest.mark.parametrize("who", ["ada", "lead", "admin"])
@pytest.mark.django_db
def test_agents_leads_and_admins_act_on_the_teams_mentions(request, mention, who):
    actor = request.getfixturevalue(who)

    mention_close(actor=actor, mention=mention)

    assert fresh(mention).status == Mention.Status.CLOSED
    assert [(verb, actor_id) for verb, actor_id, *_ in audit_of(mention)] == [("mention.closed", actor.pk)]


@pytest.mark.parametrize("who", ["ada", "lead"])
@pytest.mark.django_db
def test_agents_and_leads_cannot_act_on_another_teams_mentions(request, crisis, who):
    actor = request.getfixturevalue(who)
    theirs = MentionFactory(team=crisis)

    with pytest.raises(TriageError, match=re.escape(NOT_OURS)):
        mention_close(actor=actor, mention=theirs)

    assert fresh(theirs).status == Mention.Status.NEW
    assert audit_of(theirs) == []


@pytest.mark.django_db
def test_admins_act_on_every_teams_mentions(admin, crisis):
    theirs, unrouted = MentionFactory(team=crisis), MentionFactory(team=None)

    mention_close(actor=admin, mention=theirs)
    mention_close(actor=admin, mention=unrouted)

    assert [fresh(m).status for m in (theirs, unrouted)] == [Mention.Status.CLOSED, Mention.Status.CLOSED]


@pytest.mark.django_db
def test_a_snooze_time_without_a_zone_is_read_in_the_sites_zone(ada, mention):
    until = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)

    mention_snooze(actor=ada, mention=mention, until=timezone.make_naive(until))

    assert fresh(mention).snoozed_until == until


# --- Re-route -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rerouting_to_another_team_unassigns_someone_outside_it_and_leaves_one_correction(
    ada, care, crisis, mention, live, django_capture_on_commit_callbacks
):
    mention_assign(actor=ada, mention=mention, assignee=ada)
    mention = fresh(mention)

    with django_capture_on_commit_callbacks(execute=True):
        moved = mention_reroute(actor=ada, mention=mention, team=crisis, reason="A recall question")

    stored = fresh(mention)
    assert (stored.team_id, stored.assignee_id, stored.status) == (crisis.pk, None, Mention.Status.NEW)
    assert moved.team_id == crisis.pk
    assert stored.decision["correction_reason"] == "A recall question"
    assert list(
        Correction.objects.values_list("mention_id", "user_id", "team_before_id", "team_after_id")
    ) == [(mention.pk, ada.pk, care.pk, crisis.pk)]
    assert audit_of(mention)[-1] == (
        "mention.rerouted",
        ada.pk,
        {"team": care.pk, "intent": "other"},
        {"team": crisis.pk, "intent": "other"},
    )
    assert len(audit_of(mention)) == 2  # the assignment, then the re-route
    received = live.received()
    assert [(e["kind"], e["ids"], e["teams"], e["team"]) for e in received] == [
        ("mention.rerouted", [mention.pk], sorted([care.pk, crisis.pk]), crisis.pk)
    ]


@pytest.mark.django_db
def test_rerouting_keeps_an_assignee_who_is_in_both_teams(ada, care, crisis, mention):
    MembershipFactory(team=crisis, user=ada)
    ada = type(ada).objects.get(pk=ada.pk)  # her teams are remembered on the object: fetch her again
    mention_assign(actor=ada, mention=mention, assignee=ada)

    mention_reroute(actor=ada, mention=fresh(mention), team=crisis, reason="theirs")

    stored = fresh(mention)
    assert (stored.team_id, stored.assignee_id, stored.status) == (crisis.pk, ada.pk, Mention.Status.OPEN)


@pytest.mark.django_db
def test_rerouting_to_a_segment_sends_it_to_that_segments_team(ada, mention):
    events_team = segment("event-coverage").team

    mention_reroute(actor=ada, mention=mention, segment=segment("event-coverage"), reason="about the fair")

    assert fresh(mention).team_id == events_team.pk


@pytest.mark.django_db
def test_rerouting_accepts_the_open_escalation_to_the_chosen_team(ada, care, crisis, mention):
    escalation = Escalation.objects.create(mention=mention, from_team=crisis, to_team=care, reason="Ours")

    mention_reroute(actor=ada, mention=mention, team=care, reason="Yes, ours")

    escalation.refresh_from_db()
    assert (escalation.state, escalation.decided_by_id) == (Escalation.State.ACCEPTED, ada.pk)


@pytest.mark.django_db
def test_rerouting_to_an_unknown_intent_is_refused_and_learns_nothing(ada, mention):
    with pytest.raises(TriageError, match="Unknown intent 'gossip'"):
        mention_reroute(actor=ada, mention=mention, intent="gossip")

    assert not Correction.objects.exists()
    assert audit_of(mention) == []


@pytest.mark.django_db
def test_the_team_that_sent_a_mention_away_cannot_act_on_it(
    ada, care, crisis, mention, live, django_capture_on_commit_callbacks
):
    Escalation.objects.create(mention=mention, from_team=care, to_team=crisis, reason="Theirs")
    Mention.objects.filter(pk=mention.pk).update(team=crisis)
    sent = fresh(mention)
    refused = []

    with django_capture_on_commit_callbacks(execute=True):
        for action in (
            lambda: mention_reroute(actor=ada, mention=sent, team=care, reason="mine after all"),
            lambda: mention_assign(actor=ada, mention=sent, assignee=ada),
            lambda: mention_close(actor=ada, mention=sent),
            lambda: mention_snooze(actor=ada, mention=sent, until=timezone.now() + timedelta(hours=1)),
            lambda: mention_label(actor=ada, mention=sent, add=["mine"]),
            lambda: mention_prioritize(actor=ada, mention=sent, priority=Mention.Priority.HIGH),
            lambda: mention_mark_spam(actor=ada, mention=sent),
            lambda: note_add(actor=ada, mention=sent, body="hello"),
            lambda: reply_create(actor=ada, mention=sent, text="We are on it"),
        ):
            with pytest.raises(TriageError) as error:
                action()
            refused.append(str(error.value))

    assert refused == [NOT_OURS] * 9
    stored = fresh(mention)
    assert (stored.team_id, stored.status, stored.assignee_id, stored.labels) == (crisis.pk, "new", None, [])
    assert audit_of(mention) == []
    assert not Correction.objects.exists()
    assert not Note.objects.exists()
    assert not Reply.objects.exists()
    assert live.received() == []


# --- Close, reopen, snooze, wake ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_close_then_reopen(ada, mention, live, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        closed = mention_close(actor=ada, mention=mention)
    closed_events = live.received()
    with django_capture_on_commit_callbacks(execute=True):
        mention_reopen(actor=ada, mention=mention)

    stored = fresh(mention)
    assert (stored.status, stored.closed_at, stored.snoozed_until) == (Mention.Status.OPEN, None, None)
    closing, reopening = audit_of(mention)
    assert closing[:3] == ("mention.closed", ada.pk, {"status": "new"})
    # The close's own fields; the SLA clock it stops adds its fields beside them.
    assert {name: closing[3][name] for name in ("status", "closed_at", "snoozed_until")} == {
        "status": "closed",
        "closed_at": closed.closed_at.isoformat(),
        "snoozed_until": None,
    }
    assert reopening == (
        "mention.reopened",
        ada.pk,
        {"status": "closed"},
        {"status": "open", "closed_at": None, "snoozed_until": None},
    )
    assert closed_events == [event("mention.closed", mention, "ada")]
    assert live.received() == [event("mention.reopened", mention, "ada")]


@pytest.mark.django_db
def test_snooze_hides_the_mention_until_a_time_in_the_future(
    ada, mention, live, django_capture_on_commit_callbacks
):
    until = timezone.now() + timedelta(days=2)

    with django_capture_on_commit_callbacks(execute=True):
        mention_snooze(actor=ada, mention=mention, until=until)

    stored = fresh(mention)
    assert (stored.status, stored.snoozed_until) == (Mention.Status.SNOOZED, until)
    assert audit_of(mention) == [
        (
            "mention.snoozed",
            ada.pk,
            {"status": "new"},
            {"status": "snoozed", "snoozed_until": until.isoformat()},
        )
    ]
    assert live.received() == [event("mention.snoozed", mention, "ada")]


@pytest.mark.parametrize(
    ("until", "message"),
    [
        (timedelta(minutes=-1), "Choose a time in the future to snooze until."),
        (timedelta(0), "Choose a time in the future to snooze until."),
        (timedelta(days=366), "A mention can be snoozed for a year at most."),
    ],
)
@pytest.mark.django_db
def test_snoozing_into_the_past_or_beyond_a_year_is_refused(
    ada, mention, live, django_capture_on_commit_callbacks, until, message
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(TriageError) as refused:
        mention_snooze(actor=ada, mention=mention, until=timezone.now() + until)

    assert str(refused.value) == message
    assert (fresh(mention).status, fresh(mention).snoozed_until) == (Mention.Status.NEW, None)
    assert audit_of(mention) == []
    assert live.received() == []


@pytest.mark.django_db
def test_waking_brings_back_only_the_snoozed_mentions_whose_time_has_come(
    care, live, django_capture_on_commit_callbacks
):
    now = timezone.now()
    snoozed = Mention.Status.SNOOZED
    long_due = MentionFactory(team=care, status=snoozed, snoozed_until=now - timedelta(hours=1))
    just_due = MentionFactory(team=care, status=snoozed, snoozed_until=now)
    not_yet = MentionFactory(team=care, status=snoozed, snoozed_until=now + timedelta(seconds=1))
    closed = MentionFactory(team=care, status=Mention.Status.CLOSED, snoozed_until=now - timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        woken = mentions_wake(now=now)
    first_events = live.received()
    with django_capture_on_commit_callbacks(execute=True):
        again = mentions_wake(now=now)

    assert woken == [long_due.pk, just_due.pk]
    assert again == []
    assert [(fresh(m).status, fresh(m).snoozed_until) for m in (long_due, just_due)] == [("open", None)] * 2
    assert (fresh(not_yet).status, fresh(not_yet).snoozed_until) == (snoozed, now + timedelta(seconds=1))
    assert fresh(closed).status == Mention.Status.CLOSED
    assert audit_of(long_due) == [("mention.woke", None, {"status": "snoozed"}, {"status": "open"})]
    assert audit_of(just_due) == [("mention.woke", None, {"status": "snoozed"}, {"status": "open"})]
    assert audit_of(not_yet) == audit_of(closed) == []
    assert first_events == [
        {"kind": "mention.woke", "ids": [long_due.pk, just_due.pk], "teams": [care.pk], "actor": ""}
    ]
    assert live.received() == []  # the second sweep found nothing and said nothing


# --- Priority, labels, spam, notes --------------------------------------------------------------------------


@pytest.mark.django_db
def test_prioritize(ada, mention, live, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        mention_prioritize(actor=ada, mention=mention, priority=Mention.Priority.URGENT)

    assert fresh(mention).priority == Mention.Priority.URGENT
    assert audit_of(mention) == [("mention.prioritized", ada.pk, {"priority": 20}, {"priority": 40})]
    assert live.received() == [event("mention.prioritized", mention, "ada")]


@pytest.mark.django_db
def test_an_unknown_priority_is_refused(ada, mention):
    with pytest.raises(TriageError) as refused:
        mention_prioritize(actor=ada, mention=mention, priority=99)

    assert str(refused.value) == "Unknown priority 99; choose low, normal, high or urgent."
    assert fresh(mention).priority == Mention.Priority.NORMAL
    assert audit_of(mention) == []


def test_labels_are_trimmed_lower_case_and_once_each():
    assert labels_clean([" VIP ", "vip", "", None, "Refund/late", "a" * 40]) == [
        "vip",
        "refund/late",
        "a" * 40,
    ]


@pytest.mark.parametrize("label", ["#urgent", "-dash-first", "a" * 41, "two\nlines"])
def test_a_label_that_is_not_one_is_refused_naming_it(label):
    with pytest.raises(TriageError) as refused:
        labels_clean(["fine", label])

    assert str(refused.value) == (
        f"{label.strip().lower()[:60]!r} is not a label: up to 40 letters, digits, spaces and . : / - _, "
        "starting with a letter or digit."
    )


@pytest.mark.django_db
def test_labels_are_added_and_removed(ada, mention, live, django_capture_on_commit_callbacks):
    Mention.objects.filter(pk=mention.pk).update(labels=["vip", "late"])

    with django_capture_on_commit_callbacks(execute=True):
        mention_label(actor=ada, mention=mention, add=["Refund", "vip"], remove=["LATE"])

    assert fresh(mention).labels == ["vip", "refund"]
    assert audit_of(mention) == [
        ("mention.labelled", ada.pk, {"labels": ["vip", "late"]}, {"labels": ["vip", "refund"]})
    ]
    assert live.received() == [event("mention.labelled", mention, "ada")]


@pytest.mark.django_db
def test_a_label_stored_in_capitals_before_labels_were_checked_can_be_removed(ada, mention):
    Mention.objects.filter(pk=mention.pk).update(labels=["Recall", "vip"])

    mention_label(actor=ada, mention=mention, remove=["recall"])

    assert fresh(mention).labels == ["vip"]


@pytest.mark.django_db
def test_labelling_with_nothing_to_add_or_remove_is_refused(ada, mention):
    with pytest.raises(TriageError, match=re.escape("Name a label to add or remove.")):
        mention_label(actor=ada, mention=mention, add=[" "], remove=[])

    assert audit_of(mention) == []


@pytest.mark.django_db
def test_spam_is_closed_labelled_and_kept_as_a_correction_to_learn_from(
    ada, care, mention, live, django_capture_on_commit_callbacks
):
    Mention.objects.filter(pk=mention.pk).update(labels=["vip"])

    with django_capture_on_commit_callbacks(execute=True):
        mention_mark_spam(actor=ada, mention=mention)

    stored = fresh(mention)
    assert (stored.status, stored.intent, stored.labels) == (Mention.Status.CLOSED, "spam", ["vip", "spam"])
    assert stored.closed_at is not None
    assert list(
        Correction.objects.values_list(
            "mention_id",
            "user_id",
            "text",
            "intent_before",
            "intent_after",
            "team_before_id",
            "team_after_id",
        )
    ) == [(mention.pk, ada.pk, "Where is my order?", "other", "spam", care.pk, care.pk)]
    assert audit_of(mention) == [
        ("mention.spam", ada.pk, {"status": "new", "intent": "other"}, {"status": "closed", "intent": "spam"})
    ]
    assert live.received() == [event("mention.spam", mention, "ada")]
    assert queued_tasks() == [("inbox.tasks.classifier_train", "()")]


@pytest.mark.django_db
def test_not_spam_after_an_agent_marked_it_reopens_it_and_teaches_what_it_is(
    ada, ben, care, mention, live, django_capture_on_commit_callbacks
):
    SlaPolicy.objects.create(segment=segment("customer-relations"), first_response_minutes=60)
    mention_mark_spam(actor=ben, mention=mention)
    Correction.objects.all().delete()
    live.received()

    with django_capture_on_commit_callbacks(execute=True):
        mention_mark_not_spam(actor=ada, mention=mention, intent="complaint")

    stored = fresh(mention)
    assert (stored.status, stored.intent, stored.labels, stored.closed_at) == (
        Mention.Status.NEW,
        "complaint",
        [],
        None,
    )
    assert (stored.sla_kind, stored.sla_due_at) == (
        "first_response",
        stored.received_at + timedelta(minutes=60),
    )
    assert (stored.decision["corrected_by"], stored.decision["correction_reason"]) == ("ada", "not spam")
    assert list(
        Correction.objects.values_list(
            "mention_id", "user_id", "intent_before", "intent_after", "team_after_id"
        )
    ) == [(mention.pk, ada.pk, "spam", "complaint", care.pk)]
    assert audit_of(mention)[-1] == (
        "mention.not_spam",
        ada.pk,
        {"status": "closed", "intent": "spam"},
        {"status": "new", "intent": "complaint"},
    )
    assert live.received() == [event("mention.not_spam", mention, "ada")]
    assert queued_tasks() == [("inbox.tasks.classifier_train", "()")]


@pytest.mark.django_db
def test_not_spam_on_what_routing_took_for_spam_keeps_its_assignee_and_learns_other(ada, care, mention):
    Mention.objects.filter(pk=mention.pk).update(
        intent="spam", labels=["vip", "spam"], assignee=ada, status=Mention.Status.OPEN
    )

    mention_mark_not_spam(actor=ada, mention=mention)

    stored = fresh(mention)
    assert (stored.status, stored.assignee_id, stored.intent, stored.labels) == (
        Mention.Status.OPEN,
        ada.pk,
        "other",
        ["vip"],
    )
    assert (stored.sla_kind, stored.sla_due_at) == ("", None)  # no policy for the segment: no clock
    assert list(Correction.objects.values_list("intent_before", "intent_after")) == [("spam", "other")]


@pytest.mark.parametrize(
    ("stored", "intent", "message"),
    [
        ("other", "complaint", "This mention is not marked as spam."),
        ("spam", "spam", "Say what it is instead of spam: 'spam' is not an intent."),
        ("spam", "gibberish", "Say what it is instead of spam: 'gibberish' is not an intent."),
    ],
)
@pytest.mark.django_db
def test_not_spam_is_refused_for_ham_or_without_a_real_intent(ada, mention, stored, intent, message):
    Mention.objects.filter(pk=mention.pk).update(intent=stored)

    with pytest.raises(TriageError) as refused:
        mention_mark_not_spam(actor=ada, mention=fresh(mention), intent=intent)

    assert str(refused.value) == message
    assert fresh(mention).intent == stored
    assert not Correction.objects.exists()
    assert audit_of(mention) == []


@pytest.mark.django_db
def test_another_team_cannot_say_it_is_not_spam(cris, mention):
    Mention.objects.filter(pk=mention.pk).update(intent="spam")

    with pytest.raises(TriageError, match=re.escape(NOT_OURS)):
        mention_mark_not_spam(actor=cris, mention=fresh(mention))

    assert fresh(mention).intent == "spam"
    assert not Correction.objects.exists()


@pytest.mark.django_db
def test_a_note_is_kept_and_audited(ada, mention, live, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        note = note_add(actor=ada, mention=mention, body="  Called them back  ")

    assert list(Note.objects.values_list("pk", "mention_id", "author_id", "body")) == [
        (note.pk, mention.pk, ada.pk, "Called them back")
    ]
    assert audit_of(mention) == [("mention.noted", ada.pk, {}, {"note": note.pk})]
    assert live.received() == [event("mention.noted", mention, "ada")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("   ", "A note needs some text."),
        ("x" * 5001, "A note holds at most 5000 characters; this one has 5001."),
    ],
)
@pytest.mark.django_db
def test_an_empty_or_overlong_note_is_refused(ada, mention, body, message):
    with pytest.raises(TriageError) as refused:
        note_add(actor=ada, mention=mention, body=body)

    assert str(refused.value) == message
    assert not Note.objects.exists()


# --- Escalations --------------------------------------------------------------------------------------------


@pytest.fixture
def escalated(care, crisis, mention) -> Escalation:
    """Routing sent the care mention to crisis response, which owns it while it waits."""
    Mention.objects.filter(pk=mention.pk).update(team=crisis)
    return Escalation.objects.create(mention=mention, from_team=care, to_team=crisis, reason="A recall")


@pytest.mark.django_db
def test_the_team_it_was_escalated_to_accepts_it(
    cris, crisis, escalated, live, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        escalation_accept(actor=cris, escalation=escalated)

    escalated.refresh_from_db()
    assert (escalated.state, escalated.decided_by_id) == (Escalation.State.ACCEPTED, cris.pk)
    assert fresh(escalated.mention).team_id == crisis.pk
    assert [e["kind"] for e in live.received()] == ["escalation.accepted"]


@pytest.mark.django_db
def test_the_sending_team_can_neither_accept_nor_bounce(ada, escalated):
    with pytest.raises(
        TriageError, match=re.escape("Only members of the team it was escalated to can accept it.")
    ):
        escalation_accept(actor=ada, escalation=escalated)
    with pytest.raises(
        TriageError, match=re.escape("Only members of the team it was escalated to can bounce it back.")
    ):
        escalation_bounce(actor=ada, escalation=escalated, reason="no")

    escalated.refresh_from_db()
    assert escalated.state == Escalation.State.PENDING


@pytest.mark.django_db
def test_a_bounce_needs_a_reason_and_sends_the_post_back(cris, care, escalated):
    with pytest.raises(TriageError, match="Say why the post is bounced back"):
        escalation_bounce(actor=cris, escalation=escalated, reason="  ")

    escalation_bounce(actor=cris, escalation=escalated, reason="Not a recall, a delivery question")

    escalated.refresh_from_db()
    assert (escalated.state, escalated.bounce_reason) == ("bounced", "Not a recall, a delivery question")
    assert fresh(escalated.mention).team_id == care.pk
    with pytest.raises(TriageError, match=re.escape("This escalation is already bounced back.")):
        escalation_accept(actor=cris, escalation=escalated)


@pytest.mark.django_db
def test_escalations_are_accepted_or_bounced_in_bulk_each_as_alone_skipping_the_rest(
    ada, cris, care, crisis, escalated
):
    other = MentionFactory(team=crisis)
    second = MentionFactory(team=crisis)
    second_escalation = Escalation.objects.create(
        mention=second, from_team=care, to_team=crisis, reason="Also"
    )

    with pytest.raises(TriageError, match="Say why the posts are bounced back"):
        mentions_bulk_apply(actor=cris, mentions=[escalated.mention], action="bounce_escalation", reason=" ")
    refused = mentions_bulk_apply(actor=ada, mentions=[escalated.mention], action="accept_escalation")
    accepted = mentions_bulk_apply(
        actor=cris, mentions=[escalated.mention, other], action="accept_escalation"
    )
    bounced = mentions_bulk_apply(
        actor=cris, mentions=[second], action="bounce_escalation", reason="Delivery, not a recall"
    )

    assert (
        refused.done == [] and "could not be answered: Only members" in refused.skipped[escalated.mention_id]
    )
    assert (accepted.done, accepted.skipped) == ([escalated.mention_id], {other.pk: "has no open escalation"})
    assert bounced.done == [second.pk]
    escalated.refresh_from_db()
    second_escalation.refresh_from_db()
    assert (escalated.state, second_escalation.state) == ("accepted", "bounced")
    assert second_escalation.bounce_reason == "Delivery, not a recall"
    assert fresh(second).team_id == care.pk
    assert DomainEvent.objects.filter(verb__in=["escalation.accepted", "escalation.bounced"]).count() == 2


# --- Replies ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_reply_is_queued_on_the_receiving_channel_and_the_replier_takes_the_mention(
    ada, mention, care_channel, live, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reply = reply_create(actor=ada, mention=mention, text="  It ships today.  ")

    assert list(Reply.objects.values_list("pk", "channel_id", "author_id", "text", "state", "is_direct")) == [
        (reply.pk, care_channel.pk, ada.pk, "It ships today.", Reply.State.QUEUED, False)
    ]
    stored = fresh(mention)
    assert (stored.assignee_id, stored.status) == (ada.pk, Mention.Status.OPEN)
    assert audit_of(mention) == [("reply.queued", ada.pk, {}, {"reply": reply.pk, "direct": False})]
    assert live.received() == [event("reply.created", mention, "ada", reply=reply.pk, state="queued")]
    assert queued_tasks() == [("inbox.tasks.reply_send", f"({reply.pk},)")]


@pytest.mark.django_db
def test_replying_to_a_mention_someone_else_holds_leaves_it_with_them(ada, ben, mention):
    mention_assign(actor=ben, mention=mention, assignee=ben)

    reply_create(actor=ada, mention=mention, text="Hello")

    assert fresh(mention).assignee_id == ben.pk


@pytest.fixture
def bens_reply(ben, mention, care_channel) -> Reply:
    return Reply.objects.create(
        mention=mention,
        channel=care_channel,
        author=ben,
        text="Sent you a DM about it",
        created_at=timezone.now() - timedelta(minutes=5, seconds=10),
    )


@pytest.mark.django_db
def test_a_reply_after_someone_elses_unseen_reply_needs_confirming_and_sends_nothing(
    ada, mention, bens_reply, live, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(ReplyCollision) as collision,
    ):
        reply_create(actor=ada, mention=mention, text="Sorry about that!", seen_reply_id=0)

    assert (
        str(collision.value)
        == "Ben M already replied 5 min ago: “Sent you a DM about it” — send yours as well?"
    )
    assert list(Reply.objects.all()) == [bens_reply]
    assert fresh(mention).assignee_id is None
    assert audit_of(mention) == []
    assert callbacks == []
    assert live.received() == []
    assert queued_tasks() == []


@pytest.mark.parametrize("how", ["seen", "confirmed"])
@pytest.mark.django_db
def test_a_reply_after_a_seen_or_confirmed_reply_is_sent(ada, mention, bens_reply, how):
    seen = {"seen": {"seen_reply_id": bens_reply.pk}, "confirmed": {"confirm": True}}[how]

    reply = reply_create(actor=ada, mention=mention, text="Sorry about that!", **seen)

    assert list(Reply.objects.order_by("pk")) == [bens_reply, reply]


@pytest.mark.django_db
def test_ones_own_and_rejected_replies_are_no_collision(ada, ben, mention, care_channel):
    Reply.objects.create(mention=mention, channel=care_channel, author=ada, text="first")
    Reply.objects.create(mention=mention, channel=care_channel, author=ben, text="nope", state="rejected")

    reply = reply_create(actor=ada, mention=mention, text="second")

    assert reply.state == Reply.State.QUEUED


@pytest.mark.django_db
def test_a_reply_to_a_mention_a_rule_holds_for_approval_waits_and_is_not_sent(
    ada, mention, live, django_capture_on_commit_callbacks
):
    Mention.objects.filter(pk=mention.pk).update(requires_approval=True)

    with django_capture_on_commit_callbacks(execute=True):
        reply = reply_create(actor=ada, mention=mention, text="We will refund you")

    assert reply.state == Reply.State.AWAITING_APPROVAL
    assert audit_of(mention) == [
        ("reply.awaiting_approval", ada.pk, {}, {"reply": reply.pk, "direct": False})
    ]
    assert live.received() == [
        event("reply.created", mention, "ada", reply=reply.pk, state="awaiting_approval")
    ]
    assert queued_tasks() == []


@pytest.mark.django_db
def test_sending_a_reply_ends_the_writers_presence_as_writing_and_tells_the_others(
    ada, ben, mention, live, django_capture_on_commit_callbacks
):
    presence_record(mention=mention, user=ada, state="typing")
    presence_record(mention=mention, user=ben, state="typing")
    live.received()

    with django_capture_on_commit_callbacks(execute=True):
        reply = reply_create(actor=ada, mention=mention, text="On its way")

    viewers = [
        {"user": ada.pk, "name": "Ada L", "typing": False},
        {"user": ben.pk, "name": "Ben M", "typing": True},
    ]
    assert [
        {k: v[k] for k in ("user", "name", "typing")} for v in viewers_of([mention.pk])[mention.pk]
    ] == viewers
    assert live.received() == [
        event("reply.created", mention, "ada", reply=reply.pk, state="queued"),
        {"kind": "presence", "ids": [mention.pk], "teams": [mention.team_id], "viewers": viewers},
    ]


@pytest.mark.django_db
def test_a_reply_refused_for_a_collision_leaves_the_writer_writing(ada, mention, bens_reply):
    presence_record(mention=mention, user=ada, state="typing")

    with pytest.raises(ReplyCollision):
        reply_create(actor=ada, mention=mention, text="On its way")

    assert [v["typing"] for v in viewers_of([mention.pk])[mention.pk]] == [True]


@pytest.mark.django_db
def test_a_lead_of_the_mentions_team_approves_their_own_reply_by_sending_it(
    lead, mention, live, django_capture_on_commit_callbacks
):
    Mention.objects.filter(pk=mention.pk).update(requires_approval=True)

    with django_capture_on_commit_callbacks(execute=True):
        reply = reply_create(actor=lead, mention=mention, text="We will refund you")

    stored = Reply.objects.get()
    assert (stored.pk, stored.state, stored.author_id, stored.reviewed_by_id) == (
        reply.pk,
        Reply.State.QUEUED,
        lead.pk,
        lead.pk,
    )
    assert audit_of(mention) == [("reply.queued", lead.pk, {}, {"reply": reply.pk, "direct": False})]
    assert live.received() == [event("reply.created", mention, "lee", reply=reply.pk, state="queued")]
    assert queued_tasks() == [("inbox.tasks.reply_send", f"({reply.pk},)")]


@pytest.mark.django_db
def test_a_lead_of_another_team_who_is_also_an_agent_here_still_waits_for_approval(
    crisis, mention, django_capture_on_commit_callbacks
):
    elsewhere = MembershipFactory(team=crisis, role=Membership.Role.LEAD, user__username="eli").user
    MembershipFactory(team=mention.team, user=elsewhere)
    Mention.objects.filter(pk=mention.pk).update(requires_approval=True)

    with django_capture_on_commit_callbacks(execute=True):
        reply = reply_create(actor=elsewhere, mention=mention, text="We will refund you")

    assert (reply.state, reply.reviewed_by_id) == (Reply.State.AWAITING_APPROVAL, None)
    assert queued_tasks() == []


@pytest.mark.django_db
def test_a_reply_too_long_for_the_network_is_refused(ada, mention):
    with pytest.raises(TriageError) as refused:
        reply_create(actor=ada, mention=mention, text="a" * 400)

    assert str(refused.value) == "The reply is 400 characters as X counts them; the limit is 280."
    assert not Reply.objects.exists()
    assert fresh(mention).assignee_id is None


@pytest.mark.django_db
def test_an_empty_reply_or_one_without_a_channel_is_refused(ada, care):
    no_channel = MentionFactory(team=care)

    with pytest.raises(TriageError, match=re.escape("Write a reply before sending.")):
        reply_create(actor=ada, mention=no_channel, text="   ")
    with pytest.raises(TriageError, match="arrived on no channel of ours"):
        reply_create(actor=ada, mention=no_channel, text="Hello")

    assert not Reply.objects.exists()


@pytest.fixture
def held(ada, mention, care_channel) -> Reply:
    return Reply.objects.create(
        mention=mention, channel=care_channel, author=ada, text="Refund on its way", state="awaiting_approval"
    )


@pytest.mark.django_db
def test_a_lead_approves_a_held_reply_and_it_is_sent(
    lead, held, mention, live, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reply_approve(actor=lead, reply=held)

    held.refresh_from_db()
    assert (held.state, held.reviewed_by_id) == (Reply.State.QUEUED, lead.pk)
    assert audit_of(mention) == [("reply.approved", lead.pk, {}, {"reply": held.pk})]
    assert live.received() == [event("reply.approved", mention, "lee", reply=held.pk)]
    assert queued_tasks() == [("inbox.tasks.reply_send", f"({held.pk},)")]


@pytest.mark.django_db
def test_a_lead_rejects_a_held_reply_with_a_note_and_nothing_is_sent(
    lead, held, mention, live, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reply_reject(actor=lead, reply=held, note="  Not before legal looks  ")

    held.refresh_from_db()
    assert (held.state, held.reviewed_by_id, held.review_note) == (
        "rejected",
        lead.pk,
        "Not before legal looks",
    )
    assert audit_of(mention) == [
        ("reply.rejected", lead.pk, {}, {"reply": held.pk, "note": "Not before legal looks"})
    ]
    assert live.received() == [event("reply.rejected", mention, "lee", reply=held.pk)]
    assert queued_tasks() == []


@pytest.mark.django_db
def test_only_a_lead_of_the_mentions_team_or_an_admin_may_approve(ada, crisis, held, admin):
    other_lead = MembershipFactory(team=crisis, role=Membership.Role.LEAD).user

    for who in (ada, other_lead):
        with pytest.raises(TriageError, match=re.escape(NOT_A_LEAD)):
            reply_approve(actor=who, reply=held)
        with pytest.raises(TriageError, match=re.escape(NOT_A_LEAD)):
            reply_reject(actor=who, reply=held)
    held.refresh_from_db()
    assert (held.state, held.reviewed_by_id) == (Reply.State.AWAITING_APPROVAL, None)

    assert reply_approve(actor=admin, reply=held).state == Reply.State.QUEUED


@pytest.mark.django_db
def test_a_reply_not_awaiting_approval_cannot_be_approved_again(lead, held):
    reply_approve(actor=lead, reply=held)

    with pytest.raises(TriageError, match=re.escape("This reply is queued, not awaiting approval.")):
        reply_approve(actor=lead, reply=held)
    with pytest.raises(TriageError, match=re.escape("This reply is queued, not awaiting approval.")):
        reply_reject(actor=lead, reply=held)


@pytest.mark.django_db
def test_a_failed_reply_is_retried(ada, mention, care_channel, live, django_capture_on_commit_callbacks):
    failed = Reply.objects.create(
        mention=mention, channel=care_channel, author=ada, text="Hi", state="failed", error="X was down"
    )

    with django_capture_on_commit_callbacks(execute=True):
        reply_retry(actor=ada, reply=failed)

    failed.refresh_from_db()
    assert (failed.state, failed.error) == (Reply.State.QUEUED, "")
    assert audit_of(mention) == [("reply.retried", ada.pk, {}, {"reply": failed.pk})]
    assert live.received() == [event("reply.retried", mention, "ada", reply=failed.pk)]
    assert queued_tasks() == [("inbox.tasks.reply_send", f"({failed.pk},)")]


@pytest.mark.django_db
def test_only_a_failed_reply_is_retried(ada, mention, care_channel):
    sent = Reply.objects.create(mention=mention, channel=care_channel, author=ada, text="Hi", state="sent")

    with pytest.raises(
        TriageError, match=re.escape("Only a failed or waiting reply can be retried; this one is sent.")
    ):
        reply_retry(actor=ada, reply=sent)

    assert queued_tasks() == []


# --- Bulk ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_bulk_close_does_its_teams_mentions_and_skips_the_others_saying_why(
    ada, care, crisis, live, django_capture_on_commit_callbacks
):
    ours = [MentionFactory(team=care), MentionFactory(team=care, status=Mention.Status.OPEN)]
    theirs = MentionFactory(team=crisis)

    with django_capture_on_commit_callbacks(execute=True):
        result = mentions_bulk_apply(actor=ada, mentions=[*ours, theirs], action="close")

    assert result.done == [m.pk for m in ours]
    assert result.skipped == {theirs.pk: "belongs to another team"}
    assert [fresh(m).status for m in ours] == ["closed", "closed"]
    assert all(fresh(m).closed_at is not None for m in ours)
    assert fresh(theirs).status == Mention.Status.NEW
    assert [(verb, before) for verb, _, before, _ in audit_of(ours[0]) + audit_of(ours[1])] == [
        ("mention.closed", {"status": "new"}),
        ("mention.closed", {"status": "open"}),
    ]
    assert audit_of(theirs) == []
    assert live.received() == [
        {
            "kind": "mention.closed",
            "ids": [m.pk for m in ours],
            "teams": [care.pk],
            "actor": "ada",
        }
    ]


@pytest.mark.django_db
def test_bulk_skips_a_mention_the_team_sent_away(ada, care, crisis):
    sent = MentionFactory(team=crisis)
    Escalation.objects.create(mention=sent, from_team=care, to_team=crisis, reason="Theirs")

    result = mentions_bulk_apply(actor=ada, mentions=[sent], action="close")

    assert (result.done, result.skipped) == ([], {sent.pk: "belongs to another team"})
    assert fresh(sent).status == Mention.Status.NEW


@pytest.mark.django_db
def test_bulk_where_everything_is_skipped_changes_and_publishes_nothing(
    ada, crisis, live, django_capture_on_commit_callbacks
):
    theirs = [MentionFactory(team=crisis), MentionFactory(team=crisis)]

    with django_capture_on_commit_callbacks(execute=True):
        result = mentions_bulk_apply(actor=ada, mentions=theirs, action="close")

    assert result.done == []
    assert not DomainEvent.objects.exists()
    assert live.received() == []


@pytest.mark.django_db
def test_bulk_labels_are_appended_once(ada, care):
    has_vip = MentionFactory(team=care, labels=["vip"])
    has_both = MentionFactory(team=care, labels=["refund", "vip"])
    bare = MentionFactory(team=care, labels=[])

    result = mentions_bulk_apply(
        actor=ada, mentions=[has_vip, has_both, bare], action="label", labels=["VIP", "refund", ""]
    )

    assert result.done == [has_vip.pk, has_both.pk, bare.pk]
    assert [fresh(m).labels for m in (has_vip, has_both, bare)] == [
        ["vip", "refund"],
        ["refund", "vip"],
        ["vip", "refund"],
    ]
    assert [after for *_, after in audit_of(bare)] == [{"labels": ["vip", "refund"]}]


@pytest.mark.django_db
def test_bulk_labels_that_are_not_labels_are_refused(ada, care):
    mention = MentionFactory(team=care, labels=["vip"])

    with pytest.raises(TriageError, match="'#x' is not a label"):
        mentions_bulk_apply(actor=ada, mentions=[mention], action="label", labels=["ok", "#x"])
    with pytest.raises(TriageError, match=re.escape("Name a label to add.")):
        mentions_bulk_apply(actor=ada, mentions=[mention], action="label", labels=[" "])

    assert fresh(mention).labels == ["vip"]


@pytest.mark.django_db
def test_bulk_snooze(ada, care):
    mentions = [MentionFactory(team=care), MentionFactory(team=care, status=Mention.Status.OPEN)]
    until = timezone.now() + timedelta(hours=3)

    mentions_bulk_apply(actor=ada, mentions=mentions, action="snooze", until=until)

    assert [(fresh(m).status, fresh(m).snoozed_until) for m in mentions] == [("snoozed", until)] * 2
    assert [after for *_, after in audit_of(mentions[0])] == [
        {"status": "snoozed", "snoozed_until": until.isoformat()}
    ]


@pytest.mark.parametrize(
    ("until", "message"),
    [
        (None, "Choose a time to snooze until."),
        (timedelta(hours=-1), "Choose a time in the future to snooze until."),
        (timedelta(days=400), "A mention can be snoozed for a year at most."),
    ],
)
@pytest.mark.django_db
def test_bulk_snooze_into_the_past_is_refused_for_all(ada, care, until, message):
    mentions = [MentionFactory(team=care), MentionFactory(team=care)]

    with pytest.raises(TriageError) as refused:
        mentions_bulk_apply(
            actor=ada, mentions=mentions, action="snooze", until=until and timezone.now() + until
        )

    assert str(refused.value) == message
    assert [fresh(m).status for m in mentions] == ["new", "new"]
    assert not DomainEvent.objects.exists()


@pytest.mark.django_db
def test_bulk_assign_opens_new_mentions_and_skips_those_of_teams_the_assignee_is_not_in(
    ada, ben, care, admin
):
    crisis_mention = MentionFactory(team=segment("crisis-management").team)
    new, pending = MentionFactory(team=care), MentionFactory(team=care, status=Mention.Status.PENDING)

    result = mentions_bulk_apply(
        actor=admin, mentions=[new, pending, crisis_mention], action="assign", assignee=ben
    )

    assert result.done == [new.pk, pending.pk]
    assert result.skipped == {crisis_mention.pk: "Ben M is not in its team"}
    assert [(fresh(m).assignee_id, fresh(m).status) for m in (new, pending)] == [
        (ben.pk, "open"),
        (ben.pk, "pending"),
    ]
    assert fresh(crisis_mention).assignee_id is None


@pytest.mark.django_db
def test_bulk_spam_closes_and_keeps_one_correction_each(ada, care):
    mentions = [MentionFactory(team=care, intent="other"), MentionFactory(team=care, intent="praise")]

    mentions_bulk_apply(actor=ada, mentions=mentions, action="spam")

    assert [(fresh(m).status, fresh(m).intent) for m in mentions] == [("closed", "spam")] * 2
    assert sorted(Correction.objects.values_list("mention_id", "intent_before", "intent_after")) == [
        (mentions[0].pk, "other", "spam"),
        (mentions[1].pk, "praise", "spam"),
    ]


@pytest.mark.django_db
def test_bulk_reroute_moves_each_and_skips_the_other_teams(ada, care, crisis):
    ours, theirs = MentionFactory(team=care), MentionFactory(team=crisis)

    result = mentions_bulk_apply(
        actor=ada, mentions=[ours, theirs], action="reroute", team=crisis, reason="Recall"
    )

    assert (result.done, result.skipped) == ([ours.pk], {theirs.pk: "belongs to another team"})
    assert fresh(ours).team_id == crisis.pk
    assert Correction.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "explode"}, "Unknown bulk action 'explode'"),
        ({"action": "assign"}, "Choose who to assign the selection to."),
        ({"action": "priority", "priority": 7}, "Choose low, normal, high or urgent."),
        ({"action": "reroute"}, "Choose a team or an intent to re-route to."),
        ({"action": "reroute", "intent": "gossip"}, "Unknown intent 'gossip'."),
    ],
)
@pytest.mark.django_db
def test_bulk_with_a_missing_or_wrong_parameter_is_refused_before_anything_changes(
    ada, care, kwargs, message
):
    mention = MentionFactory(team=care)

    with pytest.raises(TriageError, match=re.escape(message)):
        mentions_bulk_apply(actor=ada, mentions=[mention], **kwargs)

    assert not DomainEvent.objects.exists()
    assert fresh(mention).status == Mention.Status.NEW


@pytest.mark.django_db
def test_bulk_refuses_a_selection_larger_than_the_limit(ada, care, monkeypatch):
    from inbox.actions import triage

    monkeypatch.setattr(triage, "BULK_MAX", 2)
    mentions = [MentionFactory(team=care) for _ in range(3)]

    with pytest.raises(TriageError, match=re.escape("Select at most 2 mentions at once; 3 were selected.")):
        mentions_bulk_apply(actor=ada, mentions=mentions, action="close")


@pytest.mark.django_db
def test_bulk_not_spam_puts_the_spam_back_skips_the_rest_and_trains_once(
    ada, care, crisis, live, django_capture_on_commit_callbacks
):
    routed = MentionFactory(team=care, intent="spam", labels=["spam"])
    marked = MentionFactory(team=care, intent="spam", status=Mention.Status.CLOSED, closed_at=timezone.now())
    ham = MentionFactory(team=care, intent="praise")
    theirs = MentionFactory(team=crisis, intent="spam")

    with django_capture_on_commit_callbacks(execute=True):
        result = mentions_bulk_apply(
            actor=ada, mentions=[routed, marked, ham, theirs], action="not_spam", intent="praise"
        )

    assert result.done == [routed.pk, marked.pk]
    assert result.skipped == {ham.pk: "is not marked as spam", theirs.pk: "belongs to another team"}
    assert [(fresh(m).status, fresh(m).intent, fresh(m).labels) for m in (routed, marked, ham, theirs)] == [
        (Mention.Status.NEW, "praise", []),
        (Mention.Status.NEW, "praise", []),
        (Mention.Status.NEW, "praise", []),
        (Mention.Status.NEW, "spam", []),
    ]
    assert sorted(Correction.objects.values_list("mention_id", "intent_before", "intent_after")) == [
        (routed.pk, "spam", "praise"),
        (marked.pk, "spam", "praise"),
    ]
    assert [verb for verb, *_ in audit_of(marked)] == ["mention.not_spam"]
    assert [e["kind"] for e in live.received()] == ["mention.not_spam", "mention.not_spam"]
    assert queued_tasks() == [("inbox.tasks.classifier_train", "()")]
