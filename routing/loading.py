"""Facts from the database: what routing knows of stored mentions and of the channels that received them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.db.models.fields.json import KT
from django.utils import timezone

from channels.models import Channel
from inbox.models import Mention, MentionChannel
from routing.facts import Facts
from routing.language import detect_language
from routing.models import RoutingSettings


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


def channel_facts(channel_ids: set[int]) -> dict[int, tuple[str, str, str]]:
    """Channel id -> (slug, segment slug, owning team slug)."""
    return {
        pk: (slug, segment, override or team)
        for pk, slug, segment, team, override in Channel.objects.filter(id__in=channel_ids).values_list(
            "id", "slug", "segment__slug", "segment__team__slug", "team_override__slug"
        )
    }


def post_language(given: str, text: str) -> str:
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
