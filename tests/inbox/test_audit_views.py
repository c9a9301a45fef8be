"""The audit log as admins read it: newest first in keyset pages, filtered by actor, action, object and date,
every change in words, and the filtered log exported as CSV. To anyone but an admin it does not exist."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from channels.connect import channel_settings_update
from channels.connectors.mastodon.connect import channel_connect_mastodon
from foundation.events import event_record
from foundation.models import DomainEvent
from inbox import audit_views
from routing.models import Rule
from teams.models import Membership, Team
from tests.factories import ChannelFactory, MembershipFactory, MentionFactory, UserFactory, segment

pytestmark = pytest.mark.django_db

INDEX_URL = "/audit/"
EXPORT_URL = "/audit/export.csv"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=ZoneInfo("UTC"))
CSV_HEADER = [
    "when",
    "who",
    "action",
    "verb",
    "object type",
    "object id",
    "object",
    "changes",
    "before",
    "after",
]


def record(
    verb: str,
    obj: Any,
    *,
    actor: Any = None,
    at: datetime = T0,
    before: dict | None = None,
    after: dict | None = None,
) -> DomainEvent:
    """An event as the services write it, at a chosen time."""
    event_record(actor=actor, verb=verb, obj=obj, before=before, after=after)
    event = DomainEvent.objects.latest("id")
    DomainEvent.objects.filter(pk=event.pk).update(created_at=at)
    event.refresh_from_db()
    return event


def fired_in_words(story: dict[str, DomainEvent]) -> str:
    """The story's routing fired a rule that exists and one deleted since (ids from the sequence, never
    literals: another test's rule may hold any given id)."""
    kept, gone = story["routed"].after["rules_fired"]
    return f"“Refunds to care” (rule {kept}), rule {gone} (deleted)"


def shown_ids(response: Any) -> list[int]:
    return [row.event.pk for row in response.context["page"].rows]


def exported(response: StreamingHttpResponse) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body)))


@pytest.fixture
def admin() -> Any:
    return UserFactory(username="alex", first_name="Alex", last_name="Admin", admin=True)


@pytest.fixture
def admin_client(client: Client, admin: Any) -> Client:
    client.force_login(admin)
    return client


@pytest.fixture
def care_team() -> Team:
    return segment("customer-relations").team


@pytest.fixture
def casey(care_team: Team) -> Any:
    return MembershipFactory(team=care_team, user__first_name="Casey", user__last_name="Reyes").user


@pytest.fixture
def story(admin: Any, casey: Any, care_team: Team) -> dict[str, DomainEvent]:
    """A morning in the log: routing, triage by an agent, a rule and a channel changed by an admin."""
    mention = MentionFactory(team=care_team, text="Where is my order?")
    rule = Rule.objects.create(name="Refunds to care", when={}, then={})
    gone = Rule.objects.create(name="Retired", when={}, then={})
    gone_pk = gone.pk
    gone.delete()
    channel = ChannelFactory(handle="@northwind_help", segment=segment("customer-relations"))
    crisis = segment("crisis-management").team
    return {
        "routed": record(
            "mention.routed",
            mention,
            at=T0,
            after={"team": care_team.slug, "intent": "support_question", "rules_fired": [rule.pk, gone_pk]},
        ),
        "assigned": record(
            "mention.assigned",
            mention,
            actor=casey,
            at=T0 + timedelta(minutes=5),
            before={"assignee": None, "status": "new"},
            after={"assignee": casey.pk, "status": "open"},
        ),
        "closed": record(
            "mention.closed",
            mention,
            actor=casey,
            at=T0 + timedelta(days=1),
            before={"status": "open"},
            after={"status": "closed", "closed_at": "2026-11-21T09:00:00+00:00"},
        ),
        "rule": record(
            "rule.saved",
            rule,
            actor=admin,
            at=T0 + timedelta(days=2),
            before={"name": "Refunds", "enabled": False},
            after={"name": "Refunds to care", "enabled": True},
        ),
        "channel": record(
            "channel.updated",
            channel,
            actor=admin,
            at=T0 + timedelta(days=3),
            before={"team_override": None, "listening_queries": ["northwind"]},
            after={"team_override": crisis.pk, "listening_queries": ["northwind", "#trailfest"]},
        ),
    }


# --- The page ------------------------------------------------------------------------------------------


def test_the_log_shows_each_event_newest_first_in_words(
    admin_client: Client, story: dict[str, DomainEvent], casey: Any
) -> None:
    response = admin_client.get(INDEX_URL)

    rows = response.context["page"].rows
    mention_id = story["routed"].object_id
    crisis = segment("crisis-management").team
    assert response.status_code == 200
    assert [row.event.pk for row in rows] == [
        story[name].pk for name in ("channel", "rule", "closed", "assigned", "routed")
    ]
    assert [(row.who, row.action, row.object_type) for row in rows] == [
        ("Alex Admin", "Channel updated", "Channel"),
        ("Alex Admin", "Rule saved", "Rule"),
        ("Casey Reyes", "Mention closed", "Mention"),
        ("Casey Reyes", "Mention assigned", "Mention"),
        ("socialops", "Mention routed", "Mention"),
    ]
    assert [row.object_url for row in rows] == [
        reverse("channels:settings", args=[story["channel"].object.slug]),
        "",
        f"/inbox/?open={mention_id}",
        f"/inbox/?open={mention_id}",
        f"/inbox/?open={mention_id}",
    ]
    assert [[(c.field, c.before, c.after, c.changed) for c in row.changes] for row in rows] == [
        [
            ("listening queries", "northwind", "northwind, #trailfest", True),
            ("team override", "(none)", crisis.name, True),
        ],
        [("enabled", "no", "yes", True), ("name", "Refunds", "Refunds to care", True)],
        [("closed at", "", "21 Nov 2026, 09:00", True), ("status", "Open", "Closed", True)],
        [("assignee", "(none)", "Casey Reyes", True), ("status", "New", "Open", True)],
        [
            ("intent", "", "support question", True),
            ("rules fired", "", fired_in_words(story), True),
            ("team", "", "Customer Care", True),
        ],
    ]
    html = response.content.decode()
    assert f'href="/inbox/?open={mention_id}"' in html
    assert "Casey Reyes" in html
    assert 'class="audit__before">New</span>' in html
    assert 'class="audit__after">Open</span>' in html


def test_context_recorded_unchanged_is_shown_apart_from_the_changes(
    admin_client: Client, care_team: Team, casey: Any
) -> None:
    record(
        "team.member_changed",
        care_team,
        actor=casey,
        before={"user": casey.pk, "capacity": 20},
        after={"user": casey.pk, "capacity": 12},
    )

    rows = admin_client.get(INDEX_URL).context["page"].rows

    assert [(c.field, c.before, c.after, c.changed) for c in rows[0].changes] == [
        ("capacity", "20", "12", True),
        ("user", "Casey Reyes", "Casey Reyes", False),
    ]
    assert rows[0].action == "Team member changed"


def test_pages_follow_by_keyset_with_nothing_lost_or_repeated_even_at_equal_times(
    admin_client: Client, care_team: Team
) -> None:
    mention = MentionFactory(team=care_team)
    events = [
        record("mention.labelled", mention, at=T0 + timedelta(minutes=n // 3), after={"labels": [str(n)]})
        for n in range(120)
    ]
    expected = [e.pk for e in sorted(events, key=lambda e: (e.created_at, e.pk), reverse=True)]

    pages: list[list[int]] = []
    url = INDEX_URL
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            response = admin_client.get(url)
            pages.append(shown_ids(response))
            url = f"{INDEX_URL}?{response.context['next_query']}" if response.context["next_query"] else ""
    last = admin_client.get(
        f"{INDEX_URL}?after={audit_views.cursor_encode(events[0].created_at, events[0].pk)}"
    )

    assert pages == [expected[:50], expected[50:100], expected[100:]]
    assert url == ""
    assert not any("OFFSET" in query["sql"].upper() for query in queries.captured_queries)
    assert shown_ids(last) == []
    assert "No older events" in last.content.decode()


def test_a_page_costs_the_same_queries_for_one_event_as_for_fifty(
    admin_client: Client, care_team: Team, casey: Any, django_assert_max_num_queries: Any
) -> None:
    mention = MentionFactory(team=care_team)
    record("mention.assigned", mention, actor=casey, after={"assignee": casey.pk, "team": care_team.pk})
    admin_client.get(INDEX_URL)  # session and permissions warmed up
    with CaptureQueriesContext(connection) as one:
        admin_client.get(INDEX_URL)
    for n in range(49):
        other = UserFactory(first_name=f"Person{n}")
        record("mention.assigned", MentionFactory(team=care_team), actor=other, after={"assignee": other.pk})

    with django_assert_max_num_queries(len(one.captured_queries)):
        response = admin_client.get(INDEX_URL)

    assert len(shown_ids(response)) == 50


def test_a_cursor_that_is_not_ours_says_so(admin_client: Client, story: dict[str, DomainEvent]) -> None:
    response = admin_client.get(INDEX_URL, {"after": "not-a-cursor"})

    assert response.status_code == 200
    assert "The page cursor is not valid" in response.content.decode()
    assert shown_ids(response) == []


def test_an_empty_log_says_what_will_appear(admin_client: Client) -> None:
    response = admin_client.get(INDEX_URL)

    assert "Nothing has been recorded yet" in response.content.decode()


# --- Filters -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"actor": "system"}, ["routed"]),
        ({"verb": "mention.closed"}, ["closed"]),
        ({"verb": "mention."}, ["closed", "assigned", "routed"]),
        ({"object_type": "routing.rule"}, ["rule"]),
        ({"object": "NORTHWIND_help"}, ["channel"]),
        ({"since": "2026-11-21", "until": "2026-11-22"}, ["rule", "closed"]),
        ({"since": "2026-11-23"}, ["channel"]),
        ({"until": "2026-11-20"}, ["assigned", "routed"]),
        ({"verb": "mention.", "since": "2026-11-21"}, ["closed"]),
    ],
)
def test_each_filter_narrows_the_log(
    admin_client: Client, story: dict[str, DomainEvent], query: dict[str, str], expected: list[str]
) -> None:
    response = admin_client.get(INDEX_URL, query)

    assert response.status_code == 200
    assert shown_ids(response) == [story[name].pk for name in expected]


def test_the_actor_filter_takes_a_person(
    admin_client: Client, story: dict[str, DomainEvent], casey: Any
) -> None:
    response = admin_client.get(INDEX_URL, {"actor": str(casey.pk)})

    assert shown_ids(response) == [story["closed"].pk, story["assigned"].pk]


def test_the_object_filter_takes_a_type_and_an_id(
    admin_client: Client, story: dict[str, DomainEvent]
) -> None:
    other = MentionFactory()
    record("mention.closed", other)

    response = admin_client.get(
        INDEX_URL, {"object_type": "inbox.mention", "object_id": story["routed"].object_id}
    )

    assert shown_ids(response) == [story[name].pk for name in ("closed", "assigned", "routed")]


def test_dates_are_days_in_the_site_time_zone(admin_client: Client, settings: Any, care_team: Team) -> None:
    settings.TIME_ZONE = "America/New_York"
    mention = MentionFactory(team=care_team)
    late_evening = record("mention.closed", mention, at=datetime(2026, 11, 21, 3, 30, tzinfo=ZoneInfo("UTC")))
    next_morning = record(
        "mention.reopened", mention, at=datetime(2026, 11, 21, 12, 0, tzinfo=ZoneInfo("UTC"))
    )

    on_the_20th = admin_client.get(INDEX_URL, {"since": "2026-11-20", "until": "2026-11-20"})
    on_the_21st = admin_client.get(INDEX_URL, {"since": "2026-11-21", "until": "2026-11-21"})

    assert shown_ids(on_the_20th) == [late_evening.pk]
    assert shown_ids(on_the_21st) == [next_morning.pk]


def test_the_selects_offer_what_the_log_holds(
    admin_client: Client, story: dict[str, DomainEvent], casey: Any, admin: Any
) -> None:
    form = admin_client.get(INDEX_URL).context["form"]

    assert form.fields["actor"].choices == [
        ("", "Anyone"),
        ("system", "socialops (automatic)"),
        (str(admin.pk), "Alex Admin"),
        (str(casey.pk), "Casey Reyes"),
    ]
    assert form.fields["verb"].choices == [
        ("", "Any action"),
        ("channel.", "Every channel action"),
        ("mention.", "Every mention action"),
        ("rule.", "Every rule action"),
        ("channel.updated", "Channel updated (channel.updated)"),
        ("mention.assigned", "Mention assigned (mention.assigned)"),
        ("mention.closed", "Mention closed (mention.closed)"),
        ("mention.routed", "Mention routed (mention.routed)"),
        ("rule.saved", "Rule saved (rule.saved)"),
    ]
    assert form.fields["object_type"].choices == [
        ("", "Any type"),
        ("channels.channel", "Channel"),
        ("inbox.mention", "Mention"),
        ("routing.rule", "Rule"),
    ]


def test_a_kept_link_to_an_action_nobody_took_matches_nothing(
    admin_client: Client, story: dict[str, DomainEvent]
) -> None:
    response = admin_client.get(INDEX_URL, {"verb": "sla."})

    assert response.status_code == 200
    assert shown_ids(response) == []
    assert "No events match these filters" in response.content.decode()


def test_filters_that_make_no_sense_are_refused_beside_the_field(
    admin_client: Client, story: dict[str, DomainEvent]
) -> None:
    page = admin_client.get(INDEX_URL, {"since": "2026-11-22", "until": "2026-11-21"})
    export = admin_client.get(EXPORT_URL, {"since": "2026-11-22", "until": "2026-11-21"})
    unknown = admin_client.get(INDEX_URL, {"actor": "999999"})

    assert page.status_code == 400
    assert page.context["form"].errors == {"until": ["The last day comes before the first day."]}
    assert shown_ids(page) == []
    assert "The log was not filtered" in page.content.decode()
    assert export.status_code == 400
    assert "The last day comes before the first day." in export.content.decode()
    assert "actor" in unknown.context["form"].errors
    assert shown_ids(unknown) == []


def test_a_day_no_event_can_have_is_a_400_on_the_page_and_the_export_not_a_silent_header(
    admin_client: Client, story: dict[str, DomainEvent]
) -> None:
    latest = timezone.localdate() + timedelta(days=366)

    page = admin_client.get(INDEX_URL, {"until": "9999-12-31"})
    export = admin_client.get(EXPORT_URL, {"until": "9999-12-31"})
    too_early = admin_client.get(EXPORT_URL, {"since": "0001-01-01"})

    message = f"Choose a day up to {latest}: no post is dated later."
    assert page.status_code == 400
    assert page.context["form"].errors == {"until": [message]}
    assert f'<p class="field__error" id="id_until_error">{message}</p>' in page.content.decode()
    assert shown_ids(page) == []
    assert (export.status_code, export["Content-Type"]) == (400, "text/plain; charset=utf-8")
    assert export.content.decode() == f"The filters are not valid, so nothing was exported. To: {message}"
    assert too_early.status_code == 400
    assert too_early.content.decode().endswith("From: Choose a day from 2006-01-01 on: no post is older.")


def test_the_next_page_and_the_export_keep_the_filters(
    admin_client: Client, care_team: Team, casey: Any
) -> None:
    mention = MentionFactory(team=care_team)
    for n in range(55):
        record("mention.labelled", mention, actor=casey, at=T0 + timedelta(seconds=n))
    record("mention.closed", mention, actor=casey)

    response = admin_client.get(INDEX_URL, {"verb": "mention.labelled"})

    next_query = parse_qs(response.context["next_query"])
    html = response.content.decode()
    assert next_query["verb"] == ["mention.labelled"]
    assert "after" in next_query
    assert f'href="{EXPORT_URL}?verb=mention.labelled"' in html
    assert f'href="{INDEX_URL}">Clear the filters</a>' in html


# --- CSV export ----------------------------------------------------------------------------------------


def test_the_export_streams_every_matching_event_as_utf8_csv(
    admin_client: Client, story: dict[str, DomainEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_views, "EXPORT_BATCH_SIZE", 2)  # three keyset batches for five events

    response = admin_client.get(EXPORT_URL)

    rows = exported(response)
    mention_id = story["routed"].object_id
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="socialops-audit-')
    assert rows[0] == CSV_HEADER
    assert [row[3] for row in rows[1:]] == [
        "channel.updated",
        "rule.saved",
        "mention.closed",
        "mention.assigned",
        "mention.routed",
    ]
    assert rows[4] == [
        "2026-11-20T09:05:00+00:00",
        "Casey Reyes",
        "Mention assigned",
        "mention.assigned",
        "Mention",
        mention_id,
        story["assigned"].object_repr,
        "assignee: (none) → Casey Reyes; status: New → Open",
        '{"assignee": null, "status": "new"}',
        f'{{"assignee": {story["assigned"].actor_id}, "status": "open"}}',
    ]
    assert rows[5][1:3] == ["socialops", "Mention routed"]
    assert rows[5][7] == (
        f"intent: support question; rules fired: {fired_in_words(story)}; team: Customer Care"
    )


def test_the_export_follows_the_filters(
    admin_client: Client, story: dict[str, DomainEvent], casey: Any
) -> None:
    rows = exported(admin_client.get(EXPORT_URL, {"actor": str(casey.pk), "verb": "mention.closed"}))

    assert rows[0] == CSV_HEADER
    assert [(row[1], row[3]) for row in rows[1:]] == [("Casey Reyes", "mention.closed")]


@pytest.mark.parametrize(
    ("handle", "cell"),
    [
        ('=HYPERLINK("http://evil.example","click")', '\'=HYPERLINK("http://evil.example","click")'),
        ("+1 555 0100", "'+1 555 0100"),
        ("-2+3", "'-2+3"),
        ("@northwind_help", "'@northwind_help"),
        ("\tcmd", "'\tcmd"),
        ("Café ☕ on the trail", "Café ☕ on the trail"),
    ],
)
def test_cells_a_spreadsheet_would_run_as_formulas_are_made_text(
    admin_client: Client, handle: str, cell: str
) -> None:
    channel = ChannelFactory(handle=handle)
    DomainEvent.objects.create(
        verb="channel.connected",
        object_type=ContentType.objects.get_for_model(channel),
        object_id=str(channel.pk),
        object_repr=handle,
        after={"handle": handle},
    )

    rows = exported(admin_client.get(EXPORT_URL))

    assert rows[1][6] == cell
    assert rows[1][7] == f"handle: {handle}"


def test_the_export_of_an_empty_log_is_its_header(admin_client: Client) -> None:
    assert exported(admin_client.get(EXPORT_URL)) == [CSV_HEADER]


# --- Tokens stay secret --------------------------------------------------------------------------------


def test_no_token_reaches_the_log_or_its_export(admin_client: Client, admin: Any) -> None:
    channel = channel_connect_mastodon(
        actor=admin,
        instance_url="https://social.example",
        access_token="mastodon-secret-token",
        account_id="1",
        acct="northwind",
        segment=segment("product-promotion"),
    )
    x_channel = ChannelFactory(network="x", credentials={"access_token": "x-user-token"})
    channel_settings_update(
        actor=admin,
        channel=x_channel,
        segment=x_channel.segment,
        team_override=None,
        listening_queries=["northwind"],
        poll_interval_seconds=None,
        bearer_token="x-app-bearer-token",
    )

    page = admin_client.get(INDEX_URL).content.decode()
    export = b"".join(admin_client.get(EXPORT_URL).streaming_content).decode()

    assert DomainEvent.objects.count() == 2
    assert channel.handle in page
    for secret in ("mastodon-secret-token", "x-user-token", "x-app-bearer-token"):
        assert secret not in page
        assert secret not in export
    assert "bearer token: none → stored" in export


# --- Who may read it -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [INDEX_URL, EXPORT_URL])
def test_an_anonymous_visitor_is_sent_to_log_in(client: Client, url: str) -> None:
    response = client.get(url, {"verb": "mention."})

    assert response.status_code == 302
    assert response["Location"].split("?", 1)[0] == reverse("login")
    assert parse_qs(urlsplit(response["Location"]).query)["next"] == [f"{url}?verb=mention."]


@pytest.mark.parametrize("url", [INDEX_URL, EXPORT_URL])
@pytest.mark.parametrize("role", [Membership.Role.AGENT, Membership.Role.LEAD])
def test_agents_and_leads_are_told_the_log_does_not_exist(
    client: Client, story: dict[str, DomainEvent], care_team: Team, url: str, role: str
) -> None:
    client.force_login(MembershipFactory(team=care_team, role=role).user)

    response = client.get(url)

    assert response.status_code == 404
    assert "mention.assigned" not in response.content.decode()


@pytest.mark.parametrize("url", [INDEX_URL, EXPORT_URL])
def test_the_log_is_read_only(admin_client: Client, story: dict[str, DomainEvent], url: str) -> None:
    response = admin_client.post(url, {"verb": "mention."})

    assert response.status_code == 405
    assert DomainEvent.objects.count() == 5


@pytest.mark.parametrize(
    ("verb", "words"),
    [
        ("mention.assigned", "Mention assigned"),
        ("mention.rerouted", "Mention re-routed"),
        ("mention.close", "Mention closed (in bulk)"),
        ("team.member_added", "Team member added"),
        ("rule_set.published", "Rule set published"),
        ("sla_policy.saved", "SLA policy saved"),
        ("sla.breached", "SLA breached"),
        ("channel.needs_reauth", "Channel needs re-authorisation"),
        ("api_token.created", "API token created"),
        ("sign_in.locked", "Sign-ins locked out after failures"),
        ("user.password_changed", "Password changed"),
    ],
)
def test_verbs_read_as_words(verb: str, words: str) -> None:
    assert audit_views.verb_words(verb) == words


def test_the_selector_shows_nothing_to_a_non_admin(story: dict[str, DomainEvent], casey: Any) -> None:
    assert list(audit_views.audit_events(user=casey, filters=audit_views.AuditFilters())) == []


# --- Changes in words ------------------------------------------------------------------------------------


def test_a_bulk_action_leaves_what_it_did_not_touch_as_context_not_removed(
    admin_client: Client, care_team: Team, casey: Any
) -> None:
    mention = MentionFactory(team=care_team)
    record(
        "mention.close",
        mention,
        actor=casey,
        before={"status": "open", "assignee": casey.pk, "priority": 20},
        after={
            "status": "closed",
            "closed_at": "2026-11-21T09:00:00+00:00",
            "snoozed_until": None,
            "bulk": True,
        },
    )

    response = admin_client.get(INDEX_URL)

    changes = response.context["page"].rows[0].changes
    assert [(c.field, c.before, c.after, c.changed) for c in changes] == [
        ("bulk", "", "yes", True),
        ("closed at", "", "21 Nov 2026, 09:00", True),
        ("snoozed until", "", "(none)", True),
        ("status", "Open", "Closed", True),
        ("assignee", "Casey Reyes", "Casey Reyes", False),
        ("priority", "Normal", "Normal", False),
    ]
    html = response.content.decode()
    assert "removed" not in html
    assert '<li class="audit__context">priority: Normal</li>' in html
    assert "20" not in [c.after for c in changes]


def test_values_set_to_nothing_read_none_and_priorities_read_by_their_label(
    admin_client: Client, care_team: Team, casey: Any
) -> None:
    mention = MentionFactory(team=care_team)
    record("mention.prioritized", mention, actor=casey, before={"priority": 20}, after={"priority": 40})
    record(
        "mention.unassigned",
        mention,
        actor=casey,
        at=T0 + timedelta(minutes=1),
        before={"assignee": casey.pk, "status": "open"},
        after={"assignee": None, "status": "open"},
    )
    record(
        "mention.labelled",
        mention,
        at=T0 + timedelta(minutes=2),
        before={"labels": ["vip"]},
        after={"labels": []},
    )

    rows = admin_client.get(INDEX_URL).context["page"].rows

    assert [[(c.field, c.before, c.after, c.changed) for c in row.changes] for row in rows] == [
        [("labels", "vip", "(none)", True)],
        [("assignee", "Casey Reyes", "(none)", True), ("status", "Open", "Open", False)],
        [("priority", "Normal", "Urgent", True)],
    ]


def test_times_read_in_the_current_time_zone_as_the_pages_show_them(
    admin_client: Client, care_team: Team, settings: Any
) -> None:
    settings.TIME_ZONE = "Europe/Lisbon"  # UTC+0 in winter, UTC+1 in summer
    mention = MentionFactory(team=care_team)
    record(
        "sla.warning",
        mention,
        after={"kind": "first_response", "due_at": "2026-07-01T08:30:00+00:00"},
    )

    rows = admin_client.get(INDEX_URL).context["page"].rows

    assert [(c.field, c.after) for c in rows[0].changes] == [
        ("due at", "1 Jul 2026, 09:30"),
        ("kind", "first response"),
    ]


def test_ids_and_slugs_read_as_the_names_of_what_they_name(
    admin_client: Client, care_team: Team, casey: Any
) -> None:
    refunds = Rule.objects.create(name="Refunds", when={}, then={})
    kettles = Rule.objects.create(name="Kettles", when={}, then={})
    channel = ChannelFactory(handle="@northwind_help", segment=segment("customer-relations"))
    crisis = segment("crisis-management").team
    record(
        "rules.reordered",
        refunds,
        before={"order": [refunds.pk, kettles.pk]},
        after={"order": [kettles.pk, refunds.pk]},
    )
    record(
        "mention.routed",
        MentionFactory(team=crisis),
        at=T0 + timedelta(minutes=1),
        after={"team": crisis.slug, "escalated_to": crisis.slug, "priority": "urgent", "channel": channel.pk},
    )
    record(
        "escalation.to_lead",
        care_team,
        at=T0 + timedelta(minutes=2),
        before={"state": "pending"},
        after={"state": "to_lead", "leads": [casey.username]},
    )

    rows = admin_client.get(INDEX_URL).context["page"].rows

    assert [[(c.field, c.before, c.after) for c in row.changes] for row in rows] == [
        [("leads", "", "Casey Reyes"), ("state", "Pending", "Escalated to lead")],
        [
            ("channel", "", "@northwind_help"),
            ("escalated to", "", crisis.name),
            ("priority", "", "Urgent"),
            ("team", "", crisis.name),
        ],
        [
            (
                "order",
                f"“Refunds” (rule {refunds.pk}), “Kettles” (rule {kettles.pk})",
                f"“Kettles” (rule {kettles.pk}), “Refunds” (rule {refunds.pk})",
            )
        ],
    ]
