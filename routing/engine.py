"""The decision engine: (facts, compiled rule set, classifier) -> Decision. Pure: no ORM, no I/O.

How a post is decided:

1. **Classification.** ``facts.classification`` when set, else ``classifier.classify(facts)``
   (``decide_many`` classifies every unclassified post of a batch in one ``classify_many`` call).
2. **Owner from the intent.** When the confidence reaches the rule set's ``misdirect_threshold`` and the
   intent map names a segment for the intent, that segment owns the post and its team (from the context's
   segment map; the receiving team when the segment has none) owns it. Otherwise the receiving segment and
   team keep it: spam and "other" have no owner, and an unsure guess does not move a post.
3. **Default priority.** A crisis signal is urgent; a complaint with sentiment at or below -0.6 is high;
   spam is low (and labelled "spam"); everything else is normal.
4. **Rules,** in order. Each rule that matches applies its actions: a later route or priority or assignee or
   escalation replaces an earlier one, labels and notifications accumulate, approval once required stays
   required, and a rule with ``stop`` ends the evaluation. ``route_to_segment`` sets segment and team;
   ``route_to_team`` sets the team and keeps the current segment if that team owns it, else the receiving
   segment if it owns that, else the first segment it owns.
5. **Misdirected.** With a rule route: the owning team differs from the receiving team. Without one: the
   confident intent owner's segment differs from the receiving segment. A post with no receiving segment
   (or team, for rule routes) came from no account and is routed, not misdirected. A misdirected post is
   escalated to the owning team with a reason naming the intent, its confidence, where it landed and who
   owns it (by the names the rule set carries for teams, segments and accounts, not their slugs); an
   ``escalate`` action sets the escalation (team and reason) whether or not it is misdirected.
6. **Explanation:** the intent with its confidence and the words that drove it, the sentiment, a default
   priority other than normal, each rule that fired (id, name, what it did), and why the post is or is not
   misdirected. ``rule_set_version`` comes from the rule set, ``model_version`` from the classification.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

from routing.facts import INTENTS, Classification, Classifier, Decision, Facts, Notification
from routing.owners import OwnerGuess, guess_many
from routing.rules import CompiledRule, CompiledRuleSet, NaiveRuleSet

COMPLAINT_HIGH_PRIORITY_SENTIMENT = (
    -0.6
)  # an angry complaint is read first: churn and public blow-ups start here
MAX_EXPLAINED_TERMS = 5  # a person reads the strongest few words; the rest add nothing
# The owner model gives the team a post stays with (or is moved to) less than even odds: a lead decides.
NEEDS_DECISION_BELOW = 0.5

_LABELS: dict[str, str] = {intent: intent.replace("_", " ") for intent in INTENTS}

# Decisions are built positionally: keyword arguments cost a third more, once per post. This order is the one
# routing.facts declares; if it changes there, importing the engine fails here rather than mixing fields up.
_DECISION_FIELDS = (
    "segment", "team", "intent", "confidence", "sentiment", "sentiment_label", "priority", "labels",
    "is_misdirected", "escalate_to", "escalation_reason", "assignee", "require_approval", "notifications",
    "rules_fired", "explanation", "rule_set_version", "model_version", "owner_source", "needs_decision",
)  # fmt: skip
if tuple(f.name for f in fields(Decision))[: len(_DECISION_FIELDS)] != _DECISION_FIELDS:
    raise ImportError(
        "routing.facts.Decision changed its field order; update routing.engine._DECISION_FIELDS"
    )
_SPAM_LABELS = ("spam",)


def _decision_factory():
    """``Decision(*args)`` for the 18 fields above, at a fifth of the cost, or ``Decision`` itself.

    A frozen dataclass's ``__init__`` sets each field with ``object.__setattr__``, the slowest way there is:
    a Decision took longer to build than all its rules took to evaluate. This factory fills a plain instance
    of a class with the very same slots, then makes it a Decision (CPython refuses the ``__class__``
    assignment unless both layouts are identical). It is checked against ``Decision(...)`` here, once; when
    that check fails (a ``__post_init__``, a field without a plain default, another layout), ``Decision`` is
    used.
    """
    slots = getattr(Decision, "__slots__", None)
    names = _DECISION_FIELDS
    if hasattr(Decision, "__post_init__") or not isinstance(slots, tuple) or slots != (*names, "extra"):
        return Decision
    params = ", ".join(names)
    body = "".join(f"    o.{name} = {name}\n" for name in names)
    source = (
        f"class _Fields:\n    __slots__ = {slots!r}\n\n"
        f"def build({params}):\n    o = _new(_Fields)\n{body}"
        f"    o.extra = {{}}\n    o.__class__ = _Decision\n    return o\n"
    )
    namespace: dict = {"_new": object.__new__, "_Decision": Decision, "__name__": __name__}
    try:
        exec(compile(source, "<routing.engine decision factory>", "exec"), namespace)  # noqa: S102
        build = namespace["build"]
        sample = (
            "s", "t", "complaint", 0.5, -0.25, "negative", "high", ("a",), True, "care", "why", "priya", True,
            (Notification("email", "a@b.example"),), (1, 2), ("x", "y"), 3, 4, "learned", True,
        )  # fmt: skip
        built, expected = build(*sample), Decision(*sample)
        if (
            type(built) is Decision
            and built == expected
            and all(getattr(built, f.name) == getattr(expected, f.name) for f in fields(Decision))
        ):
            return build
    except TypeError:  # the layouts differ
        pass
    return Decision


_new_decision = _decision_factory()


def _intent_label(intent: str) -> str:
    return _LABELS.get(intent) or intent.replace("_", " ")


def _rule_name(rule: CompiledRule) -> str:
    return f"rule {rule.id} “{rule.name}”" if rule.name else f"rule {rule.id}"


def decide(facts: Facts, rule_set: CompiledRuleSet | NaiveRuleSet, classifier: Classifier) -> Decision:
    """Decide who owns one post, its priority and labels, and whether it is misdirected, with the reasons."""
    if getattr(classifier, "owner_model", None) is not None:
        return decide_many([facts], rule_set, classifier)[0]
    classification = facts.classification
    if classification is None:
        classification = classifier.classify(facts)
    if isinstance(rule_set, CompiledRuleSet):
        return _decide_compiled(facts, classification, rule_set)
    return _decide_naive(facts, classification, rule_set)


def decide_many(
    facts_list: Sequence[Facts], rule_set: CompiledRuleSet | NaiveRuleSet, classifier: Classifier
) -> list[Decision]:
    """``[decide(f, rule_set, classifier) for f in facts_list]``, classifying the unclassified at once."""
    unclassified = [facts for facts in facts_list if facts.classification is None]
    fresh = classifier.classify_many(unclassified) if unclassified else []
    if len(fresh) != len(unclassified):
        raise ValueError(f"classify_many returned {len(fresh)} classifications for {len(unclassified)} posts")
    pending = iter(fresh)
    run = _decide_compiled if isinstance(rule_set, CompiledRuleSet) else _decide_naive
    classifications = [
        facts.classification if facts.classification is not None else next(pending) for facts in facts_list
    ]
    owner_model = getattr(classifier, "owner_model", None)
    if owner_model is None:
        return [run(facts, c, rule_set) for facts, c in zip(facts_list, classifications, strict=True)]
    guesses = guess_many(owner_model, facts_list, classifications, rule_set)
    return [
        run(facts, c, rule_set, guess)
        for facts, c, guess in zip(facts_list, classifications, guesses, strict=True)
    ]


def _owner_profile(guess: OwnerGuess | None, facts: Facts, threshold: float) -> tuple[str, bool]:
    """(the learned owner when it overrules the intent map, "" otherwise; whether a lead must decide)."""
    if guess is None:
        return "", False
    if guess.learned:
        return guess.team, False
    return "", bool(facts.team) and guess.map_team_p < NEEDS_DECISION_BELOW


# --- The compiled rule set's path: the same decision, its post-independent parts memoised ------------------
# What a decision says depends on the post only through: the rules that fired, the intent, whether the
# confidence reaches the threshold, whether a complaint is angry enough to be high priority, and where the
# post landed (segment, team, channel). Everything else -- owner, priority, labels, assignee, escalation,
# approval, notifications, the rule sentences, why it is or is not misdirected -- is computed once per such
# combination (an "outcome") and kept in the rule set. Per post only the confidence, the sentiment and the
# terms are formatted. The naive rule set computes its outcome per post, without the memo, through the same
# ``_outcome``: tests comparing the two check the rule matching and the memo.

OUTCOME_CACHE_SIZE = 20_000  # outcomes kept per rule set; the memo is emptied when it is full


def _decide_compiled(
    facts: Facts, c: Classification, rule_set: CompiledRuleSet, guess: OwnerGuess | None = None
) -> Decision:
    intent = c.intent
    confidence = c.confidence
    sentiment = c.sentiment
    learned, unsure = _owner_profile(guess, facts, rule_set.misdirect_threshold) if guess else ("", False)
    key = (
        rule_set.fire(facts, c),
        intent,
        confidence >= rule_set.misdirect_threshold,
        intent == "complaint" and sentiment <= COMPLAINT_HIGH_PRIORITY_SENTIMENT,
        facts.segment,
        facts.team,
        facts.channel,
        learned,
        unsure,
        guess is not None,
    )
    outcome = rule_set.outcomes.get(key)
    if outcome is None:
        fired_mask, *profile = key
        outcome = _outcome(rule_set, rule_set.rules_of(fired_mask), *profile)
        outcomes = rule_set.outcomes
        if len(outcomes) >= OUTCOME_CACHE_SIZE:
            outcomes.clear()
        outcomes[key] = outcome
    return _decision(c, outcome, rule_set, guess)


def _decide_naive(
    facts: Facts, c: Classification, rule_set: NaiveRuleSet, guess: OwnerGuess | None = None
) -> Decision:
    """Every rule in turn and the outcome computed for this post alone: the reference for the benchmark."""
    learned, unsure = _owner_profile(guess, facts, rule_set.misdirect_threshold) if guess else ("", False)
    outcome = _outcome(
        rule_set,
        rule_set.match(facts, c),
        c.intent,
        c.confidence >= rule_set.misdirect_threshold,
        c.intent == "complaint" and c.sentiment <= COMPLAINT_HIGH_PRIORITY_SENTIMENT,
        facts.segment,
        facts.team,
        facts.channel,
        learned,
        unsure,
        guess is not None,
    )
    return _decision(c, outcome, rule_set, guess)


def _decision(
    c: Classification,
    outcome: tuple,
    rule_set: CompiledRuleSet | NaiveRuleSet,
    guess: OwnerGuess | None = None,
) -> Decision:
    """The decision for one post: its outcome with the post's own confidence, sentiment and words."""
    intent = c.intent
    confidence = c.confidence
    sentiment = c.sentiment
    (
        segment, team, priority, labels, is_misdirected, escalate_to, escalation_reason, reason_split,
        assignee, require_approval, notifications, rules_fired, label, middle, tail_split, owner_source,
        needs_decision,
    ) = outcome  # fmt: skip
    if guess is not None and (owner_source == "learned" or needs_decision):
        middle = (_owner_sentence(guess, owner_source, rule_set), *middle)
    conf = f"{confidence:.2f}"
    terms = c.terms
    if terms:
        first = f"Intent {label} ({conf}), from “{'”, “'.join(terms[:MAX_EXPLAINED_TERMS])}”."
    else:
        first = f"Intent {label} ({conf})."
    sentiment_label = c.sentiment_label
    second = f"Sentiment {sentiment_label} ({sentiment:+.2f})."
    if tail_split is None:
        explanation = (first, second, *middle)
    else:
        explanation = (first, second, *middle, tail_split[0] + conf + tail_split[1])
    if reason_split is not None:
        escalation_reason = reason_split[0] + conf + reason_split[1]
    decision = _new_decision(
        segment,
        team,
        intent,
        confidence,
        sentiment,
        sentiment_label,
        priority,
        labels,
        is_misdirected,
        escalate_to,
        escalation_reason,
        assignee,
        require_approval,
        notifications,
        rules_fired,
        explanation,
        rule_set.version,
        c.model_version,
        owner_source,
        needs_decision,
    )
    if guess is not None:
        decision.extra["owner_team"] = guess.team
        decision.extra["owner_confidence"] = guess.confidence
    return decision


def _owner_sentence(guess: OwnerGuess, owner_source: str, rule_set: CompiledRuleSet | NaiveRuleSet) -> str:
    """What the owner model said, with the post's own numbers and words."""
    names = rule_set.team_names
    name = names.get(guess.team) or guess.team
    if owner_source == "learned":
        learned = []
        if guess.corrections:
            learned.append(f"{guess.corrections} correction{'s' if guess.corrections != 1 else ''}")
        if guess.history:
            learned.append(f"{guess.history} handled post{'s' if guess.history != 1 else ''}")
        source = f"learned from {' and '.join(learned)} for that team" if learned else "learned"
        words = f": “{'”, “'.join(guess.terms)}”" if guess.terms else ""
        return f"Owner team {name} ({guess.confidence:.2f}), {source}{words}."
    keeper = names.get(guess.map_team) or guess.map_team
    if guess.team == guess.map_team:
        return (
            f"Needs a decision: no team is likely enough (team {keeper} {guess.map_team_p:.2f}); "
            f"the lead of team {keeper} decides."
        )
    threshold = rule_set.misdirect_threshold
    if guess.confidence < threshold:
        likelier = f"is as likely ({guess.confidence:.2f}, below the {threshold:.2f} needed to move it)"
    else:  # the untrained model: the intent map's intents, summed by team, point elsewhere but move nothing
        likelier = f"is likelier by the intent map ({guess.confidence:.2f})"
        likelier += ", but no one intent is sure enough to move it"
    return (
        f"Needs a decision: team {keeper} keeps it ({guess.map_team_p:.2f}), but team {name} {likelier}; "
        f"the lead of team {keeper} decides."
    )


def _outcome(
    rule_set: CompiledRuleSet | NaiveRuleSet,
    fired: list[CompiledRule],
    intent: str,
    confident: bool,
    angry: bool,
    receiving_segment: str,
    receiving_team: str,
    channel: str,
    learned: str = "",
    unsure: bool = False,
    guessed: bool = False,
) -> tuple:
    """What a decision says given the rules that fired and the post's profile, bar the per-post numbers
    (see ``_decide_compiled``). Sentences naming the confidence are kept split around it: ``(before, after)``.
    """
    label = _intent_label(intent)
    threshold = rule_set.misdirect_threshold

    owner = rule_set.intent_owners.get(intent)
    if learned:
        team = learned
        if rule_set.segment_teams.get(receiving_segment) == learned:
            segment = receiving_segment
        else:
            segment = rule_set.team_segments.get(learned, receiving_segment)
    elif owner is not None and confident:
        segment = owner[0]
        team = owner[1] or receiving_team
    else:
        segment, team = receiving_segment, receiving_team

    labels: tuple[str, ...] = ()
    if intent == "crisis_signal":
        priority = "urgent"
    elif intent == "complaint" and angry:
        priority = "high"
    elif intent == "spam":
        priority, labels = "low", _SPAM_LABELS
    else:
        priority = "normal"

    middle: list[str] = []
    if priority != "normal":
        middle.append(f"Priority {priority} by default for {'spam' if intent == 'spam' else 'a ' + label}.")

    assignee = escalate_to = escalation_reason = ""
    require_approval = False
    notifications: tuple[Notification, ...] = ()
    router: CompiledRule | None = None
    label_list = list(labels)
    for rule in fired:
        middle.append(rule.summary)
        if rule.route_team:
            router = rule
            team = rule.route_team
            if rule.route_segment is not None:
                segment = rule.route_segment
            elif rule_set.segment_teams.get(segment) != team:
                if rule_set.segment_teams.get(receiving_segment) == team:
                    segment = receiving_segment
                else:
                    segment = rule.route_fallback
        if rule.priority:
            priority = rule.priority
        for rule_label in rule.labels:
            if rule_label not in label_list:
                label_list.append(rule_label)
        if rule.assignee:
            assignee = rule.assignee
        if rule.escalate_team:
            escalate_to, escalation_reason = rule.escalate_team, rule.escalate_reason
        if rule.require_approval:
            require_approval = True
        for notification in rule.notifications:
            if notification not in notifications:
                notifications += (notification,)
    labels = tuple(label_list)
    rules_fired = tuple(rule.id for rule in fired)

    is_misdirected = False
    reason: str | None = None  # the misdirection's reason when it names no number
    reason_split: tuple[str, str] | None = None  # ... and split around the confidence when it does
    tail_split: tuple[str, str] | None = None
    # Sentences a person reads name teams, segments and accounts as the product shows them, not by slug.
    team_names, segment_names = rule_set.team_names, rule_set.segment_names
    team_name = team_names.get(team) or team
    segment_name = segment_names.get(segment) or segment
    if router is not None:
        name = _rule_name(router)
        if receiving_team and team != receiving_team:
            is_misdirected = True
            received_by = team_names.get(receiving_team) or receiving_team
            reason = (
                f"{name[0].upper()}{name[1:]} routed it to team {team_name}; received by team {received_by}."
            )
            middle.append(f"Misdirected: {reason}")
        else:
            middle.append(f"Not misdirected: {name} routed it to team {team_name}, which received it.")
    elif learned:
        if receiving_team and learned != receiving_team:
            is_misdirected = True
            received_by = team_names.get(receiving_team) or receiving_team
            reason = (
                f"Team {team_name} owns posts like it, learned from what the teams did; received by team "
                f"{received_by}."
            )
            middle.append(f"Misdirected: {reason}")
        else:
            middle.append(
                f"Not misdirected: team {team_name} owns posts like it, learned from what the teams did."
            )
    elif owner is None:
        middle.append(f"Not misdirected: nobody owns {label}, so it stays with the receiving account.")
    elif not confident:
        tail_split = (
            f"Not misdirected: {label} is owned by {segment_names.get(owner[0]) or owner[0]}, but ",
            f" is below the {threshold:.2f} confidence needed to move it.",
        )
    elif not receiving_segment:
        middle.append(
            f"Not misdirected: no receiving account; {segment_name} (team {team_name}) owns {label}."
        )
    elif segment != receiving_segment:
        is_misdirected = True
        received_on = segment_names.get(receiving_segment) or receiving_segment
        account = rule_set.channel_names.get(channel) or channel
        where = f"{received_on} account {account}" if account else f"{received_on} account"
        reason_split = (
            f"{label.capitalize()} (",
            f") received on {where}; owned by {segment_name} (team {team_name}).",
        )
        tail_split = ("Misdirected: " + reason_split[0], reason_split[1])
    else:
        middle.append(f"Not misdirected: {label} is owned by {segment_name}, the receiving segment.")
    if is_misdirected and not escalate_to:
        escalate_to, escalation_reason = team, reason or ""
    else:
        reason_split = None  # a rule's escalation stands; the misdirection's reason is only explained

    if router is not None:
        owner_source, unsure = "rule", False
    elif learned:
        owner_source = "learned"
    else:
        owner_source = "intent" if guessed else ""
    return (
        segment, team, priority, labels, is_misdirected, escalate_to, escalation_reason, reason_split,
        assignee, require_approval, notifications, rules_fired, label, tuple(middle), tail_split,
        owner_source, unsure,
    )  # fmt: skip
