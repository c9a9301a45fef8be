"""A channel's quarantine on its page: what was kept and why (payload escaped, long ones cut short with the
whole behind "show"), "retry" reading the payload again through the network's parser and ingesting it
through the pull's path once it parses, "discard"; admins only, POST with CSRF, both audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from channels.connectors.base import RejectedItem
from channels.connectors.registry import capabilities_for
from channels.models import Channel, QuarantinedItem
from channels.services import Quarantine
from foundation.models import DomainEvent
from inbox.models import Mention
from inbox.services import mentions_ingest
from teams.models import Membership
from tests.channels.connectors import test_mastodon as m
from tests.channels.connectors import test_x as x
from tests.channels.connectors.bluesky_api import ANN, BRAND_DID, notification
from tests.factories import ChannelFactory, MembershipFactory, UserFactory, segment

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin() -> Any:
    return UserFactory(username="alex", admin=True)


@pytest.fixture
def admin_client(client: Client, admin: Any) -> Client:
    client.force_login(admin)
    return client


@pytest.fixture
def bluesky_channel() -> Channel:
    return ChannelFactory(
        slug="northwind-bsky",
        network="bluesky",
        handle="@northwind.bsky.social",
        external_account_id=BRAND_DID,
        segment=segment("customer-relations"),
    )


def a_mention_notification(rkey: str = "3kq2ann0001", text: str = "@northwind.bsky.social my order?") -> dict:
    indexed_at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    return notification(rkey=rkey, reason="mention", text=text, indexed_at=indexed_at, author=ANN)


def quarantined(channel: Channel, raw: dict, error: str) -> QuarantinedItem:
    """An item kept aside the way a pull keeps one its connector could not parse (the ingest's quarantine)."""
    mentions_ingest(
        channel=channel,
        posts=[],
        quarantine=Quarantine(source="pull", connector_rejected=[RejectedItem(raw=raw, error=error)]),
    )
    return QuarantinedItem.objects.filter(channel=channel).latest("id")


def retry(client: Client, item: QuarantinedItem, *, follow: bool = True) -> Any:
    url = reverse("channels:quarantine_retry", args=[item.channel.slug, item.pk])
    return client.post(url, follow=follow)


def discard(client: Client, item: QuarantinedItem) -> Any:
    url = reverse("channels:quarantine_discard", args=[item.channel.slug, item.pk])
    return client.post(url, follow=True)


def page_messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def audit(verb: str) -> list[tuple[str, str, dict, dict]]:
    return [
        (e.object_id, e.actor.username if e.actor else "", e.before, e.after)
        for e in DomainEvent.objects.filter(verb=verb).order_by("id")
    ]


# --- The page ----------------------------------------------------------------------------------------------


def test_the_channel_page_shows_its_quarantine_escaped_with_long_payloads_cut_short(
    admin_client: Client, bluesky_channel: Channel
) -> None:
    hostile = a_mention_notification(text="<script>alert(1)</script> " + "long " * 200)
    del hostile["author"]
    item = quarantined(bluesky_channel, hostile, "'author' is missing <b>here</b>")
    short = quarantined(bluesky_channel, {"item": 7}, "item is not an object")
    elsewhere = quarantined(ChannelFactory(network="bluesky"), {"item": "other"}, "not this channel's")

    body = admin_client.get(reverse("channels:settings", args=[bluesky_channel.slug])).content.decode()

    assert f'id="quarantined-{item.pk}"' in body
    assert f'id="quarantined-{short.pk}"' in body
    assert f'id="quarantined-{elsewhere.pk}"' not in body
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&#x27;author&#x27; is missing &lt;b&gt;here&lt;/b&gt;" in body
    rows = {pk: body[body.index(f'id="quarantined-{pk}"') :].split("</tr>")[0] for pk in (item.pk, short.pk)}
    assert body.index(f'id="quarantined-{short.pk}"') < body.index(
        f'id="quarantined-{item.pk}"'
    )  # newest first
    assert "The whole payload (" in rows[item.pk]
    assert rows[item.pk].count("long ") >= 200  # the whole payload is there, behind <details>
    assert "The whole payload (" not in rows[short.pk]
    assert reverse("channels:quarantine_retry", args=[bluesky_channel.slug, item.pk]) in body
    assert reverse("channels:quarantine_discard", args=[bluesky_channel.slug, item.pk]) in body


def test_an_empty_quarantine_says_so(admin_client: Client, bluesky_channel: Channel) -> None:
    body = admin_client.get(reverse("channels:settings", args=[bluesky_channel.slug])).content.decode()

    assert "Nothing is quarantined" in body


def test_leads_and_agents_cannot_see_or_act_on_the_quarantine(bluesky_channel: Channel) -> None:
    item = quarantined(bluesky_channel, {"item": 1}, "bad")
    lead = MembershipFactory(team=bluesky_channel.segment.team, role=Membership.Role.LEAD).user
    client = Client()
    client.force_login(lead)

    answers = [
        client.get(reverse("channels:settings", args=[bluesky_channel.slug])).status_code,
        retry(client, item, follow=False).status_code,
        client.post(reverse("channels:quarantine_discard", args=[bluesky_channel.slug, item.pk])).status_code,
    ]

    assert answers == [404, 404, 404]
    assert QuarantinedItem.objects.filter(pk=item.pk).exists()
    assert DomainEvent.objects.filter(verb__startswith="quarantine.").count() == 0


def test_retry_and_discard_take_a_post_with_its_csrf_token(admin: Any, bluesky_channel: Channel) -> None:
    item = quarantined(bluesky_channel, a_mention_notification(), "an old parser's refusal")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    url = reverse("channels:quarantine_retry", args=[bluesky_channel.slug, item.pk])

    answers = [client.get(url).status_code, client.post(url).status_code]

    assert answers == [405, 403]
    assert QuarantinedItem.objects.filter(pk=item.pk).exists()
    assert Mention.objects.count() == 0


# --- Retry -----------------------------------------------------------------------------------------------


def test_a_payload_still_malformed_stays_quarantined_with_the_new_error(
    admin_client: Client, bluesky_channel: Channel
) -> None:
    broken = a_mention_notification()
    del broken["author"]
    item = quarantined(bluesky_channel, broken, "an earlier reason")

    response = retry(admin_client, item)

    assert page_messages(response) == ["Still refused, kept in the quarantine: 'author' is missing"]
    item.refresh_from_db()
    assert (item.error, item.raw) == ("'author' is missing", broken)
    assert Mention.objects.count() == 0
    assert audit("quarantine.retried") == [
        (
            str(item.pk),
            "alex",
            {"error": "an earlier reason"},
            {"outcome": "still_refused", "error": "'author' is missing"},
        )
    ]


def test_a_payload_that_now_parses_is_ingested_exactly_once(
    admin_client: Client, bluesky_channel: Channel
) -> None:
    payload = a_mention_notification(text="@northwind.bsky.social where is my refund?")
    item = quarantined(bluesky_channel, payload, "refused by a parser since fixed")

    first = retry(admin_client, item)
    second = retry(admin_client, item)

    assert page_messages(first) == ["The item now reads as a post: it is in the inbox."]
    assert page_messages(second) == ["That item is no longer in the quarantine."]
    (mention,) = Mention.objects.all()
    assert (mention.network, mention.external_id, mention.text) == (
        "bluesky",
        payload["uri"],
        "@northwind.bsky.social where is my refund?",
    )
    assert list(mention.channels.values_list("pk", flat=True)) == [bluesky_channel.pk]
    assert DomainEvent.objects.filter(verb="mention.received", mention_id=mention.pk).count() == 1
    assert not QuarantinedItem.objects.filter(pk=item.pk).exists()
    assert audit("quarantine.retried") == [
        (
            str(item.pk),
            "alex",
            {"error": "refused by a parser since fixed"},
            {"outcome": "ingested", "external_id": payload["uri"], "mention_ids": [mention.pk]},
        )
    ]


def test_a_payload_whose_post_the_inbox_already_has_is_removed_without_a_second_mention(
    admin_client: Client, bluesky_channel: Channel
) -> None:
    payload = a_mention_notification()
    first = quarantined(bluesky_channel, payload, "refused once")
    again = quarantined(bluesky_channel, payload, "refused twice")
    retry(admin_client, first)

    response = retry(admin_client, again)

    assert page_messages(response) == [
        "The item now reads as a post, which the inbox had already: it is removed."
    ]
    assert Mention.objects.count() == 1
    assert QuarantinedItem.objects.filter(channel=bluesky_channel).count() == 0


def test_a_network_that_cannot_read_one_item_again_offers_no_retry(admin_client: Client) -> None:
    simulated = ChannelFactory(network="simulated")
    item = quarantined(simulated, {"item": "odd"}, "bad")

    body = admin_client.get(reverse("channels:settings", args=[simulated.slug])).content.decode()
    response = retry(admin_client, item)

    assert reverse("channels:quarantine_retry", args=[simulated.slug, item.pk]) not in body
    assert page_messages(response) == ["Not retried: Simulated items cannot be read again one at a time."]
    assert QuarantinedItem.objects.filter(pk=item.pk).exists()


def test_an_item_of_another_channel_is_not_retried_through_this_one(
    admin_client: Client, bluesky_channel: Channel
) -> None:
    other = ChannelFactory(network="bluesky")
    item = quarantined(other, a_mention_notification(), "refused")
    url = reverse("channels:quarantine_retry", args=[bluesky_channel.slug, item.pk])

    response = admin_client.post(url, follow=True)

    assert page_messages(response) == ["That item is no longer in the quarantine."]
    assert Mention.objects.count() == 0
    assert QuarantinedItem.objects.filter(pk=item.pk).exists()


# --- Discard -----------------------------------------------------------------------------------------------


def test_discarding_removes_the_item_and_the_audit_log_keeps_it(
    admin_client: Client, bluesky_channel: Channel
) -> None:
    item = quarantined(bluesky_channel, {"item": "junk"}, "item is not an object")

    response = discard(admin_client, item)

    assert page_messages(response) == ["Discarded the item; the audit log keeps what it was."]
    assert not QuarantinedItem.objects.filter(pk=item.pk).exists()
    assert Mention.objects.count() == 0
    assert audit("quarantine.discarded") == [
        (
            str(item.pk),
            "alex",
            {
                "source": "pull",
                "network": "bluesky",
                "external_id": "",
                "error": "item is not an object",
                "raw": {"item": "junk"},
            },
            {},
        )
    ]


# --- Each network reads one kept payload as its pull would -------------------------------------------------


def test_x_reads_again_a_refused_post_and_an_item_kept_with_its_includes_but_not_one_without() -> None:
    reparse = capabilities_for("x").reparse
    kept = x.tweet("1050", "@northwind my boots &amp; laces", x.ALICE)
    as_refused_post = reparse({"tweet": kept, "author": x.ALICE}, x.channel())
    with_includes = reparse({**kept, "includes": {"users": [x.ALICE]}}, x.channel())
    with pytest.raises(ValueError, match=r"author 2001 is not in includes\.users"):
        reparse(kept, x.channel())

    assert (as_refused_post.external_id, as_refused_post.author.handle, as_refused_post.text) == (
        "1050",
        "alice_hikes",
        "@northwind my boots & laces",
    )
    assert with_includes.external_id == "1050"
    assert with_includes.kind == "mention"


def test_mastodon_reads_again_a_notification_with_the_instances_id_prefix() -> None:
    reparse = capabilities_for("mastodon").reparse
    kept = m.mention(9, m.status("110000000000000777", "<p>@northwind is the shop open?</p>"))
    broken = {**kept, "status": {**kept["status"], "visibility": "everyone"}}

    post = reparse(kept, m.channel())
    with pytest.raises(ValueError, match="status visibility 'everyone' is not one of"):
        reparse(broken, m.channel())

    host = m.INSTANCE.split("://")[1]
    assert (post.external_id, post.kind, post.text) == (
        f"{host}:110000000000000777",
        "mention",
        "@northwind is the shop open?",
    )
