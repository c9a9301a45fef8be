"""Routing the inbox's posts: facts in, decisions out, stored through the actions. Posts are decided before
the ingest stores them (``posts_decide``); mentions stored unrouted are decided later (``mentions_route``).
Deciding is the pure engine (``routing.engine``); storing decisions on mentions is
``inbox.actions.routing``; this module reads what routing needs of stored mentions and joins the two."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.db.models.fields.json import KT
from django.utils import timezone

from channels.connectors.base import Post
from channels.models import Channel
from inbox.actions.routing import decisions_apply, decisions_followup
from inbox.models import Author, Mention, MentionChannel
from routing.decisions import DecisionColumns
from routing.engine import decide_many
from routing.facts import Decision, Facts
from routing.learning import classifier_current
from routing.loading import channel_facts, post_language
from routing.models import RoutingSettings
from routing.rulesets import rule_set_current

# Mentions routed per statement; the route task gets one ingest page at a time, usually 100.
ROUTE_BATCH = 500


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
    slug, segment_slug, team_slug = channel_facts({channel.pk})[channel.pk]
    tagged: dict[tuple[str, str], tuple[list[str], list[str]]] = {}  # (tags, segments) of known authors
    for network in {post.network for post in posts}:
        author_ids = list({post.author.external_id for post in posts if post.network == network})
        tagged.update(
            ((network, external_id), (tags, segments))
            for external_id, tags, segments in Author.objects.filter(
                network=network, external_id__in=author_ids
            )
            .exclude(tags=[], segments=[])
            .values_list("external_id", "tags", "segments")
        )
    crisis_mode = RoutingSettings.current().crisis_mode
    facts = []
    for post in posts:
        tags, segments = tagged.get((post.network, post.author.external_id), ((), ()))
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
                language=post_language(language if isinstance(language, str) else "", post.text),
                author_handle=post.author.handle,
                author_followers=post.author.follower_count,
                author_verified=post.author.is_verified,
                author_tags=frozenset(tags),
                author_segments=frozenset(segments),
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
            "author__segments",
        )
    )
    if not rows:
        return []
    receiving = receiving_channels([row[0] for row in rows])
    channels = channel_facts({channel_id for channel_id in receiving.values()})
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
            segments,
        ) = row
        slug, segment, team = channels.get(receiving.get(pk), ("", "", ""))
        language = post_language(tagged or lang_x or lang_mastodon or "", text)
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
                    author_segments=frozenset(segments or ()),
                    created_at=created_at,
                    crisis_mode=crisis_mode,
                ),
            )
        )
    return loaded


def receiving_channels(mention_ids: Sequence[int]) -> dict[int, int]:
    """The first channel each mention arrived on: the account whose team escalates it."""
    first: dict[int, int] = {}
    for mention_id, channel_id in (
        MentionChannel.objects.filter(mention_id__in=mention_ids)
        .order_by("id")
        .values_list("mention_id", "channel_id")
    ):
        first.setdefault(mention_id, channel_id)
    return first


def mentions_unrouted(*, limit: int = 5000, older_than: timedelta = timedelta(seconds=60)) -> list[int]:
    """Mentions stored a while ago and still not routed (their route task was lost): the sweeper's work."""
    return list(
        Mention.objects.filter(routed_at=None, received_at__lt=timezone.now() - older_than)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
