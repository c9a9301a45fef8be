"""Learning what each team owns: examples from what the teams did, training, versions, promotion, rollback.

Where the examples come from (``inbox.history.examples_collect``, which reads them from the mentions and
the corrections), each a ``routing.owners.OwnerExample``:

* **History**: a routed mention its team closed or replied to, never re-routed nor escalated, received in
  the last ``HISTORY_DAYS`` (the newest ``HISTORY_MAX``): evidence for that team, weighing 1.
* **Corrections** (``Correction``, the newest per mention), each weighing ``owners.CORRECTION_WEIGHT``: a
  re-route (to a team, or to an intent whose team the map names) is evidence for the team it went to; a
  lead's "keep it here" on a post that needed a decision, evidence for the team that kept it; a bounced
  escalation, evidence *against* the team that bounced it; an accepted one, for the team that accepted it.
  A correction that names an intent also teaches the intent model.

``models_train`` trains both models from all of it, deterministically (``IntentClassifier.trained`` and
``OwnerModel.fit`` from zero, examples in a fixed order): the same stored examples give the same version,
however the corrections arrived and whenever the training ran. Before a version is stored, the models are
trained once more without the newest corrections the active version did not see (``held_back``); the two
are scored on those. The temperature that calibrates the owner confidences is cross-validated while the
examples are few, and beyond that fitted on the held-back corrections and the newest handled posts, held
back too (``owner_temperature``). The new
version becomes active only when it is not worse (or when there are too few of them to judge). Admins see
the versions and can make any of them active again (``model_version_activate``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from foundation.events import event_record
from routing.classifier import IntentClassifier
from routing.facts import INTENTS
from routing.models import Correction, ModelVersion, SentimentCorrection, SentimentState
from routing.owners import (  # the pure training functions, re-exported: what the eval and benchmarks call
    OwnerExample,
    OwnerModel,
    Trained,
    models_fit,
    owner_accuracy,
    temperature_cross_validated,
    with_intents,
)
from routing.rulesets import rule_set_current
from routing.sentiment import SentimentAdjustment, SentimentModel, shipped_model
from teams.models import Team

logger = logging.getLogger(__name__)

# The newest corrections a new version is backtested on (those the active version did not see), at most;
# with fewer than HELD_BACK_MIN there is nothing to judge by and the version is made active.
HELD_BACK_MAX = 200
HELD_BACK_MIN = 10
# The newest handled posts also held back then, to calibrate the owner confidences on (with the corrections).
CALIBRATION_HISTORY_MAX = 500
# Versions kept: the active one and the newest others (older ones are deleted after a training).
VERSIONS_KEPT = 30
CLASSIFY_BATCH = 500
# Up to this many examples, the owner model's temperature is cross-validated (``owner_temperature``).
CROSS_VALIDATION_MAX = 5000


@dataclass(frozen=True)
class Example:
    """An owner example with what else training needs: when it was made and the intent it teaches."""

    owner: OwnerExample
    at: Any  # when the evidence was given (a correction's or decision's time; a handled post's receipt)
    intent: str = ""  # the intent an agent named ("" none)
    correction_id: int = 0


def trained_load(version: ModelVersion | None) -> Trained:
    """The models of a stored version (the seed intent model and the untrained owner model for None)."""
    if version is None:
        return Trained(IntentClassifier(), OwnerModel())
    return Trained(
        IntentClassifier.load_state(bytes(version.intent_state)), OwnerModel.load(bytes(version.owner_state))
    )


def _fingerprint(examples: Sequence[Example], intent_teams: dict[str, str], teams: Sequence[str]) -> str:
    import hashlib

    digest = hashlib.sha256()
    digest.update(repr((sorted(intent_teams.items()), list(teams))).encode())
    for e in examples:
        digest.update(
            repr((e.owner.key, e.owner.team, e.owner.receiving, e.owner.against, e.intent)).encode()
        )
        digest.update((e.owner.text or "").encode())
    return digest.hexdigest()


def models_train(
    *, examples: Sequence[Example], reason: str = "corrections", force: bool = False
) -> ModelVersion | None:
    """Train a new version from every stored example (``examples``, in the fixed order
    ``inbox.history.examples_collect`` gives); store it, and make it active when its backtest says it is not
    worse. None when nothing changed since the newest version (``force``: train anyway). The caller keeps
    two of these apart (the task's lock)."""
    started = time.perf_counter()
    rule_set = rule_set_current()
    intent_teams = dict(rule_set.intent_teams)
    teams = tuple(sorted(Team.objects.values_list("slug", flat=True)))
    fingerprint = _fingerprint(examples, intent_teams, teams)
    newest = ModelVersion.objects.order_by("-number").first()
    if newest is not None and not force and newest.examples.get("fingerprint") == fingerprint:
        return None
    if newest is None and not force and not examples:
        return None
    active = ModelVersion.objects.filter(is_active=True).first()
    number = (newest.number if newest else 0) + 1

    # The backtest: the newest corrections the active version did not see.
    seen_until = active.created_at if active is not None else None
    unseen = [
        i
        for i, e in enumerate(examples)
        if e.owner.correction and not e.owner.against and (seen_until is None or e.at > seen_until)
    ]
    held = sorted(unseen, key=lambda i: (examples[i].at, examples[i].owner.key))[-HELD_BACK_MAX:]
    held_back = [examples[i].owner for i in held]
    accuracy = accuracy_active = None
    without: Trained | None = None
    calibration: list[OwnerExample] = []
    promoted = True
    if len(held) >= HELD_BACK_MIN:
        # The newest handled posts are held back too, for calibrating only: corrections alone are the
        # posts routing got wrong, and confidences fitted on them alone would be too timid on the rest.
        history = [i for i, e in enumerate(examples) if not e.owner.correction]
        calibration_history = sorted(history, key=lambda i: (examples[i].at, examples[i].owner.key))[
            -CALIBRATION_HISTORY_MAX:
        ]
        held_set = set(held) | set(calibration_history)
        without = models_fit(
            [e for i, e in enumerate(examples) if i not in held_set],
            intent_teams=intent_teams,
            teams=teams,
            version=number,
        )
        calibration = [*held_back, *(examples[i].owner for i in calibration_history)]
        accuracy = owner_accuracy(without, held_back, intent_teams=intent_teams, teams=teams)
        accuracy_active = owner_accuracy(
            trained_load(active), held_back, intent_teams=intent_teams, teams=teams
        )
        promoted = accuracy is not None and (accuracy_active is None or accuracy >= accuracy_active - 1e-9)
        verdict = (
            f"Owner accuracy {accuracy:.1%} on the {len(held)} newest corrections it was trained without; "
            f"the active version got {accuracy_active:.1%}: "
            + ("not worse, made active." if promoted else "worse, kept inactive.")
        )
    else:
        verdict = (
            f"{len(held)} new correction{'s' if len(held) != 1 else ''} since the active version: too few to "
            f"backtest on (at least {HELD_BACK_MIN}); made active."
        )
    final = models_fit(examples, intent_teams=intent_teams, teams=teams, version=number)
    temperature, _ = owner_temperature(
        examples,
        final=final,
        without=without,
        calibration=calibration,
        intent_teams=intent_teams,
        teams=teams,
    )
    final.owner.temperature = temperature
    counts = {
        "history": sum(1 for e in examples if not e.owner.correction),
        "corrections": sum(1 for e in examples if e.owner.key[0] == 1),
        "escalations_accepted": sum(1 for e in examples if e.owner.key[0] == 2 and not e.owner.against),
        "escalations_bounced": sum(1 for e in examples if e.owner.against),
        "intent_labels": sum(1 for e in examples if e.intent),
        "fingerprint": fingerprint,
    }
    last_correction_id = max((e.correction_id for e in examples), default=0)
    with transaction.atomic():
        if promoted:
            ModelVersion.objects.filter(is_active=True).update(is_active=False)
        version = ModelVersion.objects.create(
            number=number,
            intent_state=final.intent.dump_state(),
            owner_state=final.owner.dump(),
            is_active=promoted,
            promoted=promoted,
            verdict=verdict[:300],
            examples=counts,
            last_correction_id=last_correction_id,
            held_back=len(held),
            held_back_accuracy=accuracy,
            held_back_accuracy_active=accuracy_active,
            temperature=temperature,
            training_seconds=round(time.perf_counter() - started, 3),
            reason=reason[:40],
            activated_at=timezone.now() if promoted else None,
        )
        keep = set(ModelVersion.objects.order_by("-number").values_list("pk", flat=True)[:VERSIONS_KEPT])
        ModelVersion.objects.exclude(pk__in=keep).exclude(is_active=True).delete()
    logger.info("model v%s trained in %.1fs: %s", number, version.training_seconds, verdict)
    return version


def owner_temperature(
    examples: Sequence[Example],
    *,
    final: Trained,
    without: Trained | None,
    calibration: Sequence[OwnerExample],
    intent_teams: dict[str, str],
    teams: Sequence[str],
) -> tuple[float, str]:
    """The temperature for the owner model trained on all ``examples`` (``final``), and how it was found:
    cross-validated on the examples while they are few (``CROSS_VALIDATION_MAX``: three more fits are
    cheap, and a model trained without the newest corrections would be much weaker than ``final``);
    beyond that, fitted on the held-back ``calibration`` posts by ``without``, the model trained without
    them (a small share of the examples by then); 1.0 when neither is possible."""
    if len(examples) <= CROSS_VALIDATION_MAX:
        temperature = temperature_cross_validated(
            [e.owner for e in examples], intent=final.intent, intent_teams=intent_teams, teams=teams
        )
        return temperature, "cross-validated (3 folds)"
    if without is None or not calibration:
        return 1.0, "none: too few held-back posts"
    temperature = without.owner.calibrate(
        with_intents(without.intent, calibration), intents=INTENTS, intent_teams=intent_teams
    )
    return temperature, "held back: the newest corrections and handled posts"


def model_version_activate(*, version: ModelVersion, user: Any) -> ModelVersion:
    """Make ``version`` the one routing decides with (a rollback, or a version its backtest kept back)."""
    with transaction.atomic():
        before = ModelVersion.objects.filter(is_active=True).values_list("number", flat=True).first()
        ModelVersion.objects.filter(is_active=True).update(is_active=False)
        version.is_active = True
        version.activated_at = timezone.now()
        version.activated_by = user if getattr(user, "pk", None) else None
        version.save(update_fields=["is_active", "activated_at", "activated_by"])
        event_record(
            actor=user,
            verb="model.activated",
            obj=version,
            before={"active": before},
            after={"active": version.number},
        )
    return version


def newest_correction_id() -> int:
    return Correction.objects.aggregate(n=Max("id"))["n"] or 0


# --- The models in use, and the sentiment adjustment ----------------------------------------------------

# The sentiment adjustment learns from the newest this many corrected posts (one label per post: the last).
SENTIMENT_CORRECTIONS_MAX = 5000


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


def classifier_forget() -> None:
    """Drop this process's loaded classifier (see ``routing.pipeline.caches_forget``)."""
    global _classifier
    with _classifier_lock:
        _classifier = None
