"""routing.learning on PostgreSQL: the examples the stored data holds, versions trained from them (the same
examples make no new one), backtested on the newest corrections, kept back when worse, made active again by an
admin; and the training task, on a real worker."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from channels.connectors.simulated import SimulatedConnector
from foundation.models import DomainEvent
from inbox import history, route
from inbox.actions import escalations
from inbox.actions import routing as routing_actions
from inbox.models import Mention, Reply
from inbox.pulls import channel_pull
from inbox.tasks import classifier_train_task
from routing import learning
from routing.models import Correction, Escalation, ModelVersion
from routing.owners import CORRECTION_WEIGHT, OwnerModel
from teams.models import Membership
from tests.conftest import wait_until
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    MentionFactory,
    TeamFactory,
    UserFactory,
    segment,
)

SUPPORT_QUESTION = "@brand_events my order #48213 never arrived and tracking shows nothing. Can you help me?"
# Posts about a product line the intent map knows nothing about: agents send them to the sales team.
VOLTRA = [
    "Is the Voltra e-bike battery removable? Thinking of getting one",
    "Voltra e-bike: does the frame fold small enough for the train?",
    "How far does the Voltra e-bike go on one charge, honestly?",
    "Does the Voltra e-bike come with lights or are they extra?",
    "Voltra e-bike in matte black, any date yet?",
    "What motor does the Voltra e-bike use, hub or mid-drive?",
    "Voltra e-bike owners: how is the battery after a winter?",
    "Is the Voltra e-bike fine in heavy rain",
    "Voltra e-bike test rides in Leeds this month?",
    "Can I fit mudguards to the Voltra e-bike",
    "Voltra e-bike with a child seat on the back, does it work?",
    "How heavy is the Voltra e-bike without the battery?",
    "Voltra e-bike or the old Cirrus bike for commuting?",
    "Does the Voltra e-bike charger work on 110V?",
    "Voltra e-bike: is there a step-through frame?",
    "Where can I see a Voltra e-bike in person?",
    "Voltra e-bike tyre size please",
    "Is the Voltra e-bike display readable in sun",
    "Voltra e-bike top speed in the EU version?",
    "Voltra e-bike bell sounds tinny, can I swap it",
    "Any Voltra e-bike cargo rack that fits?",
    "Voltra e-bike gears: how many?",
    "Can two Voltra e-bike batteries be carried for longer rides?",
    "Voltra e-bike, what pedals does it ship with?",
]


def team_of(segment_slug: str):
    return segment(segment_slug).team


def received(
    text: str,
    *,
    on: str,
    status: str = Mention.Status.NEW,
    routed: bool = True,
    intent: str = "support_question",
    **fields: object,
) -> Mention:
    """A post received on an account of segment ``on``, routed to (kept by) that segment's team."""
    channel = ChannelFactory(segment=segment(on))
    return MentionFactory(
        text=text,
        on_channels=[channel],
        team=team_of(on),
        status=status,
        intent=intent,
        routed_at=timezone.now() if routed else None,
        **fields,
    )


def rerouted(text: str, *, to: str, on: str = "customer-relations") -> Correction:
    """An agent moved a post received on ``on`` to the team of segment ``to``."""
    mention = received(text, on=on)
    routing_actions.mention_reroute(mention=mention, actor=admin(), team=team_of(to), reason="theirs")
    return Correction.objects.filter(mention=mention).latest("id")


def admin():
    return UserFactory(username="ada", admin=True)


def owner_examples(examples: list[learning.Example]) -> list[tuple]:
    return [
        (e.owner.key, e.owner.team, e.owner.receiving, e.owner.weight, e.owner.against, e.owner.correction)
        for e in examples
    ]


# --- the examples ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_history_is_what_a_team_closed_or_replied_to_and_nobody_corrected() -> None:
    now = timezone.now()
    closed = received("thanks, the new strap fits perfectly", on="customer-relations", status="closed")
    replied = received("what time do the doors open on Saturday?", on="event-coverage")
    Reply.objects.create(
        mention=replied, channel=replied.channels.get(), text="At six!", state=Reply.State.SENT
    )
    unsent = received("is the shop open on Sunday?", on="customer-relations")
    Reply.objects.create(mention=unsent, channel=unsent.channels.get(), text="It is!")  # queued
    received("my tent zip broke", on="customer-relations")  # still open, no reply
    received("my tent pole broke", on="customer-relations", status="closed", routed=False)
    received("cheap followers here", on="customer-relations", status="closed", intent="spam")
    received(
        "my stove broke", on="customer-relations", status="closed", received_at=now - timedelta(days=181)
    )
    moved = received("Voltra e-bike question", on="customer-relations", status="closed")
    routing_actions.mention_reroute(mention=moved, actor=admin(), team=team_of("product-promotion"))
    escalated = received(SUPPORT_QUESTION, on="event-coverage", status="closed")
    Escalation.objects.create(
        mention=escalated,
        from_team=team_of("event-coverage"),
        to_team=team_of("customer-relations"),
        reason="support",
        state=Escalation.State.ACCEPTED,
        decided_at=now,
    )

    examples = history.examples_collect()

    care, events, sales = (
        team_of(s).slug for s in ("customer-relations", "event-coverage", "product-promotion")
    )
    assert owner_examples(examples) == [
        ((0, closed.pk), care, care, 1.0, False, False),
        ((0, replied.pk), events, events, 1.0, False, False),
        ((1, Correction.objects.get().pk), sales, care, CORRECTION_WEIGHT, False, True),
        ((2, Escalation.objects.get().pk), care, events, CORRECTION_WEIGHT, False, True),
    ]
    assert [e.owner.text for e in examples[:2]] == [closed.text, replied.text]
    assert [e.at for e in examples[:2]] == [closed.received_at, replied.received_at]


@pytest.mark.django_db
def test_a_post_corrected_twice_teaches_its_newest_correction_and_a_deleted_post_still_teaches() -> None:
    mention = received(VOLTRA[0], on="customer-relations")
    routing_actions.mention_reroute(mention=mention, actor=admin(), team=team_of("product-promotion"))
    routing_actions.mention_reroute(mention=mention, actor=admin(), team=team_of("event-coverage"))
    newest = Correction.objects.filter(mention=mention).latest("id")
    gone = rerouted(VOLTRA[1], to="product-promotion")
    Mention.objects.filter(pk=gone.mention_id).delete()

    examples = history.examples_collect()

    care, events, sales = (
        team_of(s).slug for s in ("customer-relations", "event-coverage", "product-promotion")
    )
    assert owner_examples(examples) == [
        ((1, newest.pk), events, care, CORRECTION_WEIGHT, False, True),
        ((1, gone.pk), sales, "", CORRECTION_WEIGHT, False, True),  # where it arrived went with it
    ]
    # A re-route to a team whose segment owns one intent also teaches the intent model that intent.
    assert [(e.intent, e.correction_id, e.owner.text) for e in examples] == [
        ("event_question", newest.pk, VOLTRA[0]),
        ("purchase_question", gone.pk, VOLTRA[1]),
    ]
    assert Correction.objects.count() == 3


@pytest.mark.django_db
def test_a_bounce_counts_against_the_team_that_bounced_it_an_acceptance_for_the_team_that_took_it() -> None:
    care = team_of("customer-relations")
    member = MembershipFactory(team=care).user
    bounced, accepted = (
        received(SUPPORT_QUESTION, on="event-coverage", routed=False),
        received(SUPPORT_QUESTION.replace("48213", "51177"), on="event-coverage", routed=False),
    )
    route.mentions_route(mention_ids=[bounced.pk, accepted.pk])
    first, second = Escalation.objects.order_by("id")
    assert (first.mention_id, second.mention_id, first.to_team) == (bounced.pk, accepted.pk, care)

    escalations.escalation_bounce(
        escalation=first, actor=member, reason="the festival desk sells these orders"
    )
    escalations.escalation_accept(escalation=second, actor=member)
    Mention.objects.update(status=Mention.Status.CLOSED)  # handled, but corrected: not history

    examples = history.examples_collect()

    events = team_of("event-coverage").slug
    assert owner_examples(examples) == [
        ((2, first.pk), care.slug, events, CORRECTION_WEIGHT, True, True),
        ((2, second.pk), care.slug, events, CORRECTION_WEIGHT, False, True),
    ]
    assert Correction.objects.get().kind == Correction.Kind.BOUNCE  # kept, but the escalation teaches


def unsure(text: str, *, on: str, kept_by: str) -> Mention:
    """A post received on ``on``'s account that routing gave, unsure, to ``kept_by``'s team."""
    mention = received(text, on=on, decision={"needs_decision": True})
    Mention.objects.filter(pk=mention.pk).update(team=team_of(kept_by))
    mention.refresh_from_db()
    return mention


@pytest.mark.django_db
def test_a_leads_keep_is_evidence_for_the_team_that_kept_it() -> None:
    sales = team_of("product-promotion")
    lead = MembershipFactory(team=sales, role=Membership.Role.LEAD).user
    mention = unsure(VOLTRA[2], on="product-promotion", kept_by="product-promotion")

    routing_actions.mention_owner_decide(mention=mention, actor=lead)

    keep = Correction.objects.get()
    assert keep.kind == Correction.Kind.KEEP
    examples = history.examples_collect()
    assert owner_examples(examples) == [
        ((1, keep.pk), sales.slug, sales.slug, CORRECTION_WEIGHT, False, True)
    ]
    assert examples[0].intent == ""


@pytest.mark.django_db
def test_a_keep_that_accepts_the_escalation_waiting_on_it_is_one_piece_of_evidence() -> None:
    # One judgement (the lead's "keep it here"), one example: not a keep and an accepted escalation, twice
    # the weight of any other correction.
    care, sales = team_of("customer-relations"), team_of("product-promotion")
    lead = MembershipFactory(team=sales, role=Membership.Role.LEAD).user
    mention = unsure(VOLTRA[2], on="customer-relations", kept_by="product-promotion")
    Escalation.objects.create(mention=mention, from_team=care, to_team=sales, reason="A purchase question")

    routing_actions.mention_owner_decide(mention=mention, actor=lead)

    examples = history.examples_collect()
    assert [(e.owner.team, e.owner.receiving, e.owner.weight) for e in examples] == [
        (sales.slug, care.slug, CORRECTION_WEIGHT)
    ]


# --- versions --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_nothing_to_learn_makes_no_version() -> None:
    assert history.classifier_train() is None
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_the_first_version_is_active_and_the_same_examples_make_no_new_one() -> None:
    corrections = [rerouted(text, to="product-promotion") for text in VOLTRA[:3]]
    received("thanks, the new strap fits perfectly", on="customer-relations", status="closed")

    version = history.classifier_train()

    assert (version.number, version.is_active, version.promoted, version.reason) == (
        1,
        True,
        True,
        "corrections",
    )
    assert version.verdict == (
        "3 new corrections since the active version: too few to backtest on (at least 10); made active."
    )
    assert (version.held_back, version.held_back_accuracy, version.temperature) == (3, None, 1.0)
    assert version.last_correction_id == corrections[-1].pk
    assert {k: v for k, v in version.examples.items() if k != "fingerprint"} == {
        "history": 1,
        "corrections": 3,
        "escalations_accepted": 0,
        "escalations_bounced": 0,
        "intent_labels": 3,  # the sales team's segment owns one intent: purchase question
    }
    current = learning.classifier_current()
    assert current.version == 1
    assert current.owner_model.dump() == bytes(version.owner_state)

    assert history.classifier_train() is None  # the same examples: the same models, nothing stored
    assert ModelVersion.objects.count() == 1

    forced = history.classifier_train(force=True, reason="nightly")

    assert (forced.number, forced.is_active, forced.reason) == (2, True, "nightly")
    assert bytes(forced.owner_state) == bytes(version.owner_state)  # trained again from zero: the same
    assert forced.examples["fingerprint"] == version.examples["fingerprint"]
    assert forced.verdict.startswith("0 new corrections since the active version")


@pytest.mark.django_db
def test_a_version_is_backtested_on_the_newest_corrections_it_was_trained_without() -> None:
    for text in VOLTRA[:3]:
        rerouted(text, to="product-promotion")
    first = history.classifier_train()
    for text in VOLTRA[3:23]:
        rerouted(text, to="product-promotion")

    second = history.classifier_train()

    assert (second.number, second.held_back) == (2, 20)
    # Trained without them, on the three before: the same owner model as the active one, so the same score.
    accuracy = second.held_back_accuracy
    assert accuracy is not None and 0.0 < accuracy <= 1.0
    assert second.held_back_accuracy_active == accuracy
    assert second.verdict == (
        f"Owner accuracy {accuracy:.1%} on the 20 newest corrections it was trained without; the active "
        f"version got {accuracy:.1%}: not worse, made active."
    )
    assert (second.is_active, second.promoted) == (True, True)
    first.refresh_from_db()
    assert first.is_active is False
    # 23 corrections are fewer posts than a temperature is fitted on: confidences stay as trained.
    assert second.temperature == 1.0
    assert OwnerModel.load(bytes(second.owner_state)).temperature == second.temperature


@pytest.mark.django_db
def test_a_version_worse_on_the_newest_corrections_is_kept_back() -> None:
    sales = team_of("product-promotion")
    seller = MembershipFactory(team=sales).user
    for text in VOLTRA[:4]:
        rerouted(text, to="product-promotion")
    first = history.classifier_train()
    assert first.is_active
    # Since then the sales team bounced eight Voltra posts escalated to it (not ours) ...
    for text in VOLTRA[4:12]:
        mention = received(text, on="customer-relations")
        escalation = Escalation.objects.create(
            mention=mention, from_team=team_of("customer-relations"), to_team=sales, reason="Voltra"
        )
        escalations.escalation_bounce(escalation=escalation, actor=seller, reason="not ours")
    # ... while agents re-routed twelve others to it: the newest corrections, the candidate's backtest.
    for text in VOLTRA[12:]:
        rerouted(text, to="product-promotion")

    second = history.classifier_train()

    assert (second.number, second.held_back, second.examples["escalations_bounced"]) == (2, 12, 8)
    # Trained without the newest twelve, the candidate learned "sales bounces Voltra posts"; the active
    # version had learned "Voltra posts go to sales", and the newest corrections agree with it.
    active_accuracy = second.held_back_accuracy_active
    assert second.held_back_accuracy == 0.0 and active_accuracy is not None and active_accuracy > 0.0
    assert second.verdict == (
        "Owner accuracy 0.0% on the 12 newest corrections it was trained without; the active version got "
        f"{active_accuracy:.1%}: worse, kept inactive."
    )
    assert (second.is_active, second.promoted, second.activated_at) == (False, False, None)
    first.refresh_from_db()
    assert first.is_active
    assert learning.classifier_current().version == 1


@pytest.mark.django_db
def test_an_admin_makes_an_earlier_version_active_again() -> None:
    ada = admin()
    for text in VOLTRA[:3]:
        rerouted(text, to="product-promotion")
    first = history.classifier_train()
    rerouted(VOLTRA[3], to="event-coverage")
    second = history.classifier_train()
    assert (second.is_active, learning.classifier_current().version) == (True, 2)

    learning.model_version_activate(version=first, user=ada)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_active, second.is_active) == (True, False)
    assert first.activated_by == ada
    current = learning.classifier_current()
    assert current.version == 1
    assert current.owner_model.dump() == bytes(first.owner_state)
    assert list(
        DomainEvent.objects.filter(verb="model.activated").values_list("actor", "before", "after")
    ) == [(ada.pk, {"active": 2}, {"active": 1})]
    assert history.classifier_train() is None  # nothing new: an admin's choice stands until something is


@pytest.mark.django_db
def test_the_handled_posts_a_learned_owner_names_are_the_teams_own() -> None:
    # "Owner team X (0.NN), learned from 3 corrections and N handled posts": N must be posts the team
    # handled, not the seed corpus's posts that training adds as anchors.
    for text in VOLTRA[:3]:
        rerouted(text, to="product-promotion")

    version = history.classifier_train()

    owner_model = learning.classifier_current().owner_model
    assert version.examples["history"] == 0
    assert owner_model.counts(team_of("product-promotion").slug) == (3, 0)
    assert owner_model.counts(team_of("customer-relations").slug) == (0, 0)


@pytest.mark.django_db
def test_a_new_teams_first_backtest_does_not_make_every_post_need_a_decision() -> None:
    # The help desk's recent past: 40 simulated posts, each closed by the team routing gave it.
    help_desk = ChannelFactory(
        slug="northwind-help", segment=segment("customer-relations"), credentials={"posts_per_pull": 40}
    )
    channel_pull(channel_id=help_desk.pk, connector=SimulatedConnector())
    Mention.objects.exclude(team=None).update(status=Mention.Status.CLOSED)
    e_bikes = TeamFactory(name="E-bikes", slug="e-bikes")
    for text in VOLTRA[:10]:  # the tenth correction: the first version backtested (and calibrated)
        mention = received(text, on="customer-relations")
        routing_actions.mention_reroute(mention=mention, actor=admin(), team=e_bikes)
    version = history.classifier_train()
    assert (version.held_back, version.is_active) == (10, True)
    unrelated = MentionFactory(text="Where is my order #4471? It has been two weeks", on_channels=[help_desk])

    route.mentions_route(mention_ids=[unrelated.pk])

    unrelated.refresh_from_db()
    assert unrelated.team == team_of("customer-relations")
    assert unrelated.decision["needs_decision"] is False


# --- the task --------------------------------------------------------------------------------------------


def queued_tasks() -> list[tuple[str, str]]:
    """(task name, arguments) of the Celery messages waiting in the real broker queue."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        messages = [json.loads(raw) for raw in client.lrange("celery", 0, -1)]
    finally:
        client.close()
    return sorted((m["headers"]["task"], m["headers"]["argsrepr"]) for m in messages)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "to",
    [
        pytest.param(lambda: team_of("product-promotion"), id="a-team-owning-one-intent"),
        pytest.param(lambda: team_of("customer-relations"), id="a-team-owning-several-intents"),
        pytest.param(lambda: TeamFactory(name="E-bikes", slug="e-bikes"), id="a-team-owning-no-segment"),
    ],
)
def test_every_reroute_queues_a_training(to, django_capture_on_commit_callbacks) -> None:
    # The owner model learns from every re-route, whether or not it names an intent to learn.
    mention = received(VOLTRA[0], on="event-coverage")

    with django_capture_on_commit_callbacks(execute=True):
        routing_actions.mention_reroute(mention=mention, actor=admin(), team=to())

    assert queued_tasks() == [("inbox.tasks.classifier_train", "()")]


@pytest.mark.django_db
def test_the_task_trains_nothing_while_another_training_holds_the_lock() -> None:
    rerouted(VOLTRA[0], to="product-promotion")
    cache.add("routing:classifier-train-lock", "1", timeout=60)

    assert classifier_train_task() is None
    assert not ModelVersion.objects.exists()

    cache.delete("routing:classifier-train-lock")
    assert classifier_train_task() == 1
    assert classifier_train_task() is None  # nothing new


@pytest.mark.slow
@pytest.mark.usefixtures("six_segments")
def test_a_reroute_trains_a_new_active_version_on_the_worker(worker: None) -> None:
    mention = received(VOLTRA[0], on="customer-relations")

    routing_actions.mention_reroute(mention=mention, actor=admin(), team=team_of("product-promotion"))

    wait_until(lambda: ModelVersion.objects.filter(is_active=True).exists(), timeout=120)
    version = ModelVersion.objects.get()
    assert (version.number, version.examples["corrections"], version.reason) == (1, 1, "corrections")
    assert learning.classifier_current().version == 1
    assert cache.get("routing:classifier-train-lock") is None
