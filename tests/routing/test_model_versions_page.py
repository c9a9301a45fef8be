"""The model versions page: every trained version of the routing models with what it learned from, its
backtest and calibration, which one is active; Make active (a rollback, confirmed and audited) and Train now.
Admins only, like the other routing pages."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from foundation.models import DomainEvent
from inbox.tasks import classifier_train_task
from routing import learning
from routing.models import Correction, ModelVersion
from routing.views import TRAINING_LOCK_KEY
from teams.models import Membership
from tests.factories import ChannelFactory, MembershipFactory, MentionFactory, UserFactory, segment

pytestmark = pytest.mark.django_db

NOT_BACKTESTED = "Too few new corrections to backtest (4; it takes 10)."
BACKTESTED = "80.0% right on the 25 newest corrections, trained without them; the version active then: 72.0%."


# --- People and versions ------------------------------------------------------------------------------------


@pytest.fixture
def admin() -> Any:
    return UserFactory(username="ada", first_name="Ada", last_name="Lovelace", admin=True)


@pytest.fixture
def admin_client(client: Client, admin: Any) -> Client:
    client.force_login(admin)
    return client


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def member(role: str) -> Any:
    return MembershipFactory(
        team=segment("customer-relations").team,
        role=Membership.Role.LEAD if role == "lead" else Membership.Role.AGENT,
    ).user


@pytest.fixture(scope="module")
def states() -> tuple[bytes, bytes]:
    """The seed intent model and the untrained owner model, as a version stores them."""
    trained = learning.trained_load(None)
    return trained.intent.dump_state(), trained.owner.dump()


def a_version(states: tuple[bytes, bytes], number: int, **fields: Any) -> ModelVersion:
    intent_state, owner_state = states
    return ModelVersion.objects.create(
        number=number, intent_state=intent_state, owner_state=owner_state, **fields
    )


@pytest.fixture
def three(states: tuple[bytes, bytes]) -> dict[int, ModelVersion]:
    """Version 1 (too few corrections to backtest, active until 2), 2 (backtested, active), 3 (kept back)."""
    now = timezone.now()
    first = a_version(
        states,
        1,
        promoted=True,
        verdict=(
            "4 new corrections since the active version: too few to backtest on (at least 10); made active."
        ),
        examples={
            "history": 1204,
            "corrections": 4,
            "escalations_accepted": 1,
            "escalations_bounced": 0,
            "intent_labels": 0,
            "fingerprint": "a" * 64,
        },
        held_back=4,
        training_seconds=2.345,
        reason="nightly",
        created_at=now - timedelta(days=2),
        activated_at=now - timedelta(days=2),
    )
    second = a_version(
        states,
        2,
        is_active=True,
        promoted=True,
        verdict=(
            "Owner accuracy 80.0% on the 25 newest corrections it was trained without; "
            "the active version got 72.0%: not worse, made active."
        ),
        examples={
            "history": 1210,
            "corrections": 37,
            "escalations_accepted": 5,
            "escalations_bounced": 2,
            "intent_labels": 21,
            "fingerprint": "b" * 64,
        },
        held_back=25,
        held_back_accuracy=0.8,
        held_back_accuracy_active=0.72,
        temperature=1.354,
        training_seconds=83.4,
        reason="corrections",
        created_at=now - timedelta(days=1),
        activated_at=now - timedelta(days=1),
    )
    third = a_version(
        states,
        3,
        promoted=False,
        verdict=(
            "Owner accuracy 60.0% on the 12 newest corrections it was trained without; "
            "the active version got 75.0%: worse, kept inactive."
        ),
        examples={
            "history": 1215,
            "corrections": 49,
            "escalations_accepted": 5,
            "escalations_bounced": 2,
            "intent_labels": 30,
            "fingerprint": "c" * 64,
        },
        held_back=12,
        held_back_accuracy=0.6,
        held_back_accuracy_active=0.75,
        temperature=0.81,
        training_seconds=4.0,
        reason="admin",
        created_at=now - timedelta(hours=1),
    )
    return {1: first, 2: second, 3: third}


def active_numbers() -> list[int]:
    return list(ModelVersion.objects.filter(is_active=True).values_list("number", flat=True))


def state() -> tuple:
    """Everything the page can change, to show that a refused post changed nothing."""
    return (
        list(
            ModelVersion.objects.order_by("number").values_list(
                "number", "is_active", "activated_at", "activated_by_id"
            )
        ),
        DomainEvent.objects.count(),
        queued_tasks(),
    )


def queued_tasks() -> list[tuple[str, str, str]]:
    """(task name, arguments, keyword arguments) of the Celery messages waiting in the real broker queue."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        messages = [json.loads(raw) for raw in client.lrange("celery", 0, -1)]
    finally:
        client.close()
    return sorted(
        (m["headers"]["task"], m["headers"]["argsrepr"], m["headers"]["kwargsrepr"]) for m in messages
    )


def text_of(html: str) -> str:
    """The page's words as a reader sees them: tags dropped, white space collapsed."""
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    return re.sub(r" ([.,;:])", r"\1", words)


# --- Access -------------------------------------------------------------------------------------------------

GET_PAGES = [
    ("routing:model_versions", {}),
    ("routing:model_version_activate", {"number": 1}),
    ("routing:model_training", {}),
]
POSTS = [
    ("routing:model_train", {}, {}),
    ("routing:model_version_activate", {"number": 1}, {"active": "2"}),
]


@pytest.mark.parametrize(("name", "kwargs"), GET_PAGES)
def test_an_admin_sees_every_page(admin_client: Client, three: dict, name: str, kwargs: dict) -> None:
    response = admin_client.get(reverse(name, kwargs=kwargs))

    assert response.status_code == 200


@pytest.mark.parametrize("role", ["agent", "lead"])
@pytest.mark.parametrize(("name", "kwargs"), GET_PAGES)
def test_agents_and_leads_are_told_the_pages_do_not_exist(
    three: dict, name: str, kwargs: dict, role: str
) -> None:
    response = signed_in(member(role)).get(reverse(name, kwargs=kwargs))

    assert response.status_code == 404


@pytest.mark.parametrize("role", ["agent", "lead"])
@pytest.mark.parametrize(("name", "kwargs", "data"), POSTS)
def test_a_forged_post_by_an_agent_or_a_lead_changes_nothing_and_queues_nothing(
    three: dict, name: str, kwargs: dict, data: dict, role: str
) -> None:
    user = member(role)
    before = state()

    response = signed_in(user).post(reverse(name, kwargs=kwargs), data)

    assert response.status_code == 404
    assert state() == before
    assert active_numbers() == [2]
    assert queued_tasks() == []


@pytest.mark.parametrize(("name", "kwargs"), GET_PAGES)
def test_an_anonymous_visitor_is_sent_to_log_in(client: Client, three: dict, name: str, kwargs: dict) -> None:
    url = reverse(name, kwargs=kwargs)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize(("name", "kwargs", "data"), POSTS)
def test_an_anonymous_post_is_sent_to_log_in_and_changes_nothing(
    client: Client, three: dict, name: str, kwargs: dict, data: dict
) -> None:
    before = state()

    response = client.post(reverse(name, kwargs=kwargs), data)

    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")
    assert state() == before
    assert queued_tasks() == []


@pytest.mark.parametrize(("name", "kwargs", "data"), POSTS)
def test_an_admin_post_without_the_csrf_token_is_refused(
    admin: Any, three: dict, name: str, kwargs: dict, data: dict
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    before = state()

    response = client.post(reverse(name, kwargs=kwargs), data)

    assert response.status_code == 403
    assert state() == before
    assert queued_tasks() == []


@pytest.mark.parametrize(("name", "kwargs"), [("routing:model_versions", {}), ("routing:model_training", {})])
def test_the_read_only_pages_refuse_posts(admin_client: Client, three: dict, name: str, kwargs: dict) -> None:
    before = state()

    response = admin_client.post(reverse(name, kwargs=kwargs))

    assert response.status_code == 405
    assert state() == before


def test_train_now_refuses_a_get(admin_client: Client) -> None:
    response = admin_client.get(reverse("routing:model_train"))

    assert response.status_code == 405
    assert queued_tasks() == []


def test_an_unknown_version_is_not_found(admin_client: Client, three: dict) -> None:
    before = state()

    response = admin_client.post(reverse("routing:model_version_activate", args=[99]), {"active": "2"})

    assert response.status_code == 404
    assert state() == before


# --- The list -----------------------------------------------------------------------------------------------


def test_the_page_lists_each_version_newest_first_with_what_it_learned_its_backtest_and_which_is_active(
    admin_client: Client, three: dict
) -> None:
    response = admin_client.get(reverse("routing:model_versions"))

    body = response.content.decode()
    assert body.index('id="model-3"') < body.index('id="model-2"') < body.index('id="model-1"')
    rows = {
        number: text_of(body[body.index(f'id="model-{number}"') :].split("</tr>", 1)[0])
        for number in (1, 2, 3)
    }
    assert body.count('<span class="badge state-active">Active</span>') == 1
    assert rows[2].startswith('id="model-2"> 2 Active ')
    trained = timezone.localtime(three[2].created_at)
    assert f"{trained.day} {trained:%b %Y, %H:%M} after new corrections · trained in 1 min 23 s" in rows[2]
    assert "1,210 posts the teams handled (closed or replied to, never corrected)" in rows[2]
    assert "37 corrections (re-routes by agents, “keep it here” by leads), 21 naming an intent" in rows[2]
    assert "5 escalations accepted, 2 bounced back" in rows[2]
    assert BACKTESTED in rows[2]
    assert "the active version got 72.0%: not worse, made active." in rows[2]
    assert "1.35 (confidences lowered)" in rows[2]
    when = timezone.localtime(three[2].activated_at)
    assert f"Made active {when.day} {when:%b %Y, %H:%M} by socialops" in rows[2]
    assert "Make active" not in rows[2]

    assert "nightly · trained in 2.3 s" in rows[1]
    assert "4 corrections (re-routes by agents, “keep it here” by leads)" in rows[1]
    assert "naming an intent" not in rows[1]
    assert "1 escalation accepted, 0 bounced back" in rows[1]
    assert NOT_BACKTESTED in rows[1]
    assert "1.00 (not calibrated: too few corrections held back)" in rows[1]
    when = timezone.localtime(three[1].activated_at)
    assert f"Was made active {when.day} {when:%b %Y, %H:%M} by socialops; replaced since" in rows[1]
    assert "Make active… version 1" in rows[1]

    assert "an admin asked (Train now) · trained in 4.0 s" in rows[3]
    assert (
        "60.0% right on the 12 newest corrections, trained without them; the version active then: 75.0%."
        in (rows[3])
    )
    assert "worse, kept inactive." in rows[3]
    assert "0.81 (confidences raised)" in rows[3]
    assert "Kept back by its backtest; never active" in rows[3]
    assert f'href="{reverse("routing:model_version_activate", args=[3])}"' in body
    assert f'href="{reverse("routing:model_version_activate", args=[2])}"' not in body


def test_with_no_version_the_page_says_what_makes_one(admin_client: Client) -> None:
    response = admin_client.get(reverse("routing:model_versions"))

    body = text_of(response.content.decode())
    assert "No trained version yet" in body
    assert (
        "A version is trained from what the teams did: re-routes and intent corrections by agents, "
        "“keep it here” by leads, escalations accepted or bounced back, and posts a team closed or replied "
        "to. Training runs after new corrections and every night, or now with “Train now”."
    ) in body
    assert "<table" not in response.content.decode()


def test_the_page_is_linked_beside_the_rule_versions(admin_client: Client) -> None:
    for name in ("routing:versions", "routing:rules", "routing:segments"):
        body = admin_client.get(reverse(name)).content.decode()

        assert f'<a href="{reverse("routing:model_versions")}">Model versions</a>' in body
    versions = admin_client.get(reverse("routing:versions")).content.decode()
    assert f'<a href="{reverse("routing:model_versions")}">model versions</a>' in versions
    assert "The trained models routing decides with have their own model versions." in text_of(versions)
    page = admin_client.get(reverse("routing:model_versions")).content.decode()
    assert f'<a href="{reverse("routing:model_versions")}" aria-current="page">Model versions</a>' in page
    assert f'<a href="{reverse("routing:versions")}">Rule versions</a>' in page


def test_what_a_version_recorded_is_escaped(admin_client: Client, states: tuple[bytes, bytes]) -> None:
    a_version(
        states,
        1,
        is_active=True,
        promoted=True,
        verdict='<img src=x onerror="alert(1)">',
        reason="<script>alert(2)</script>",
        examples={"history": "<b>many</b>", "corrections": True},
    )

    body = admin_client.get(reverse("routing:model_versions")).content.decode()

    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in body
    assert "<img src=x" not in body and "<script>alert" not in body
    assert "0 posts the teams handled" in body  # counts that are not numbers count for nothing
    assert "0 corrections (" in body


def test_the_page_follows_the_content_security_policy(admin_client: Client, three: dict) -> None:
    for url in (reverse("routing:model_versions"), reverse("routing:model_version_activate", args=[1])):
        response = admin_client.get(url)

        body = response.content.decode()
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert "style-src 'self'" in response["Content-Security-Policy"]
        assert re.findall(r"<script(?![^>]*\ssrc=)", body) == []  # every script is a file
        assert " style=" not in body and "<style" not in body
        assert re.findall(r"\son[a-z]+=", body) == []


# --- Make active --------------------------------------------------------------------------------------------


def test_make_active_shows_the_version_beside_the_active_one_first(admin_client: Client, three: dict) -> None:
    before = state()

    response = admin_client.get(reverse("routing:model_version_activate", args=[1]))

    body = response.content.decode()
    words = text_of(body)
    assert "<h1>Make model version 1 active?</h1>" in body
    assert "The active version is 2." in words
    assert words.index("2 Active now") < words.index(BACKTESTED) < words.index("1 After")
    assert words.index("1 After") < words.index(NOT_BACKTESTED)
    assert '<input type="hidden" name="active" value="2">' in body
    assert "Make version 1 active</button>" in body
    assert "Keep version 2</a>" in body
    assert state() == before


def test_make_active_confirmed_makes_it_the_one_routing_decides_with_and_audits_it(
    admin_client: Client, admin: Any, three: dict
) -> None:
    response = admin_client.post(reverse("routing:model_version_activate", args=[1]), {"active": "2"})

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('routing:model_versions')}#model-1"
    assert active_numbers() == [1]
    first = ModelVersion.objects.get(number=1)
    assert first.activated_by == admin
    assert timezone.now() - first.activated_at < timedelta(minutes=1)
    assert list(DomainEvent.objects.values_list("verb", "actor_id", "object_id", "before", "after")) == [
        ("model.activated", admin.pk, str(first.pk), {"active": 2}, {"active": 1})
    ]
    assert queued_tasks() == []
    page = admin_client.get(response["Location"]).content.decode()
    assert (
        "Version 1 is active: new mentions are routed with it from now on. Version 2 stays in the list."
        in page
    )
    row = text_of(page[page.index('id="model-1"') :].split("</tr>", 1)[0])
    assert "1 Active" in row
    assert "Made active" in row and "by Ada Lovelace" in row


def test_the_audit_log_says_which_version_was_made_active(
    admin_client: Client, admin: Any, three: dict
) -> None:
    admin_client.post(reverse("routing:model_version_activate", args=[3]), {"active": "2"})

    body = admin_client.get(reverse("audit:index")).content.decode()

    words = text_of(body)
    assert "Routing model version made active" in words
    assert "model.activated" in words
    assert f'<a href="{reverse("routing:model_versions")}#model-3">model v3</a>' in body
    assert "Model version" in words
    assert "version 2" in words and "version 3" in words
    assert "Ada Lovelace" in words


def test_make_active_posted_without_the_confirmation_asks_again_and_changes_nothing(
    admin_client: Client, three: dict
) -> None:
    before = state()

    response = admin_client.post(reverse("routing:model_version_activate", args=[1]))

    assert response.status_code == 200
    assert "<h1>Make model version 1 active?</h1>" in response.content.decode()
    assert state() == before
    assert active_numbers() == [2]


def test_make_active_confirmed_against_a_version_since_replaced_changes_nothing(
    admin_client: Client, admin: Any, three: dict
) -> None:
    learning.model_version_activate(version=three[3], user=admin)  # another admin, meanwhile
    before = state()

    response = admin_client.post(reverse("routing:model_version_activate", args=[1]), {"active": "2"})

    body = response.content.decode()
    assert response.status_code == 409
    assert "Version 3 was made active while you were reading: nothing was changed." in text_of(body)
    assert '<input type="hidden" name="active" value="3">' in body
    assert state() == before
    assert active_numbers() == [3]


def test_the_active_version_has_nothing_to_make_active(admin_client: Client, three: dict) -> None:
    before = state()

    response = admin_client.post(
        reverse("routing:model_version_activate", args=[2]), {"active": "2"}, follow=True
    )

    assert "Version 2 is already active: there is nothing to change." in response.content.decode()
    assert state() == before


def test_with_no_active_version_one_can_be_made_active(
    admin_client: Client, admin: Any, states: tuple[bytes, bytes]
) -> None:
    a_version(states, 1, promoted=False, verdict="kept")

    shown = admin_client.get(reverse("routing:model_version_activate", args=[1])).content.decode()
    response = admin_client.post(reverse("routing:model_version_activate", args=[1]), {"active": "none"})

    assert (
        "No version is active: routing decides with the shipped intent model and the intent map."
        in text_of(shown)
    )
    assert '<input type="hidden" name="active" value="none">' in shown
    assert response.status_code == 302
    assert active_numbers() == [1]
    assert DomainEvent.objects.get(verb="model.activated").before == {"active": None}


# --- Train now ----------------------------------------------------------------------------------------------


def test_train_now_queues_a_training_and_says_so(admin_client: Client, three: dict) -> None:
    response = admin_client.post(reverse("routing:model_train"), follow=True)

    assert queued_tasks() == [("inbox.tasks.classifier_train", "()", "{'reason': 'admin'}")]
    assert ModelVersion.objects.count() == 3  # queued, not run in the request
    assert (
        "Training queued: a worker trains the routing models from everything stored now, and the new version "
        "appears in this list when it is done (usually within a minute). If nothing changed since version 3, "
        "no version is stored."
    ) in response.content.decode()


def test_train_now_while_a_training_runs_queues_nothing_and_the_page_shows_it_running(
    admin_client: Client, three: dict
) -> None:
    cache.set(TRAINING_LOCK_KEY, "1", timeout=60)

    response = admin_client.post(reverse("routing:model_train"), follow=True)

    body = response.content.decode()
    assert queued_tasks() == []
    assert "A training is running now: it learns from everything stored when it started." in body
    assert f'hx-get="{reverse("routing:model_training")}" hx-trigger="every 3s"' in body
    assert '<button type="submit" class="button button--primary" disabled>Train now</button>' in body


def test_the_training_status_polls_while_it_runs_and_reloads_the_page_when_it_has_finished(
    admin_client: Client,
) -> None:
    cache.set(TRAINING_LOCK_KEY, "1", timeout=60)
    running = admin_client.get(reverse("routing:model_training"), headers={"HX-Request": "true"})
    cache.delete(TRAINING_LOCK_KEY)
    finished = admin_client.get(reverse("routing:model_training"), headers={"HX-Request": "true"})
    idle_page = admin_client.get(reverse("routing:model_versions")).content.decode()

    assert "A training is running now." in running.content.decode()
    assert "HX-Refresh" not in running
    assert finished["HX-Refresh"] == "true"
    assert '<div id="model-training"></div>' in idle_page
    assert "hx-trigger" not in idle_page


def test_what_train_now_queues_stores_a_version_the_page_shows(admin_client: Client) -> None:
    care = segment("customer-relations")
    promotion = segment("product-promotion")
    agent = MembershipFactory(team=care.team).user
    channel = ChannelFactory(segment=care)
    for text in ("does the kettle come in teal?", "price for 40 kettles for the office?"):
        mention = MentionFactory(text=text, on_channels=[channel], team=care.team)
        Correction.objects.create(
            mention=mention,
            user=agent,
            text=text,
            intent_after="purchase_question",
            team_before=care.team,
            team_after=promotion.team,
        )
    admin_client.post(reverse("routing:model_train"))

    classifier_train_task(reason="admin")  # what the worker runs

    version = ModelVersion.objects.get()
    body = text_of(admin_client.get(reverse("routing:model_versions")).content.decode())
    assert version.is_active and version.reason == "admin"
    assert "1 Active" in body
    assert "an admin asked (Train now)" in body
    assert "2 corrections (re-routes by agents, “keep it here” by leads), 2 naming an intent" in body
    assert "0 escalations accepted, 0 bounced back" in body
    assert "Too few new corrections to backtest (2; it takes 10)." in body
    assert (
        "2 new corrections since the active version: too few to backtest on (at least 10); made active."
        in body
    )
