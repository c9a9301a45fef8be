"""Sending replies: from ``reply_create`` through the task to the network and back.

X and Mastodon are faked at the HTTP layer with their recorded answers (../shared/fixtures, read through the
connector contract tests' helpers); tweepy and Mastodon.py run unchanged. Tasks run eagerly (``apply``); a
deferred reply is made due at once and run again, as the sweeper would when its time comes, and each wait it
was given is recorded; one test runs a real worker.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses
from django.db import connection
from django.utils import timezone

from channels.connectors.mastodon import MastodonConnector
from channels.connectors.simulated import SimulatedConnector
from channels.connectors.x import XConnector
from channels.models import Channel
from channels.services import channel_ref
from foundation.models import DomainEvent
from inbox.actions.base import TriageError
from inbox.actions.replies import (
    ReplyCollision,
    reply_approve,
    reply_create,
    reply_deliver,
    reply_retry,
)
from inbox.models import Mention, MentionChannel, Reply
from inbox.tasks import reply_send_task
from teams.models import Team
from tests.channels.connectors.test_mastodon_contract import body_json, cassette, recorded, serve
from tests.channels.connectors.test_x_contract import DM_PARTNER_ID, TWEEPYDEV_ID, interaction, replay
from tests.conftest import wait_until
from tests.factories import AuthorFactory, ChannelFactory, MembershipFactory, MentionFactory, segment

X_API = "https://api.twitter.com/2"
X_TWEET_ID = "1578516295611748353"  # the post being answered
X_SENT_ID = "1456012973835788293"  # the id X gave the recorded reply
X_SENT_DM_ID = "1585800613253812228"  # the id X gave the recorded direct message
X_NOW = 1_780_000_000

MASTODON = "http://localhost:3000"  # where Mastodon.py's recordings were made
MASTODON_HOST = "localhost:3000"
MASTODON_ADMIN_ID = "117020565693913441"  # the recordings' account, which sends the reply
MASTODON_STATUS_ID = "117020583245459824"  # mastodonpy_test_2's toot, which admin answers
MASTODON_SENT_ID = "117020583258292382"
MASTODON_AUTHOR_ID = "117020566092212359"  # mastodonpy_test_2
MASTODON_NOW = datetime(2026, 8, 1, 13, 52, tzinfo=UTC)
STATUSES_URL = f"{MASTODON}/api/v1/statuses"

OUTAGE_FAILURE = (
    "{network} could not be reached (5 tries), so the reply was not sent. "
    "Press Retry to try again in a few minutes."
)
REAUTH_FAILURE = (
    "The account {handle} needs re-authorising by an admin before replies can be sent. "
    "Ask an admin to reconnect it under Channels, then press Retry."
)


# --- Fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
def retry_countdowns() -> list[float]:
    """The wait (seconds) each deferred attempt gave the reply before its next one (``run_task`` fills it)."""
    return []


def x_channel() -> Channel:
    return ChannelFactory(
        network="x",
        handle="@northwind",
        external_account_id=TWEEPYDEV_ID,
        credentials={"access_token": "user-token", "expires_at": int(time.time()) + 3600},
    )


def x_mention(channel: Channel, team: Team, **fields: Any) -> Mention:
    author = AuthorFactory(network="x", external_id=DM_PARTNER_ID, handle="alice_hikes")
    defaults: dict[str, Any] = {"network": "x", "external_id": X_TWEET_ID, "author": author, "team": team}
    return MentionFactory(**{**defaults, **fields}, on_channels=[channel])


def mastodon_channel() -> Channel:
    return ChannelFactory(
        network="mastodon",
        handle="@admin",
        external_account_id=MASTODON_ADMIN_ID,
        credentials={"instance_url": MASTODON, "access_token": "__MASTODON_PY_TEST_ACCESS_TOKEN"},
    )


def mastodon_mention(channel: Channel, team: Team) -> Mention:
    author = AuthorFactory(
        network="mastodon",
        external_id=f"{MASTODON_HOST}:{MASTODON_AUTHOR_ID}",
        handle=f"mastodonpy_test_2@{MASTODON_HOST}",  # a local account, named user@host as the pull names it
    )
    return MentionFactory(
        network="mastodon",
        external_id=f"{MASTODON_HOST}:{MASTODON_STATUS_ID}",
        author=author,
        team=team,
        on_channels=[channel],
    )


def queued_reply(mention: Mention, agent: Any, text: str, **options: Any) -> Reply:
    """A reply created by triage as the composer would, without sending it yet."""
    return reply_create(actor=agent, mention=mention, text=text, **options)


def x_replay_reply(network: responses.RequestsMock, shared_fixtures: Path) -> None:
    replay(network, interaction(shared_fixtures, "test_client_create_and_delete_tweet", "POST", "/2/tweets"))


def mastodon_recordings(shared_fixtures: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The recorded toot being answered and the recorded reply to it."""
    original, answer = recorded(
        cassette(shared_fixtures, "test_status_reply.yaml"), "POST", "/api/v1/statuses"
    )
    return original, answer


def serve_original(network: responses.RequestsMock, original: dict[str, Any]) -> None:
    serve(network, original, method="GET", path=f"/api/v1/statuses/{MASTODON_STATUS_ID}")


def x_search_finds(network: responses.RequestsMock, *tweets: dict[str, Any]) -> None:
    """X's recent search for the conversation's posts by the account, answering ``tweets`` (in the shape of
    the recorded search answer, with the fields asked for), or nothing."""
    body: dict[str, Any] = {"meta": {"result_count": len(tweets)}}
    if tweets:
        body["data"] = list(tweets)
        body["meta"].update(newest_id=tweets[0]["id"], oldest_id=tweets[-1]["id"])
    network.get(f"{X_API}/tweets/search/recent", json=body)


def mastodon_own_statuses(network: responses.RequestsMock, *statuses: dict[str, Any]) -> None:
    """The recordings' account's newest statuses, as Mastodon lists them (a JSON array of statuses)."""
    network.get(f"{MASTODON}/api/v1/accounts/{MASTODON_ADMIN_ID}/statuses", json=list(statuses))


def posts_made(network: responses.RequestsMock) -> int:
    return sum(1 for call in network.calls if call.request.method == "POST")


def reply_events(reply: Reply, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """The live event of a delivery outcome: ``kind`` "sent" or "failed", or "waiting" for a deferral."""
    state = "queued" if kind == "waiting" else kind
    return [
        (
            f"reply.{kind}",
            {"ids": [reply.mention_id], "teams": [reply.mention.team_id], "reply": reply.pk, "state": state},
        )
    ]


def audit_verbs(mention: Mention) -> list[str]:
    return list(
        DomainEvent.objects.filter(object_id=str(mention.pk))
        .order_by("created_at", "id")
        .values_list("verb", flat=True)
    )


def run_task(reply: Reply, capture: Callable[..., Any], waits: list[float] | None = None) -> Reply:
    """Run the send task until the reply is settled, making a deferred reply due at once each time (as the
    sweeper hands it over when its time comes); each deferral's wait goes to ``waits``."""
    with capture(execute=True):
        for _ in range(10):
            reply_send_task.apply(args=[reply.pk])
            reply.refresh_from_db()
            if reply.state != Reply.State.QUEUED:
                break
            if waits is not None:
                waits.append(round((reply.next_attempt_at - timezone.now()).total_seconds()))
            Reply.objects.filter(pk=reply.pk).update(next_attempt_at=timezone.now())
    return reply


# --- The simulated network -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_created_reply_is_scheduled_and_delivered_through_the_simulated_network(
    team: Team,
    agent: Any,
    scheduled: list[int],
    published: list[tuple[str, dict[str, Any]]],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    channel = ChannelFactory(handle="@northwind_help")
    mention = MentionFactory(team=team, on_channels=[channel])
    with django_capture_on_commit_callbacks(execute=True):
        reply = queued_reply(mention, agent, "Thanks, we are on it!")

    assert (reply.state, reply.channel_id, reply.attempts) == (Reply.State.QUEUED, channel.pk, 0)
    assert scheduled == [reply.pk]

    with django_capture_on_commit_callbacks(execute=True):
        delivered = reply_deliver(reply_id=reply.pk)

    expected = SimulatedConnector().reply(
        channel_ref(channel), in_reply_to=mention.external_id, text="Thanks, we are on it!"
    )
    delivered.refresh_from_db()
    assert (delivered.state, delivered.external_id, delivered.url, delivered.error, delivered.attempts) == (
        Reply.State.SENT,
        expected.external_id,
        expected.url,
        "",
        1,
    )
    assert delivered.sent_at is not None
    assert published == reply_events(reply, "sent")
    sent_audit = DomainEvent.objects.get(verb="reply.sent")
    assert sent_audit.actor is None
    assert sent_audit.object_id == str(mention.pk)
    assert sent_audit.after == {
        "reply": reply.pk,
        "external_id": expected.external_id,
        "url": expected.url,
        "direct": False,
        "attempts": 1,
    }


@pytest.mark.slow
@pytest.mark.usefixtures("six_segments")
def test_a_reply_reaches_the_simulated_network_through_a_real_worker(worker: None) -> None:
    team = segment("customer-relations").team
    agent = MembershipFactory(team=team).user
    channel = ChannelFactory()
    mention = MentionFactory(team=team, on_channels=[channel])

    reply = reply_create(actor=agent, mention=mention, text="On its way!")
    wait_until(lambda: Reply.objects.get(pk=reply.pk).state == Reply.State.SENT)

    reply.refresh_from_db()
    expected = SimulatedConnector().reply(
        channel_ref(channel), in_reply_to=mention.external_id, text="On its way!"
    )
    assert (reply.external_id, reply.attempts) == (expected.external_id, 1)
    assert audit_verbs(mention) == ["reply.queued", "reply.sent"]


@pytest.mark.django_db
def test_a_reply_longer_than_x_counts_is_refused_before_anything_is_stored(team: Team, agent: Any) -> None:
    mention = x_mention(x_channel(), team)

    with pytest.raises(
        TriageError, match=re.escape("The reply is 282 characters as X counts them; the limit is 280.")
    ):
        queued_reply(mention, agent, "字" * 141)

    assert not Reply.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("address", ["@walker", "@walker@mastodon.example", "@Walker@Mastodon.Example"])
def test_a_mastodon_reply_naming_a_local_author_in_either_form_is_counted_without_a_second_address(
    team: Team, agent: Any, address: str
) -> None:
    # The connector adds no address to a reply that names the author (bare, as their instance names
    # them, or as user@host), and Mastodon counts "@user@host" as "@user": 500 characters either way.
    channel = ChannelFactory(
        network="mastodon",
        handle="@northwind@mastodon.example",
        external_account_id="mastodon.example:109000000000000001",
        credentials={"instance_url": "https://mastodon.example", "access_token": "token"},
    )
    author = AuthorFactory(
        network="mastodon",
        external_id="mastodon.example:109000000000000077",
        handle="walker@mastodon.example",
    )
    mention = MentionFactory(
        network="mastodon",
        external_id="mastodon.example:117020000000000610",
        author=author,
        team=team,
        on_channels=[channel],
    )
    text = address + " " + "y" * (500 - len("@walker "))

    reply = queued_reply(mention, agent, text)

    assert reply.text == text


@pytest.mark.django_db
def test_a_mastodon_reply_that_does_not_name_the_author_counts_the_address_put_in_front(
    team: Team, agent: Any
) -> None:
    with pytest.raises(
        TriageError, match=re.escape("The reply is 501 characters as Mastodon counts them; the limit is 500.")
    ):
        queued_reply(mastodon_mention(mastodon_channel(), team), agent, "y" * 482)

    assert not Reply.objects.exists()


# --- X ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_reply_is_posted_to_x_in_reply_to_the_mention(
    team: Team,
    agent: Any,
    network: responses.RequestsMock,
    shared_fixtures: Path,
    published: list[tuple[str, dict[str, Any]]],
    retry_countdowns: list[float],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    x_replay_reply(network, shared_fixtures)
    reply = queued_reply(x_mention(x_channel(), team), agent, "Test Tweet")

    reply = run_task(reply, django_capture_on_commit_callbacks, retry_countdowns)

    assert (reply.state, reply.external_id, reply.url) == (
        Reply.State.SENT,
        X_SENT_ID,
        f"https://x.com/northwind/status/{X_SENT_ID}",
    )
    assert [json.loads(call.request.body) for call in network.calls] == [
        {"text": "Test Tweet", "reply": {"in_reply_to_tweet_id": X_TWEET_ID}}
    ]
    assert retry_countdowns == []
    assert published == reply_events(reply, "sent")


@pytest.mark.django_db
def test_an_x_outage_is_retried_after_a_backoff_and_the_reply_then_sent(
    team: Team,
    agent: Any,
    network: responses.RequestsMock,
    shared_fixtures: Path,
    retry_countdowns: list[float],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    network.post(f"{X_API}/tweets", status=503, body="Service Unavailable")
    x_search_finds(network)  # a 503 may come from a proxy after X took the post: looked for, not there
    x_replay_reply(network, shared_fixtures)
    reply = queued_reply(x_mention(x_channel(), team), agent, "Test Tweet")

    reply = run_task(reply, django_capture_on_commit_callbacks, retry_countdowns)

    assert (reply.state, reply.external_id, reply.attempts, reply.error, reply.outcome_unknown) == (
        Reply.State.SENT,
        X_SENT_ID,
        2,
        "",
        False,
    )
    assert retry_countdowns == [30]
    assert [(call.request.method, call.request.path_url.split("?")[0]) for call in network.calls] == [
        ("POST", "/2/tweets"),
        ("GET", "/2/tweets/search/recent"),
        ("POST", "/2/tweets"),
    ]


@pytest.mark.django_db
def test_an_x_outage_that_outlasts_every_try_fails_the_reply_saying_what_to_do(
    team: Team,
    agent: Any,
    network: responses.RequestsMock,
    published: list[tuple[str, dict[str, Any]]],
    retry_countdowns: list[float],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    network.post(f"{X_API}/tweets", status=503, body="Service Unavailable")
    x_search_finds(network)
    reply = queued_reply(x_mention(x_channel(), team), agent, "Sorry about that!")

    reply = run_task(reply, django_capture_on_commit_callbacks, retry_countdowns)

    assert (reply.state, reply.attempts, reply.external_id) == (Reply.State.FAILED, 5, "")
    assert reply.error == OUTAGE_FAILURE.format(network="X")
    assert retry_countdowns == [30, 60, 120, 240]
    assert posts_made(network) == 5
    assert len(network.calls) == 9  # each try after the first looked for the one before it
    assert reply.outcome_unknown  # a Retry looks for the last try's post before sending
    # Each wait is shown in open panes (the reason changes), then the failure.
    assert published == 4 * reply_events(reply, "waiting") + reply_events(reply, "failed")
    assert audit_verbs(reply.mention) == ["reply.queued", "reply.failed"]


@pytest.mark.django_db
def test_a_rate_limited_reply_stays_queued_and_asks_to_be_sent_after_the_reset(
    team: Team,
    agent: Any,
    network: responses.RequestsMock,
    shared_fixtures: Path,
    published: list[tuple[str, dict[str, Any]]],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    network.post(
        f"{X_API}/tweets",
        status=429,
        body=(shared_fixtures / "twitter_v2/error_bodies/429_v2_problem_observed.json").read_text(),
        content_type="application/json",
        headers={
            "x-rate-limit-limit": "200",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(X_NOW + 137),
        },
    )
    reply = queued_reply(x_mention(x_channel(), team), agent, "Sorry about that!")

    with django_capture_on_commit_callbacks(execute=True):
        reply_deliver(reply_id=reply.pk, connector=XConnector(clock=lambda: float(X_NOW)))

    reply.refresh_from_db()
    assert round((reply.next_attempt_at - timezone.now()).total_seconds()) == 137
    assert (reply.state, reply.attempts, reply.sent_at, reply.outcome_unknown) == (
        Reply.State.QUEUED,
        1,
        None,
        False,  # a 429 is a refusal: nothing was posted
    )
    assert (reply.attempt_started_at, reply.handed_off_at) == (None, None)
    assert (
        reply.error
        == "Not sent yet: X's rate limit for @northwind is used up; it will be sent in about 2 min."
    )
    assert published == reply_events(reply, "waiting")  # not an event of the audit trail: it changes nothing
    assert audit_verbs(reply.mention) == ["reply.queued"]


@pytest.mark.django_db
def test_the_task_waits_out_a_rate_limit_for_as_long_as_x_says_then_sends(
    team: Team,
    agent: Any,
    network: responses.RequestsMock,
    shared_fixtures: Path,
    retry_countdowns: list[float],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    reset = int(time.time()) + 137
    network.post(
        f"{X_API}/tweets",
        status=429,
        json={"errors": [{"code": 88, "message": "Rate limit exceeded"}]},
        headers={
            "x-rate-limit-limit": "200",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset),
        },
    )
    x_replay_reply(network, shared_fixtures)
    reply = queued_reply(x_mention(x_channel(), team), agent, "Test Tweet")

    reply = run_task(reply, django_capture_on_commit_callbacks, retry_countdowns)

    assert (reply.state, reply.attempts) == (Reply.State.SENT, 2)
    # The connector counts from its own clock, read a moment after ``reset`` was set.
    assert retry_countdowns == [pytest.approx(137, abs=2)]


@pytest.mark.django_db
def test_a_revoked_x_token_fails_the_reply_and_marks_the_channel_for_reauthorisation(
    team: Team,
    agent: Any,
    network: responses.RequestsMock,
    published: list[tuple[str, dict[str, Any]]],
    retry_countdowns: list[float],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    network.post(
        f"{X_API}/tweets",
        status=401,
        json={"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
    )
    channel = x_channel()
    mention = x_mention(channel, team)
    reply = queued_reply(mention, agent, "Sorry about that!")

    reply = run_task(reply, django_capture_on_commit_callbacks, retry_countdowns)

    assert (reply.state, reply.attempts) == (Reply.State.FAILED, 1)
    assert reply.error == REAUTH_FAILURE.format(handle="@northwind")
    channel.refresh_from_db()
    assert channel.state == Channel.State.NEEDS_REAUTH
    assert list(
        DomainEvent.objects.filter(verb="channel.needs_reauth").values_list("object_id", flat=True)
    ) == [str(channel.pk)]
    assert retry_countdowns == []
    assert published == reply_events(reply, "failed")

    # Until an admin reconnects it, further replies are refused when written, without a call to X.
    with pytest.raises(TriageError, match="@northwind needs re-authorising before replies can be sent"):
        queued_reply(mention, agent, "Are you still there?")
    assert Reply.objects.filter(mention=mention).count() == 1
    assert len(network.calls) == 1


@pytest.mark.django_db
def test_a_reply_x_refuses_fails_with_x_s_reason_and_is_not_retried(
    team: Team,
    agent: Any,
    network: responses.RequestsMock,
    retry_countdowns: list[float],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    network.post(
        f"{X_API}/tweets",
        status=403,
        json={
            "detail": "You attempted to reply to a Tweet that is deleted or not visible to you.",
            "type": "about:blank",
            "title": "Forbidden",
            "status": 403,
        },
    )
    channel = x_channel()
    reply = queued_reply(x_mention(channel, team), agent, "Sorry about that!")

    reply = run_task(reply, django_capture_on_commit_callbacks, retry_countdowns)

    assert reply.state == Reply.State.FAILED
    assert reply.error == (
        f"X refused the reply: X forbade POST /2/tweets (user:{TWEEPYDEV_ID}): 403 Forbidden | "
        "You attempted to reply to a Tweet that is deleted or not visible to you. "
        "Sending it again will not help until that is fixed: check that the post still exists and the text "
        "is allowed, then press Retry, or write a new reply."
    )
    assert retry_countdowns == []
    channel.refresh_from_db()
    assert channel.state == Channel.State.ACTIVE


@pytest.mark.django_db
def test_an_answer_to_an_x_direct_message_goes_back_as_a_direct_message(
    team: Team,
    agent: Any,
    network: responses.RequestsMock,
    shared_fixtures: Path,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    exchange = interaction(
        shared_fixtures,
        "test_manage_and_lookup_direct_messages",
        "POST",
        f"/2/dm_conversations/with/{DM_PARTNER_ID}/messages",
    )
    replay(network, exchange)
    mention = x_mention(x_channel(), team, kind=Mention.Kind.DM, external_id="1580705921830768647")
    reply = queued_reply(mention, agent, "Testing 1")

    reply = run_task(reply, django_capture_on_commit_callbacks)

    assert (reply.state, reply.external_id, reply.url) == (
        Reply.State.SENT,
        X_SENT_DM_ID,
        f"https://x.com/messages/{DM_PARTNER_ID}-{TWEEPYDEV_ID}",
    )
    assert [call.request.url for call in network.calls] == [
        f"{X_API}/dm_conversations/with/{DM_PARTNER_ID}/messages"
    ]


@pytest.mark.django_db
def test_delivering_a_reply_twice_sends_it_once(
    team: Team,
    agent: Any,
    network: responses.RequestsMock,
    shared_fixtures: Path,
    published: list[tuple[str, dict[str, Any]]],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    x_replay_reply(network, shared_fixtures)
    reply = queued_reply(x_mention(x_channel(), team), agent, "Test Tweet")

    with django_capture_on_commit_callbacks(execute=True):
        first = reply_deliver(reply_id=reply.pk)
        second = reply_deliver(reply_id=reply.pk)

    assert (first.state, second.state, second.external_id, second.attempts) == (
        Reply.State.SENT,
        Reply.State.SENT,
        X_SENT_ID,
        1,
    )
    assert len(network.calls) == 1
    assert published == reply_events(reply, "sent")
    assert audit_verbs(reply.mention) == ["reply.queued", "reply.sent"]


@pytest.mark.usefixtures("six_segments", "scheduled")
def test_two_deliveries_at_once_send_once_the_second_leaving_the_reply_to_the_first_in_flight(
    network: responses.RequestsMock, shared_fixtures: Path
) -> None:
    team = segment("customer-relations").team
    agent = MembershipFactory(team=team).user
    reply = queued_reply(x_mention(x_channel(), team), agent, "Test Tweet")
    recorded_answer = interaction(shared_fixtures, "test_client_create_and_delete_tweet", "POST", "/2/tweets")
    in_flight = threading.Event()
    second_finished = threading.Event()

    def x_answers_slowly(request: Any) -> tuple[int, dict[str, str], str]:
        in_flight.set()
        # X answers the first only after the second delivery has come and gone, however slow the machine.
        second_finished.wait(10)
        return 201, {"content-type": "application/json"}, json.dumps(recorded_answer["response"]["body"])

    network.add_callback(responses.POST, f"{X_API}/tweets", callback=x_answers_slowly)
    states: list[str] = []

    def deliver() -> None:
        try:
            states.append(reply_deliver(reply_id=reply.pk).state)
        finally:
            connection.close()

    first = threading.Thread(target=deliver)
    first.start()
    assert in_flight.wait(10)
    second = threading.Thread(target=deliver)
    second.start()
    second.join(10)
    second_finished.set()
    first.join(10)

    # The second found the first's attempt claimed (its due time moved past the attempt) and left it.
    assert states == [Reply.State.QUEUED, Reply.State.SENT]
    assert len(network.calls) == 1
    reply.refresh_from_db()
    assert (reply.state, reply.attempts, reply.external_id) == (Reply.State.SENT, 1, X_SENT_ID)


# --- Mastodon --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_reply_is_posted_to_mastodon_in_reply_to_the_toot_on_the_channel_s_instance(
    team: Team,
    agent: Any,
    network: responses.RequestsMock,
    shared_fixtures: Path,
    published: list[tuple[str, dict[str, Any]]],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    original, answer = mastodon_recordings(shared_fixtures)
    serve_original(network, original)
    serve(network, answer)
    reply = queued_reply(mastodon_mention(mastodon_channel(), team), agent, "same!")

    reply = run_task(reply, django_capture_on_commit_callbacks)

    assert (reply.state, reply.external_id, reply.url) == (
        Reply.State.SENT,
        f"{MASTODON_HOST}:{MASTODON_SENT_ID}",
        body_json(answer)["url"],
    )
    posted = parse_qs(network.calls[1].request.body)
    assert (posted["status"], posted["in_reply_to_id"], posted["visibility"]) == (
        ["@mastodonpy_test_2 same!"],
        [MASTODON_STATUS_ID],  # the id on the instance, without our "host:" prefix
        ["public"],
    )
    assert published == reply_events(reply, "sent")


@pytest.mark.django_db
def test_a_reply_from_an_account_on_another_instance_answers_that_instance_s_id_for_the_post(
    team: Team,
    agent: Any,
    network: responses.RequestsMock,
    shared_fixtures: Path,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    # The post arrived first on another team's account on another instance, and is stored under that
    # instance's id; the recordings' instance received it too, under its own id, and the reply goes from it.
    elsewhere = ChannelFactory(
        network="mastodon",
        segment=segment("event-coverage"),
        credentials={"instance_url": "https://events.example", "access_token": "token"},
    )
    mention = MentionFactory(
        network="mastodon",
        external_id="events.example:109999",
        canonical_id="http://localhost:3000/users/mastodonpy_test_2/statuses/117020583245459824",
        author=AuthorFactory(
            network="mastodon", external_id="events.example:7", handle="mastodonpy_test_2@localhost:3000"
        ),
        team=team,
        on_channels=[elsewhere],
    )
    ours = mastodon_channel()
    MentionChannel.objects.create(
        mention=mention, channel=ours, external_id=f"{MASTODON_HOST}:{MASTODON_STATUS_ID}"
    )
    original, answer = mastodon_recordings(shared_fixtures)
    serve_original(network, original)
    serve(network, answer)
    reply = queued_reply(mention, agent, "same!")

    reply = run_task(reply, django_capture_on_commit_callbacks)

    assert (reply.channel_id, reply.state) == (ours.pk, Reply.State.SENT)
    assert parse_qs(network.calls[1].request.body)["in_reply_to_id"] == [MASTODON_STATUS_ID]


@pytest.mark.django_db
def test_a_mastodon_outage_is_retried_with_the_same_idempotency_key(
    team: Team,
    agent: Any,
    network: responses.RequestsMock,
    shared_fixtures: Path,
    retry_countdowns: list[float],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    original, answer = mastodon_recordings(shared_fixtures)
    serve_original(network, original)
    network.add(responses.POST, STATUSES_URL, status=503, json={"error": "Service Unavailable"})
    mastodon_own_statuses(network)
    serve(network, answer)
    reply = queued_reply(mastodon_mention(mastodon_channel(), team), agent, "same!")

    reply = run_task(reply, django_capture_on_commit_callbacks, retry_countdowns)

    assert (reply.state, reply.attempts, reply.external_id) == (
        Reply.State.SENT,
        2,
        f"{MASTODON_HOST}:{MASTODON_SENT_ID}",
    )
    assert retry_countdowns == [30]
    posts = [call.request for call in network.calls if call.request.method == "POST"]
    assert len(posts) == 2
    assert posts[0].headers["Idempotency-Key"] == posts[1].headers["Idempotency-Key"]


@pytest.mark.django_db
def test_a_mastodon_rate_limit_keeps_the_reply_queued_until_the_reset(
    team: Team, agent: Any, network: responses.RequestsMock, shared_fixtures: Path
) -> None:
    original, _ = mastodon_recordings(shared_fixtures)
    serve_original(network, original)
    network.add(
        responses.POST,
        STATUSES_URL,
        status=429,
        json={"error": "Too many requests"},
        headers={
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": "2026-08-01T13:55:00.000Z",
        },
    )
    reply = queued_reply(mastodon_mention(mastodon_channel(), team), agent, "same!")

    reply_deliver(reply_id=reply.pk, connector=MastodonConnector(clock=lambda: MASTODON_NOW))

    reply.refresh_from_db()
    assert round((reply.next_attempt_at - timezone.now()).total_seconds()) == 180
    assert (reply.state, reply.attempts) == (Reply.State.QUEUED, 1)
    assert (
        reply.error
        == "Not sent yet: Mastodon's rate limit for @admin is used up; it will be sent in about 3 min."
    )


@pytest.mark.django_db
def test_a_revoked_mastodon_token_fails_the_reply_and_marks_the_channel_for_reauthorisation(
    team: Team,
    agent: Any,
    network: responses.RequestsMock,
    shared_fixtures: Path,
    retry_countdowns: list[float],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    network.add(
        responses.GET,
        f"{STATUSES_URL}/{MASTODON_STATUS_ID}",
        status=401,
        json={"error": "The access token is invalid"},
    )
    channel = mastodon_channel()
    reply = queued_reply(mastodon_mention(channel, team), agent, "same!")

    reply = run_task(reply, django_capture_on_commit_callbacks, retry_countdowns)

    assert reply.state == Reply.State.FAILED
    assert reply.error == REAUTH_FAILURE.format(handle="@admin")
    channel.refresh_from_db()
    assert channel.state == Channel.State.NEEDS_REAUTH
    assert retry_countdowns == []
    assert [call.request.method for call in network.calls] == ["GET"]


@pytest.mark.django_db
def test_a_direct_reply_on_mastodon_is_a_direct_status_to_the_author(
    team: Team,
    agent: Any,
    network: responses.RequestsMock,
    shared_fixtures: Path,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    original, answer = mastodon_recordings(shared_fixtures)
    author_account = body_json(original)["account"]
    network.add(responses.GET, f"{MASTODON}/api/v1/accounts/{MASTODON_AUTHOR_ID}", json=author_account)
    serve(network, answer)
    reply = queued_reply(mastodon_mention(mastodon_channel(), team), agent, "Check your DMs", is_direct=True)

    reply = run_task(reply, django_capture_on_commit_callbacks)

    assert reply.state == Reply.State.SENT
    posted = parse_qs(network.calls[1].request.body)
    assert (posted["status"], posted["visibility"]) == (["@mastodonpy_test_2 Check your DMs"], ["direct"])
    assert "in_reply_to_id" not in posted


# --- Triage around sending: collisions, approval, retry -----------------------------------------------


@pytest.mark.django_db
def test_a_reply_someone_else_sent_meanwhile_needs_confirming(
    team: Team, agent: Any, scheduled: list[int], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    colleague = MembershipFactory(team=team, user__first_name="Maya", user__last_name="Lopez").user
    mention = MentionFactory(team=team, on_channels=[ChannelFactory()])
    with django_capture_on_commit_callbacks(execute=True):
        theirs = queued_reply(mention, colleague, "We are looking into it.")

    with pytest.raises(
        ReplyCollision, match=re.escape("Maya Lopez already replied just now: “We are looking into it.”")
    ):
        queued_reply(mention, agent, "Hi! Checking now.", seen_reply_id=0)
    assert list(Reply.objects.values_list("pk", flat=True)) == [theirs.pk]

    with django_capture_on_commit_callbacks(execute=True):
        ours = queued_reply(mention, agent, "Hi! Checking now.", seen_reply_id=0, confirm=True)
    assert ours.state == Reply.State.QUEUED
    assert scheduled == [theirs.pk, ours.pk]

    # An agent whose composer already showed the colleague's reply is not asked again.
    with django_capture_on_commit_callbacks(execute=True):
        seen = queued_reply(mention, agent, "One more thing.", seen_reply_id=theirs.pk)
    assert seen.state == Reply.State.QUEUED


@pytest.mark.django_db
def test_a_reply_a_rule_holds_for_approval_is_sent_once_a_lead_approves_it(
    team: Team,
    agent: Any,
    lead: Any,
    scheduled: list[int],
    network: responses.RequestsMock,
    shared_fixtures: Path,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    mention = x_mention(x_channel(), team, requires_approval=True)
    with django_capture_on_commit_callbacks(execute=True):
        reply = queued_reply(mention, agent, "Test Tweet")

    assert reply.state == Reply.State.AWAITING_APPROVAL
    assert scheduled == []
    # A delivery that runs anyway (a stray task) sends nothing before approval.
    assert reply_deliver(reply_id=reply.pk).state == Reply.State.AWAITING_APPROVAL

    with pytest.raises(TriageError, match="Only a lead of the mention's team"):
        reply_approve(actor=agent, reply=reply)
    reply.refresh_from_db()
    assert reply.state == Reply.State.AWAITING_APPROVAL

    with django_capture_on_commit_callbacks(execute=True):
        approved = reply_approve(actor=lead, reply=reply)
    assert (approved.state, approved.reviewed_by) == (Reply.State.QUEUED, lead)
    assert scheduled == [reply.pk]

    x_replay_reply(network, shared_fixtures)
    sent = run_task(approved, django_capture_on_commit_callbacks)
    assert (sent.state, sent.external_id, sent.attempts) == (Reply.State.SENT, X_SENT_ID, 1)
    assert len(network.calls) == 1


@pytest.mark.django_db
def test_a_failed_reply_retried_by_an_agent_is_queued_again_and_sent(
    team: Team,
    agent: Any,
    scheduled: list[int],
    network: responses.RequestsMock,
    shared_fixtures: Path,
    published: list[tuple[str, dict[str, Any]]],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    network.post(
        f"{X_API}/tweets", status=403, json={"title": "Forbidden", "detail": "Not allowed right now."}
    )
    x_replay_reply(network, shared_fixtures)
    reply = queued_reply(x_mention(x_channel(), team), agent, "Test Tweet")
    failed = run_task(reply, django_capture_on_commit_callbacks)
    assert failed.state == Reply.State.FAILED

    with django_capture_on_commit_callbacks(execute=True):
        retried = reply_retry(actor=agent, reply=failed)
    assert (retried.state, retried.error) == (Reply.State.QUEUED, "")
    assert scheduled == [reply.pk]

    sent = run_task(retried, django_capture_on_commit_callbacks)
    assert (sent.state, sent.external_id, sent.attempts, sent.error) == (Reply.State.SENT, X_SENT_ID, 2, "")
    assert len(network.calls) == 2
    assert [kind for kind, _ in published] == ["reply.failed", "reply.sent"]

    with pytest.raises(
        TriageError, match=re.escape("Only a failed or waiting reply can be retried; this one is sent.")
    ):
        reply_retry(actor=agent, reply=sent)


@pytest.mark.django_db
def test_a_reply_deleted_before_its_task_runs_is_skipped(team: Team, agent: Any) -> None:
    reply = queued_reply(MentionFactory(team=team, on_channels=[ChannelFactory()]), agent, "Hi")
    Mention.objects.filter(pk=reply.mention_id).delete()

    result = reply_send_task.apply(args=[reply.pk])

    assert result.successful()
    assert not Reply.objects.exists()
