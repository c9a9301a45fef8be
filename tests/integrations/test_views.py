"""The admins' integration pages: who may see them, adding and editing a webhook (with clear errors), the
secret shown once, rotation, pause and resume, the test event, the delivery log and redelivery."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from foundation.models import DomainEvent
from integrations.models import WebhookDelivery, WebhookSubscription
from integrations.webhooks import subscription_secrets, webhook_subscription_pause
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.integrations.conftest import subscribe

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hook"


@pytest.fixture
def admin() -> Any:
    return UserFactory(username="alex", admin=True)


@pytest.fixture
def admin_client(client: Client, admin: Any) -> Client:
    client.force_login(admin)
    return client


@pytest.fixture
def subscription(admin) -> WebhookSubscription:
    return subscribe(URL, actor=admin, name="CRM")[0]


def delivery_of(subscription, **fields) -> WebhookDelivery:
    now = timezone.now()
    return WebhookDelivery.objects.create(
        subscription=subscription,
        event_id=fields.pop("event_id", 1),
        event_type="mention.closed",
        payload={"version": 1},
        retry_until=now,
        **fields,
    )


def page_urls(subscription: WebhookSubscription, delivery: WebhookDelivery) -> list[tuple[str, str]]:
    pk = subscription.pk
    return [
        ("get", reverse("integrations:index")),
        ("get", reverse("integrations:webhooks")),
        ("get", reverse("integrations:webhook_new")),
        ("post", reverse("integrations:webhook_new")),
        ("get", reverse("integrations:webhook", args=[pk])),
        ("get", reverse("integrations:webhook_edit", args=[pk])),
        ("post", reverse("integrations:webhook_edit", args=[pk])),
        ("post", reverse("integrations:webhook_rotate", args=[pk])),
        ("post", reverse("integrations:webhook_pause", args=[pk])),
        ("post", reverse("integrations:webhook_resume", args=[pk])),
        ("post", reverse("integrations:webhook_test", args=[pk])),
        ("post", reverse("integrations:webhook_redeliver", args=[pk, delivery.pk])),
    ]


def test_to_anyone_but_an_admin_the_pages_do_not_exist(client, subscription):
    delivery = delivery_of(subscription)
    lead = MembershipFactory(team=TeamFactory(), role="lead", user__username="lee").user
    events_before = DomainEvent.objects.count()
    secret_before = subscription.secret_encrypted

    anonymous = [
        getattr(client, method)(url).status_code for method, url in page_urls(subscription, delivery)
    ]
    client.force_login(lead)
    lead_answers = [
        getattr(client, method)(url).status_code for method, url in page_urls(subscription, delivery)
    ]

    assert anonymous == [302] * 12
    assert lead_answers == [404] * 12
    subscription.refresh_from_db()
    assert (subscription.secret_encrypted, subscription.is_active) == (secret_before, True)
    assert DomainEvent.objects.count() == events_before
    assert WebhookDelivery.objects.count() == 1


def test_an_admin_sees_the_index_with_a_webhooks_card_and_the_list(admin_client, subscription):
    index = admin_client.get(reverse("integrations:index"))
    listing = admin_client.get(reverse("integrations:webhooks"))

    assert index.status_code == 200
    assert reverse("integrations:webhooks") in index.content.decode()
    assert reverse("api:docs") in index.content.decode()  # admins find the API documentation from here
    assert listing.status_code == 200
    assert "CRM" in listing.content.decode()
    assert URL in listing.content.decode()


def test_adding_a_webhook_shows_its_secret_once_and_stores_it_encrypted(admin_client, admin):
    answer = admin_client.post(
        reverse("integrations:webhook_new"),
        {"name": "Helpdesk", "url": URL, "event_types": "mention.closed\nreply.sent", "intent": "complaint"},
    )

    subscription = WebhookSubscription.objects.get()
    secret = re.search(r'value="(whsec_[^"]+)"', answer.content.decode()).group(1)
    assert answer.status_code == 200
    assert answer["Cache-Control"] == "no-store"
    assert subscription_secrets(subscription) == [secret]
    assert secret not in subscription.secret_encrypted
    assert (subscription.event_types, subscription.intent, subscription.created_by) == (
        ["mention.closed", "reply.sent"],
        "complaint",
        admin,
    )
    assert (
        secret
        not in admin_client.get(reverse("integrations:webhook", args=[subscription.pk])).content.decode()
    )
    assert DomainEvent.objects.filter(verb="webhook.created", actor=admin).count() == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "url": URL, "event_types": "*"}, "name", "Give the subscription a name."),
        ({"name": "A", "url": "", "event_types": "*"}, "url", "Give the URL the events are sent to."),
        (
            {"name": "A", "url": URL, "event_types": ""},
            "event_types",
            "Name at least one event type, or * for all.",
        ),
        (
            {"name": "A", "url": URL, "event_types": "Mention Closed"},
            "event_types",
            "'Mention' is not an event type: they read like mention.assigned (lower case, a dot).",
        ),
        (
            {"name": "A", "url": "ftp://example.com/x", "event_types": "*"},
            "url",
            "socialops cannot send to this URL: the URL must start with https:// or http://.",
        ),
    ],
)
def test_a_wrong_form_says_what_is_wrong_and_saves_nothing(admin_client, data, field, message):
    answer = admin_client.post(reverse("integrations:webhook_new"), data)

    assert answer.status_code == 200
    assert answer.context["form"].errors[field] == [message]
    assert WebhookSubscription.objects.count() == 0


def test_a_private_address_is_refused_when_subscribing(admin_client, settings):
    settings.SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE = False

    answer = admin_client.post(
        reverse("integrations:webhook_new"),
        {"name": "Metadata", "url": "http://169.254.169.254/latest/", "event_types": "*"},
    )

    assert answer.context["form"].errors["url"] == [
        "socialops cannot send to this URL: 169.254.169.254 resolves to 169.254.169.254 (a link-local "
        "address); socialops sends only to public addresses (SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE allows others)."
    ]
    assert WebhookSubscription.objects.count() == 0


def test_editing_changes_the_filters(admin_client, subscription):
    team = TeamFactory(slug="care")

    answer = admin_client.post(
        reverse("integrations:webhook_edit", args=[subscription.pk]),
        {"name": "CRM", "url": URL, "event_types": "*", "team": "care", "min_priority": "30"},
    )

    subscription.refresh_from_db()
    assert answer.status_code == 302
    assert (subscription.team, subscription.min_priority) == (team, 30)


def test_rotating_shows_the_new_secret_once_and_keeps_the_old_one_signing(admin_client, subscription):
    old = subscription_secrets(subscription)

    answer = admin_client.post(reverse("integrations:webhook_rotate", args=[subscription.pk]))

    subscription.refresh_from_db()
    new = re.search(r'value="(whsec_[^"]+)"', answer.content.decode()).group(1)
    assert subscription_secrets(subscription) == [new, *old]
    assert "The previous secret keeps signing beside this one until" in answer.content.decode()


def test_pausing_and_resuming_by_hand(admin_client, subscription, admin):
    paused = admin_client.post(reverse("integrations:webhook_pause", args=[subscription.pk]))
    subscription.refresh_from_db()
    assert paused.status_code == 302
    assert (subscription.is_active, subscription.paused_reason) == (False, "Paused by hand.")

    admin_client.post(reverse("integrations:webhook_resume", args=[subscription.pk]))

    subscription.refresh_from_db()
    assert subscription.is_active is True
    assert list(
        DomainEvent.objects.filter(verb__in=["webhook.paused", "webhook.resumed"])
        .order_by("id")
        .values_list("verb", "actor")
    ) == [("webhook.paused", admin.pk), ("webhook.resumed", admin.pk)]


def test_an_automatic_pause_is_shown_on_the_page(admin_client, subscription):
    webhook_subscription_pause(
        actor=None,
        subscription=subscription,
        reason="Paused automatically after 50 failed deliveries in a row.",
    )

    page = admin_client.get(reverse("integrations:webhook", args=[subscription.pk])).content.decode()
    listing = admin_client.get(reverse("integrations:webhooks")).content.decode()

    assert "Paused automatically after 50 failed deliveries in a row." in page
    assert 'id="webhook-paused"' in page
    assert "Paused automatically after 50 failed deliveries in a row." in listing


def test_a_test_event_is_queued_as_a_delivery(admin_client, subscription, admin):
    admin_client.post(reverse("integrations:webhook_test", args=[subscription.pk]))

    delivery = WebhookDelivery.objects.get()
    assert (delivery.event_type, delivery.event_id, delivery.state) == ("webhook.test", None, "pending")
    assert delivery.payload["type"] == "webhook.test"
    assert delivery.payload["actor"] == {"id": admin.pk, "username": "alex", "name": "alex"}


def test_the_delivery_log_shows_code_time_and_excerpt_and_redelivers(admin_client, subscription):
    failed = delivery_of(
        subscription,
        state="dead",
        attempts=9,
        last_status_code=503,
        last_response_ms=812,
        response_excerpt="upstream unavailable",
        error="the receiver answered 503",
    )

    page = admin_client.get(reverse("integrations:webhook", args=[subscription.pk])).content.decode()
    answer = admin_client.post(reverse("integrations:webhook_redeliver", args=[subscription.pk, failed.pk]))

    assert "503" in page
    assert "812 ms" in page
    assert "upstream unavailable" in page
    assert "Gave up" in page
    failed.refresh_from_db()
    assert answer.status_code == 302
    assert (failed.state, failed.attempts, failed.error) == ("pending", 9, "")


def test_a_delivery_of_another_subscription_is_not_found(admin_client, subscription):
    other = subscribe(URL, name="Other")[0]
    theirs = delivery_of(other)

    answer = admin_client.post(reverse("integrations:webhook_redeliver", args=[subscription.pk, theirs.pk]))

    assert answer.status_code == 404
