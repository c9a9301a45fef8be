"""Rule sets: the rules, the intent map and the thresholds people edit, each change published as a new
``RuleSetVersion`` (audited); the current version compiled once per process."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max

from channels.models import Channel, Segment
from foundation.events import event_record
from routing.facts import DEFAULT_INTENT_SEGMENTS, INTENTS
from routing.models import IntentRoute, RoutingSettings, Rule, RuleSetVersion
from routing.rules import CompiledRuleSet, RoutingContext, compile_rule_set, validate_rule
from teams.models import Team


def routing_context(*, intent_segments: Mapping[str, str] | None = None) -> RoutingContext:
    """What a rule may name, from the database: teams, segments and their teams, users, channels."""
    segments: dict[str, str] = {}
    segment_names: dict[str, str] = {}
    for slug, team, name in Segment.objects.values_list("slug", "team__slug", "name"):
        segments[slug], segment_names[slug] = team, name
    team_names = dict(Team.objects.values_list("slug", "name"))
    channel_names = dict(Channel.objects.values_list("slug", "handle"))
    if intent_segments is None:
        intent_segments = {i: DEFAULT_INTENT_SEGMENTS.get(i, "") for i in INTENTS}
        intent_segments.update(
            {
                r.intent: (r.segment.slug if r.segment else "")
                for r in IntentRoute.objects.select_related("segment")
            }
        )
    return RoutingContext(
        teams=frozenset(team_names),
        segments=segments,
        users=frozenset(get_user_model().objects.filter(is_active=True).values_list("username", flat=True)),
        channels=frozenset(channel_names),
        intent_segments=dict(intent_segments),
        misdirect_threshold=RoutingSettings.current().misdirect_threshold,
        team_names=team_names,
        segment_names=segment_names,
        channel_names=channel_names,
    )


def rule_set_publish(*, user: Any = None, summary: str = "") -> RuleSetVersion:
    """Snapshot the rules, the intent map and the threshold as a new version, after compiling them.

    Raises ``routing.rules.RuleError`` (nothing is published) when the rules do not compile.
    """
    with transaction.atomic():
        # Serialise publishers: version numbers are taken from the row count under a table lock.
        RoutingSettings.current()
        RoutingSettings.objects.select_for_update().get(pk=1)
        context = routing_context()
        specs = [rule.as_spec() for rule in Rule.objects.all()]
        compile_rule_set(specs, context)
        number = (RuleSetVersion.objects.aggregate(n=Max("number"))["n"] or 0) + 1
        version = RuleSetVersion.objects.create(
            number=number,
            rules=specs,
            intent_segments=dict(context.intent_segments),
            misdirect_threshold=context.misdirect_threshold,
            summary=summary[:200],
            published_by=user if user is not None and user.is_authenticated else None,
        )
        _audit(user, "rule_set.published", version, after={"number": number, "summary": summary})
    return version


def rule_save(
    *,
    user: Any,
    name: str,
    when: Any,
    then: Any,
    enabled: bool = True,
    position: int | None = None,
    rule: Rule | None = None,
) -> Rule:
    """Create or change a rule and publish a new rule-set version.

    A rule that does not compile raises ``routing.rules.RuleError`` naming the part that is wrong, and
    nothing is saved.
    """
    spec = {"id": rule.pk if rule else 0, "name": name, "enabled": enabled, "when": when, "then": then}
    validate_rule(spec, routing_context())
    with transaction.atomic():
        before = rule.as_spec() if rule else {}
        if rule is None:
            if position is None:
                position = (Rule.objects.aggregate(p=Max("position"))["p"] or 0) + 10
            rule = Rule(created_by=user if user and user.is_authenticated else None)
        rule.name, rule.enabled, rule.when, rule.then = name, enabled, when, then
        if position is not None:
            rule.position = position
        rule.save()
        _audit(user, "rule.saved", rule, before=before, after=rule.as_spec())
        rule_set_publish(user=user, summary=f"{'Changed' if before else 'Added'} rule “{name}”")
    return rule


def rule_delete(*, user: Any, rule: Rule) -> None:
    with transaction.atomic():
        before = rule.as_spec()
        _audit(user, "rule.deleted", rule, before=before)
        rule.delete()
        rule_set_publish(user=user, summary=f"Deleted rule “{before['name']}”")


def rules_reorder(*, user: Any, order: Sequence[int], summary: str) -> RuleSetVersion:
    """Put the rules in ``order`` (rule ids, all of them) and publish one new version.

    Raises ``ValueError`` when ``order`` is not exactly the rules there are (someone added or deleted one
    meanwhile): nothing is changed.
    """
    with transaction.atomic():
        rules = {rule.pk: rule for rule in Rule.objects.select_for_update()}
        if sorted(order) != sorted(rules):
            raise ValueError("The rules changed meanwhile; reload the page and try again.")
        before = [rule.pk for rule in sorted(rules.values(), key=lambda r: (r.position, r.pk))]
        for index, rule_id in enumerate(order):
            rules[rule_id].position = (index + 1) * 10
        Rule.objects.bulk_update(rules.values(), ["position"])
        version = rule_set_publish(user=user, summary=summary)
        _audit(user, "rules.reordered", version, before={"order": before}, after={"order": list(order)})
    return version


def intent_routes_save(*, user: Any, segments: Mapping[str, Segment | None]) -> RuleSetVersion | None:
    """Give intents new owning segments (``None``: nobody owns it) and publish a version; None when nothing
    changed."""
    with transaction.atomic():
        routes = {route.intent: route for route in IntentRoute.objects.select_for_update()}
        after: dict[str, str] = {}
        for intent, segment in segments.items():
            if intent not in INTENTS:
                raise ValueError(f"unknown intent {intent!r}")
            route = routes.get(intent) or IntentRoute(intent=intent)
            if route.pk is None:  # not seeded (a test database): the default map applies
                old = DEFAULT_INTENT_SEGMENTS.get(intent, "")
            else:
                old = route.segment.slug if route.segment_id else ""
            new = segment.slug if segment is not None else ""
            if old == new:
                continue
            route.segment = segment
            route.save()
            after[intent] = new
            _audit(user, "intent_route.saved", route, before={"segment": old}, after={"segment": new})
        if not after:
            return None
        changes = ", ".join(f"{i.replace('_', ' ')} → {after[i] or 'receiving team'}" for i in after)
        return rule_set_publish(user=user, summary=f"Intent map: {changes}")


def routing_settings_save(
    *, user: Any, crisis_mode: bool, misdirect_threshold: float
) -> RuleSetVersion | None:
    """Switch crisis mode and set the misdirect threshold; publish a version. None when nothing changed."""
    if not 0 <= misdirect_threshold <= 1:
        raise ValueError("The misdirect threshold is a confidence between 0 and 1.")
    with transaction.atomic():
        RoutingSettings.current()
        current = RoutingSettings.objects.select_for_update().get(pk=1)
        before = {"crisis_mode": current.crisis_mode, "misdirect_threshold": current.misdirect_threshold}
        after = {"crisis_mode": crisis_mode, "misdirect_threshold": misdirect_threshold}
        if before == after:
            return None
        current.crisis_mode, current.misdirect_threshold = crisis_mode, misdirect_threshold
        current.save()
        _audit(user, "routing_settings.saved", current, before=before, after=after)
        said = []
        if before["crisis_mode"] != crisis_mode:
            said.append(f"crisis mode {'on' if crisis_mode else 'off'}")
        if before["misdirect_threshold"] != misdirect_threshold:
            said.append(f"misdirect threshold {before['misdirect_threshold']:g} → {misdirect_threshold:g}")
        return rule_set_publish(user=user, summary="Routing settings: " + ", ".join(said))


SEGMENT_FIELDS = ("follow", "create", "engage", "team", "acceptance_window_minutes", "default_poll_seconds")


def segment_update(*, user: Any, segment: Segment, changes: Mapping[str, Any]) -> Segment:
    """Change a segment's playbook, owning team or cadences (audited). A new owning team publishes a version:
    published rule sets route by the segment-to-team map they were compiled with."""
    unknown = set(changes) - set(SEGMENT_FIELDS)
    if unknown:
        raise ValueError(f"not a segment setting: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        segment = Segment.objects.select_for_update().select_related("team").get(pk=segment.pk)

        def shown(name: str) -> Any:
            value = getattr(segment, name)
            return value.slug if isinstance(value, Team) else value

        before = {name: shown(name) for name in changes}
        for name, value in changes.items():
            setattr(segment, name, value)
        after = {name: shown(name) for name in changes}
        changed = [name for name in changes if before[name] != after[name]]
        if not changed:
            return segment
        segment.save(update_fields=changed)
        _audit(
            user,
            "segment.saved",
            segment,
            before={n: before[n] for n in changed},
            after={n: after[n] for n in changed},
        )
        if "team" in changed:
            rule_set_publish(user=user, summary=f"{segment.name} now owned by team {after['team']}")
    return segment


def rule_set_rollback(*, user: Any, version: RuleSetVersion) -> RuleSetVersion:
    """Publish a new version equal to ``version``: its rules (same ids, same order), intent map and threshold
    become current again. Raises ``RuleError`` (nothing changes) when they no longer compile, e.g. a team they
    name was deleted since."""
    with transaction.atomic():
        RoutingSettings.current()
        current = RoutingSettings.objects.select_for_update().get(pk=1)
        specs = list(version.rules)
        before = {
            "rules": [rule.pk for rule in Rule.objects.all()],
            "misdirect_threshold": current.misdirect_threshold,
        }
        keep = [spec["id"] for spec in specs]
        Rule.objects.exclude(pk__in=keep).delete()
        existing = Rule.objects.in_bulk(keep)
        for index, spec in enumerate(specs):
            # A rule deleted since comes back under its old id, so old decisions' "rules fired" still name it.
            rule = existing.get(spec["id"]) or Rule(pk=spec["id"], created_by=_person(user))
            rule.position = (index + 1) * 10
            rule.name = spec.get("name", "")
            rule.enabled = spec.get("enabled", True)
            rule.when, rule.then = spec["when"], spec["then"]
            rule.save()
        segments = {segment.slug: segment for segment in Segment.objects.all()}
        for intent in INTENTS:
            slug = version.intent_segments.get(intent, DEFAULT_INTENT_SEGMENTS.get(intent, ""))
            IntentRoute.objects.update_or_create(intent=intent, defaults={"segment": segments.get(slug)})
        current.misdirect_threshold = version.misdirect_threshold
        current.save(update_fields=["misdirect_threshold", "updated_at"])
        published = rule_set_publish(user=user, summary=f"Rolled back to version {version.number}")
        _audit(
            user,
            "rule_set.rolled_back",
            published,
            before=before,
            after={
                "to_version": version.number,
                "rules": keep,
                "misdirect_threshold": version.misdirect_threshold,
            },
        )
    return published


def _person(user: Any) -> Any:
    return user if user is not None and user.is_authenticated else None


_compiled_lock = threading.Lock()


_compiled: dict[int, CompiledRuleSet] = {}  # by RuleSetVersion pk: a published version never changes


def rule_set_current() -> CompiledRuleSet:
    """The newest published rule set, compiled once per process per version (version 1 made on first use)."""
    newest = RuleSetVersion.objects.order_by("-number").values_list("pk", flat=True).first()
    if newest is None:
        newest = rule_set_publish(summary="First version").pk
    with _compiled_lock:
        compiled = _compiled.get(newest)
    if compiled is None:
        compiled = rule_set_compile(version=RuleSetVersion.objects.get(pk=newest))
        with _compiled_lock:
            _compiled.clear()
            _compiled[newest] = compiled
    return compiled


def rule_set_compile(*, version: RuleSetVersion) -> CompiledRuleSet:
    """Compile a published version. Users and channels it names are not checked again: one deleted since
    publishing must not stop routing (an assignment to a missing user is simply not made). Nor are its
    labels refused: one that is not a label is left out."""
    context = routing_context(intent_segments=version.intent_segments)
    context = replace(
        context,
        misdirect_threshold=version.misdirect_threshold,
        users=None,
        channels=None,
        labels_checked=False,  # one published before labels were checked leaves its bad labels out
    )
    return compile_rule_set(list(version.rules), context, version=version.number)


def _audit(user: Any, verb: str, obj: Any, *, before: dict | None = None, after: dict | None = None) -> None:
    event_record(actor=user, verb=verb, obj=obj, before=before, after=after)


def compiled_forget() -> None:
    """Drop this process's compiled rule set (see ``routing.pipeline.caches_forget``)."""
    with _compiled_lock:
        _compiled.clear()
