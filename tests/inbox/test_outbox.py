"""Replies through the outbox: attempts whose outcome was lost are looked for on the network before the reply
is sent again, the sweeper hands due replies to send tasks, and the detail pane says why a reply waits.

X and Mastodon are faked at the HTTP layer in the shapes of their recorded answers (../shared/fixtures): the
recorded reply answers, the recorded search and DM events pages with the fields the lookup asks for, and the
recorded status in a list for the account's statuses (Mastodon.py recorded no such list). Dates are built
relative to now.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
import time_machine
from django.urls import reverse
from django.utils import timezone

from channels.connectors.mastodon import MastodonConnector
from channels.connectors.text import published_as
from channels.connectors.x import XConnector
from channels.services import channel_ref
from foundation.models import DomainEvent
from inbox.actions.base import TriageError
from inbox.actions.replies import replies_send_due, reply_deliver, reply_retry
from inbox.models import Mention, Reply
from inbox.outbox import REPLY_HANDOFF_SECONDS, REPLY_SEND_LEASE_SECONDS
from inbox.tasks import reply_send_task
from teams.models import Team
from tests.channels.connectors.test_mastodon_contract import body_json, serve
from tests.channels.connectors.test_x_contract import DM_PARTNER_ID, TWEEPYDEV_ID, interaction, replay
from tests.factories import MentionFactory
from tests.inbox.test_replies import (
    MASTODON_ADMIN_ID,
    MASTODON_HOST,
    MASTODON_SENT_ID,
    STATUSES_URL,
    X_API,
    X_SENT_ID,
    X_TWEET_ID,
    mastodon_channel,
    mastodon_mention,
    mastodon_own_statuses,
    mastodon_recordings,
    posts_made,
    queued_reply,
    serve_original,
    x_channel,
    x_mention,
    x_search_finds,
)

HTMX = {"HTTP_HX_REQUEST": "true"}
X_CONVERSATION = "1578500000000000000"  # the thread the answered post belongs to


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def our_tweet(tweet_id: str, text: str, *, answers: str = X_TWEET_ID) -> dict[str, Any]:
    """A post of the account as recent search returns it with the fields the lookup asks for (the recorded
    search answer's id, text and edit history, plus created_at, conversation_id and referenced_tweets)."""
    return {
        "edit_history_tweet_ids": [tweet_id],
        "id": tweet_id,
        "text": text,
        "created_at": iso(timezone.now()),
        "conversation_id": X_CONVERSATION,
        "referenced_tweets": [{"type": "replied_to", "id": answers}],
    }


def our_status(answer: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The recorded reply status (mastodon_py_cassettes/test_status_reply.yaml), published just now."""
    status = copy.deepcopy(body_json(answer))
    status.update(created_at=iso(timezone.now()), **fields)
    return status


def x_reply(team: Team, agent: Any, text: str = "Test Tweet") -> Reply:
    return queued_reply(x_mention(x_channel(), team, conversation_key=X_CONVERSATION), agent, text)


def request_paths(network: responses.RequestsMock) -> list[tuple[str, str]]:
    return [(call.request.method, urlsplit(call.request.url).path) for call in network.calls]


def sent_event(reply: Reply) -> dict[str, Any]:
    return DomainEvent.objects.get(verb="reply.sent", after__reply=reply.pk).after


def make_due(reply: Reply) -> None:
    Reply.objects.filter(pk=reply.pk).update(next_attempt_at=timezone.now())


# --- Looking before sending again --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_mastodon_reply_whose_post_timed_out_but_was_published_is_found_and_not_posted_twice(
    team: Team, agent: Any, network: responses.RequestsMock, shared_fixtures: Path
) -> None:
    original, answer = mastodon_recordings(shared_fixtures)
    serve_original(network, original)
    # The instance took the post and answered after we had given up on it.
    network.add(responses.POST, STATUSES_URL, body=requests.exceptions.ReadTimeout("read timed out (20 s)"))
    reply = queued_reply(mastodon_mention(mastodon_channel(), team), agent, "same!")

    reply_deliver(reply_id=reply.pk)

    reply.refresh_from_db()
    assert (reply.state, reply.attempts, reply.outcome_unknown, reply.attempt_started_at) == (
        Reply.State.QUEUED,
        1,
        True,
        None,
    )
    assert reply.error == "Not sent yet: Mastodon could not be reached; it will be tried again in about 30 s."

    mastodon_own_statuses(
        network,
        our_status(answer, id="117020583258299999", in_reply_to_id="117020583245400000"),  # another post
        our_status(answer),
    )
    make_due(reply)
    reply_deliver(reply_id=reply.pk)

    reply.refresh_from_db()
    assert (reply.state, reply.external_id, reply.attempts, reply.error, reply.outcome_unknown) == (
        Reply.State.SENT,
        f"{MASTODON_HOST}:{MASTODON_SENT_ID}",
        2,
        "",
        False,
    )
    assert reply.url == body_json(answer)["url"]
    assert posts_made(network) == 1
    assert request_paths(network)[-1] == ("GET", f"/api/v1/accounts/{MASTODON_ADMIN_ID}/statuses")
    assert sent_event(reply)["found_on_network"] is True
    assert (reply.next_attempt_at, reply.handed_off_at) == (None, None)


@pytest.mark.django_db
def test_an_x_reply_whose_post_timed_out_but_was_published_is_found_in_the_conversation_and_not_posted_twice(
    team: Team, agent: Any, network: responses.RequestsMock
) -> None:
    network.post(f"{X_API}/tweets", body=requests.exceptions.ReadTimeout("read timed out (30 s)"))
    reply = x_reply(team, agent)
    reply_deliver(reply_id=reply.pk)
    reply.refresh_from_db()
    assert (reply.state, reply.outcome_unknown) == (Reply.State.QUEUED, True)

    # X puts the addressee in front of a reply's text when it is read back, and escapes "&".
    x_search_finds(
        network,
        our_tweet("1578516295611749999", "@alice_hikes Test Tweet", answers="1578516295611740000"),
        our_tweet(X_SENT_ID, "@alice_hikes Test Tweet"),
    )
    make_due(reply)
    reply_deliver(reply_id=reply.pk)

    reply.refresh_from_db()
    assert (reply.state, reply.external_id, reply.url) == (
        Reply.State.SENT,
        X_SENT_ID,
        f"https://x.com/northwind/status/{X_SENT_ID}",
    )
    assert posts_made(network) == 1
    search = parse_qs(urlsplit(network.calls[-1].request.url).query)
    assert search["query"] == [f"conversation_id:{X_CONVERSATION} from:{TWEEPYDEV_ID}"]
    since = datetime.fromisoformat(search["start_time"][0])
    assert reply.created_at - timedelta(seconds=121) < since <= reply.created_at - timedelta(seconds=119)
    assert set(search["tweet.fields"][0].split(",")) == {"created_at", "conversation_id", "referenced_tweets"}


@pytest.mark.django_db
def test_a_look_that_finds_only_other_posts_sends_the_reply_once(
    team: Team, agent: Any, network: responses.RequestsMock, shared_fixtures: Path
) -> None:
    network.post(f"{X_API}/tweets", body=requests.exceptions.ConnectionError("connection reset by peer"))
    reply = x_reply(team, agent)
    reply_deliver(reply_id=reply.pk)

    x_search_finds(
        network,
        our_tweet("1578516295611749999", "@alice_hikes Test Tweet", answers="1578516295611740000"),
        our_tweet("1578516295611748888", "@alice_hikes Another answer"),
    )
    replay(network, interaction(shared_fixtures, "test_client_create_and_delete_tweet", "POST", "/2/tweets"))
    make_due(reply)
    reply_deliver(reply_id=reply.pk)

    reply.refresh_from_db()
    assert (reply.state, reply.external_id, reply.attempts) == (Reply.State.SENT, X_SENT_ID, 2)
    assert request_paths(network) == [
        ("POST", "/2/tweets"),
        ("GET", "/2/tweets/search/recent"),
        ("POST", "/2/tweets"),
    ]
    assert "found_on_network" not in sent_event(reply)


@pytest.mark.django_db
def test_a_reply_whose_worker_died_mid_post_is_left_alone_until_its_lease_ends_then_found(
    team: Team, agent: Any, network: responses.RequestsMock, scheduled: list[int]
) -> None:
    def worker_dies(request: Any) -> Any:
        raise SystemExit("SIGKILL")  # the process ends while X holds the post

    network.add_callback(responses.POST, f"{X_API}/tweets", callback=worker_dies)
    reply = x_reply(team, agent)

    with pytest.raises(SystemExit):
        reply_deliver(reply_id=reply.pk)

    reply.refresh_from_db()
    # The claim was committed before the call: the attempt is counted and its start kept.
    assert (reply.state, reply.attempts, reply.attempt_started_at is not None) == (
        Reply.State.QUEUED,
        1,
        True,
    )
    # The broker hands the task out again at once (a redelivery): the attempt still owns the reply.
    reply_send_task.apply(args=[reply.pk])
    assert replies_send_due() == []
    assert len(network.calls) == 1

    x_search_finds(network, our_tweet(X_SENT_ID, "@alice_hikes Test Tweet"))
    with time_machine.travel(timezone.now() + timedelta(seconds=REPLY_SEND_LEASE_SECONDS + 1), tick=True):
        assert replies_send_due() == [reply.pk]
        assert scheduled == [reply.pk]
        reply_send_task.apply(args=[reply.pk])

    reply.refresh_from_db()
    assert (reply.state, reply.external_id, reply.attempts) == (Reply.State.SENT, X_SENT_ID, 2)
    assert posts_made(network) == 1


@pytest.mark.django_db
def test_a_direct_message_whose_outcome_was_lost_is_found_in_the_x_conversation(
    team: Team, agent: Any, network: responses.RequestsMock, shared_fixtures: Path
) -> None:
    path = f"/2/dm_conversations/with/{DM_PARTNER_ID}/messages"
    network.post(f"{X_API}{path[2:]}", body=requests.exceptions.ReadTimeout("read timed out"))
    mention = x_mention(x_channel(), team, kind=Mention.Kind.DM, external_id="1580705921830768647")
    reply = queued_reply(mention, agent, "Testing 1")
    reply_deliver(reply_id=reply.pk)

    recorded = interaction(
        shared_fixtures,
        "test_manage_and_lookup_direct_messages",
        "GET",
        f"/2/dm_conversations/with/{DM_PARTNER_ID}/dm_events",
    )
    events = copy.deepcopy(recorded["response"]["body"])
    conversation = f"{DM_PARTNER_ID}-{TWEEPYDEV_ID}"
    for event in events["data"]:  # the fields the lookup asks for, which the recording did not
        event.update(sender_id=TWEEPYDEV_ID, created_at=iso(timezone.now()), dm_conversation_id=conversation)
    replay(network, recorded, body=events)
    make_due(reply)
    reply_deliver(reply_id=reply.pk)

    reply.refresh_from_db()
    assert (reply.state, reply.external_id, reply.url) == (
        Reply.State.SENT,
        "1585800613253812228",  # "Testing 1", not the "Testing 2" sent after it
        f"https://x.com/messages/{conversation}",
    )
    assert posts_made(network) == 1


@pytest.mark.django_db
def test_a_look_the_network_refuses_fails_the_reply_saying_how_to_check_and_retry_then_sends_without_looking(
    team: Team, agent: Any, network: responses.RequestsMock, shared_fixtures: Path, scheduled: list[int]
) -> None:
    network.post(f"{X_API}/tweets", body=requests.exceptions.ReadTimeout("read timed out"))
    network.get(
        f"{X_API}/tweets/search/recent",
        status=403,
        json={"title": "Forbidden", "type": "about:blank", "status": 403, "detail": "Not allowed."},
    )
    reply = x_reply(team, agent)
    reply_deliver(reply_id=reply.pk)
    make_due(reply)
    reply_deliver(reply_id=reply.pk)

    reply.refresh_from_db()
    assert reply.state == Reply.State.FAILED
    assert reply.error.startswith("An earlier try may have been posted, and X would not say (")
    assert reply.error.endswith(
        "Look at the conversation on X: if the reply is not there, press Retry to send it."
    )
    assert posts_made(network) == 1

    reply_retry(actor=agent, reply=reply)
    replay(network, interaction(shared_fixtures, "test_client_create_and_delete_tweet", "POST", "/2/tweets"))
    reply_deliver(reply_id=reply.pk)
    reply.refresh_from_db()
    assert (reply.state, reply.external_id) == (Reply.State.SENT, X_SENT_ID)
    assert request_paths(network).count(("GET", "/2/tweets/search/recent")) == 1


# --- The sweeper and Retry ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_sweeper_hands_off_due_replies_once_per_hand_off_window_and_leaves_the_rest(
    team: Team, agent: Any, scheduled: list[int], published: list[tuple[str, dict[str, Any]]]
) -> None:
    mention = MentionFactory(team=team, on_channels=[x_channel()])
    fresh = queued_reply(mention, agent, "Queued just now; its task is on its way")
    stranded = queued_reply(mention, agent, "Written while the broker was down", confirm=True)
    Reply.objects.filter(pk=stranded.pk).update(handed_off_at=None)
    later = queued_reply(mention, agent, "Deferred for a minute", confirm=True)
    Reply.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=1))
    sent = queued_reply(mention, agent, "Already sent", confirm=True)
    Reply.objects.filter(pk=sent.pk).update(state=Reply.State.SENT, handed_off_at=None)

    assert replies_send_due() == [stranded.pk]
    assert published == [("reply.waiting", {"ids": [mention.pk], "teams": [team.pk]})]  # open panes refresh
    assert replies_send_due() == []
    with time_machine.travel(timezone.now() + timedelta(seconds=REPLY_HANDOFF_SECONDS + 1), tick=True):
        # The fresh reply's task never started, nor did the stranded one's: both are handed off again.
        assert replies_send_due() == [fresh.pk, stranded.pk]
    assert scheduled == [stranded.pk, fresh.pk, stranded.pk]  # the longest due first


@pytest.mark.django_db
def test_a_task_for_a_reply_not_due_or_settled_calls_no_network(
    team: Team, agent: Any, network: responses.RequestsMock
) -> None:
    reply = x_reply(team, agent)
    Reply.objects.filter(pk=reply.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))

    reply_send_task.apply(args=[reply.pk])
    Reply.objects.filter(pk=reply.pk).update(state=Reply.State.SENT, next_attempt_at=None)
    reply_send_task.apply(args=[reply.pk])

    reply.refresh_from_db()
    assert (reply.attempts, len(network.calls)) == (0, 0)


@pytest.mark.django_db
def test_retry_sends_a_deferred_reply_now_and_refuses_one_in_flight(
    team: Team,
    agent: Any,
    network: responses.RequestsMock,
    scheduled: list[int],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    network.post(f"{X_API}/tweets", status=429, json={"title": "Too Many Requests"})
    reply = x_reply(team, agent)
    reply_deliver(reply_id=reply.pk)
    reply.refresh_from_db()
    assert reply.next_attempt_at > timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        reply_retry(actor=agent, reply=reply)

    reply.refresh_from_db()
    assert (reply.state, reply.error) == (Reply.State.QUEUED, "")
    assert reply.next_attempt_at <= timezone.now()
    assert scheduled == [reply.pk]

    Reply.objects.filter(pk=reply.pk).update(attempt_started_at=timezone.now())
    with pytest.raises(TriageError, match="This reply is being sent right now"):
        reply_retry(actor=agent, reply=reply)


# --- What the agent sees ------------------------------------------------------------------------------------


def pane(client: Any, reply: Reply) -> str:
    return client.get(reverse("inbox:detail", args=[reply.mention_id]), **HTMX).content.decode()


@pytest.mark.django_db
def test_the_detail_pane_says_why_a_queued_reply_waits_and_offers_retry_after_a_minute(
    client: Any, team: Team, agent: Any
) -> None:
    client.force_login(agent)
    reply = x_reply(team, agent)
    retry_url = reverse("inbox:reply_retry", args=[reply.pk])

    fresh = pane(client, reply)
    assert "Sending…" in fresh
    assert retry_url not in fresh

    Reply.objects.filter(pk=reply.pk).update(created_at=timezone.now() - timedelta(seconds=61))
    waited = pane(client, reply)
    assert "Not sent yet: no worker has picked it up" in waited
    assert retry_url in waited

    Reply.objects.filter(pk=reply.pk).update(attempt_started_at=timezone.now())
    sending = pane(client, reply)
    assert "Sending to X now." in sending
    assert retry_url not in sending

    Reply.objects.filter(pk=reply.pk).update(
        attempt_started_at=timezone.now() - timedelta(seconds=REPLY_SEND_LEASE_SECONDS + 1)
    )
    stopped = pane(client, reply)
    assert "The last try stopped before X answered" in stopped
    assert retry_url in stopped

    Reply.objects.filter(pk=reply.pk).update(
        attempt_started_at=None,
        error="Not sent yet: X could not be reached; it will be tried again in about 30 s.",
    )
    deferred = pane(client, reply)
    assert "X could not be reached; it will be tried again in about 30 s." in deferred
    assert retry_url in deferred


# --- Recognising our post -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "published", "same"),
    [
        ("Test Tweet", "@alice_hikes Test Tweet", True),
        ("See https://northwind.example/returns/form-7", "@ada See https://t.co/abc123XYZ", True),
        ("Returns: northwind.com/faq", "Returns: https://t.co/Zz9", True),  # X links a bare address
        ("Fish & chips  are\non us", "@ada fish & chips are on us", True),
        ("Test Tweet", "@alice_hikes Test Tweet 2", True),  # contains ours: a network adds, never removes
        ("Test Tweet", "@alice_hikes Test", False),
        ("Thanks!", "Thanks?", False),
        ("", "anything", False),
    ],
)
def test_published_as_recognises_our_words_whatever_the_network_did_to_links_and_addresses(
    sent: str, published: str, same: bool
) -> None:
    assert published_as(sent, published) is same


def test_the_connectors_declare_that_they_can_look_for_a_sent_reply() -> None:
    assert XConnector.capabilities.finds_sent is True
    assert MastodonConnector.capabilities.finds_sent is True


@pytest.mark.django_db
def test_a_mastodon_direct_message_is_found_among_the_account_s_direct_statuses(
    network: responses.RequestsMock, shared_fixtures: Path
) -> None:
    _, answer = mastodon_recordings(shared_fixtures)
    recipient = body_json(answer)["mentions"][0]
    direct = our_status(answer, id="117020583258290001", visibility="direct", in_reply_to_id=None)
    public = our_status(answer, id="117020583258290002", in_reply_to_id=None)
    serve(
        network,
        answer,
        method="GET",
        path=f"/api/v1/accounts/{MASTODON_ADMIN_ID}/statuses",
        body=json.dumps([public, direct]).encode(),
    )
    channel = mastodon_channel()

    found = MastodonConnector().find_direct_message(
        channel_ref(channel),
        recipient_id=f"{MASTODON_HOST}:{recipient['id']}",
        text="same!",
        since=timezone.now() - timedelta(minutes=2),
    )

    assert found is not None
    assert (found.external_id, found.url) == (f"{MASTODON_HOST}:117020583258290001", direct["url"])


@pytest.mark.django_db
def test_a_reply_retried_after_its_tries_ran_out_gets_tries_of_its_own(
    team: Team, agent: Any, network: responses.RequestsMock
) -> None:
    network.post(f"{X_API}/tweets", status=503, body="Service Unavailable")
    reply = x_reply(team, agent)
    Reply.objects.filter(pk=reply.pk).update(state=Reply.State.FAILED, attempts=5, next_attempt_at=None)
    reply.refresh_from_db()

    reply_retry(actor=agent, reply=reply)
    reply_deliver(reply_id=reply.pk)

    reply.refresh_from_db()
    assert (reply.state, reply.attempts, reply.attempts_at_retry) == (Reply.State.QUEUED, 6, 5)
    assert reply.error == "Not sent yet: X could not be reached; it will be tried again in about 30 s."
