"""The admin rule language: validation, and compilation into an indexed form the engine evaluates fast.

A rule is JSON-able data::

    {"id": 12, "name": "Stove recall", "enabled": true,
     "when": {"all": [{"keywords": ["basecamp stove", "stove"]}, {"intent": {"in": ["crisis_signal"]}}]},
     "then": [{"route_to_segment": "crisis-management"}, {"set_priority": "urgent"}]}

``when`` is a condition tree (``all``/``any``/``not`` over leaves); ``then`` is a non-empty list of actions.
Each condition and each action is an object with exactly one key. Text conditions are case-insensitive and
match whole words: a term counts where it is neither preceded nor followed by a letter, digit or underscore,
so ``tent`` does not match "tents" and ``#Trailfest`` does not match "#TrailfestNight". Regular expressions
are Python ``re`` patterns, searched anywhere in the text, case-insensitively. Time windows are half-open
(``start <= created_at < end``); a time without an offset is UTC.

``compile_rule_set`` validates every rule (disabled ones too) and builds a ``CompiledRuleSet``:

- every keyword, phrase, hashtag and cashtag of every rule goes into one Aho-Corasick automaton, so a post's
  text is scanned once whatever the number of rules;
- each rule gets a *gate*: keys at least one of which a post must have for the rule to possibly match. A key
  is a text term, or a facet value the post carries (its intent, channel, segment, kind, network, language,
  an author tag, verified, crisis mode). A leaf gates on its own terms or values; ``all`` on its cheapest
  gated child (text preferred); ``any`` on the union of its children's gates when every child is gated;
  ``not`` and numeric leaves (sentiment, followers, time window, confidence alone) and regexes are ungated;
- per post, the automaton hits and the post's facet values select the candidate rules; only those (plus the
  ungated rules) are evaluated, in rule order, with cheap conditions before regular expressions.

``NaiveRuleSet`` gives the same decisions by evaluating every enabled rule one by one, each text condition as
one regular expression: the yardstick for the benchmark and for tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import ahocorasick

from routing.facts import (
    AUTHOR_SEGMENTS,
    AUTHOR_TAGS,
    DEFAULT_INTENT_SEGMENTS,
    INTENTS,
    KINDS,
    PRIORITIES,
    Classification,
    Facts,
    LabelRefused,
    Notification,
    label_normalized,
)

MAX_REGEX_LENGTH = 500  # admins write patterns by hand; a longer one is a paste accident, not a rule
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")

# A post's text, case-folded once, is what text conditions look at. A term counts where it is not glued to
# a word character on either side: the `\b` of a regex, which also works for terms starting with # or $.
_BOUNDED = r"(?<!\w)(?:{})(?!\w)"

# Check signature: (facts, classification, text_state) -> bool. text_state is the set of matched term ids in
# the compiled set and the lower-cased text in the naive one.
Check = Callable[[Facts, Classification, Any], bool]

_TEXT_OPS = ("keywords", "phrase", "hashtag", "cashtag")
_FACET_OPS = ("language", "author_tag", "author_segment", "channel", "segment", "network", "kind")
# Facets a post carries several values of (an author has many tags), by the Facts attribute holding them.
_SET_FACETS = {"author_tag": "author_tags", "author_segment": "author_segments"}
_CONDITION_OPS = frozenset(
    {
        "all",
        "any",
        "not",
        "regex",
        "intent",
        "sentiment",
        "followers",
        "verified",
        "time_window",
        "crisis_mode",
    }
    | set(_TEXT_OPS)
    | set(_FACET_OPS)
)
_ACTION_OPS = frozenset(
    {
        "route_to_team",
        "route_to_segment",
        "set_priority",
        "add_labels",
        "assign_to",
        "escalate",
        "require_approval",
        "notify_email",
        "notify_webhook",
        "hand_off",
        "stop",
    }
)
_RULE_KEYS = frozenset({"id", "name", "enabled", "when", "then"})

# Rough share of posts that carry a gate key, to pick the narrowest gate of an `all`: a text term is rare, a
# channel or an intent one in ten, "kind: mention" most posts.
_TERM_SHARE = 0.01
_LITERAL_SHARE = {1: 0.3, 2: 0.1}
_FACET_SHARE: dict[str, float] = {
    "intent": 0.1,
    "channel": 0.1,
    "segment": 0.17,
    "network": 0.5,
    "author_tag": 0.03,
    "author_segment": 0.05,
}
_VALUE_SHARE: dict[tuple[str, Any], float] = {
    ("kind", "mention"): 0.6,
    ("kind", "reply"): 0.15,
    ("kind", "dm"): 0.1,
    ("kind", "keyword"): 0.15,
    ("language", "en"): 0.7,
    ("verified", True): 0.05,
    ("verified", False): 0.95,
    ("crisis_mode", True): 0.05,
    ("crisis_mode", False): 0.95,
}
_REGEX_COST = 50  # relative to a set lookup: regexes run last, and only when everything cheap holds


class RuleError(ValueError):
    """A rule that cannot be compiled; ``path`` names the wrong part, e.g. ``rules[3].when.all[1].regex``."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


@dataclass(frozen=True)
class RoutingContext:
    """What rules are checked against: the organisation's teams, segments, people and channels.

    ``segments`` maps each segment slug to the slug of the team that owns it. ``users`` and ``channels`` may
    be None to skip those checks (a published version recompiled after someone left must still load).
    ``team_names``, ``segment_names`` and ``channel_names`` (the handle) are what explanations and
    escalation reasons call them, by slug; one missing is called by its slug.
    ``labels_checked`` False leaves out an ``add_labels`` label that is not a label instead of refusing the
    rule: a version published before labels were checked must still load.
    """

    teams: frozenset[str]
    segments: Mapping[str, str]
    users: frozenset[str] | None = None
    channels: frozenset[str] | None = None
    labels_checked: bool = True
    intent_segments: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_INTENT_SEGMENTS))
    misdirect_threshold: float = 0.6
    team_names: Mapping[str, str] = field(default_factory=dict)
    segment_names: Mapping[str, str] = field(default_factory=dict)
    channel_names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Gate:
    """Keys at least one of which a post must carry for a rule to possibly match."""

    terms: frozenset[str] = frozenset()  # whole words or phrases, lower-cased
    facets: frozenset[tuple[str, Any]] = frozenset()  # (dimension, value): ("intent", "complaint")
    literals: frozenset[str] = frozenset()  # substrings, lower-cased, that every match of a regex contains

    @property
    def share(self) -> float:
        """Roughly how many posts pass the gate, 0..1."""
        facets = sum(_VALUE_SHARE.get(key, _FACET_SHARE.get(key[0], 0.05)) for key in self.facets)
        # A regex's literal is a bare substring ("day" is in "Sunday"): weaker than a whole word.
        literals = sum(_LITERAL_SHARE.get(len(literal), 3 * _TERM_SHARE) for literal in self.literals)
        return min(1.0, len(self.terms) * _TERM_SHARE + facets + literals)

    def __or__(self, other: Gate) -> Gate:
        return Gate(self.terms | other.terms, self.facets | other.facets, self.literals | other.literals)


@dataclass(frozen=True)
class Condition:
    """A validated condition node: the normalised form both rule sets compile from."""

    op: str
    arg: Any = None  # leaf payload, normalised (lower-cased terms, parsed datetimes, frozensets)
    children: tuple[Condition, ...] = ()
    cost: int = 1
    gate: Gate | None = None  # None: ungated


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One enabled rule, ready to run: its check and the net effect of its actions, precomputed."""

    id: int
    name: str
    position: int  # index among the enabled rules, which is the evaluation order
    check: Check
    gate: Gate | None
    route_team: str = ""  # "" when the rule does not route
    route_segment: str | None = None  # None: the receiving segment if the team owns it, else route_fallback
    route_fallback: str = ""
    priority: str = ""
    labels: tuple[str, ...] = ()
    assignee: str = ""
    escalate_team: str = ""
    escalate_team_name: str = ""
    escalate_reason: str = ""
    require_approval: bool = False
    notifications: tuple[Notification, ...] = ()
    stop: bool = False
    summary: str = ""  # "Rule 12 “Stove recall” fired: ..."


# --- Validation: JSON -> Condition ------------------------------------------------------------------------


def _fail(path: str, message: str) -> RuleError:
    return RuleError(path, message)


def _single_key(value: Any, path: str, what: str, allowed: frozenset[str]) -> tuple[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, f"a {what} must be an object with one key, got {type(value).__name__}")
    if len(value) != 1:
        keys = ", ".join(sorted(map(str, value))) or "none"
        raise _fail(path, f"a {what} must have exactly one key, got {len(value)} ({keys})")
    ((key, arg),) = value.items()
    if key not in allowed:
        raise _fail(f"{path}.{key}", f"unknown {what} {key!r}; expected one of {', '.join(sorted(allowed))}")
    return key, arg


def _string_list(value: Any, path: str, what: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise _fail(path, f"expected a list of {what}, got {type(value).__name__}")
    if not value:
        raise _fail(path, f"empty list of {what}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise _fail(f"{path}[{i}]", f"expected a non-empty {what[:-1] if what.endswith('s') else what}")
        out.append(item.strip())
    return out


def _labels(value: Any, path: str, *, checked: bool = True) -> list[str]:
    """The labels of ``add_labels`` as they are stored (``routing.facts.label_normalized``, the check agents'
    labels go through), so agents can remove what a rule added. One that is not a label fails the rule at
    its path, or is left out when ``checked`` is off."""
    labels: list[str] = []
    for i, item in enumerate(_string_list(value, path, "labels")):
        try:
            label = label_normalized(item)
        except LabelRefused as exc:
            if checked:
                raise _fail(f"{path}[{i}]", str(exc)) from None
            continue
        if label not in labels:
            labels.append(label)
    return labels


def _known(values: list[str], known: Iterable[str] | None, path: str, what: str) -> frozenset[str]:
    if known is not None:
        known = frozenset(known)
        for i, value in enumerate(values):
            if value not in known:
                raise _fail(f"{path}[{i}]", f"unknown {what} {value!r}")
    return frozenset(values)


def _number(value: Any, path: str, *, integer: bool = False) -> float:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise _fail(path, f"expected {'a whole number' if integer else 'a number'}, got {value!r}")
    return value


def _bounds(arg: Any, path: str, low: float | None, high: float | None, *, integer: bool = False):
    if not isinstance(arg, Mapping) or not arg:
        raise _fail(path, 'expected {"min": ..., "max": ...} with at least one bound')
    unknown = set(arg) - {"min", "max"}
    if unknown:
        raise _fail(f"{path}.{sorted(unknown)[0]}", "unknown bound; expected min or max")
    result = []
    for key in ("min", "max"):
        if key not in arg or arg[key] is None:
            result.append(None)
            continue
        value = _number(arg[key], f"{path}.{key}", integer=integer)
        if (low is not None and value < low) or (high is not None and value > high):
            raise _fail(f"{path}.{key}", f"{value} is out of range [{low}, {'∞' if high is None else high}]")
        result.append(value)
    if result[0] is None and result[1] is None:
        raise _fail(path, "expected at least one of min and max")
    if result[0] is not None and result[1] is not None and result[0] > result[1]:
        raise _fail(path, f"min {result[0]} is greater than max {result[1]}")
    return tuple(result)


def _datetime(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise _fail(path, f"expected an ISO 8601 date or time, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(path, f"not an ISO 8601 date or time: {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _text_terms(op: str, arg: Any, path: str) -> frozenset[str]:
    if op == "phrase":
        if not isinstance(arg, str) or not arg.strip():
            raise _fail(path, "expected a non-empty phrase")
        return frozenset({" ".join(arg.lower().split())})
    if op == "keywords":
        return frozenset(" ".join(word.lower().split()) for word in _string_list(arg, path, "keywords"))
    sigil = "#" if op == "hashtag" else "$"
    tags = _string_list(arg, path, f"{op}s")
    terms = set()
    for i, tag in enumerate(tags):
        bare = tag.removeprefix(sigil)
        if not bare or any(ch.isspace() or ch in "#$" for ch in bare):
            raise _fail(f"{path}[{i}]", f"not a {op}: {tag!r}")
        terms.add(sigil + bare.lower())
    return frozenset(terms)


# Under re.IGNORECASE "i" also matches U+0130 and U+0131 and "s" matches U+017F, which str.lower() keeps
# apart: a literal with them could miss in the lower-cased text the regex matches. Other ASCII is safe.
_FOLD_UNSAFE = frozenset("is")
_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})


def _required_literals(pattern: re.Pattern) -> frozenset[str] | None:
    """Substrings one of which every match of ``pattern`` contains (lower-cased), or None when unknown.

    With them a regex gates its rule like a keyword: the rule is a candidate only for posts whose text
    contains one, so a regex that cannot match is never run.
    """
    try:
        parsed = re._parser.parse(pattern.pattern, pattern.flags)  # the parse re itself compiles from
    except Exception:  # a parser change must cost speed, never correctness
        return None
    return _needed(list(parsed))


def _needed(items: list) -> frozenset[str] | None:
    """For a sequence of parsed items: the most selective set of substrings a match must contain."""
    options: list[frozenset[str]] = []
    run: list[str] = []

    def safe(item: Any) -> str | None:
        op, value = item
        if str(op) == "LITERAL" and value < 128 and chr(value).lower() not in _FOLD_UNSAFE:
            return chr(value).lower()
        return None

    for item in items:
        op, value = str(item[0]), item[1]
        if (char := safe(item)) is not None:
            run.append(char)
            continue
        if (
            op in _REPEATS
            and value[0] >= 1
            and len(value[2]) == 1
            and (char := safe(value[2][0])) is not None
        ):
            run.extend(char * value[0])  # "!{2,}" needs "!!"; what follows may not be adjacent
        if run:
            options.append(frozenset({"".join(run)}))
            run = []
        need = None
        if op == "SUBPATTERN":
            need = _needed(list(value[-1]))
        elif op == "ATOMIC_GROUP":
            need = _needed(list(value))
        elif op in _REPEATS and value[0] >= 1:
            need = _needed(list(value[2]))
        elif op == "BRANCH":
            branches = [_needed(list(branch)) for branch in value[1]]
            if all(branches):
                need = frozenset().union(*branches)
        elif op == "IN" and value and all(safe(member) for member in value):
            need = frozenset(safe(member) for member in value)
        if need:
            options.append(need)
    if run:
        options.append(frozenset({"".join(run)}))
    if not options:
        return None
    return max(options, key=lambda need: (min(map(len, need)), -len(need)))


def _condition(value: Any, path: str, context: RoutingContext) -> Condition:
    op, arg = _single_key(value, path, "condition", _CONDITION_OPS)
    path = f"{path}.{op}"
    if op in ("all", "any"):
        if not isinstance(arg, list | tuple):
            raise _fail(path, f"expected a list of conditions, got {type(arg).__name__}")
        if not arg:
            raise _fail(path, f"empty {op!r}: it needs at least one condition")
        children = tuple(_condition(child, f"{path}[{i}]", context) for i, child in enumerate(arg))
        gated = [child.gate for child in children if child.gate is not None]
        if op == "all":
            gate = min(gated, key=lambda g: g.share) if gated else None
        else:
            gate = None
            if len(gated) == len(children):
                gate = Gate()
                for child_gate in gated:
                    gate = gate | child_gate
        return Condition(op, None, children, sum(c.cost for c in children), gate)
    if op == "not":
        child = _condition(arg, path, context)
        return Condition(op, None, (child,), child.cost, None)
    if op in _TEXT_OPS:
        terms = _text_terms(op, arg, path)
        return Condition("text", terms, gate=Gate(terms=terms))
    if op == "regex":
        if not isinstance(arg, str) or not arg:
            raise _fail(path, "expected a non-empty regular expression")
        if len(arg) > MAX_REGEX_LENGTH:
            raise _fail(path, f"regular expression longer than {MAX_REGEX_LENGTH} characters")
        try:
            pattern = re.compile(arg, re.IGNORECASE)
        except re.error as error:
            raise _fail(path, f"bad regular expression {arg!r}: {error}") from None
        literals = _required_literals(pattern)
        return Condition(op, pattern, cost=_REGEX_COST, gate=Gate(literals=literals) if literals else None)
    if op in _FACET_OPS:
        what = op.replace("_", " ")
        values = _string_list(arg, path, f"{what}s")
        known: Iterable[str] | None = {
            "author_tag": AUTHOR_TAGS,
            "author_segment": AUTHOR_SEGMENTS,
            "kind": KINDS,
            "segment": context.segments.keys(),
            "channel": context.channels,
        }.get(op)
        if op in ("language", "network"):
            values = [v.lower() for v in values]
        allowed = _known(values, known, path, what)
        return Condition(op, allowed, gate=Gate(facets=frozenset((op, v) for v in allowed)))
    if op == "intent":
        if not isinstance(arg, Mapping) or not arg:
            raise _fail(path, 'expected {"in": [intents], "min_confidence": 0..1}')
        unknown = set(arg) - {"in", "min_confidence"}
        if unknown:
            raise _fail(f"{path}.{sorted(unknown)[0]}", "unknown key; expected in or min_confidence")
        intents = None
        if "in" in arg:
            intents = _known(
                _string_list(arg["in"], f"{path}.in", "intents"), INTENTS, f"{path}.in", "intent"
            )
        minimum = 0.0
        if arg.get("min_confidence") is not None:
            minimum = _number(arg["min_confidence"], f"{path}.min_confidence")
            if not 0 <= minimum <= 1:
                raise _fail(f"{path}.min_confidence", f"{minimum} is out of range [0, 1]")
        gate = Gate(facets=frozenset(("intent", i) for i in intents)) if intents is not None else None
        return Condition(op, (intents, float(minimum)), gate=gate)
    if op == "sentiment":
        return Condition(op, _bounds(arg, path, -1, 1))
    if op == "followers":
        return Condition(op, _bounds(arg, path, 0, None, integer=True))
    if op in ("verified", "crisis_mode"):
        if not isinstance(arg, bool):
            raise _fail(path, f"expected true or false, got {arg!r}")
        return Condition(op, arg, gate=Gate(facets=frozenset({(op, arg)})))
    # time_window
    if not isinstance(arg, Mapping) or not arg:
        raise _fail(path, 'expected {"start": iso8601, "end": iso8601}')
    unknown = set(arg) - {"start", "end"}
    if unknown:
        raise _fail(f"{path}.{sorted(unknown)[0]}", "unknown key; expected start or end")
    start = _datetime(arg["start"], f"{path}.start") if arg.get("start") is not None else None
    end = _datetime(arg["end"], f"{path}.end") if arg.get("end") is not None else None
    if start is None and end is None:
        raise _fail(path, "a time window needs a start, an end or both")
    if start is not None and end is not None and start >= end:
        raise _fail(path, f"the window ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    return Condition(op, (start, end))


@dataclass(frozen=True)
class _Effect:
    """The net effect of one rule's actions."""

    route_team: str = ""
    route_segment: str | None = None
    route_fallback: str = ""
    priority: str = ""
    labels: tuple[str, ...] = ()
    assignee: str = ""
    escalate_team: str = ""
    escalate_team_name: str = ""
    escalate_reason: str = ""
    require_approval: bool = False
    notifications: tuple[Notification, ...] = ()
    stop: bool = False
    said: tuple[str, ...] = ()  # what each action did, for the explanation


def _webhook(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"expected an http(s) URL, got {value!r}")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise _fail(path, f"not a URL: {value!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(path, f"webhooks must be http(s) URLs with a host, got {value!r}")
    return value


def _actions(value: Any, path: str, context: RoutingContext) -> _Effect:
    if not isinstance(value, list | tuple):
        raise _fail(path, f"expected a list of actions, got {type(value).__name__}")
    if not value:
        raise _fail(path, "a rule needs at least one action")
    effect: dict[str, Any] = {"labels": [], "notifications": [], "said": []}
    said = effect["said"]
    for i, action in enumerate(value):
        op, arg = _single_key(action, f"{path}[{i}]", "action", _ACTION_OPS)
        here = f"{path}[{i}].{op}"
        if op == "route_to_team":
            team = _slug(arg, here, context.teams, "team")
            owned = sorted(s for s, t in context.segments.items() if t == team)
            effect.update(route_team=team, route_segment=None, route_fallback=owned[0] if owned else "")
            said.append(f"routed to team {context.team_names.get(team) or team}")
        elif op == "route_to_segment":
            segment = _slug(arg, here, context.segments.keys(), "segment")
            team = context.segments[segment]
            effect.update(route_team=team, route_segment=segment)
            segment_name = context.segment_names.get(segment) or segment
            said.append(f"routed to {segment_name} (team {context.team_names.get(team) or team})")
        elif op == "set_priority":
            effect["priority"] = _slug(arg, here, PRIORITIES, "priority")
            said.append(f"set priority {arg}")
        elif op == "add_labels":
            labels = _labels(arg, here, checked=context.labels_checked)
            effect["labels"].extend(label for label in labels if label not in effect["labels"])
            if labels:
                said.append(f"labelled {', '.join(labels)}")
        elif op == "assign_to":
            effect["assignee"] = _slug(arg, here, context.users, "user")
            said.append(f"assigned to {arg}")
        elif op == "escalate":
            if not isinstance(arg, Mapping) or "team" not in arg:
                raise _fail(here, 'expected {"team": slug, "reason": text}')
            unknown = set(arg) - {"team", "reason"}
            if unknown:
                raise _fail(f"{here}.{sorted(unknown)[0]}", "unknown key; expected team or reason")
            team = _slug(arg["team"], f"{here}.team", context.teams, "team")
            reason = arg.get("reason") or ""
            if not isinstance(reason, str):
                raise _fail(f"{here}.reason", f"expected text, got {reason!r}")
            team_name = context.team_names.get(team) or team
            effect.update(escalate_team=team, escalate_team_name=team_name, escalate_reason=reason.strip())
            said.append(f"escalated to team {team_name}")
        elif op in ("require_approval", "stop"):
            if arg is not True:
                raise _fail(here, f"expected true, got {arg!r}")
            effect[op] = True
            said.append(
                "required approval before replying" if op == "require_approval" else "stopped the rules"
            )
        elif op == "notify_email":
            if not isinstance(arg, str) or not _EMAIL.fullmatch(arg.strip()):
                raise _fail(here, f"not an email address: {arg!r}")
            effect["notifications"].append(Notification("email", arg.strip()))
            said.append(f"notified {arg.strip()}")
        elif op == "hand_off":
            # The slug of a hand-off integration (integrations app); one gone or inactive by then is skipped.
            integration = _slug(arg, here, None, "hand-off integration")
            effect["notifications"].append(Notification("handoff", integration))
            said.append(f"handed off to {integration}")
        else:  # notify_webhook
            effect["notifications"].append(Notification("webhook", _webhook(arg, here)))
            said.append(f"called webhook {arg}")
    effect["labels"] = tuple(effect["labels"])
    effect["notifications"] = tuple(dict.fromkeys(effect["notifications"]))
    effect["said"] = tuple(said)
    return _Effect(**effect)


def _slug(value: Any, path: str, known: Iterable[str] | None, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, f"expected a {what}, got {value!r}")
    value = value.strip()
    if known is not None and value not in known:
        raise _fail(path, f"unknown {what} {value!r}")
    return value


@dataclass(frozen=True)
class _Validated:
    id: int
    name: str
    enabled: bool
    when: Condition
    effect: _Effect


def _validate(rule: Any, context: RoutingContext, index: int) -> _Validated:
    path = f"rules[{index}]"
    if not isinstance(rule, Mapping):
        raise _fail(path, f"a rule must be an object, got {type(rule).__name__}")
    unknown = set(rule) - _RULE_KEYS
    if unknown:
        raise _fail(
            f"{path}.{sorted(map(str, unknown))[0]}",
            "unknown rule key; expected id, name, enabled, when, then",
        )
    rule_id = rule.get("id")
    if isinstance(rule_id, bool) or not isinstance(rule_id, int) or rule_id < 0:
        raise _fail(f"{path}.id", f"expected a whole number, got {rule_id!r}")
    name = rule.get("name", "")
    if not isinstance(name, str):
        raise _fail(f"{path}.name", f"expected text, got {name!r}")
    enabled = rule.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _fail(f"{path}.enabled", f"expected true or false, got {enabled!r}")
    if "when" not in rule:
        raise _fail(f"{path}.when", "a rule needs a condition")
    if "then" not in rule:
        raise _fail(f"{path}.then", "a rule needs at least one action")
    when = _condition(rule["when"], f"{path}.when", context)
    effect = _actions(rule["then"], f"{path}.then", context)
    return _Validated(rule_id, name.strip(), enabled, when, effect)


def validate_rule(rule: Any, context: RoutingContext, *, index: int = 0) -> None:
    """Raise ``RuleError`` naming the wrong part (``rules[<index>]....``) unless ``rule`` compiles."""
    _validate(rule, context, index)


# --- Compilation: Condition -> check ----------------------------------------------------------------------
# Each rule's condition becomes one Python expression, compiled once: a candidate rule then costs one call
# instead of one call per node of its tree, which is most of the time a post spends in the rules. Values never
# enter the source: each is bound to a generated name (k0, k1, ...) in the expression's own namespace.


def _window(created: datetime | None, start: datetime | None, end: datetime | None) -> bool:
    if created is None:
        return False
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return (start is None or start <= created) and (end is None or created < end)


def _aware(created: datetime | None) -> datetime | None:
    if created is not None and created.tzinfo is None:
        return created.replace(tzinfo=UTC)
    return created


def _search_once(matched: set[int], text: str, search: Callable, yes: int, no: int) -> bool:
    """A regex searched at most once per post however many rules use it: the answer is kept in ``matched``."""
    if yes in matched:
        return True
    if no in matched:
        return False
    found = search(text) is not None
    matched.add(yes if found else no)
    return found


class _Emitter:
    """Writes a condition as one expression over ``f`` (facts), ``c`` (classification), ``t`` (text state)."""

    def __init__(
        self, text: Callable[[_Emitter, frozenset[str]], str], regex: Callable[[_Emitter, Any], str]
    ):
        self.namespace: dict[str, Any] = {
            "__builtins__": {},
            "_window": _window,
            "_aware": _aware,
            "_search_once": _search_once,
        }
        self._names: dict[Any, str] = {}
        self._text = text
        self._regex = regex
        # Inside a function evaluating several rules (``group``): the locals its preamble must set, by name.
        self.locals: dict[str, str] | None = None

    def const(self, value: Any) -> str:
        key = (type(value), value)
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = f"k{len(self._names)}"
            self.namespace[name] = value
        return name

    def emit(self, node: Condition, *, reorder: bool) -> str:
        op, arg = node.op, node.arg
        if op in ("all", "any", "not"):
            children = node.children
            if reorder:  # same truth value, fewer costly checks: regexes run only once the cheap parts hold
                children = tuple(sorted(children, key=lambda child: child.cost))
            parts = [self.emit(child, reorder=reorder) for child in children]
            if op == "not":
                return f"(not {parts[0]})"
            return "(" + (" and " if op == "all" else " or ").join(parts) + ")"
        if op == "text":
            return self._text(self, arg)
        if op == "regex":
            check = self._regex(self, arg)
            if self.locals is None:
                return check
            # Asked once per function however many of its rules use it (and once per post, by _search_once).
            name = f"_r{self.const(arg)}"
            self.locals[name] = "None"
            return f"({name} if {name} is not None else ({name} := {check}))"
        if op == "intent":
            intents, minimum = arg
            checks = []
            if intents is not None:
                checks.append(f"c.intent in {self.const(intents)}")
            if minimum > 0 or intents is None:
                checks.append(f"c.confidence >= {self.const(minimum)}")
            return "(" + " and ".join(checks) + ")"
        if op in ("sentiment", "followers"):
            value = "c.sentiment" if op == "sentiment" else "f.author_followers"
            low, high = arg
            checks = []
            if low is not None:
                checks.append(f"{value} >= {self.const(low)}")
            if high is not None:
                checks.append(f"{value} <= {self.const(high)}")
            return "(" + " and ".join(checks) + ")"
        if op in ("verified", "crisis_mode"):
            attribute = "author_verified" if op == "verified" else "crisis_mode"
            return f"({'' if arg else 'not '}f.{attribute})"
        if op in _SET_FACETS:
            return f"(not {self.const(arg)}.isdisjoint(f.{_SET_FACETS[op]}))"
        if op in ("language", "network"):
            return f"(f.{op}.lower() in {self.const(arg)})"
        if op in ("channel", "segment", "kind"):
            return f"(f.{op} in {self.const(arg)})"
        if op == "time_window":
            start, end = arg
            if self.locals is None:
                return f"_window(f.created_at, {self.const(start)}, {self.const(end)})"
            # The function's preamble reads the time once, as _window does: None stays None, naive is UTC.
            self.locals["_w"] = "_aware(f.created_at)"
            checks = ["_w is not None"]
            if start is not None:
                checks.append(f"{self.const(start)} <= _w")
            if end is not None:
                checks.append(f"_w < {self.const(end)}")
            return "(" + " and ".join(checks) + ")"
        raise AssertionError(op)  # pragma: no cover - _condition admits nothing else

    def group(self, name: str, members: Iterable[tuple[int, Condition | None]]) -> str:
        """Source of ``name(f, c, t)``: the mask of the ``(bit, condition)`` members whose condition holds
        (None: always), each written inline."""
        self.locals = {}
        try:
            lines = []
            for bit, node in members:
                if node is None:
                    lines.append(f"    fired |= {self.const(bit)}")
                else:
                    lines.append(
                        f"    if {self.emit(node, reorder=True)}:\n        fired |= {self.const(bit)}"
                    )
            preamble = [f"    {local} = {value}" for local, value in self.locals.items()]
        finally:
            self.locals = None
        return "\n".join([f"def {name}(f, c, t):", "    fired = 0", *preamble, *lines, "    return fired\n"])

    def check(self, node: Condition, *, reorder: bool, rule_id: int) -> Check:
        source = f"lambda f, c, t: {self.emit(node, reorder=reorder)}"
        code = compile(source, f"<rule {rule_id}>", "eval")
        return eval(code, self.namespace)  # noqa: S307 - our own source; every value is a bound name


def _walk_terms(node: Condition) -> Iterable[str]:
    if node.op == "text":
        yield from node.arg
    for child in node.children:
        yield from _walk_terms(child)


def _assuming(node: Condition, term: str) -> Condition | None:
    """``node`` simplified for a text known to hold the whole-word ``term``; None when that makes it true."""
    op = node.op
    if op == "text":
        return None if term in node.arg else node
    if op in ("all", "any"):
        children = []
        for child in node.children:
            simpler = _assuming(child, term)
            if simpler is None:
                if op == "any":
                    return None
                continue
            children.append(simpler)
        if not children:
            return None
        unchanged = len(children) == len(node.children)  # nothing dropped here; below, nothing simplified?
        if unchanged and all(a is b for a, b in zip(children, node.children, strict=True)):
            return node
        return Condition(op, None, tuple(children), sum(child.cost for child in children), node.gate)
    return node


def _walk_regexes(node: Condition) -> Iterable[Condition]:
    if node.op == "regex":
        yield node
    for child in node.children:
        yield from _walk_regexes(child)


def _compiled_rule(validated: _Validated, position: int, check: Check) -> CompiledRule:
    effect = validated.effect
    label = f"Rule {validated.id} “{validated.name}”" if validated.name else f"Rule {validated.id}"
    return CompiledRule(
        id=validated.id,
        name=validated.name,
        position=position,
        check=check,
        gate=validated.when.gate,
        route_team=effect.route_team,
        route_segment=effect.route_segment,
        route_fallback=effect.route_fallback,
        priority=effect.priority,
        labels=effect.labels,
        assignee=effect.assignee,
        escalate_team=effect.escalate_team,
        escalate_reason=effect.escalate_reason
        or f"{label} escalated it to team {effect.escalate_team_name or effect.escalate_team}.",
        require_approval=effect.require_approval,
        notifications=effect.notifications,
        stop=effect.stop,
        summary=f"{label} fired: {'; '.join(effect.said)}.",
    )


def _validate_all(rules: Sequence[Any], context: RoutingContext) -> list[_Validated]:
    if isinstance(rules, str | bytes | Mapping) or not isinstance(rules, Sequence):
        raise _fail("rules", f"expected a list of rules, got {type(rules).__name__}")
    validated = []
    seen: dict[int, int] = {}
    for index, rule in enumerate(rules):
        item = _validate(rule, context, index)
        if item.id in seen:
            raise _fail(f"rules[{index}].id", f"rule id {item.id} is already used by rules[{seen[item.id]}]")
        seen[item.id] = index
        validated.append(item)
    return validated


class _RuleSetBase:
    """What the engine reads from either rule set: the context, precomputed, and the enabled rules."""

    def __init__(self, context: RoutingContext, version: int, rules: tuple[CompiledRule, ...]) -> None:
        self.context = context
        self.version = version
        self.rules = rules
        self.rule_ids = tuple(rule.id for rule in rules)
        self.misdirect_threshold = float(context.misdirect_threshold)
        # Plain dicts, read on every post (a read-only proxy costs a third more a lookup): do not change them.
        self.segment_teams: dict[str, str] = dict(context.segments)
        # What explanations call teams, segments and channels (read once per outcome, not per post).
        self.team_names: dict[str, str] = dict(context.team_names)
        self.segment_names: dict[str, str] = dict(context.segment_names)
        self.channel_names: dict[str, str] = dict(context.channel_names)
        # intent -> (owning segment, its team or ""), or None when nobody owns the intent
        owners: dict[str, tuple[str, str] | None] = {}
        for intent in INTENTS:
            segment = context.intent_segments.get(intent, "") or ""
            owners[intent] = (segment, context.segments.get(segment, "")) if segment else None
        self.intent_owners: dict[str, tuple[str, str] | None] = owners
        # The owner model's view of the same: the organisation's teams, intent -> owning team ("" when its
        # segment has no team or nobody owns it: the receiving team), and each team's first segment.
        self.teams: tuple[str, ...] = tuple(sorted(context.teams))
        self.intent_teams: dict[str, str] = {
            intent: owner[1] if owner else "" for intent, owner in owners.items()
        }
        self.team_segments: dict[str, str] = {}
        for segment, team in context.segments.items():
            self.team_segments.setdefault(team, segment)

    def __len__(self) -> int:
        return len(self.rules)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} version={self.version} rules={len(self.rules)}>"


# The facts a post's facet gates and requirements look at, in the order of CompiledRuleSet._profile_key.
_PROFILE_DIMS = ("intent", "channel", "segment", "kind", "network", "language", "verified", "crisis_mode")
_PROFILE_CACHE_SIZE = 50_000  # distinct (intent, channel, kind, language, ...) combinations remembered


def _requirements(node: Condition) -> Iterable[tuple[str, frozenset]]:
    """Facet conditions a rule cannot match without: the facet leaves of its top-level ``all``."""
    if node.op == "all":
        for child in node.children:
            yield from _requirements(child)
    elif node.op in _FACET_OPS or node.op in ("verified", "crisis_mode"):
        yield node.op, node.arg if isinstance(node.arg, frozenset) else frozenset({node.arg})
    elif node.op == "intent" and node.arg[0] is not None:
        yield "intent", node.arg[0]


def _mask(positions: Iterable[int]) -> int:
    mask = 0
    for position in positions:
        mask |= 1 << position
    return mask


class CompiledRuleSet(_RuleSetBase):
    """Enabled rules in order, with one keyword automaton over all their terms and a gate index.

    Attributes the service layer reads: ``version``, ``context``, ``rules`` (``CompiledRule``, enabled only,
    in evaluation order), ``rule_ids``, ``terms`` (how many distinct text terms the automaton holds).

    Candidate rules are bit masks over rule positions. Per post: the automaton's hits give the text-gated
    rules; the post's profile (intent, channel, segment, kind, network, language, verified, crisis mode,
    author tags) gives, from a cache, the facet-gated and ungated rules and the rules whose top-level facet
    conditions hold at all; the candidates are evaluated in rule order.
    """

    def __init__(self, validated: Sequence[_Validated], context: RoutingContext, version: int) -> None:
        enabled = [item for item in validated if item.enabled]
        term_ids: dict[str, int] = {}
        for item in enabled:
            for term in sorted(_walk_terms(item.when)):
                term_ids.setdefault(term, len(term_ids))

        # Every regex's required substrings go into the automaton too, gating a rule or not: a regex whose
        # substrings are all absent from the text cannot match, and is not run.
        literal_ids: dict[str, int] = {}
        regex_literals: dict[re.Pattern, frozenset[str]] = {}
        for item in enabled:
            for node in _walk_regexes(item.when):
                literals = node.gate.literals if node.gate is not None else frozenset()
                regex_literals[node.arg] = literals
                for literal in sorted(literals):
                    literal_ids.setdefault(literal, len(term_ids) + len(literal_ids))

        regex_ids: dict[re.Pattern, int] = {}

        def ids_in_t(emitter: _Emitter, ids: frozenset[int]) -> str:
            if len(ids) == 1:
                return f"({next(iter(ids))} in t)"
            return f"(not {emitter.const(ids)}.isdisjoint(t))"

        def text(emitter: _Emitter, terms: frozenset[str]) -> str:
            return ids_in_t(emitter, frozenset(term_ids[term] for term in terms))

        def regex(emitter: _Emitter, pattern: re.Pattern) -> str:
            # Negative ids keep the regex answers apart from the term ids in the same set.
            number = regex_ids.setdefault(pattern, len(regex_ids))
            search = emitter.const(pattern.search)
            check = f"_search_once(t, f.text, {search}, {-2 * number - 1}, {-2 * number - 2})"
            literals = regex_literals.get(pattern)
            if literals:
                return f"({ids_in_t(emitter, frozenset(literal_ids[lit] for lit in literals))} and {check})"
            return check

        emitter = _Emitter(text, regex)
        rules = tuple(
            _compiled_rule(item, position, emitter.check(item.when, reorder=True, rule_id=item.id))
            for position, item in enumerate(enabled)
        )
        super().__init__(context, version, rules)

        for rule in rules:  # gates only hold literals of the rules' own regexes: all known already
            for literal in sorted(rule.gate.literals if rule.gate else ()):
                literal_ids.setdefault(literal, len(term_ids) + len(literal_ids))
        by_term: dict[str, list[int]] = {term: [] for term in term_ids}
        by_literal: dict[str, list[int]] = {literal: [] for literal in literal_ids}
        by_facet: dict[str, dict[Any, list[int]]] = {}
        always: list[int] = []
        for rule in rules:
            if rule.gate is None:
                always.append(rule.position)
                continue
            for term in rule.gate.terms:
                by_term[term].append(rule.position)
            for literal in rule.gate.literals:
                by_literal[literal].append(rule.position)
            for dim, value in rule.gate.facets:
                by_facet.setdefault(dim, {}).setdefault(value, []).append(rule.position)
        self.terms = len(term_ids)
        self._always = _mask(always)
        self._facet_gates = {
            dim: {value: _mask(positions) for value, positions in values.items()}
            for dim, values in by_facet.items()
        }

        # Requirements: per dimension, the rules that need it and, per value, those of them it satisfies.
        requirements: dict[str, dict[int, frozenset]] = {}
        for item, rule in zip(enabled, rules, strict=True):
            for dim, allowed in _requirements(item.when):
                mine = requirements.setdefault(dim, {})
                if rule.position not in mine:
                    mine[rule.position] = allowed
                elif dim not in _SET_FACETS:  # several tags conditions cannot be merged; the first one prunes
                    mine[rule.position] &= allowed
        self._required: dict[str, tuple[int, dict[Any, int]]] = {}
        for dim, by_position in requirements.items():
            satisfied: dict[Any, list[int]] = {}
            for position, allowed in by_position.items():
                for value in allowed:
                    satisfied.setdefault(value, []).append(position)
            self._required[dim] = (
                _mask(by_position),
                {value: _mask(positions) for value, positions in satisfied.items()},
            )
        self._profiles: dict[tuple, tuple[int, int, tuple]] = {}
        self._stops = _mask(rule.position for rule in rules if rule.stop)

        # Per automaton key, one function evaluating inline every rule the key gates (as a whole word, or as a
        # regex's substring), returning the mask of those that hold: a candidate then costs a few bytecodes,
        # not a call. A rule gated by a word is written knowing that word is in the text.
        source: list[str] = []
        names: dict[tuple[str, str], str] = {}
        for kind, by_key in (("term", by_term), ("literal", by_literal)):
            for key, positions in by_key.items():
                if not positions:
                    continue
                name = names[kind, key] = f"_{kind}{len(names)}"
                members = [
                    (
                        1 << position,
                        _assuming(enabled[position].when, key) if kind == "term" else enabled[position].when,
                    )
                    for position in sorted(positions)
                ]
                source.append(emitter.group(name, members))
        if source:
            code = compile("\n".join(source), f"<rule set {version}>", "exec")
            exec(code, emitter.namespace)  # noqa: S102 - our own source; every value is a bound name
        groups = {kind_key: emitter.namespace[name] for kind_key, name in names.items()}

        # The engine's memo: (fired rules, the post's profile) -> the parts of a decision that depend on
        # nothing else. Bounded by the engine (routing.engine.OUTCOME_CACHE_SIZE).
        self.outcomes: dict[tuple, tuple] = {}

        self._automaton: Any = None
        if term_ids or literal_ids:
            # Per string: (length, word id, its rules, substring id, its rules, the word's rules' function,
            # the substring's rules' function); -1: not that kind; None: no rules.
            automaton = ahocorasick.Automaton()
            for key in {**term_ids, **literal_ids}:
                automaton.add_word(
                    key,
                    (
                        len(key),
                        term_ids.get(key, -1),
                        _mask(by_term.get(key, ())),
                        literal_ids.get(key, -1),
                        _mask(by_literal.get(key, ())),
                        groups.get(("term", key)),
                        groups.get(("literal", key)),
                    ),
                )
            automaton.make_automaton()
            self._automaton = automaton

    def _profile(self, key: tuple) -> tuple[int, int, tuple]:
        """(facet-gated and ungated candidates, rules whose facet requirements hold, the candidates' checks
        and bits) for a post profile."""
        values = dict(zip(_PROFILE_DIMS, key, strict=False))
        values["network"] = values["network"].lower()
        values["language"] = values["language"].lower()
        several = dict(zip(_SET_FACETS, key[len(_PROFILE_DIMS) :], strict=True))
        gated = self._always
        for dim, index in self._facet_gates.items():
            if dim in several:
                for tag in several[dim]:
                    gated |= index.get(tag, 0)
            else:
                gated |= index.get(values[dim], 0)
        excluded = 0
        for dim, (requiring, satisfied) in self._required.items():
            if dim in several:
                ok = 0
                for tag in several[dim]:
                    ok |= satisfied.get(tag, 0)
            else:
                ok = satisfied.get(values[dim], 0)
            excluded |= requiring & ~ok
        possible = ~excluded
        gated &= possible
        checks = tuple((rule.check, 1 << rule.position) for rule in self.rules if gated >> rule.position & 1)
        entry = (gated, possible, checks)
        if len(self._profiles) >= _PROFILE_CACHE_SIZE:
            self._profiles.clear()
        self._profiles[key] = entry
        return entry

    def _profile_of(self, facts: Facts, classification: Classification) -> tuple:
        """The post profile's entry: (rules its words can open, rules it allows, checks of ungated rules)."""
        key = (
            classification.intent,
            facts.channel,
            facts.segment,
            facts.kind,
            facts.network,
            facts.language,
            facts.author_verified,
            facts.crisis_mode,
            facts.author_tags,
            facts.author_segments,
        )
        entry = self._profiles.get(key)
        return entry if entry is not None else self._profile(key)

    def _found(self, facts: Facts) -> tuple[set[int], list[tuple], list[tuple]]:
        """One automaton pass over the text: the ids of the terms (whole words only) and regex literals found,
        and the automaton's entries for the terms and for the literals, in the order found."""
        matched: set[int] = set()
        terms: list[tuple] = []
        literals: list[tuple] = []
        if self._automaton is None:
            return matched, terms, literals
        text = facts.text.lower()
        last = len(text) - 1
        for end, entry in self._automaton.iter(text):
            literal_id = entry[3]
            if literal_id >= 0 and literal_id not in matched:
                matched.add(literal_id)
                literals.append(entry)
            term_id = entry[1]
            if term_id < 0 or term_id in matched:
                continue
            start = end - entry[0] + 1
            if start and ((ch := text[start - 1]).isalnum() or ch == "_"):
                continue
            if end < last and ((ch := text[end + 1]).isalnum() or ch == "_"):
                continue
            matched.add(term_id)
            terms.append(entry)
        return matched, terms, literals

    def _scan(self, facts: Facts, classification: Classification) -> tuple[set[int], int]:
        """One automaton pass and the profile: (matched term ids, candidate rules as a mask of positions)."""
        candidates, possible, _ = self._profile_of(facts, classification)
        matched, terms, literals = self._found(facts)
        hits = 0
        for entry in terms:
            hits |= entry[2]
        for entry in literals:
            hits |= entry[4]
        if hits:
            candidates |= hits & possible
        return matched, candidates

    def candidates(self, facts: Facts, classification: Classification) -> tuple[int, ...]:
        """Ids of the rules that would be evaluated for this post, in order (the others cannot match)."""
        _, mask = self._scan(facts, classification)
        return tuple(rule.id for rule in self.rules if mask >> rule.position & 1)

    def fire(self, facts: Facts, classification: Classification) -> int:
        """The rules that fire for this post, up to and including the first that stops, as a position mask.

        The mask is what the engine memoises a decision's rule-dependent parts on; ``rules_of`` turns it into
        the rules.
        """
        entry = self._profile_of(facts, classification)
        # The whole text first: a rule's check may look at any of its words.
        matched, terms, literals = self._found(facts)
        fired = 0
        for found in terms:
            if found[5] is not None:
                fired |= found[5](facts, classification, matched)
        for found in literals:
            if found[6] is not None:
                fired |= found[6](facts, classification, matched)
        for check, bit in entry[2]:
            if check(facts, classification, matched):
                fired |= bit
        # Rules were evaluated by gate, not in order: a rule that stops cuts the ones after it. Checks have no
        # effects, so evaluating those was only wasted work.
        stops = fired & self._stops
        if stops:
            fired &= ((stops & -stops) << 1) - 1
        return fired

    def rules_of(self, mask: int) -> list[CompiledRule]:
        """The rules at the positions set in ``mask``, in order."""
        out = []
        rules = self.rules
        while mask:
            lowest = mask & -mask
            out.append(rules[lowest.bit_length() - 1])
            mask ^= lowest
        return out

    def match(self, facts: Facts, classification: Classification) -> list[CompiledRule]:
        """The rules that fire for this post, in order, up to and including the first that stops."""
        return self.rules_of(self.fire(facts, classification))


class NaiveRuleSet(_RuleSetBase):
    """The same rules evaluated one by one, each text condition as one regular expression over the text."""

    def __init__(self, validated: Sequence[_Validated], context: RoutingContext, version: int) -> None:
        def text(emitter: _Emitter, terms: frozenset[str]) -> str:
            alternatives = "|".join(re.escape(term) for term in sorted(terms, key=lambda t: (-len(t), t)))
            search = emitter.const(re.compile(_BOUNDED.format(alternatives)).search)
            return f"({search}(t) is not None)"

        def regex(emitter: _Emitter, pattern: re.Pattern) -> str:
            return f"({emitter.const(pattern.search)}(f.text) is not None)"

        emitter = _Emitter(text, regex)
        enabled = [item for item in validated if item.enabled]
        rules = tuple(
            _compiled_rule(item, position, emitter.check(item.when, reorder=False, rule_id=item.id))
            for position, item in enumerate(enabled)
        )
        super().__init__(context, version, rules)

    def match(self, facts: Facts, classification: Classification) -> list[CompiledRule]:
        """The rules that fire for this post, in order, up to and including the first that stops."""
        lowered = facts.text.lower()
        fired = []
        for rule in self.rules:
            if rule.check(facts, classification, lowered):
                fired.append(rule)
                if rule.stop:
                    break
        return fired


def compile_rule_set(rules: Sequence[Any], context: RoutingContext, *, version: int = 0) -> CompiledRuleSet:
    """Validate every rule (disabled ones too), compile the enabled ones; ``RuleError`` on the first bad."""
    return CompiledRuleSet(_validate_all(rules, context), context, version)


def compile_naive_rule_set(
    rules: Sequence[Any], context: RoutingContext, *, version: int = 0
) -> NaiveRuleSet:
    """The same rules as ``compile_rule_set``, evaluated without the automaton or the gates (a yardstick)."""
    return NaiveRuleSet(_validate_all(rules, context), context, version)
