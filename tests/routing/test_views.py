"""The routing admin pages: segments and the intent map, the rules with their builder, backtest and JSON
editor, and the versions with their diff and rollback. Admins only; every change audited and published."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from foundation.models import DomainEvent
from inbox import backtest, route
from inbox.models import Mention
from inbox.tasks import rules_backtest_task
from routing import rulesets
from routing.backtest import backtest_keys
from routing.forms import BuilderChoices, RuleBuilder, builder_initial
from routing.models import IntentRoute, RoutingSettings, Rule, RuleSetVersion
from routing.views import describe_actions, describe_condition
from teams.models import Membership
from tests.conftest import wait_until
from tests.factories import ChannelFactory, MembershipFactory, MentionFactory, UserFactory, segment

pytestmark = pytest.mark.django_db

RECALL = "@brand_help is the K2 kettle recalled? ticket"


# --- People -------------------------------------------------------------------------------------------------


@pytest.fixture
def admin() -> Any:
    return UserFactory(username="ada", admin=True)


@pytest.fixture
def admin_client(client: Client, admin: Any) -> Client:
    client.force_login(admin)
    return client


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def team_slug(segment_slug: str) -> str:
    return segment(segment_slug).team.slug


def a_rule(name: str = "Refunds", keywords: tuple[str, ...] = ("refund",), **fields: Any) -> Rule:
    return rulesets.rule_save(
        user=None,
        name=name,
        when=fields.pop("when", {"keywords": list(keywords)}),
        then=fields.pop("then", [{"set_priority": "high"}]),
        **fields,
    )


# --- Builder form data, as a browser sends it ---------------------------------------------------------------


def builder_data(
    name: str,
    *,
    groups: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]],
    actions: list[dict[str, Any]],
    match: str = "all",
    enabled: bool = True,
    action: str = "save",
    days: int = 7,
) -> dict[str, Any]:
    groups = groups or [{"mode": "all"}]
    data: dict[str, Any] = {"rule-name": name, "rule-match": match, "action": action, "days": str(days)}
    if enabled:
        data["rule-enabled"] = "on"
    for prefix, rows in (("group", groups), ("cond", conditions), ("action", actions)):
        data[f"{prefix}-TOTAL_FORMS"] = str(len(rows))
        data[f"{prefix}-INITIAL_FORMS"] = "0"
        for index, row in enumerate(rows):
            for key, value in row.items():
                if value is True:
                    data[f"{prefix}-{index}-{key}"] = "on"
                elif value is not False:
                    data[f"{prefix}-{index}-{key}"] = value
    for index in range(len(conditions)):
        data.setdefault(f"cond-{index}-group", "1")
    return data


class _FormReader(HTMLParser):
    """The values a browser would submit for one form (no JavaScript), skipping <template> contents."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.template = 0
        self.data: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = True
        if tag == "template":
            self.template += 1
        if not self.inside or self.template:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.data.append((a["name"], a.get("value", "on")))
            elif kind not in ("submit", "button"):
                self.data.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select, self._options = a.get("name"), []
            self._multiple = "multiple" in a
        elif tag == "option" and self._select:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "template":
            self.template -= 1
        if not self.inside or self.template:
            return
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select:
            chosen = [value for value, selected in self._options if selected]
            if not chosen and not self._multiple and self._options:
                chosen = [self._options[0][0]]
            self.data.extend((self._select, value) for value in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.data.append((self._textarea, self._text.removeprefix("\n")))
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self._text += data


def form_values(html: str, form_id: str) -> dict[str, list[str]]:
    reader = _FormReader(form_id)
    reader.feed(html)
    values: dict[str, list[str]] = {}
    for name, value in reader.data:
        values.setdefault(name, []).append(value)
    return values


# --- Access -------------------------------------------------------------------------------------------------

GET_PAGES = [
    ("routing:segments", {}),
    ("routing:segment_edit", {"slug": "customer-relations"}),
    ("routing:rules", {}),
    ("routing:rule_new", {}),
    ("routing:rule_json_new", {}),
    ("routing:rule_edit", {"pk": "RULE"}),
    ("routing:rule_json", {"pk": "RULE"}),
    ("routing:rule_delete", {"pk": "RULE"}),
    ("routing:backtest", {"backtest_id": "BACKTEST"}),
    ("routing:backtest_progress", {"backtest_id": "BACKTEST"}),
    ("routing:versions", {}),
    ("routing:versions_diff", {}),
    ("routing:version_rollback", {"number": "VERSION"}),
]
POSTS = [
    ("routing:segment_edit", {"slug": "customer-relations"}),
    ("routing:intents_save", {}),
    ("routing:settings_save", {}),
    ("routing:rule_new", {}),
    ("routing:rule_json_new", {}),
    ("routing:rule_edit", {"pk": "RULE"}),
    ("routing:rule_json", {"pk": "RULE"}),
    ("routing:rule_move", {"pk": "RULE"}),
    ("routing:rule_toggle", {"pk": "RULE"}),
    ("routing:rule_delete", {"pk": "RULE"}),
    ("routing:backtest_publish", {"backtest_id": "BACKTEST"}),
    ("routing:version_rollback", {"number": "VERSION"}),
]
# What a forged post would change if it got through.
FORGED = {
    "routing:segment_edit": {
        "follow": "x",
        "create": "x",
        "engage": "x",
        "team": "TEAM",
        "acceptance_window_minutes": "5",
        "default_poll_seconds": "60",
    },
    "routing:intents_save": {"spam": "crisis-management"},
    "routing:settings_save": {"crisis_mode": "on", "misdirect_threshold": "0.9"},
    "routing:rule_new": builder_data(
        "Forged", conditions=[{"kind": "keywords", "text": "x"}], actions=[{"kind": "stop"}]
    ),
    "routing:rule_edit": builder_data(
        "Forged", conditions=[{"kind": "keywords", "text": "x"}], actions=[{"kind": "stop"}]
    ),
    "routing:rule_json_new": {
        "spec": json.dumps({"name": "Forged", "when": {"keywords": ["x"]}, "then": []})
    },
    "routing:rule_json": {"spec": json.dumps({"name": "Forged", "when": {"keywords": ["x"]}, "then": []})},
    "routing:rule_move": {"direction": "down"},
}


@pytest.fixture
def objects(admin: Any) -> dict[str, str]:
    """A rule (two, so one can move), two versions and a backtest, for the pages that show one."""
    first = a_rule()
    a_rule("Second", ("warranty",))
    draft_key, progress_key = backtest_keys("ab" * 16)
    cache.set(
        draft_key, {"rules": [], "days": 7, "rule": first.as_spec(), "rule_id": first.pk, "by": admin.pk}
    )
    cache.set(progress_key, {"state": "queued"})
    return {
        "RULE": str(first.pk),
        "BACKTEST": "ab" * 16,
        "VERSION": str(RuleSetVersion.objects.order_by("number").first().number),
        "TEAM": str(segment("crisis-management").team_id),
    }


def url_of(name: str, kwargs: dict[str, str], objects: dict[str, str]) -> str:
    url = reverse(name, kwargs={key: objects.get(value, value) for key, value in kwargs.items()})
    if name == "routing:versions_diff":
        url += "?a=1&b=2"
    return url


def state() -> tuple:
    """Everything the pages can change, to show that a refused post changed nothing."""
    return (
        list(Rule.objects.order_by("id").values_list("id", "name", "position", "enabled", "when", "then")),
        RuleSetVersion.objects.count(),
        list(IntentRoute.objects.order_by("intent").values_list("intent", "segment_id")),
        (RoutingSettings.current().crisis_mode, RoutingSettings.current().misdirect_threshold),
        segment("customer-relations").follow,
        segment("customer-relations").team_id,
        DomainEvent.objects.count(),
    )


@pytest.mark.parametrize(("name", "kwargs"), GET_PAGES)
def test_an_admin_sees_every_page(
    admin_client: Client, objects: dict[str, str], name: str, kwargs: dict
) -> None:
    response = admin_client.get(url_of(name, kwargs, objects))

    assert response.status_code == 200


@pytest.mark.parametrize("role", ["agent", "lead"])
@pytest.mark.parametrize(("name", "kwargs"), GET_PAGES)
def test_agents_and_leads_are_told_the_pages_do_not_exist(
    objects: dict[str, str], name: str, kwargs: dict, role: str
) -> None:
    user = MembershipFactory(
        team=segment("customer-relations").team,
        role=Membership.Role.LEAD if role == "lead" else Membership.Role.AGENT,
    ).user

    response = signed_in(user).get(url_of(name, kwargs, objects))

    assert response.status_code == 404


@pytest.mark.parametrize("role", ["agent", "lead"])
@pytest.mark.parametrize(("name", "kwargs"), POSTS)
def test_a_forged_post_by_an_agent_or_a_lead_changes_nothing(
    objects: dict[str, str], name: str, kwargs: dict, role: str
) -> None:
    user = MembershipFactory(
        team=segment("customer-relations").team,
        role=Membership.Role.LEAD if role == "lead" else Membership.Role.AGENT,
    ).user
    data = {
        key: objects.get(value, value) if isinstance(value, str) else value
        for key, value in FORGED.get(name, {}).items()
    }
    before = state()

    response = signed_in(user).post(url_of(name, kwargs, objects), data)

    assert response.status_code == 404
    assert state() == before


@pytest.mark.parametrize(("name", "kwargs"), GET_PAGES + POSTS)
def test_an_anonymous_visitor_is_sent_to_log_in(
    client: Client, objects: dict[str, str], name: str, kwargs: dict
) -> None:
    url = url_of(name, kwargs, objects)
    before = state()

    response = client.post(url) if (name, kwargs) in POSTS else client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")
    assert state() == before


def test_a_post_without_the_csrf_token_is_refused(admin: Any, objects: dict[str, str]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    before = state()

    response = client.post(reverse("routing:rule_toggle", args=[objects["RULE"]]))

    assert response.status_code == 403
    assert state() == before


# --- Segments, intent map, settings -------------------------------------------------------------------------


def test_the_segments_page_shows_each_playbook_the_intent_map_and_the_settings(admin_client: Client) -> None:
    response = admin_client.get(reverse("routing:segments"))

    body = response.content.decode()
    care = segment("customer-relations")
    assert care.name in body and care.team.name in body
    assert "Answer questions and respond to comments about the brand." in body
    assert '<option value="customer-relations" selected>' in body  # support questions, complaints, praise
    assert 'name="misdirect_threshold" value="0.6"' in body


def test_a_new_owning_team_is_saved_audited_and_published(admin_client: Client, admin: Any) -> None:
    care = segment("customer-relations")
    crisis_team = segment("crisis-management").team

    response = admin_client.post(
        reverse("routing:segment_edit", args=[care.slug]),
        {
            "follow": "Customers and prospects",
            "create": care.create,
            "engage": care.engage,
            "team": crisis_team.pk,
            "acceptance_window_minutes": "45",
            "default_poll_seconds": "90",
        },
    )

    assert response.status_code == 302
    care.refresh_from_db()
    assert (care.follow, care.team, care.acceptance_window_minutes, care.default_poll_seconds) == (
        "Customers and prospects",
        crisis_team,
        45,
        90,
    )
    version = RuleSetVersion.objects.get()
    assert version.summary == f"Customer relations now owned by team {crisis_team.slug}"
    assert version.published_by == admin
    event = DomainEvent.objects.get(verb="segment.saved")
    assert event.actor == admin
    assert event.after["team"] == crisis_team.slug
    assert event.after["acceptance_window_minutes"] == 45
    assert rulesets.rule_set_current().segment_teams["customer-relations"] == crisis_team.slug


def test_a_playbook_edit_is_audited_without_publishing_a_version(admin_client: Client) -> None:
    care = segment("customer-relations")

    admin_client.post(
        reverse("routing:segment_edit", args=[care.slug]),
        {
            "follow": "Customers",
            "create": care.create,
            "engage": care.engage,
            "team": care.team_id,
            "acceptance_window_minutes": str(care.acceptance_window_minutes),
            "default_poll_seconds": str(care.default_poll_seconds),
        },
    )

    assert DomainEvent.objects.get(verb="segment.saved").after == {"follow": "Customers"}
    assert not RuleSetVersion.objects.exists()


def test_a_segment_cadence_out_of_range_is_refused_beside_the_field(admin_client: Client) -> None:
    care = segment("customer-relations")

    response = admin_client.post(
        reverse("routing:segment_edit", args=[care.slug]),
        {
            "follow": care.follow,
            "create": care.create,
            "engage": care.engage,
            "team": care.team_id,
            "acceptance_window_minutes": "0",
            "default_poll_seconds": "1",
        },
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="id_acceptance_window_minutes_error"' in body
    assert 'id="id_default_poll_seconds_error"' in body
    assert not DomainEvent.objects.exists()


def test_the_intent_map_is_saved_through_one_published_version(admin_client: Client, admin: Any) -> None:
    current = rulesets.routing_context().intent_segments
    data = {intent: slug for intent, slug in current.items() if slug}
    data["spam"] = "crisis-management"
    data.pop("praise")  # nobody: stays with the receiving team

    response = admin_client.post(reverse("routing:intents_save"), data)

    assert response.status_code == 302
    assert IntentRoute.objects.get(intent="spam").segment == segment("crisis-management")
    assert IntentRoute.objects.get(intent="praise").segment is None
    version = RuleSetVersion.objects.get()
    assert version.intent_segments["spam"] == "crisis-management"
    assert version.intent_segments["praise"] == ""
    assert version.summary == "Intent map: praise → receiving team, spam → crisis-management"
    assert sorted(
        DomainEvent.objects.filter(verb="intent_route.saved").values_list("after", flat=True), key=str
    ) == [
        {"segment": ""},
        {"segment": "crisis-management"},
    ]
    # Saving the same map again publishes nothing.
    admin_client.post(reverse("routing:intents_save"), {**data})
    assert RuleSetVersion.objects.count() == 1


def test_crisis_mode_and_the_threshold_are_saved_and_published(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("routing:settings_save"), {"crisis_mode": "on", "misdirect_threshold": "0.75"}
    )

    assert response.status_code == 302
    settings = RoutingSettings.current()
    assert (settings.crisis_mode, settings.misdirect_threshold) == (True, 0.75)
    version = RuleSetVersion.objects.get()
    assert version.misdirect_threshold == 0.75
    assert version.summary == "Routing settings: crisis mode on, misdirect threshold 0.6 → 0.75"
    assert DomainEvent.objects.get(verb="routing_settings.saved").after == {
        "crisis_mode": True,
        "misdirect_threshold": 0.75,
    }


def test_a_threshold_above_one_is_refused(admin_client: Client) -> None:
    response = admin_client.post(reverse("routing:settings_save"), {"misdirect_threshold": "1.5"})

    assert response.status_code == 200
    assert "Ensure this value is less than or equal to 1" in response.content.decode()
    assert RoutingSettings.current().misdirect_threshold == 0.6
    assert not RuleSetVersion.objects.exists()


# --- The builder --------------------------------------------------------------------------------------------

EVERY_CONDITION = [
    {"group": "1", "kind": "keywords", "text": "basecamp stove, stove"},
    {"group": "1", "kind": "phrase", "text": "out of stock"},
    {"group": "1", "kind": "regex", "text": r"\bNW-\d{7}\b", "negate": True},
    {"group": "1", "kind": "hashtag", "text": "#Trailfest, #GearUp"},
    {"group": "1", "kind": "cashtag", "text": "$NWND"},
    {"group": "1", "kind": "language", "text": "en, es"},
    {"group": "1", "kind": "intent", "intents": ["complaint", "crisis_signal"], "confidence": "0.7"},
    {"group": "2", "kind": "sentiment", "minimum": "-1", "maximum": "-0.4"},
    {"group": "2", "kind": "followers", "minimum": "10000"},
    {"group": "2", "kind": "verified", "flag": "true"},
    {"group": "2", "kind": "author_tag", "author_tags": ["vip", "influencer"]},
    {"group": "3", "kind": "channel", "channels": ["help-desk"]},
    {"group": "3", "kind": "segment", "segments": ["customer-relations", "event-coverage"]},
    {"group": "3", "kind": "network", "networks": ["x", "mastodon"]},
    {"group": "3", "kind": "kind", "kinds": ["mention", "reply"]},
    {"group": "4", "kind": "time_window", "start": "2026-06-01T00:00", "end": "2026-06-14T12:30"},
    {"group": "4", "kind": "crisis_mode", "flag": "false"},
]
EVERY_ACTION = [
    {"kind": "route_to_segment", "segment": "crisis-management"},
    {"kind": "route_to_team", "team": "TEAM"},
    {"kind": "set_priority", "priority": "urgent"},
    {"kind": "add_labels", "labels": "recall, safety"},
    {"kind": "assign_to", "user": "ada"},
    {"kind": "escalate", "team": "TEAM", "reason": "Safety first"},
    {"kind": "require_approval"},
    {"kind": "notify_email", "target": "crisis@northwind.example"},
    {"kind": "notify_webhook", "target": "https://hooks.northwind.example/recall"},
    {"kind": "stop"},
]


def every_kind_data(name: str = "Every kind", **options: Any) -> dict[str, Any]:
    ChannelFactory(slug="help-desk")
    team = team_slug("crisis-management")
    actions = [{k: team if v == "TEAM" else v for k, v in row.items()} for row in EVERY_ACTION]
    return builder_data(
        name,
        match="any",
        groups=[{"mode": "all"}, {"mode": "any"}, {"mode": "all", "negate": True}, {"mode": "all"}],
        conditions=EVERY_CONDITION,
        actions=actions,
        **options,
    )


def test_the_builder_writes_every_condition_and_action_the_engine_knows(
    admin_client: Client, admin: Any
) -> None:
    response = admin_client.post(reverse("routing:rule_new"), every_kind_data())

    assert response.status_code == 302, response.content.decode()
    rule = Rule.objects.get()
    team = team_slug("crisis-management")
    assert rule.name == "Every kind"
    assert rule.enabled
    assert rule.when == {
        "any": [
            {
                "all": [
                    {"keywords": ["basecamp stove", "stove"]},
                    {"phrase": "out of stock"},
                    {"not": {"regex": r"\bNW-\d{7}\b"}},
                    {"hashtag": ["#Trailfest", "#GearUp"]},
                    {"cashtag": ["$NWND"]},
                    {"language": ["en", "es"]},
                    {"intent": {"in": ["complaint", "crisis_signal"], "min_confidence": 0.7}},
                ]
            },
            # A group matching as the rule does ("any") is the same as its rows listed at the top.
            {"sentiment": {"min": -1.0, "max": -0.4}},
            {"followers": {"min": 10000}},
            {"verified": True},
            {"author_tag": ["vip", "influencer"]},
            {
                "not": {
                    "all": [
                        {"channel": ["help-desk"]},
                        {"segment": ["customer-relations", "event-coverage"]},
                        {"network": ["x", "mastodon"]},
                        {"kind": ["mention", "reply"]},
                    ]
                }
            },
            {
                "all": [
                    {"time_window": {"start": "2026-06-01T00:00", "end": "2026-06-14T12:30"}},
                    {"crisis_mode": False},
                ]
            },
        ]
    }
    assert rule.then == [
        {"route_to_segment": "crisis-management"},
        {"route_to_team": team},
        {"set_priority": "urgent"},
        {"add_labels": ["recall", "safety"]},
        {"assign_to": "ada"},
        {"escalate": {"team": team, "reason": "Safety first"}},
        {"require_approval": True},
        {"notify_email": "crisis@northwind.example"},
        {"notify_webhook": "https://hooks.northwind.example/recall"},
        {"stop": True},
    ]
    version = RuleSetVersion.objects.get()
    assert version.rules == [rule.as_spec()]
    assert DomainEvent.objects.get(verb="rule.saved").actor == admin


def test_the_edit_form_shows_the_saved_rule_and_saving_it_unchanged_keeps_it(admin_client: Client) -> None:
    admin_client.post(reverse("routing:rule_new"), every_kind_data())
    rule = Rule.objects.get()
    saved = rule.as_spec()

    page = admin_client.get(reverse("routing:rule_edit", args=[rule.pk]))
    shown = form_values(page.content.decode(), "rule-builder")

    assert shown["rule-name"] == ["Every kind"]
    assert shown["cond-0-text"] == ["basecamp stove, stove"]
    assert shown["cond-6-intents"] == ["complaint", "crisis_signal"]
    assert shown["cond-15-start"] == ["2026-06-01T00:00"]
    assert shown["group-2-negate"] == ["on"]
    response = admin_client.post(reverse("routing:rule_edit", args=[rule.pk]), {**shown, "action": "save"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.as_spec() == saved
    assert Rule.objects.count() == 1


def test_the_builder_reads_back_what_it_writes() -> None:
    specs = [
        {"name": "One leaf", "enabled": True, "when": {"keywords": ["refund"]}, "then": [{"stop": True}]},
        {
            "name": "Not",
            "enabled": False,
            "when": {"not": {"kind": ["dm"]}},
            "then": [{"set_priority": "low"}],
        },
        {
            "name": "Mixed",
            "enabled": True,
            "when": {"all": [{"keywords": ["a"]}, {"any": [{"verified": True}, {"not": {"kind": ["dm"]}}]}]},
            "then": [{"add_labels": ["x"]}],
        },
        {
            "name": "Negated group",
            "enabled": True,
            "when": {"not": {"any": [{"keywords": ["a"]}, {"phrase": "b c"}]}},
            "then": [{"stop": True}],
        },
    ]
    choices = BuilderChoices(teams=(), segments=(), users=(), channels=())
    for spec in specs:
        initial = builder_initial(spec)
        data = _data_of(initial)
        builder = RuleBuilder(data, choices=choices)
        assert builder.is_valid(), (spec, builder.head.errors, builder.conditions.errors)
        assert builder.spec == {k: spec[k] for k in ("name", "enabled", "when", "then")}


def _data_of(initial: Any) -> dict[str, Any]:
    data = builder_data(
        initial.head["name"],
        match=initial.head["match"],
        enabled=initial.head["enabled"],
        groups=initial.groups,
        conditions=[
            {
                k: (str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v)
                for k, v in row.items()
                if v is not None
            }
            for row in initial.conditions
        ],
        actions=initial.actions,
    )
    return data


def test_a_rule_nested_deeper_than_the_builder_opens_as_json(admin_client: Client) -> None:
    rule = a_rule(when={"not": {"not": {"keywords": ["refund"]}}})

    response = admin_client.get(reverse("routing:rule_edit", args=[rule.pk]))

    assert response.status_code == 302
    assert response["Location"] == reverse("routing:rule_json", args=[rule.pk])


def test_a_bad_regular_expression_is_refused_beside_its_row_and_nothing_is_saved(
    admin_client: Client,
) -> None:
    response = admin_client.post(
        reverse("routing:rule_new"),
        builder_data(
            "Order numbers",
            conditions=[{"kind": "keywords", "text": "order"}, {"kind": "regex", "text": r"NW-(\d+"}],
            actions=[{"kind": "set_priority", "priority": "high"}],
        ),
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert (
        'id="id_cond-1-text_error">bad regular expression &#x27;NW-(\\\\d+&#x27;: missing ), unterminated'
        in body
    )
    assert "The rule was not saved" in body
    assert 'value="NW-(\\d+"' in body  # what was typed is kept
    assert not Rule.objects.exists()
    assert not RuleSetVersion.objects.exists()


def test_a_bad_email_address_is_refused_beside_its_action(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("routing:rule_new"),
        builder_data(
            "Tell legal",
            conditions=[{"kind": "keywords", "text": "lawsuit"}],
            actions=[
                {"kind": "set_priority", "priority": "high"},
                {"kind": "notify_email", "target": "legal at x"},
            ],
        ),
    )

    assert response.status_code == 200
    assert (
        'id="id_action-1-target_error">not an email address: &#x27;legal at x&#x27;'
        in response.content.decode()
    )
    assert not Rule.objects.exists()


def test_a_label_that_is_not_one_is_refused_beside_its_action(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("routing:rule_new"),
        builder_data(
            "Shout",
            conditions=[{"kind": "keywords", "text": "lawsuit"}],
            actions=[{"kind": "add_labels", "labels": "legal, #urgent!"}],
        ),
    )

    assert response.status_code == 200
    assert (
        'id="id_action-0-labels_error">&#x27;#urgent!&#x27; is not a label: up to 40 letters'
        in response.content.decode()
    )
    assert not Rule.objects.exists()


def test_a_bound_out_of_order_is_refused_beside_its_row(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("routing:rule_new"),
        builder_data(
            "Angry",
            groups=[{"mode": "all"}, {"mode": "any"}],
            conditions=[
                {"kind": "keywords", "text": "refund", "group": "1"},
                {"kind": "keywords", "text": "broken", "group": "2"},
                {"kind": "sentiment", "minimum": "0.5", "maximum": "-0.5", "group": "2", "negate": True},
            ],
            actions=[{"kind": "stop"}],
        ),
    )

    assert response.status_code == 200
    assert 'id="id_cond-2-minimum_error">min 0.5 is greater than max -0.5' in response.content.decode()
    assert not Rule.objects.exists()


def test_a_rule_without_conditions_or_actions_is_refused_saying_so(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("routing:rule_new"), builder_data("Empty", conditions=[{"kind": ""}], actions=[{"kind": ""}])
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert "Add at least one condition." in body
    assert "Add at least one action." in body
    assert not Rule.objects.exists()


def test_an_intent_condition_needs_an_intent_or_a_confidence(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("routing:rule_new"),
        builder_data("Intent", conditions=[{"kind": "intent"}], actions=[{"kind": "stop"}]),
    )

    assert 'id="id_cond-0-intents_error">Choose at least one intent' in response.content.decode()
    assert not Rule.objects.exists()


# --- JSON ---------------------------------------------------------------------------------------------------


def test_a_rule_written_as_json_is_saved_with_the_same_checks(admin_client: Client) -> None:
    spec = {
        "name": "Deep",
        "enabled": True,
        "when": {"not": {"not": {"keywords": ["refund"]}}},
        "then": [{"set_priority": "high"}],
    }

    response = admin_client.post(
        reverse("routing:rule_json_new"), {"spec": json.dumps(spec), "action": "save"}
    )

    assert response.status_code == 302
    rule = Rule.objects.get()
    assert {k: v for k, v in rule.as_spec().items() if k != "id"} == spec
    page = admin_client.get(reverse("routing:rule_json", args=[rule.pk])).content.decode()
    assert "&quot;not&quot;: {" in page


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"name": "x", "when": ', "Not valid JSON: Expecting value (line 1, column 22)."),
        ('["x"]', "The rule must be a JSON object."),
        (
            '{"name": "x", "when": {"keywords": ["a"]}, "then": [], "position": 3}',
            "Unknown key &#x27;position&#x27;",
        ),
        (
            '{"name": "x", "when": {"all": [{"keywords": ["a"]}, {"regex": "("}]}, "then": [{"stop": true}]}',
            "when.all[1].regex: bad regular expression",
        ),
        (
            '{"name": "x", "when": {"keywords": ["a"]}, "then": [{"route_to_team": "nobody"}]}',
            "then[0].route_to_team: unknown team",
        ),
        (
            '{"name": "x", "when": ' + "[" * 100_000,
            "Not accepted: the JSON nests 100001 levels deep; at most 64 are accepted.",
        ),
        (
            '{"name": "x", "when": {"keywords": ["\\ud800"]}, "then": [{"stop": true}]}',
            "Not accepted: the JSON at when.keywords[0] holds a lone surrogate escape",
        ),
    ],
)
def test_bad_json_is_refused_naming_the_part(admin_client: Client, text: str, message: str) -> None:
    response = admin_client.post(reverse("routing:rule_json_new"), {"spec": text, "action": "save"})

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Rule.objects.exists()
    assert not RuleSetVersion.objects.exists()


# --- Order, enable, delete ----------------------------------------------------------------------------------


def test_moving_a_rule_up_publishes_the_new_order(admin_client: Client, admin: Any) -> None:
    first, second, third = a_rule("A"), a_rule("B", ("b",)), a_rule("C", ("c",))
    versions = RuleSetVersion.objects.count()

    response = admin_client.post(reverse("routing:rule_move", args=[third.pk]), {"direction": "up"})

    assert response.status_code == 302
    assert list(Rule.objects.values_list("name", flat=True)) == ["A", "C", "B"]
    newest = RuleSetVersion.objects.order_by("-number").first()
    assert RuleSetVersion.objects.count() == versions + 1
    assert [spec["name"] for spec in newest.rules] == ["A", "C", "B"]
    assert newest.summary == "Moved rule “C” up"
    assert DomainEvent.objects.get(verb="rules.reordered").after == {"order": [first.pk, third.pk, second.pk]}
    # The first cannot move up: nothing is published.
    admin_client.post(reverse("routing:rule_move", args=[first.pk]), {"direction": "up"})
    assert RuleSetVersion.objects.count() == versions + 1


def test_disabling_and_enabling_a_rule_publish_a_version_each(admin_client: Client) -> None:
    rule = a_rule()

    admin_client.post(reverse("routing:rule_toggle", args=[rule.pk]))
    rule.refresh_from_db()
    disabled = RuleSetVersion.objects.order_by("-number").first()
    admin_client.post(reverse("routing:rule_toggle", args=[rule.pk]))
    enabled = RuleSetVersion.objects.order_by("-number").first()

    assert disabled.rules[0]["enabled"] is False
    assert enabled.rules[0]["enabled"] is True
    assert enabled.number == disabled.number + 1
    assert rule.enabled is False  # as it was after the first toggle


def test_deleting_asks_first_then_deletes_and_publishes(admin_client: Client) -> None:
    rule = a_rule()

    page = admin_client.get(reverse("routing:rule_delete", args=[rule.pk]))
    assert "Delete “Refunds”?" in page.content.decode()
    assert Rule.objects.exists()

    admin_client.post(reverse("routing:rule_delete", args=[rule.pk]))

    assert not Rule.objects.exists()
    assert RuleSetVersion.objects.order_by("-number").first().rules == []
    assert DomainEvent.objects.filter(verb="rule.deleted").count() == 1


def test_the_rules_page_lists_rules_in_order_in_words(admin_client: Client) -> None:
    a_rule(
        "Recalls",
        when={"all": [{"keywords": ["recall"]}, {"not": {"kind": ["dm"]}}]},
        then=[{"route_to_segment": "crisis-management"}, {"set_priority": "urgent"}],
    )
    a_rule("Off", enabled=False)

    body = admin_client.get(reverse("routing:rules")).content.decode()

    assert body.index("Recalls") < body.index("Off")
    assert "words: recall and not kind: dm" in body
    assert "route to segment crisis-management; priority urgent" in body
    assert "Disabled" in body


def test_rules_in_words() -> None:
    assert (
        describe_condition(
            {
                "any": [
                    {"intent": {"in": ["complaint"], "min_confidence": 0.7}},
                    {"all": [{"followers": {"min": 5000}}, {"sentiment": {"max": -0.5}}]},
                ]
            }
        )
        == "intent complaint (confidence ≥ 0.7) or (followers ≥ 5000 and sentiment ≤ -0.5)"
    )
    assert describe_actions([{"escalate": {"team": "crisis", "reason": "Safety"}}, {"stop": True}]) == (
        "escalate to team crisis (“Safety”); stop"
    )


# --- Backtest -----------------------------------------------------------------------------------------------


def routed(text: str, *, on: str) -> Mention:
    mention = MentionFactory(text=text, on_channels=[ChannelFactory(segment=segment(on))])
    route.mentions_route(mention_ids=[mention.pk])
    return mention


def recall_rule_data(**options: Any) -> dict[str, Any]:
    return builder_data(
        "Recalls to crisis",
        conditions=[{"kind": "keywords", "text": "recalled"}],
        actions=[
            {"kind": "route_to_segment", "segment": "crisis-management"},
            {"kind": "escalate", "team": team_slug("crisis-management"), "reason": "Recall"},
        ],
        **options,
    )


def test_the_backtest_reports_progress_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(5):
        routed(f"{RECALL} {n}", on="customer-relations")
    monkeypatch.setattr(backtest, "ROUTE_BATCH", 2)
    seen: list[tuple[int, int]] = []

    backtest.rules_backtest(rules=[], days=7, progress=lambda done, total: seen.append((done, total)))

    assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]


def test_the_backtest_task_writes_progress_then_the_report(
    monkeypatch: pytest.MonkeyPatch, admin: Any
) -> None:
    for n in range(3):
        routed(f"{RECALL} {n}", on="customer-relations")
    draft_key, progress_key = backtest_keys("cd" * 16)
    cache.set(
        draft_key,
        {
            "rules": [
                {
                    "id": 0,
                    "name": "Quiet",
                    "enabled": True,
                    "when": {"keywords": ["recalled"]},
                    "then": [{"set_priority": "low"}],
                }
            ],
            "days": 7,
            "rule": {},
            "rule_id": None,
        },
    )
    written: list[dict] = []
    real_set = cache.set
    monkeypatch.setattr(
        cache, "set", lambda key, value, **kw: (written.append(value), real_set(key, value, **kw))
    )

    rules_backtest_task("cd" * 16)

    assert [w["state"] for w in written] == ["running", "running", "done"]
    assert [(w["processed"], w["total"]) for w in written] == [(0, 3), (3, 3), (3, 3)]
    report = cache.get(progress_key)["report"]
    assert (report["mentions"], report["changed"]) == (3, 3)
    assert report["sample"][0]["after"]["priority"] == "low"


@pytest.mark.slow
@pytest.mark.usefixtures("six_segments")
def test_a_backtest_runs_on_the_worker_then_the_rule_is_published(worker: None) -> None:
    admin = UserFactory(username="ada", admin=True)
    client = signed_in(admin)
    for n in range(3):
        routed(f"{RECALL} {n}", on="customer-relations")
    routed("what time do doors open at the Lisbon meetup?", on="event-coverage")
    versions = RuleSetVersion.objects.count()

    response = client.post(reverse("routing:rule_new"), recall_rule_data(action="backtest", days=3))

    assert response.status_code == 302
    backtest_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    assert client.get(response["Location"]).status_code == 200
    wait_until(lambda: (cache.get(backtest_keys(backtest_id)[1]) or {}).get("state") == "done")
    fragment = client.get(reverse("routing:backtest_progress", args=[backtest_id])).content.decode()
    crisis, care = segment("crisis-management").team.name, segment("customer-relations").team.name
    assert "<strong>3</strong> of 4 mentions" in fragment
    assert "<strong>3</strong> escalations added" in fragment
    assert f'<tr><th scope="row">{crisis}</th><td>0</td><td>3</td>' in fragment
    assert f'<tr><th scope="row">{care}</th><td>3</td><td>0</td>' in fragment
    assert "hx-trigger" not in fragment  # the polling stops with the report
    assert not Rule.objects.exists()
    assert RuleSetVersion.objects.count() == versions

    published = client.post(reverse("routing:backtest_publish", args=[backtest_id]))

    assert published.status_code == 302
    rule = Rule.objects.get()
    assert f"Rule {rule.pk} “Recalls to crisis” fired" in fragment
    assert rule.name == "Recalls to crisis"
    assert RuleSetVersion.objects.order_by("-number").first().rules == [rule.as_spec()]
    assert cache.get(backtest_keys(backtest_id)[0]) is None


def test_a_backtest_numbers_rules_and_names_teams_as_live_decisions_do(admin_client: Client) -> None:
    a_rule("Kettles", ("kettle",), then=[{"add_labels": ["kettle"]}])  # so the new rule is not the first
    for n in range(2):
        routed(f"{RECALL} {n}", on="customer-relations")
    crisis, care = segment("crisis-management").team, segment("customer-relations").team

    started = admin_client.post(reverse("routing:rule_new"), recall_rule_data(action="backtest", days=3))
    backtest_id = started["Location"].rstrip("/").rsplit("/", 1)[1]
    rules_backtest_task(backtest_id)  # what the worker runs
    fragment = admin_client.get(reverse("routing:backtest_progress", args=[backtest_id])).content.decode()
    admin_client.post(reverse("routing:backtest_publish", args=[backtest_id]))
    rule = Rule.objects.get(name="Recalls to crisis")
    live = routed(f"{RECALL} live", on="customer-relations")
    live.refresh_from_db()

    fired = [line for line in live.decision["explanation"] if "Recalls to crisis" in line]
    assert fired == [
        f"Rule {rule.pk} “Recalls to crisis” fired: routed to {segment('crisis-management').name} "
        f"(team {crisis.name}); escalated to team {crisis.name}.",
        f"Misdirected: Rule {rule.pk} “Recalls to crisis” routed it to team {crisis.name}; "
        f"received by team {care.name}.",
    ]
    assert [f"<li>{line}</li>" in fragment for line in fired] == [True, True]
    assert "Rule 0" not in fragment
    assert f'<tr><th scope="row">{crisis.name}</th><td>0</td><td>2</td>' in fragment
    assert f'<tr><th scope="row">{care.name}</th><td>2</td><td>0</td>' in fragment
    assert f"Team <strong>{care.name}</strong>" in fragment
    assert f"Team <strong>{crisis.name}</strong>" in fragment
    assert f"escalated to {crisis.name}</p>" in fragment
    assert (crisis.slug in fragment, care.slug in fragment) == (False, False)


def test_a_backtest_of_an_edited_rule_replays_it_in_its_place(admin_client: Client) -> None:
    first = a_rule("First", ("kettle",), then=[{"set_priority": "low"}])
    a_rule("Second", ("recalled",), then=[{"add_labels": ["recall"]}])

    response = admin_client.post(
        reverse("routing:rule_edit", args=[first.pk]),
        {**recall_rule_data(action="backtest"), "rule-name": "First, edited"},
    )

    backtest_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    draft = cache.get(backtest_keys(backtest_id)[0])
    assert [r["name"] for r in draft["rules"]] == ["First, edited", "Second"]
    assert draft["rules"][0]["id"] == first.pk
    assert draft["rule_id"] == first.pk
    edit = admin_client.get(f"{reverse('routing:rule_edit', args=[first.pk])}?draft={backtest_id}")
    assert form_values(edit.content.decode(), "rule-builder")["rule-name"] == ["First, edited"]
    first.refresh_from_db()
    assert first.name == "First"  # nothing saved until published


def test_a_backtest_of_an_invalid_rule_is_refused_beside_the_field(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("routing:rule_new"),
        builder_data(
            "Bad", conditions=[{"kind": "regex", "text": "("}], actions=[{"kind": "stop"}], action="backtest"
        ),
    )

    assert response.status_code == 200
    assert 'id="id_cond-0-text_error">bad regular expression' in response.content.decode()


def test_an_expired_backtest_says_so(admin_client: Client) -> None:
    response = admin_client.get(reverse("routing:backtest", args=["ef" * 16]), follow=True)

    assert "That backtest has expired" in response.content.decode()
    assert admin_client.get(reverse("routing:backtest", args=["not-an-id"])).status_code == 404


# --- Versions -----------------------------------------------------------------------------------------------


def test_the_versions_page_lists_who_published_what(admin_client: Client, admin: Any) -> None:
    rulesets.rule_save(user=admin, name="Refunds", when={"keywords": ["refund"]}, then=[{"stop": True}])

    body = admin_client.get(reverse("routing:versions")).content.decode()

    assert "Added rule “Refunds”" in body
    assert "ada" in body


def changed_versions(admin: Any) -> tuple[RuleSetVersion, RuleSetVersion, dict[str, int]]:
    kept = a_rule("Kept", ("kept",))
    edited = a_rule("Edited", ("refund",))
    removed = a_rule("Removed", ("gone",))
    removed_id = removed.pk
    older = RuleSetVersion.objects.order_by("-number").first()
    rulesets.rule_save(
        user=admin,
        rule=edited,
        name="Edited again",
        when={"all": [{"keywords": ["refund", "money back"]}, {"sentiment": {"max": -0.5}}]},
        then=[{"set_priority": "urgent"}],
        enabled=False,
    )
    rulesets.rule_delete(user=admin, rule=removed)
    added = a_rule("Added", ("new",))
    rulesets.rules_reorder(user=admin, order=[edited.pk, kept.pk, added.pk], summary="Edited first")
    rulesets.intent_routes_save(user=admin, segments={"spam": segment("crisis-management")})
    rulesets.routing_settings_save(user=admin, crisis_mode=False, misdirect_threshold=0.7)
    newer = RuleSetVersion.objects.order_by("-number").first()
    return older, newer, {"kept": kept.pk, "edited": edited.pk, "removed": removed_id, "added": added.pk}


def test_the_diff_names_rules_added_removed_and_changed_field_by_field(
    admin_client: Client, admin: Any
) -> None:
    older, newer, rules = changed_versions(admin)

    response = admin_client.get(f"{reverse('routing:versions_diff')}?a={newer.number}&b={older.number}")

    body = response.content.decode()
    assert f"Version {older.number} → {newer.number}" in body
    added = body[body.index("Rules added") : body.index("Rules removed")]
    assert "Added" in added and f"rule {rules['added']}" in added
    removed = body[body.index("Rules removed") : body.index("Rules changed")]
    assert "Removed" in removed and "words: gone" in removed
    changed = body[body.index("Rules changed") : body.index("Intent map and threshold")]
    assert "Edited again" in changed
    assert (
        '<th scope="row">Name</th>\n          <td class="diff__before">Edited</td>\n'
        '          <td class="diff__after">Edited again</td>'
    ) in changed
    assert '<td class="diff__before">yes</td>\n          <td class="diff__after">no</td>' in changed
    assert '<td class="diff__before">words: refund</td>' in changed
    assert '<td class="diff__after">words: refund, money back and sentiment ≤ -0.5</td>' in changed
    assert '<td class="diff__before">priority high</td>' in changed
    assert '<td class="diff__after">priority urgent</td>' in changed
    assert '<span class="diff__plus">+        &quot;money back&quot;</span>' in changed
    assert "Kept" in changed  # moved from first to second
    assert '<th scope="row">Order</th>' in changed
    intents = body[body.index("Intent map and threshold") :]
    assert (
        '<th scope="row">Spam</th><td class="diff__before">receiving team</td>'
        '<td class="diff__after">crisis-management</td>' in intents
    )
    assert '<td class="diff__before">0.6</td><td class="diff__after">0.7</td>' in intents


def test_rolling_back_restores_rules_intent_map_and_threshold_in_a_new_version(
    admin_client: Client, admin: Any
) -> None:
    older, newer, rules = changed_versions(admin)

    response = admin_client.post(
        reverse("routing:version_rollback", args=[older.number]), {"current": newer.number}
    )

    assert response.status_code == 302
    newest = RuleSetVersion.objects.order_by("-number").first()
    assert newest.number == newer.number + 1
    assert newest.rules == older.rules
    assert newest.intent_segments == older.intent_segments
    assert newest.misdirect_threshold == older.misdirect_threshold == 0.6
    assert newest.summary == f"Rolled back to version {older.number}"
    assert [rule.as_spec() for rule in Rule.objects.all()] == older.rules
    assert Rule.objects.filter(pk=rules["removed"]).exists()  # back under its own id
    assert not Rule.objects.filter(pk=rules["added"]).exists()
    assert IntentRoute.objects.get(intent="spam").segment is None
    assert RoutingSettings.current().misdirect_threshold == 0.6
    event = DomainEvent.objects.get(verb="rule_set.rolled_back")
    assert (event.actor, event.after["to_version"]) == (admin, older.number)
    # The routing engine uses it at once.
    assert rulesets.rule_set_current().version == newest.number


def test_a_version_that_no_longer_compiles_is_not_rolled_back(admin_client: Client, admin: Any) -> None:
    gone = UserFactory(username="gone")
    a_rule("Assign", then=[{"assign_to": "gone"}])
    older = RuleSetVersion.objects.order_by("-number").first()
    rulesets.rule_delete(user=admin, rule=Rule.objects.get())
    gone.delete()
    current = RuleSetVersion.objects.order_by("-number").first()
    before = state()

    response = admin_client.post(
        reverse("routing:version_rollback", args=[older.number]), {"current": current.number}, follow=True
    )

    assert "no longer compiles" in response.content.decode()
    assert "unknown user &#x27;gone&#x27;" in response.content.decode()
    assert state() == before


def test_rolling_back_first_shows_what_would_change_and_changes_nothing(
    admin_client: Client, admin: Any
) -> None:
    older, newer, rules = changed_versions(admin)
    before = state()

    listed = admin_client.get(reverse("routing:versions")).content.decode()
    response = admin_client.get(reverse("routing:version_rollback", args=[older.number]))

    body = response.content.decode()
    rollback_url = reverse("routing:version_rollback", args=[older.number])
    assert f'<form method="post" action="{rollback_url}"' not in listed
    assert f'href="{rollback_url}">Roll back to {older.number}…</a>' in listed
    assert response.status_code == 200
    assert state() == before
    assert f"<h1>Roll back to version {older.number}?</h1>" in body
    assert f"The current version is {newer.number}." in body
    brought_back = body[body.index("Rules brought back") : body.index("Rules removed")]
    assert "Removed" in brought_back and "words: gone" in brought_back
    removed = body[body.index("Rules removed") : body.index("Rules changed")]
    assert "Added" in removed and f"rule {rules['added']}" in removed
    changed = body[body.index("Rules changed") : body.index("Intent map and threshold")]
    assert (
        f'<th scope="col">Now (version {newer.number})</th><th scope="col">After the rollback</th>' in changed
    )
    assert (
        '<td class="diff__before">Edited again</td>\n          <td class="diff__after">Edited</td>' in changed
    )
    intents = body[body.index("Intent map and threshold") :]
    assert '<td class="diff__before">0.7</td><td class="diff__after">0.6</td>' in intents
    assert f'<form method="post" action="{rollback_url}" class="page-actions">' in body
    assert f'<input type="hidden" name="current" value="{newer.number}">' in body


def test_a_rollback_post_without_the_confirmation_asks_again_and_changes_nothing(
    admin_client: Client, admin: Any
) -> None:
    older, _, _ = changed_versions(admin)
    before = state()

    response = admin_client.post(reverse("routing:version_rollback", args=[older.number]))

    assert response.status_code == 200
    assert f"<h1>Roll back to version {older.number}?</h1>" in response.content.decode()
    assert state() == before
    assert not DomainEvent.objects.filter(verb="rule_set.rolled_back").exists()


def test_a_rollback_confirmed_against_a_version_since_replaced_changes_nothing(
    admin_client: Client, admin: Any
) -> None:
    older, newer, _ = changed_versions(admin)
    rulesets.routing_settings_save(user=admin, crisis_mode=False, misdirect_threshold=0.8)
    newest = RuleSetVersion.objects.order_by("-number").first()
    before = state()

    response = admin_client.post(
        reverse("routing:version_rollback", args=[older.number]), {"current": newer.number}
    )

    body = response.content.decode()
    assert response.status_code == 409
    assert f"Version {newest.number} was published while you were reading" in body
    assert f'<input type="hidden" name="current" value="{newest.number}">' in body
    assert '<td class="diff__before">0.8</td><td class="diff__after">0.6</td>' in body
    assert state() == before


def test_the_current_version_has_nothing_to_roll_back(admin_client: Client, admin: Any) -> None:
    a_rule()
    current = RuleSetVersion.objects.order_by("-number").first()
    before = state()

    response = admin_client.post(
        reverse("routing:version_rollback", args=[current.number]), {"current": current.number}, follow=True
    )

    assert f"Version {current.number} is the current version" in response.content.decode()
    assert state() == before
