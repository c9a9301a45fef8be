"""Facts from the database about brand accounts, and the language of a post. The facts of stored mentions are
read by the floor that holds them (``inbox.route``)."""

from __future__ import annotations

from channels.models import Channel
from routing.language import detect_language


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
