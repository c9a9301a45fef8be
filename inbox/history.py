"""What the teams did, as examples for routing's learning: the mentions they handled and their corrections
(see ``routing.learning`` for what each example teaches and how a version is trained from them).

Reading them needs the mentions, so it lives here, on the floor that holds them; training is
``routing.learning.models_train``, which takes the examples."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from inbox.models import Mention, Reply
from inbox.route import receiving_channels
from routing.facts import INTENTS
from routing.learning import Example, models_train
from routing.loading import channel_facts
from routing.models import Correction, Escalation, ModelVersion
from routing.owners import CORRECTION_WEIGHT, HISTORY_WEIGHT, OwnerExample
from teams.models import Team

HISTORY_DAYS = 180
HISTORY_MAX = 40_000
CORRECTIONS_MAX = 20_000


def classifier_train(*, reason: str = "corrections", force: bool = False) -> ModelVersion | None:
    """Train the routing models again from every stored example (``routing.learning.models_train``); the new
    version becomes active when its backtest says it is not worse. None when nothing changed."""
    return models_train(examples=examples_collect(), reason=reason, force=force)


def examples_collect(*, now: Any = None) -> list[Example]:
    """Every example the stored data holds, in a fixed order (see the module docstring)."""
    now = now or timezone.now()
    slugs = dict(Team.objects.values_list("id", "slug"))
    examples: list[Example] = []
    corrected: set[int] = set()
    latest: dict[Any, tuple] = {}
    for row in (
        Correction.objects.order_by("-id")
        .values_list("id", "mention_id", "text", "intent_after", "team_after_id", "kind", "created_at")
        .iterator()
    ):
        key = row[1] if row[1] is not None else f"deleted-{row[0]}"
        if key not in latest and row[5] != Correction.Kind.BOUNCE:
            latest[key] = row
        if len(latest) >= CORRECTIONS_MAX:
            break
    escalations = list(
        Escalation.objects.filter(state__in=[Escalation.State.ACCEPTED, Escalation.State.BOUNCED])
        .order_by("-id")
        .values_list("id", "mention_id", "mention__text", "to_team_id", "state", "decided_at")[
            :CORRECTIONS_MAX
        ]
    )
    mention_ids = [row[1] for row in latest.values() if row[1] is not None] + [row[1] for row in escalations]
    receiving = _receiving_teams(mention_ids, slugs)
    for pk, mention_id, text, intent, team_id, _kind, created_at in sorted(latest.values()):
        team = slugs.get(team_id, "")
        if mention_id is not None:
            corrected.add(mention_id)
        if not team:
            continue
        examples.append(
            Example(
                OwnerExample(
                    text, receiving.get(mention_id, ""), team, CORRECTION_WEIGHT, correction=True, key=(1, pk)
                ),
                created_at,
                intent if intent in INTENTS else "",
                pk,
            )
        )
    by_person = set(corrected)  # mentions a person re-routed or kept: their correction is the last word
    for pk, mention_id, text, team_id, state, decided_at in sorted(escalations):
        team = slugs.get(team_id, "")
        corrected.add(mention_id)
        against = state == Escalation.State.BOUNCED
        if not team or (not against and mention_id in by_person):
            continue
        examples.append(
            Example(
                OwnerExample(
                    text,
                    receiving.get(mention_id, ""),
                    team,
                    CORRECTION_WEIGHT,
                    against=against,
                    correction=True,
                    key=(2, pk),
                ),
                decided_at or now,
            )
        )
    handled = (
        Mention.objects.filter(
            team__isnull=False, routed_at__isnull=False, received_at__gte=now - timedelta(days=HISTORY_DAYS)
        )
        .exclude(intent=Mention.SPAM_INTENT)
        .exclude(text=Mention.ERASED_TEXT)
        .filter(
            Q(status=Mention.Status.CLOSED)
            | Exists(Reply.objects.filter(mention=OuterRef("pk"), state=Reply.State.SENT))
        )
        .order_by("-id")
        .values_list("id", "text", "team_id", "received_at")
    )
    history = []
    for pk, text, team_id, received_at in handled.iterator():
        if pk in corrected:
            continue
        history.append((pk, text, team_id, received_at))
        if len(history) >= HISTORY_MAX:
            break
    receiving = _receiving_teams([row[0] for row in history], slugs)
    for pk, text, team_id, received_at in sorted(history):
        team = slugs.get(team_id, "")
        if team:
            examples.append(
                Example(
                    OwnerExample(text, receiving.get(pk, ""), team, HISTORY_WEIGHT, key=(0, pk)), received_at
                )
            )
    examples.sort(key=lambda example: example.owner.key)
    return examples


def _receiving_teams(mention_ids: Sequence[int], slugs: dict[int, str]) -> dict[int, str]:
    """Mention id -> slug of the team of the account it first arrived on."""
    first = {}
    for start in range(0, len(mention_ids), 5000):
        first.update(receiving_channels(mention_ids[start : start + 5000]))
    channels = channel_facts(set(first.values()))
    return {mention: channels.get(channel, ("", "", ""))[2] for mention, channel in first.items()}
