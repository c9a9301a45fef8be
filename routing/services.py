"""Routing services: load a batch of mentions' facts, decide with the published rules and the current
classifier, apply the decisions; publish rule-set versions; learn from agents' corrections.

The engine (``routing.engine.decide_many``) is pure; everything that touches the database is here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Max
from django.db.models.fields.json import KT
from django.utils import timezone

from channels.connectors.base import Post
from channels.models import Channel, Segment
from foundation.events import event_record
from foundation.live import event_publish
from foundation.models import DomainEvent
from inbox.models import Author, Mention, MentionChannel
from routing.classifier import IntentClassifier
from routing.engine import decide_many
from routing.facts import DEFAULT_INTENT_SEGMENTS, INTENTS, PRIORITIES, Decision, Facts
from routing.language import detect_language
from routing.models import (
    Correction,
    Escalation,
    IntentRoute,
    ModelVersion,
    RoutingSettings,
    Rule,
    RuleSetVersion,
    SentimentCorrection,
    SentimentState,
)
from routing.rules import CompiledRuleSet, RoutingContext, compile_rule_set, validate_rule
from routing.sentiment import LABELS, SentimentAdjustment, SentimentModel, shipped_model
from teams.models import Membership, Team
from teams.roles import team_leaders, user_leads_team

logger = logging.getLogger(__name__)

# Mentions routed per statement; the route task gets one ingest page at a time, usually 100.
ROUTE_BATCH = 500
# The sentiment adjustment learns from the newest this many corrected posts (one label per post: the last).
SENTIMENT_CORRECTIONS_MAX = 5000


# --- Rule sets ----------------------------------------------------------------------------------------------


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


def caches_forget() -> None:
    """Drop this process's compiled rule set and loaded classifier (they are keyed by row id, which a
    database recreated from scratch reuses: the benchmark runner gives each area a fresh one)."""
    global _classifier
    with _compiled_lock:
        _compiled.clear()
    with _classifier_lock:
        _classifier = None


# --- Classifier ---------------------------------------------------------------------------------------------

_classifier_lock = threading.Lock()
# ((active ModelVersion pk, SentimentState pk), classifier with its owner model); 0: none yet
_classifier: tuple[tuple[int, int], IntentClassifier] | None = None


def classifier_current() -> IntentClassifier:
    """The active model version (intent model and owner model, ``routing.learning``) with the newest
    sentiment adjustment, loaded once per process per pair of versions; the seed intent model and the
    untrained owner model (the intent map decides) before any training."""
    global _classifier
    active = ModelVersion.objects.filter(is_active=True).values_list("pk", flat=True).first() or 0
    newest_sentiment = SentimentState.objects.order_by("-version").values_list("pk", flat=True).first() or 0
    key = (active, newest_sentiment)
    with _classifier_lock:
        if _classifier is not None and _classifier[0] == key:
            return _classifier[1]
    from routing.learning import trained_load

    trained = trained_load(ModelVersion.objects.get(pk=active) if active else None)
    loaded = trained.intent
    loaded.owner_model = trained.owner
    loaded.sentiment = sentiment_model_current(state_id=newest_sentiment)
    with _classifier_lock:
        _classifier = (key, loaded)
    return loaded


def sentiment_model_current(*, state_id: int | None = None) -> SentimentModel:
    """The shipped sentiment model with the organisation's newest adjustment (or the given state's)."""
    if state_id is None:
        state_id = SentimentState.objects.order_by("-version").values_list("pk", flat=True).first() or 0
    if not state_id:
        return shipped_model()
    state = SentimentState.objects.get(pk=state_id)
    return shipped_model().adjusted(SentimentAdjustment.load(bytes(state.state)))


def sentiment_train() -> SentimentState | None:
    """Train the sentiment adjustment again from the stored corrections when there is a new one; store it as
    a new version. Trained from all of them each time (the newest SENTIMENT_CORRECTIONS_MAX posts, each with
    its last label), so the result does not depend on how corrections were batched. None: nothing new."""
    newest_id = SentimentCorrection.objects.aggregate(n=Max("id"))["n"]
    current = SentimentState.objects.order_by("-version").first()
    if newest_id is None or (current is not None and current.last_correction_id >= newest_id):
        return None
    latest: dict[Any, tuple[int, str, str]] = {}
    for pk, mention_id, text, label in SentimentCorrection.objects.order_by("id").values_list(
        "id", "mention_id", "text", "label_after"
    ):
        latest[mention_id if mention_id is not None else f"deleted-{pk}"] = (pk, text, label)
    kept = sorted(latest.values())[-SENTIMENT_CORRECTIONS_MAX:]
    adjustment = shipped_model().train_adjustment([(text, label) for _, text, label in kept])
    with transaction.atomic():
        state = SentimentState.objects.create(
            version=(current.version if current else 0) + 1,
            state=adjustment.dump(),
            corrections=adjustment.corrections,
            last_correction_id=newest_id,
        )
    logger.info("sentiment v%s learned from %s corrections", state.version, adjustment.corrections)
    return state


def classifier_train(*, reason: str = "corrections", force: bool = False) -> ModelVersion | None:
    """Train the routing models again from every stored example (``routing.learning.models_train``); the new
    version becomes active when its backtest says it is not worse. None when nothing changed."""
    from routing.learning import models_train

    return models_train(reason=reason, force=force)


# --- Routing ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteResult:
    routed: int
    escalated: int
    skipped: int  # already routed, or gone


def mentions_route(*, mention_ids: Iterable[int]) -> RouteResult:
    """Classify, decide and apply for mentions not routed yet. Safe to repeat: routed ones are skipped."""
    ids = sorted(set(mention_ids))
    totals = RouteResult(0, 0, 0)
    for start in range(0, len(ids), ROUTE_BATCH):
        chunk = ids[start : start + ROUTE_BATCH]
        loaded = mentions_facts(mention_ids=chunk)
        if not loaded:
            totals = RouteResult(totals.routed, totals.escalated, totals.skipped + len(chunk))
            continue
        rule_set = rule_set_current()
        decisions = decide_many([facts for _, facts in loaded], rule_set, classifier_current())
        result = decisions_apply(
            decided=[(mention_id, facts, d) for (mention_id, facts), d in zip(loaded, decisions, strict=True)]
        )
        totals = RouteResult(
            totals.routed + result.routed,
            totals.escalated + result.escalated,
            totals.skipped + len(chunk) - result.routed,
        )
    return totals


@dataclass(frozen=True, slots=True)
class RoutedPost:
    """A post decided before it is stored: its facts, the decision, and the values of its routing columns."""

    facts: Facts
    decision: Decision
    columns: tuple  # DecisionColumns order
    team_ids: Mapping[str, int]  # the batch's team slug -> id map (one dict for the batch), for the follow-up


def posts_decide(*, channel: Channel, posts: Sequence[Post]) -> list[RoutedPost]:
    """Classify and decide posts received on ``channel`` before they are stored, from what the page carries
    (the ingest stores the decision with the post: no second write). Authors' tags come from the database."""
    if not posts:
        return []
    slug, segment_slug, team_slug = _channel_facts({channel.pk})[channel.pk]
    tagged: dict[tuple[str, str], list[str]] = {}
    for network in {post.network for post in posts}:
        author_ids = list({post.author.external_id for post in posts if post.network == network})
        tagged.update(
            ((network, external_id), tags)
            for external_id, tags in Author.objects.filter(network=network, external_id__in=author_ids)
            .exclude(tags=[])
            .values_list("external_id", "tags")
        )
    crisis_mode = RoutingSettings.current().crisis_mode
    facts = []
    for post in posts:
        raw = post.raw if isinstance(post.raw, Mapping) else {}
        # The network's own tag first; a top-level raw "lang"/"language" is what imports and the API carry.
        language = post.language or raw.get("lang") or raw.get("language") or ""
        facts.append(
            Facts(
                text=post.text,
                network=post.network,
                kind=post.kind,
                channel=slug,
                segment=segment_slug,
                team=team_slug,
                language=_language(language if isinstance(language, str) else "", post.text),
                author_handle=post.author.handle,
                author_followers=post.author.follower_count,
                author_verified=post.author.is_verified,
                author_tags=frozenset(tagged.get((post.network, post.author.external_id), ())),
                created_at=post.created_at,
                crisis_mode=crisis_mode,
            )
        )
    decisions = decide_many(facts, rule_set_current(), classifier_current())
    columns = DecisionColumns.for_decisions(decisions)
    return [RoutedPost(f, d, columns(d), columns.team_ids) for f, d in zip(facts, decisions, strict=True)]


def posts_followup(*, routed: Mapping[int, RoutedPost]) -> int:
    """``decisions_followup`` for posts the ingest stored with their decisions (mention id -> routed post)."""
    if not routed:
        return 0
    return decisions_followup(
        decided=[(m, r.facts, r.decision) for m, r in sorted(routed.items())],
        team_ids=next(iter(routed.values())).team_ids,
        now=timezone.now(),
    )


def _language(given: str, text: str) -> str:
    """The network's language tag as a bare language code, or a guess from the text when it gave none."""
    language = given.split("-")[0].lower()
    if not language or language in UNKNOWN_LANGUAGE_TAGS:
        return detect_language(text)
    return language


# Tags networks use for "no language": undetermined, no linguistic content, and X's pseudo-codes (quote
# only, media only, hashtags only, cashtags only, mentions only, art/emoji only).
UNKNOWN_LANGUAGE_TAGS = frozenset({"und", "zxx", "qme", "qst", "qht", "qam", "qct", "art"})


def mentions_unrouted(*, limit: int = 5000, older_than: timedelta = timedelta(seconds=60)) -> list[int]:
    """Mentions stored a while ago and still not routed (their route task was lost): the sweeper's work."""
    return list(
        Mention.objects.filter(routed_at=None, received_at__lt=timezone.now() - older_than)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )


def mentions_facts(
    *, mention_ids: Sequence[int], routed: bool = False, crisis_mode: bool | None = None
) -> list[tuple[int, Facts]]:
    """Facts for the unrouted mentions among ``mention_ids`` (``routed``: the routed ones), by id."""
    rows = list(
        Mention.objects.filter(id__in=mention_ids, routed_at__isnull=not routed)
        .order_by("id")
        .annotate(lang_x=KT("raw__lang"), lang_mastodon=KT("raw__language"))
        .values_list(
            "id",
            "text",
            "network",
            "kind",
            "created_at",
            "language",
            "lang_x",
            "lang_mastodon",
            "author__handle",
            "author__follower_count",
            "author__is_verified",
            "author__tags",
        )
    )
    if not rows:
        return []
    receiving = _receiving_channels([row[0] for row in rows])
    channels = _channel_facts({channel_id for channel_id in receiving.values()})
    if crisis_mode is None:
        crisis_mode = RoutingSettings.current().crisis_mode
    loaded = []
    for row in rows:
        (
            pk,
            text,
            network,
            kind,
            created_at,
            tagged,
            lang_x,
            lang_mastodon,
            handle,
            followers,
            verified,
            tags,
        ) = row
        slug, segment, team = channels.get(receiving.get(pk), ("", "", ""))
        language = _language(tagged or lang_x or lang_mastodon or "", text)
        loaded.append(
            (
                pk,
                Facts(
                    text=text,
                    network=network,
                    kind=kind,
                    channel=slug,
                    segment=segment,
                    team=team,
                    language=language,
                    author_handle=handle,
                    author_followers=followers,
                    author_verified=verified,
                    author_tags=frozenset(tags or ()),
                    created_at=created_at,
                    crisis_mode=crisis_mode,
                ),
            )
        )
    return loaded


def _receiving_channels(mention_ids: Sequence[int]) -> dict[int, int]:
    """The first channel each mention arrived on: the account whose team escalates it."""
    first: dict[int, int] = {}
    for mention_id, channel_id in (
        MentionChannel.objects.filter(mention_id__in=mention_ids)
        .order_by("id")
        .values_list("mention_id", "channel_id")
    ):
        first.setdefault(mention_id, channel_id)
    return first


def _channel_facts(channel_ids: set[int]) -> dict[int, tuple[str, str, str]]:
    """Channel id -> (slug, segment slug, owning team slug)."""
    return {
        pk: (slug, segment, override or team)
        for pk, slug, segment, team, override in Channel.objects.filter(id__in=channel_ids).values_list(
            "id", "slug", "segment__slug", "segment__team__slug", "team_override__slug"
        )
    }


@dataclass(frozen=True)
class ApplyResult:
    routed: int
    escalated: int


def decisions_apply(*, decided: Sequence[tuple[int, Facts, Decision]]) -> ApplyResult:
    """Store decisions on their mentions (only those not routed yet), then do what they ask for (see
    ``decisions_followup``)."""
    if not decided:
        return ApplyResult(0, 0)
    now = timezone.now()
    columns = DecisionColumns.for_decisions([d for _, _, d in decided])
    with transaction.atomic():
        applied = set(_mentions_update([(m, *columns(d)) for m, _, d in decided], now=now))
        escalated = decisions_followup(
            decided=[item for item in decided if item[0] in applied], team_ids=columns.team_ids, now=now
        )
    return ApplyResult(routed=len(applied), escalated=escalated)


class DecisionColumns:
    """Turns decisions into the values of a mention's routing columns, with team and user ids looked up once
    per batch."""

    def __init__(self, team_ids: Mapping[str, int], user_ids: Mapping[str, int]) -> None:
        self.team_ids = team_ids
        self.user_ids = user_ids

    @classmethod
    def for_decisions(cls, decisions: Iterable[Decision]) -> DecisionColumns:
        assignees = {d.assignee for d in decisions if d.assignee}
        user_ids = (
            dict(get_user_model().objects.filter(username__in=assignees).values_list("username", "id"))
            if assignees
            else {}
        )
        return cls(dict(Team.objects.values_list("slug", "id")), user_ids)

    def __call__(self, d: Decision) -> tuple:
        """(team id, priority, intent, confidence, sentiment, label, misdirected, labels, approval, assignee
        id, decision record)."""
        return (
            self.team_ids.get(d.team),
            PRIORITIES.get(d.priority, PRIORITIES["normal"]),
            d.intent,
            d.confidence,
            d.sentiment,
            d.sentiment_label,
            d.is_misdirected,
            list(d.labels),
            d.require_approval,
            self.user_ids.get(d.assignee),
            decision_record(d),
        )


def decisions_followup(
    *, decided: Sequence[tuple[int, Facts, Decision]], team_ids: Mapping[str, int], now: Any
) -> int:
    """What stored decisions ask for: escalations, auto-assignment, audit events, notifications after commit,
    one live event for the batch. Runs in the caller's transaction; returns how many were escalated."""
    if not decided:
        return 0
    escalations = _escalations_open(decided, team_ids=team_ids, now=now)
    _auto_assign([(m, team_ids.get(d.team)) for m, _, d in decided if not d.assignee])
    # Routine routing is recorded on the mention itself (its decision, versions and routed_at); the audit
    # log gets what moved a post between teams or what a rule made people do.
    mention_type = ContentType.objects.get_for_model(Mention)
    DomainEvent.objects.bulk_create(
        DomainEvent(
            verb="mention.routed",
            object_type=mention_type,
            object_id=str(mention_id),
            object_repr=f"mention {mention_id}",
            after={
                "team": d.team,
                "intent": d.intent,
                "priority": d.priority,
                "escalated_to": d.escalate_to,
                "rules_fired": list(d.rules_fired),
                "rule_set_version": d.rule_set_version,
                "model_version": d.model_version,
            },
            created_at=now,
        )
        for mention_id, _, d in decided
        if d.escalate_to or d.rules_fired
    )
    notifications = [(m, n.kind, n.target) for m, _, d in decided for n in d.notifications]
    if notifications:
        from routing.tasks import notification_send_task

        for mention_id, kind, target in notifications:
            transaction.on_commit(
                lambda m=mention_id, k=kind, t=target: notification_send_task.delay(m, k, t)
            )
    ids = sorted(m for m, _, _ in decided)
    # Team ids, as every live event names them: the event stream sends each browser its teams' events. The
    # receiving teams too: a post escalated away shows up in their "Sent away" queue.
    teams = sorted(
        {team_ids[d.team] for _, _, d in decided if d.team in team_ids}
        | {team_ids[f.team] for _, f, _ in decided if f.team in team_ids}
    )
    transaction.on_commit(
        lambda: event_publish("mentions.routed", {"ids": ids, "teams": teams, "escalated": escalations})
    )
    return len(escalations)


def decision_record(d: Decision) -> dict[str, Any]:
    """What a mention keeps of its decision, for its detail page and the API."""
    return {
        "segment": d.segment,
        "team": d.team,
        "intent": d.intent,
        "confidence": round(d.confidence, 4),
        "sentiment": round(d.sentiment, 4),
        "priority": d.priority,
        "labels": list(d.labels),
        "is_misdirected": d.is_misdirected,
        "escalate_to": d.escalate_to,
        "escalation_reason": d.escalation_reason,
        "assignee": d.assignee,
        "require_approval": d.require_approval,
        "rules_fired": list(d.rules_fired),
        "explanation": list(d.explanation),
        "rule_set_version": d.rule_set_version,
        "model_version": d.model_version,
        "owner_source": d.owner_source,
        "needs_decision": d.needs_decision,
        # The owner model's likeliest team and its confidence (none without an owner model).
        **(
            {"owner_team": d.extra["owner_team"], "owner_confidence": round(d.extra["owner_confidence"], 4)}
            if "owner_team" in d.extra
            else {}
        ),
    }


def _mentions_update(rows: list[tuple], *, now: Any) -> list[int]:
    # rows: (mention id, *DecisionColumns values)
    """Write the decisions of mentions still unrouted; returns the ids written."""
    if connection.vendor == "postgresql":
        from psycopg2.extras import Json, execute_values

        with connection.cursor() as cursor:
            written = execute_values(
                cursor.cursor,
                """
                UPDATE inbox_mention m SET
                    team_id = COALESCE(v.team_id, m.team_id), priority = v.priority, intent = v.intent,
                    intent_confidence = v.confidence, sentiment = v.sentiment, sentiment_label = v.label,
                    is_misdirected = v.misdirected, labels = v.labels, requires_approval = v.approval,
                    assignee_id = COALESCE(v.assignee_id, m.assignee_id), decision = v.decision,
                    routed_at = v.routed_at
                FROM (VALUES %s) AS v (id, team_id, priority, intent, confidence, sentiment, label,
                                       misdirected, labels, approval, assignee_id, decision, routed_at)
                WHERE m.id = v.id AND m.routed_at IS NULL
                RETURNING m.id
                """,
                [
                    (
                        pk,
                        team,
                        prio,
                        intent,
                        conf,
                        sent,
                        label,
                        mis,
                        Json(labels),
                        appr,
                        assignee,
                        Json(dec),
                        now,
                    )
                    for pk, team, prio, intent, conf, sent, label, mis, labels, appr, assignee, dec in rows
                ],
                template="(%s::bigint, %s::bigint, %s::smallint, %s, %s::float8, %s::float8, %s, "
                "%s::boolean, %s::jsonb, %s::boolean, %s::integer, %s::jsonb, %s::timestamptz)",
                fetch=True,
                page_size=len(rows),
            )
        return sorted(row[0] for row in written)
    written = []
    for pk, team, prio, intent, conf, sent, label, mis, labels, appr, assignee, dec in rows:
        fields: dict[str, Any] = {
            "priority": prio,
            "intent": intent,
            "intent_confidence": conf,
            "sentiment": sent,
            "sentiment_label": label,
            "is_misdirected": mis,
            "labels": labels,
            "requires_approval": appr,
            "decision": dec,
            "routed_at": now,
        }
        if team is not None:
            fields["team_id"] = team
        if assignee is not None:
            fields["assignee_id"] = assignee
        if Mention.objects.filter(pk=pk, routed_at=None).update(**fields):
            written.append(pk)
    return written


def _escalations_open(
    decided: Sequence[tuple[int, Facts, Decision]], *, team_ids: Mapping[str, int], now: Any
) -> list[int]:
    """One pending escalation per mention whose decision escalates it; returns their mention ids."""
    windows = dict(Segment.objects.values_list("team_id", "acceptance_window_minutes"))
    wanted = []
    for mention_id, facts, d in decided:
        to_team = team_ids.get(d.escalate_to)
        from_team = team_ids.get(facts.team)
        if not d.escalate_to or to_team is None or from_team is None or to_team == from_team:
            continue
        wanted.append(
            Escalation(
                mention_id=mention_id,
                from_team_id=from_team,
                to_team_id=to_team,
                reason=d.escalation_reason or "Escalated by routing.",
                created_at=now,
                due_at=now + timedelta(minutes=windows.get(to_team, 60)),
            )
        )
    # The partial unique constraint keeps a mention from having two open escalations.
    Escalation.objects.bulk_create(wanted, ignore_conflicts=True)
    return [e.mention_id for e in wanted]


def _auto_assign(routed: Sequence[tuple[int, int | None]]) -> None:
    """Teams that assign automatically get their new mentions handed to available people now."""
    from teams.assignment import mentions_auto_assign

    team_ids = {team_id for _, team_id in routed if team_id is not None}
    if team_ids:
        mentions_auto_assign(mention_ids=[m for m, t in routed if t is not None], team_ids=sorted(team_ids))


def _audit(user: Any, verb: str, obj: Any, *, before: dict | None = None, after: dict | None = None) -> None:
    event_record(actor=user, verb=verb, obj=obj, before=before, after=after)


# --- Escalation lifecycle -----------------------------------------------------------------------------------


class RoutingActionError(ValueError):
    """An action that cannot be done in the object's state, or by this user; the message says why."""


def _user_in_team(user: Any, team_id: int) -> bool:
    from teams.roles import user_is_admin

    return user_is_admin(user) or Membership.objects.filter(user=user, team_id=team_id).exists()


def escalation_accept(*, escalation: Escalation, user: Any) -> Escalation:
    """The owning team takes the post."""
    if not _user_in_team(user, escalation.to_team_id):
        raise RoutingActionError("Only members of the team it was escalated to can accept it.")
    with transaction.atomic():
        escalation = Escalation.objects.select_for_update().get(pk=escalation.pk)
        if escalation.state not in (Escalation.State.PENDING, Escalation.State.ESCALATED_TO_LEAD):
            raise RoutingActionError(f"This escalation is already {escalation.get_state_display().lower()}.")
        before = {"state": escalation.state}
        escalation.state = Escalation.State.ACCEPTED
        escalation.decided_at = timezone.now()
        escalation.decided_by = user
        escalation.save(update_fields=["state", "decided_at", "decided_by"])
        Mention.objects.filter(pk=escalation.mention_id).update(team_id=escalation.to_team_id)
        _audit(user, "escalation.accepted", escalation, before=before, after={"state": escalation.state})
        _publish_after_commit("escalation.accepted", escalation, actor=getattr(user, "username", ""))
    return escalation


def escalation_bounce(*, escalation: Escalation, user: Any, reason: str) -> Escalation:
    """The owning team hands the post back to the team that received it, saying why."""
    reason = (reason or "").strip()
    if not reason:
        raise RoutingActionError("Say why the post is bounced back: the receiving team reads it.")
    if not _user_in_team(user, escalation.to_team_id):
        raise RoutingActionError("Only members of the team it was escalated to can bounce it back.")
    with transaction.atomic():
        escalation = Escalation.objects.select_for_update().select_related("mention").get(pk=escalation.pk)
        if escalation.state not in (Escalation.State.PENDING, Escalation.State.ESCALATED_TO_LEAD):
            raise RoutingActionError(f"This escalation is already {escalation.get_state_display().lower()}.")
        before = {"state": escalation.state}
        escalation.state = Escalation.State.BOUNCED
        escalation.bounce_reason = reason[:2000]
        escalation.decided_at = timezone.now()
        escalation.decided_by = user
        escalation.save(update_fields=["state", "bounce_reason", "decided_at", "decided_by"])
        Mention.objects.filter(pk=escalation.mention_id).update(
            team_id=escalation.from_team_id, is_misdirected=False
        )
        # A bounce says "not ours", not what it is: kept as a correction without an intent to learn (the
        # owner model learns it from the escalation: evidence against the team that bounced it).
        Correction.objects.create(
            kind=Correction.Kind.BOUNCE,
            mention_id=escalation.mention_id,
            user=user,
            text=escalation.mention.text,
            intent_before=escalation.mention.intent,
            team_before_id=escalation.to_team_id,
            team_after_id=escalation.from_team_id,
        )
        _audit(
            user,
            "escalation.bounced",
            escalation,
            before=before,
            after={"state": escalation.state, "reason": reason},
        )
        _publish_after_commit("escalation.bounced", escalation, actor=getattr(user, "username", ""))
    return escalation


def escalations_overdue_raise(*, now: Any = None) -> list[int]:
    """Pending escalations past their acceptance window go to the owning team's lead. Safe to repeat."""
    now = now or timezone.now()
    raised = []
    with transaction.atomic():
        overdue = list(
            Escalation.objects.select_for_update(skip_locked=True)
            .filter(state=Escalation.State.PENDING, due_at__lte=now)
            .order_by("due_at")[:500]
        )
        for escalation in overdue:
            escalation.state = Escalation.State.ESCALATED_TO_LEAD
            escalation.escalated_to_lead_at = now
            escalation.save(update_fields=["state", "escalated_to_lead_at"])
            leaders = team_leaders(team_id=escalation.to_team_id)  # a team without a lead: the admins
            leads = [user.get_username() for user in leaders.users]
            _audit(
                None,
                "escalation.to_lead",
                escalation,
                before={"state": Escalation.State.PENDING},
                after={"state": escalation.state, "leads": leads, "admins_stand_in": leaders.admins_stand_in},
            )
            _publish_after_commit("escalation.to_lead", escalation, leads=leads)
            raised.append(escalation.pk)
    return raised


def _publish_after_commit(kind: str, escalation: Escalation, **extra: Any) -> None:
    payload = {
        "escalation": escalation.pk,
        "mention": escalation.mention_id,
        "ids": [escalation.mention_id],
        "teams": sorted({escalation.from_team_id, escalation.to_team_id}),
        "from_team": escalation.from_team_id,
        "to_team": escalation.to_team_id,
        "state": escalation.state,
        **extra,
    }
    transaction.on_commit(lambda: event_publish(kind, payload))


# --- Corrections --------------------------------------------------------------------------------------------


def mention_reroute(
    *, mention: Mention, user: Any, team: Team | None = None, intent: str = "", reason: str = ""
) -> Mention:
    """An agent moves a mention to another team and/or corrects its intent.

    The correction is stored and the classifier learns from it in the background. With only an intent, the
    team follows the intent map; with only a team, the intent to learn is the one intent that team's
    segment owns, when there is exactly one.
    """
    if intent and intent not in INTENTS:
        raise RoutingActionError(f"Unknown intent {intent!r}; expected one of {', '.join(INTENTS)}.")
    if team is None and not intent:
        raise RoutingActionError("Choose a team or an intent.")
    if mention.team_id is not None and not _user_in_team(user, mention.team_id):
        raise RoutingActionError("Only members of the mention's team can re-route it.")
    version = RuleSetVersion.objects.order_by("-number").first()
    intent_segments = version.intent_segments if version else routing_context().intent_segments
    team_of_segment = dict(Segment.objects.values_list("slug", "team_id"))
    if team is None:
        segment = intent_segments.get(intent, "")
        team_id = team_of_segment.get(segment, mention.team_id)
    else:
        team_id = team.pk
    if not intent:
        segments_of_team = {slug for slug, t in team_of_segment.items() if t == team_id}
        owned = [i for i, s in intent_segments.items() if s and s in segments_of_team]
        learn = owned[0] if len(owned) == 1 else ""
    else:
        learn = intent
    with transaction.atomic():
        mention = Mention.objects.select_for_update().get(pk=mention.pk)
        before = {"team": mention.team_id, "intent": mention.intent}
        Correction.objects.create(
            mention=mention,
            user=user,
            text=mention.text,
            intent_before=mention.intent,
            intent_after=learn,
            team_before_id=mention.team_id,
            team_after_id=team_id,
        )
        mention.team_id = team_id
        if intent:
            mention.intent = intent
        decision = dict(mention.decision or {})
        decision["corrected_by"] = getattr(user, "username", "")
        decision["correction_reason"] = reason[:500]
        decision["needs_decision"] = False  # a person decided who owns it
        mention.decision = decision
        mention.save(update_fields=["team", "intent", "decision"])
        for escalation in Escalation.objects.select_for_update().filter(
            mention=mention, state__in=[Escalation.State.PENDING, Escalation.State.ESCALATED_TO_LEAD]
        ):
            accepted = escalation.to_team_id == team_id
            escalation.state = Escalation.State.ACCEPTED if accepted else Escalation.State.BOUNCED
            escalation.bounce_reason = "" if accepted else f"Re-routed by {user}: {reason}".strip(": ")
            escalation.decided_at = timezone.now()
            escalation.decided_by = user
            escalation.save(update_fields=["state", "bounce_reason", "decided_at", "decided_by"])
        _audit(
            user,
            "mention.rerouted",
            mention,
            before=before,
            after={"team": team_id, "intent": mention.intent},
        )
        transaction.on_commit(
            lambda: event_publish(
                "mention.rerouted",
                {
                    "ids": [mention.pk],
                    "team": team_id,
                    "teams": sorted(t for t in {before["team"], team_id} if t is not None),
                    "intent": mention.intent,
                    "actor": getattr(user, "username", ""),
                },
            )
        )
        # Every re-route teaches the owner model (a move to a team), and the intent model when it names one.
        from routing.tasks import classifier_train_task

        transaction.on_commit(classifier_train_task.delay)
    return mention


def mention_sentiment_correct(*, mention: Mention, user: Any, label: str) -> Mention:
    """An agent corrects a mention's sentiment label. The correction is stored and the sentiment model learns
    from it in the background (the training task). The mention keeps the agent's label and loses the model's
    score, which no longer describes it."""
    if label not in LABELS:
        raise RoutingActionError(f"Unknown sentiment {label!r}; expected one of {', '.join(LABELS)}.")
    if mention.team_id is not None and not _user_in_team(user, mention.team_id):
        raise RoutingActionError("Only members of the mention's team can correct its sentiment.")
    with transaction.atomic():
        mention = Mention.objects.select_for_update().get(pk=mention.pk)
        before = {"sentiment_label": mention.sentiment_label, "sentiment": mention.sentiment}
        SentimentCorrection.objects.create(
            mention=mention,
            user=user,
            text=mention.text,
            label_before=mention.sentiment_label,
            label_after=label,
        )
        mention.sentiment_label = label
        mention.sentiment = None
        decision = dict(mention.decision or {})
        decision["sentiment_corrected_by"] = getattr(user, "username", "")
        mention.decision = decision
        mention.save(update_fields=["sentiment_label", "sentiment", "decision"])
        _audit(user, "mention.sentiment_corrected", mention, before=before, after={"sentiment_label": label})
        from routing.tasks import classifier_train_task

        transaction.on_commit(classifier_train_task.delay)
    return mention


def mention_owner_decide(*, mention: Mention, user: Any, team: Team | None = None) -> Mention:
    """A lead of the mention's team (admins stand in) decides who owns a post routing was unsure of
    (``needs_decision``): ``team`` None or the mention's own team keeps it there, another team moves it
    (``mention_reroute``). Either way the decision is a correction the owner model learns from."""
    with transaction.atomic():
        current = Mention.objects.select_for_update(of=("self",)).get(pk=mention.pk)
        if not user_leads_team(user, current.team_id):
            raise RoutingActionError("Only a lead of the mention's team decides who owns it.")
        if not (current.decision or {}).get("needs_decision"):
            raise RoutingActionError(
                "This mention does not need a decision: routing was sure who owns it, or it was decided."
            )
        before = {"team": current.team_id, "needs_decision": True}
        if team is None or team.pk == current.team_id:
            # "Keep it here": evidence for the team that keeps it; an escalation to it is thereby accepted.
            Correction.objects.create(
                kind=Correction.Kind.KEEP,
                mention=current,
                user=user,
                text=current.text,
                intent_before="",
                intent_after="",
                team_before_id=current.team_id,
                team_after_id=current.team_id,
            )
            Escalation.objects.filter(
                mention=current,
                to_team_id=current.team_id,
                state__in=[Escalation.State.PENDING, Escalation.State.ESCALATED_TO_LEAD],
            ).update(state=Escalation.State.ACCEPTED, decided_at=timezone.now(), decided_by=user)
        else:
            current = mention_reroute(
                mention=current, user=user, team=team, reason="the lead decided who owns it"
            )
        current.decision = {
            **(current.decision or {}),
            "needs_decision": False,
            "owner_decided_by": getattr(user, "username", ""),
        }
        current.save(update_fields=["decision"])
        after = {"team": current.team_id, "needs_decision": False}
        _audit(user, "mention.owner_decided", current, before=before, after=after)
        payload = {
            "ids": [current.pk],
            "team": current.team_id,
            "teams": sorted(t for t in {before["team"], current.team_id} if t is not None),
            "kept": current.team_id == before["team"],
            "actor": getattr(user, "username", ""),
        }
        transaction.on_commit(lambda: event_publish("mention.owner_decided", payload))
        if payload["kept"]:  # a move queued the training already (mention_reroute)
            from routing.tasks import classifier_train_task

            transaction.on_commit(classifier_train_task.delay)
    return current


# --- Backtest -----------------------------------------------------------------------------------------------


UNSAVED_RULE_ID = 0  # the id a draft of a rule not saved yet carries (routing.views)


@dataclass(frozen=True)
class BacktestChange:
    mention_id: int
    text: str
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True)
class BacktestReport:
    mentions: int
    days: int
    teams_before: dict[str, int]
    teams_after: dict[str, int]
    changed: int
    escalations_added: int
    escalations_removed: int
    sample: tuple[BacktestChange, ...]


def rules_backtest(
    *,
    rules: Sequence[Mapping],
    days: int = 7,
    sample_size: int = 20,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestReport:
    """What a draft rule set would change over the last ``days`` of routed mentions. Changes nothing.

    Both sides use the classification stored on each mention, so only the rules differ. A draft that does
    not compile raises ``routing.rules.RuleError``. ``progress(processed, total)`` is called before the first
    batch and after each one.
    """
    from routing.facts import Classification

    # A draft of a rule not saved yet has no id (0): give it the one it will be published under, so the
    # report names it as live decisions will ("Rule 7", never "Rule 0").
    unsaved_id = rule_id_next()
    rules = [
        {**spec, "id": unsaved_id}
        if isinstance(spec, Mapping) and spec.get("id") == UNSAVED_RULE_ID
        else spec
        for spec in rules
    ]
    current = rule_set_current()
    version = RuleSetVersion.objects.get(number=current.version)
    context = replace(
        routing_context(intent_segments=version.intent_segments),
        misdirect_threshold=version.misdirect_threshold,
    )
    draft = compile_rule_set(list(rules), context, version=current.version)
    classifier = classifier_current()
    since = timezone.now() - timedelta(days=days)
    ids = list(
        Mention.objects.filter(created_at__gte=since)
        .exclude(routed_at=None)
        .order_by("id")
        .values_list("id", flat=True)
    )
    teams_before: dict[str, int] = {}
    teams_after: dict[str, int] = {}
    changed = added = removed = 0
    sample: list[BacktestChange] = []
    if progress is not None:
        progress(0, len(ids))
    for start in range(0, len(ids), ROUTE_BATCH):
        chunk = ids[start : start + ROUTE_BATCH]
        # Only the model version of each stored decision: decoding whole decisions (their explanations) was
        # a fifth of a backtest's time.
        stored = {
            pk: (intent, conf, sent, label, model_version)
            for pk, intent, conf, sent, label, model_version in Mention.objects.filter(id__in=chunk)
            .annotate(model_version=KT("decision__model_version"))
            .values_list("id", "intent", "intent_confidence", "sentiment", "sentiment_label", "model_version")
        }
        loaded = []
        for pk, facts in mentions_facts(mention_ids=chunk, routed=True):
            intent, conf, sent, label, model_version = stored[pk]
            classification = Classification(
                intent=intent or "other",
                confidence=conf or 0.0,
                sentiment=sent or 0.0,
                sentiment_label=label or "neutral",
                model_version=int(model_version or 0),
            )
            loaded.append((pk, replace(facts, classification=classification)))
        facts_list = [f for _, f in loaded]
        before = decide_many(facts_list, current, classifier)
        after = decide_many(facts_list, draft, classifier)
        for (pk, facts), b, a in zip(loaded, before, after, strict=True):
            teams_before[b.team] = teams_before.get(b.team, 0) + 1
            teams_after[a.team] = teams_after.get(a.team, 0) + 1
            added += bool(a.escalate_to) and not b.escalate_to
            removed += bool(b.escalate_to) and not a.escalate_to
            if _outcome(a) != _outcome(b):
                changed += 1
                if len(sample) < sample_size:
                    sample.append(BacktestChange(pk, facts.text, decision_record(b), decision_record(a)))
        if progress is not None:
            progress(start + len(chunk), len(ids))
    return BacktestReport(
        mentions=len(ids),
        days=days,
        teams_before=teams_before,
        teams_after=teams_after,
        changed=changed,
        escalations_added=added,
        escalations_removed=removed,
        sample=tuple(sample),
    )


def rule_id_next() -> int:
    """The id the next rule saved will get: what the table's id sequence hands out next (never below the
    highest id there is). Another rule saved first takes it, so it is a forecast, for reports."""
    table = Rule._meta.db_table
    last = None
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # NULL until the sequence hands out its first value.
            cursor.execute(
                "SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')::regclass)", [table]
            )
            last = cursor.fetchone()[0]
        elif connection.vendor == "sqlite":  # Django's ids are AUTOINCREMENT: the last one is kept here
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
            row = cursor.fetchone()
            last = row[0] if row else None
    highest = Rule.objects.aggregate(n=Max("id"))["n"] or 0
    return max(last or 0, highest) + 1


def _outcome(d: Decision) -> tuple:
    return (d.team, d.priority, d.labels, d.escalate_to, d.assignee, d.require_approval, d.notifications)
