"""Forms of the routing admin pages: segments, the intent map, routing settings, the rule builder and the
rule's JSON.

The builder writes one rule of ``routing.rules``' language without JSON: a form for the rule (name, enabled,
how its groups combine), a formset of condition groups (all or any of their rows, optionally negated), a
formset of condition rows (each in a group, optionally negated) and a formset of actions. ``RuleBuilder``
turns valid forms into the rule's JSON and puts a ``RuleError`` back next to the row and field it names;
``builder_initial`` turns a rule back into the forms' data, or says it cannot (conditions nested deeper than
groups of rows: those rules are edited as JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from channels.connectors.registry import network_choices
from channels.models import Channel, Segment
from foundation.parsers import JsonRefused, json_loads_checked
from routing.facts import AUTHOR_SEGMENTS, AUTHOR_TAGS, INTENTS, KINDS, PRIORITIES
from routing.rules import RuleError
from teams.models import Team

RULE_NAME_MAX = 120  # Rule.name's length
MAX_BACKTEST_DAYS = 90  # a quarter: longer backtests keep an admin waiting for little more insight

CONDITION_KINDS: tuple[tuple[str, str], ...] = (
    ("keywords", "Text has any of these words"),
    ("phrase", "Text has this phrase"),
    ("regex", "Text matches a regular expression"),
    ("hashtag", "Has any of these hashtags"),
    ("cashtag", "Has any of these cashtags"),
    ("language", "Language is one of"),
    ("intent", "Intent is"),
    ("sentiment", "Sentiment is between"),
    ("followers", "Author's followers are between"),
    ("verified", "Author is verified"),
    ("author_tag", "Author is tagged"),
    ("author_segment", "Author segment is"),
    ("channel", "Received on channel"),
    ("segment", "Received on segment"),
    ("network", "Network is"),
    ("kind", "Kind of post is"),
    ("time_window", "Posted between (UTC)"),
    ("crisis_mode", "Crisis mode is"),
)
ACTION_KINDS: tuple[tuple[str, str], ...] = (
    ("route_to_segment", "Route to segment"),
    ("route_to_team", "Route to team"),
    ("set_priority", "Set priority"),
    ("add_labels", "Add labels"),
    ("assign_to", "Assign to"),
    ("escalate", "Escalate to team"),
    ("require_approval", "Require approval before replying"),
    ("notify_email", "Email"),
    ("notify_webhook", "Call a webhook"),
    ("stop", "Stop: later rules do not run"),
)
_LIST_OPS = frozenset({"keywords", "hashtag", "cashtag", "language"})
_CHOICE_OPS = {  # condition -> the row's multiple-choice field
    "author_tag": "author_tags",
    "author_segment": "author_segments",
    "channel": "channels",
    "segment": "segments",
    "network": "networks",
    "kind": "kinds",
}
_MODES = (("all", "all"), ("any", "any"))
_FLAGS = (("true", "yes / on"), ("false", "no / off"))
_SEPARATORS = re.compile(r"[,\n]")


def _split(text: str) -> list[str]:
    return [part.strip() for part in _SEPARATORS.split(text or "") if part.strip()]


@dataclass(frozen=True)
class BuilderChoices:
    """What the builder's selects offer, read once per request."""

    teams: tuple[tuple[str, str], ...]
    segments: tuple[tuple[str, str], ...]
    users: tuple[tuple[str, str], ...]
    channels: tuple[tuple[str, str], ...]

    @classmethod
    def load(cls) -> BuilderChoices:
        users = get_user_model().objects.filter(is_active=True).order_by("username")
        return cls(
            teams=tuple(Team.objects.order_by("name").values_list("slug", "name")),
            segments=tuple(Segment.objects.values_list("slug", "name")),
            users=tuple((u.username, u.get_full_name() or u.username) for u in users),
            channels=tuple((c.slug, f"{c.handle} ({c.slug})") for c in Channel.objects.order_by("slug")),
        )


def _with_blank(choices: Iterable[tuple[str, str]], blank: str) -> list[tuple[str, str]]:
    return [("", blank), *choices]


# --- Segments, intent map, settings -------------------------------------------------------------------------


class SegmentForm(forms.ModelForm):
    """A segment's playbook, owning team and cadences."""

    # An hour is the usual wait for an escalation; a week is the longest anyone waits before the lead hears.
    acceptance_window_minutes = forms.IntegerField(
        min_value=1,
        max_value=7 * 24 * 60,
        label="Acceptance window (minutes)",
        help_text="How long an escalation to this segment's team may wait before it goes to the team's lead.",
    )
    # Faster than every 15 s only spends the networks' rate limits on empty pages.
    default_poll_seconds = forms.IntegerField(
        min_value=15,
        max_value=24 * 60 * 60,
        label="Poll cadence (seconds)",
        help_text="How often this segment's channels are pulled, unless a channel says otherwise.",
    )

    class Meta:
        model = Segment
        fields = ["follow", "create", "engage", "team", "acceptance_window_minutes", "default_poll_seconds"]
        labels = {
            "follow": "Follow: who to listen to",
            "create": "Create: what the account posts",
            "engage": "Engage: how to respond",
            "team": "Owning team",
        }
        help_texts = {"follow": "", "create": "", "engage": "", "team": "Mentions of this segment go to it."}
        widgets = {name: forms.Textarea(attrs={"rows": 3}) for name in ("follow", "create", "engage")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].empty_label = None


class _SegmentChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Segment) -> str:
        return obj.name


class IntentMapForm(forms.Form):
    """Which segment owns each intent; empty: the post stays with the team of the account that received it."""

    def __init__(self, *args: Any, current: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        segments = Segment.objects.all()
        for intent in INTENTS:
            self.fields[intent] = _SegmentChoice(
                queryset=segments,
                to_field_name="slug",
                required=False,
                empty_label="Nobody: stays with the receiving team",
                label=intent.replace("_", " ").capitalize(),
                initial=current.get(intent) or None,
            )


class RoutingSettingsForm(forms.Form):
    crisis_mode = forms.BooleanField(
        required=False,
        label="Crisis mode",
        help_text="On during an incident: rules with a “crisis mode is on” condition start to fire.",
    )
    misdirect_threshold = forms.FloatField(
        min_value=0,
        max_value=1,
        label="Misdirect threshold",
        help_text="Intent confidence (0 to 1) from which a post owned by another segment moves there.",
        widget=forms.NumberInput(attrs={"step": "0.05", "min": "0", "max": "1"}),
    )


# --- The rule builder ---------------------------------------------------------------------------------------


class RuleHeadForm(forms.Form):
    name = forms.CharField(max_length=RULE_NAME_MAX, label="Name")
    enabled = forms.BooleanField(required=False, label="Enabled", initial=True)
    match = forms.ChoiceField(choices=_MODES, initial="all", label="The rule fires when")


class GroupForm(forms.Form):
    mode = forms.ChoiceField(choices=_MODES, initial="all", label="Match")
    negate = forms.BooleanField(required=False, label="Not (the group must not hold)")


class ConditionForm(forms.Form):
    """One condition; only the fields its kind uses are read."""

    group = forms.IntegerField(min_value=1, initial=1, widget=forms.HiddenInput)
    negate = forms.BooleanField(required=False, label="Not")
    kind = forms.ChoiceField(choices=_with_blank(CONDITION_KINDS, "Choose a condition"), required=False)
    text = forms.CharField(required=False, max_length=2000, label="Value")
    intents = forms.MultipleChoiceField(
        choices=[(i, i.replace("_", " ")) for i in INTENTS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Intents",
    )
    confidence = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        label="Confidence at least",
        widget=forms.NumberInput(attrs={"step": "0.05", "min": "0", "max": "1"}),
    )
    minimum = forms.FloatField(required=False, label="At least")
    maximum = forms.FloatField(required=False, label="At most")
    start = forms.CharField(
        required=False, label="From (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    end = forms.CharField(
        required=False, label="Until (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    flag = forms.ChoiceField(choices=_FLAGS, initial="true", required=False, label="Is")
    author_tags = forms.MultipleChoiceField(
        choices=[(t, t) for t in AUTHOR_TAGS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Tags",
    )
    author_segments = forms.MultipleChoiceField(
        choices=[(s, s) for s in AUTHOR_SEGMENTS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Author segments",
    )
    channels = forms.MultipleChoiceField(required=False, label="Channels")
    segments = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Segments"
    )
    networks = forms.MultipleChoiceField(
        choices=network_choices, required=False, widget=forms.CheckboxSelectMultiple, label="Networks"
    )
    kinds = forms.MultipleChoiceField(
        choices=[(k, k) for k in KINDS], required=False, widget=forms.CheckboxSelectMultiple, label="Kinds"
    )

    def __init__(self, *args: Any, choices: BuilderChoices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["channels"].choices = _known_and(choices.channels, self.initial.get("channels"))
        self.fields["segments"].choices = _known_and(choices.segments, self.initial.get("segments"))

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("kind")
        if kind == "intent" and not data.get("intents") and data.get("confidence") is None:
            self.add_error("intents", "Choose at least one intent, or give a minimum confidence.")
        if kind in ("sentiment", "followers") and data.get("minimum") is None and data.get("maximum") is None:
            self.add_error("minimum", "Give a minimum, a maximum or both.")
        if kind in ("verified", "crisis_mode") and not data.get("flag"):
            self.add_error("flag", "Choose yes or no.")
        return data

    def leaf(self) -> dict[str, Any]:
        """The condition in the rule language (after ``is_valid``)."""
        data = self.cleaned_data
        kind = data["kind"]
        if kind in _LIST_OPS:
            return {kind: _split(data["text"])}
        if kind in ("phrase", "regex"):
            return {kind: data["text"]}
        if kind in _CHOICE_OPS:
            return {kind: list(data[_CHOICE_OPS[kind]])}
        if kind == "intent":
            arg: dict[str, Any] = {}
            if data["intents"]:
                arg["in"] = list(data["intents"])
            if data["confidence"] is not None:
                arg["min_confidence"] = data["confidence"]
            return {kind: arg}
        if kind in ("sentiment", "followers"):
            bounds = {}
            for key, name in (("min", "minimum"), ("max", "maximum")):
                value = data[name]
                if value is not None:
                    bounds[key] = int(value) if kind == "followers" and value.is_integer() else value
            return {kind: bounds}
        if kind in ("verified", "crisis_mode"):
            return {kind: data["flag"] == "true"}
        # time_window
        return {kind: {key: data[key] for key in ("start", "end") if data[key]}}


class ActionForm(forms.Form):
    """One action; only the fields its kind uses are read."""

    kind = forms.ChoiceField(choices=_with_blank(ACTION_KINDS, "Choose an action"), required=False)
    segment = forms.ChoiceField(required=False, label="Segment")
    team = forms.ChoiceField(required=False, label="Team")
    priority = forms.ChoiceField(
        choices=[(p, p) for p in PRIORITIES], required=False, initial="normal", label="Priority"
    )
    labels = forms.CharField(required=False, max_length=500, label="Labels (comma-separated)")
    user = forms.ChoiceField(required=False, label="Person")
    reason = forms.CharField(required=False, max_length=500, label="Reason (the other team reads it)")
    target = forms.CharField(required=False, max_length=500, label="Address")

    def __init__(self, *args: Any, choices: BuilderChoices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["segment"].choices = _with_blank(
            _known_and(choices.segments, self.initial.get("segment")), "Choose a segment"
        )
        self.fields["team"].choices = _with_blank(
            _known_and(choices.teams, self.initial.get("team")), "Choose a team"
        )
        self.fields["user"].choices = _with_blank(
            _known_and(choices.users, self.initial.get("user")), "Choose a person"
        )

    def action(self) -> dict[str, Any]:
        """The action in the rule language (after ``is_valid``)."""
        data = self.cleaned_data
        kind = data["kind"]
        if kind == "route_to_segment":
            return {kind: data["segment"]}
        if kind == "route_to_team":
            return {kind: data["team"]}
        if kind == "set_priority":
            return {kind: data["priority"]}
        if kind == "add_labels":
            return {kind: _split(data["labels"])}
        if kind == "assign_to":
            return {kind: data["user"]}
        if kind == "escalate":
            return {kind: {"team": data["team"], "reason": data["reason"]}}
        if kind in ("notify_email", "notify_webhook"):
            return {kind: data["target"]}
        return {kind: True}  # require_approval, stop


def _known_and(choices: Iterable[tuple[str, str]], current: Any) -> list[tuple[str, str]]:
    """The choices, plus values a saved rule names that no longer exist (shown, so validation names them)."""
    out = list(choices)
    known = {value for value, _ in out}
    values = current if isinstance(current, list | tuple) else [current] if current else []
    out.extend((value, f"{value} (unknown)") for value in values if value not in known)
    return out


GroupFormSet = forms.formset_factory(GroupForm, extra=0, can_delete=True)
ConditionFormSet = forms.formset_factory(ConditionForm, extra=0, can_delete=True)
ActionFormSet = forms.formset_factory(ActionForm, extra=0, can_delete=True)

# Where a rule error's path points inside a condition: the condition's key, then its sub-key.
_CONDITION_FIELD = {
    **dict.fromkeys(("keywords", "phrase", "regex", "hashtag", "cashtag", "language"), "text"),
    **_CHOICE_OPS,
    "intent": "intents",
    "sentiment": "minimum",
    "followers": "minimum",
    "time_window": "start",
    "verified": "flag",
    "crisis_mode": "flag",
}
_SUB_FIELD = {
    "in": "intents",
    "min_confidence": "confidence",
    "min": "minimum",
    "max": "maximum",
    "start": "start",
    "end": "end",
}
_ACTION_FIELD = {
    "route_to_segment": "segment",
    "route_to_team": "team",
    "set_priority": "priority",
    "add_labels": "labels",
    "assign_to": "user",
    "escalate": "team",
    "notify_email": "target",
    "notify_webhook": "target",
}
_KEY = re.compile(r"\.?([A-Za-z_]+)")


@dataclass
class BuilderInitial:
    """The builder's forms' initial data for one rule."""

    head: dict[str, Any]
    groups: list[dict[str, Any]]
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]

    @classmethod
    def blank(cls) -> BuilderInitial:
        return cls(
            head={"name": "", "enabled": True, "match": "all"},
            groups=[{"mode": "all", "negate": False}],
            conditions=[{"group": 1, "kind": "", "flag": "true"}],
            actions=[{"kind": "", "priority": "normal"}],
        )


@dataclass
class _Row:
    index: int  # the condition form's index in its formset
    negate: bool
    leaf: dict[str, Any]


@dataclass
class _Group:
    mode: str
    negate: bool
    rows: list[_Row] = field(default_factory=list)


class RuleBuilder:
    """The builder's four forms as one: valid, it yields the rule's JSON; refused, the error goes next to the
    field at fault."""

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        choices: BuilderChoices,
        initial: BuilderInitial | None = None,
    ) -> None:
        initial = initial or BuilderInitial.blank()
        self.head = RuleHeadForm(data, initial=initial.head, prefix="rule")
        self.groups = GroupFormSet(data, initial=initial.groups, prefix="group")
        kwargs = {"choices": choices}
        self.conditions = ConditionFormSet(
            data, initial=initial.conditions, prefix="cond", form_kwargs=kwargs
        )
        self.actions = ActionFormSet(data, initial=initial.actions, prefix="action", form_kwargs=kwargs)
        self.condition_errors: list[str] = []
        self.action_errors: list[str] = []
        self.rule_errors: list[str] = []
        self._spec: dict[str, Any] | None = None
        self._condition_paths: dict[str, int] = {}  # rule error path of a condition -> its form's index
        self._action_forms: list[int] = []  # position in "then" -> the action form's index

    # -- Reading the forms

    def is_valid(self) -> bool:
        forms_valid = all(
            [
                self.head.is_valid(),
                self.groups.is_valid(),
                self.conditions.is_valid(),
                self.actions.is_valid(),
            ]
        )
        if not forms_valid:
            return False
        when = self._when()
        then = self._then()
        if when is None:
            self.condition_errors.append("Add at least one condition.")
        if not then:
            self.action_errors.append("Add at least one action.")
        if when is None or not then:
            return False
        head = self.head.cleaned_data
        self._spec = {"name": head["name"], "enabled": head["enabled"], "when": when, "then": then}
        return True

    @property
    def spec(self) -> dict[str, Any]:
        """The rule as the rule language reads it, without its id (after ``is_valid``)."""
        assert self._spec is not None, "call is_valid() first"
        return self._spec

    def _live(self, formset: forms.BaseFormSet) -> list[tuple[int, forms.Form]]:
        return [
            (index, form)
            for index, form in enumerate(formset.forms)
            if form.cleaned_data
            and form.cleaned_data.get("kind", "x")
            and not form.cleaned_data.get("DELETE")
        ]

    def _when(self) -> dict[str, Any] | None:
        # A group added in the page and left as it came (match all) is an unchanged extra form, which Django
        # leaves without cleaned data: it is still a group.
        groups = [
            None
            if (form.cleaned_data or {}).get("DELETE")
            else _Group(form.cleaned_data.get("mode") or "all", bool(form.cleaned_data.get("negate")))
            for form in self.groups.forms
        ]
        for index, form in self._live(self.conditions):
            number = form.cleaned_data["group"]
            group = groups[min(number, len(groups)) - 1] if groups else None
            if group is not None:
                group.rows.append(_Row(index, bool(form.cleaned_data["negate"]), form.leaf()))
        match = self.head.cleaned_data["match"]
        items: list[_Row | _Group] = []
        for group in groups:
            if group is None or not group.rows:
                continue
            if len(group.rows) == 1:  # a group of one is its row (a negated one flips the row's "not")
                (row,) = group.rows
                items.append(_Row(row.index, row.negate != group.negate, row.leaf))
            elif group.mode == match and not group.negate:
                items.extend(group.rows)  # the same as its rows listed at the top
            else:
                items.append(group)
        if not items:
            return None
        if len(items) == 1:
            return self._emit(items[0], "rules[0].when")
        return {match: [self._emit(item, f"rules[0].when.{match}[{i}]") for i, item in enumerate(items)]}

    def _emit(self, item: _Row | _Group, path: str) -> dict[str, Any]:
        if isinstance(item, _Row):
            if item.negate:
                self._condition_paths[f"{path}.not"] = item.index
                return {"not": item.leaf}
            self._condition_paths[path] = item.index
            return item.leaf
        inner = f"{path}.not" if item.negate else path
        node = {item.mode: [self._emit(row, f"{inner}.{item.mode}[{i}]") for i, row in enumerate(item.rows)]}
        return {"not": node} if item.negate else node

    def _then(self) -> list[dict[str, Any]]:
        then = []
        for index, form in self._live(self.actions):
            self._action_forms.append(index)
            then.append(form.action())
        return then

    # -- Errors

    def refuse(self, error: RuleError, *, prefix: str = "rules[0]") -> None:
        """Put a rule error next to the field it names (``prefix``: the rule's path in the error)."""
        path, message = error.path, error.message
        if not path.startswith(prefix):
            self.rule_errors.append(str(error))
            return
        rest = path[len(prefix) :]
        if rest.startswith(".name") or rest.startswith(".enabled"):
            self.head.add_error(rest[1:].split(".")[0].split("[")[0], message)
        elif rest.startswith(".when"):
            self._refuse_condition(f"{prefix}{rest}", message)
        elif rest.startswith(".then["):
            position = int(rest[len(".then[") : rest.index("]")])
            after = rest[rest.index("]") + 1 :]
            if position >= len(self._action_forms):
                self.action_errors.append(message)
                return
            form = self.actions.forms[self._action_forms[position]]
            keys = _KEY.findall(after)
            op = keys[0] if keys else ""
            name = "kind"
            if op == "escalate" and len(keys) > 1 and keys[1] == "reason":
                name = "reason"
            elif op in _ACTION_FIELD:
                name = _ACTION_FIELD[op]
            form.add_error(name, message)
        elif rest.startswith(".then"):
            self.action_errors.append(message)
        else:
            self.rule_errors.append(message)

    def _refuse_condition(self, path: str, message: str) -> None:
        best = max(
            (p for p in self._condition_paths if path == p or path.startswith(p + ".")),
            key=len,
            default=None,
        )
        if best is None:
            self.condition_errors.append(message)
            return
        form = self.conditions.forms[self._condition_paths[best]]
        keys = _KEY.findall(path[len(best) :])
        name = _CONDITION_FIELD.get(keys[0], "kind") if keys else "kind"
        if len(keys) > 1 and keys[1] in _SUB_FIELD:
            name = _SUB_FIELD[keys[1]]
        form.add_error(name, message)

    @property
    def has_errors(self) -> bool:
        return bool(
            self.condition_errors
            or self.action_errors
            or self.rule_errors
            or self.head.errors
            or any(self.groups.errors)
            or any(self.conditions.errors)
            or any(self.actions.errors)
            or self.groups.non_form_errors()
            or self.conditions.non_form_errors()
            or self.actions.non_form_errors()
        )

    # -- Layout

    def grouped(self) -> list[tuple[forms.Form, list[forms.Form]]]:
        """Each group form with the condition forms that sit in it, for the template."""
        groups: list[tuple[forms.Form, list[forms.Form]]] = [(form, []) for form in self.groups.forms]
        if not groups:
            return []
        for form in self.conditions.forms:
            try:
                number = int(form["group"].value() or 1)
            except (TypeError, ValueError):
                number = 1
            groups[max(1, min(number, len(groups))) - 1][1].append(form)
        return groups


# --- A rule back into the builder ---------------------------------------------------------------------------


def builder_initial(spec: Mapping[str, Any]) -> BuilderInitial | None:
    """The builder's initial data showing ``spec``; None when the builder cannot show it (edit it as JSON)."""
    try:
        groups, match = _groups_of(spec.get("when"))
        actions = [_action_initial(action) for action in spec.get("then") or ()]
    except _NotShown:
        return None
    if not actions:
        return None
    return BuilderInitial(
        head={"name": spec.get("name", ""), "enabled": spec.get("enabled", True), "match": match},
        groups=[{"mode": mode, "negate": negate} for mode, negate, _ in groups],
        conditions=[
            {**row, "group": number} for number, (_, _, rows) in enumerate(groups, start=1) for row in rows
        ],
        actions=actions,
    )


class _NotShown(Exception):
    """Part of a rule the builder has no form for."""


def _single(node: Any) -> tuple[str, Any]:
    if not isinstance(node, Mapping) or len(node) != 1:
        raise _NotShown
    ((key, arg),) = node.items()
    return key, arg


def _row_or_none(node: Any) -> dict[str, Any] | None:
    """A condition row's initial data for a leaf or a negated leaf; None when ``node`` is a group."""
    key, arg = _single(node)
    negate = False
    if key == "not":
        key, arg = _single(arg)
        negate = True
    if key in ("all", "any", "not"):
        return None
    return {**_leaf_initial(key, arg), "negate": negate}


def _group_of(node: Any) -> tuple[str, bool, list[dict[str, Any]]]:
    key, arg = _single(node)
    negate = False
    if key == "not":
        key, arg = _single(arg)
        negate = True
    if key not in ("all", "any") or not isinstance(arg, list) or not arg:
        raise _NotShown
    rows = []
    for child in arg:
        row = _row_or_none(child)
        if row is None:
            raise _NotShown
        rows.append(row)
    return key, negate, rows


def _groups_of(when: Any) -> tuple[list[tuple[str, bool, list[dict[str, Any]]]], str]:
    """(groups as (mode, negate, rows), how they combine) for a condition tree."""
    row = _row_or_none(when)
    if row is not None:
        return [("all", False, [row])], "all"
    key, arg = _single(when)
    if key == "not":
        return [_group_of(when)], "all"
    if not isinstance(arg, list) or not arg:
        raise _NotShown
    groups: list[tuple[str, bool, list[dict[str, Any]]]] = []
    loose: list[dict[str, Any]] = []
    for child in arg:
        row = _row_or_none(child)
        if row is not None:
            loose.append(row)
            continue
        if loose:
            groups.append((key, False, loose))
            loose = []
        groups.append(_group_of(child))
    if loose:
        groups.append((key, False, loose))
    return groups, key


def _as_list(arg: Any) -> list[str]:
    values = [arg] if isinstance(arg, str) else arg
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _NotShown
    return values


def _as_text(arg: Any) -> str:
    values = _as_list(arg)
    if any("," in value or "\n" in value for value in values):
        raise _NotShown  # the builder separates values with commas
    return ", ".join(values)


def _number(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _NotShown
    return value


def _local(value: Any) -> str:
    """An ISO time as the datetime-local input shows it, in UTC."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _NotShown
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value  # shown as written; validation names it
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.isoformat(timespec="seconds" if parsed.second else "minutes")


def _leaf_initial(key: str, arg: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": key, "flag": "true"}
    if key in _LIST_OPS:
        row["text"] = _as_text(arg)
    elif key in ("phrase", "regex"):
        if not isinstance(arg, str):
            raise _NotShown
        row["text"] = arg
    elif key in _CHOICE_OPS:
        row[_CHOICE_OPS[key]] = _as_list(arg)
    elif key == "intent":
        if not isinstance(arg, Mapping) or set(arg) - {"in", "min_confidence"}:
            raise _NotShown
        row["intents"] = _as_list(arg["in"]) if "in" in arg else []
        row["confidence"] = _number(arg.get("min_confidence"))
    elif key in ("sentiment", "followers"):
        if not isinstance(arg, Mapping) or set(arg) - {"min", "max"}:
            raise _NotShown
        row["minimum"], row["maximum"] = _number(arg.get("min")), _number(arg.get("max"))
    elif key in ("verified", "crisis_mode"):
        if not isinstance(arg, bool):
            raise _NotShown
        row["flag"] = "true" if arg else "false"
    elif key == "time_window":
        if not isinstance(arg, Mapping) or set(arg) - {"start", "end"}:
            raise _NotShown
        row["start"], row["end"] = _local(arg.get("start")), _local(arg.get("end"))
    else:
        raise _NotShown
    return row


def _action_initial(action: Any) -> dict[str, Any]:
    key, arg = _single(action)
    row: dict[str, Any] = {"kind": key, "priority": "normal"}
    if key == "route_to_segment" and isinstance(arg, str):
        row["segment"] = arg
    elif key == "route_to_team" and isinstance(arg, str):
        row["team"] = arg
    elif key == "set_priority" and isinstance(arg, str):
        row["priority"] = arg
    elif key == "add_labels":
        row["labels"] = _as_text(arg)
    elif key == "assign_to" and isinstance(arg, str):
        row["user"] = arg
    elif key == "escalate" and isinstance(arg, Mapping) and not set(arg) - {"team", "reason"}:
        row["team"], row["reason"] = arg.get("team", ""), arg.get("reason", "")
    elif key in ("notify_email", "notify_webhook") and isinstance(arg, str):
        row["target"] = arg
    elif key in ("require_approval", "stop") and arg is True:
        pass
    else:
        raise _NotShown
    return row


# --- The rule as JSON ---------------------------------------------------------------------------------------


class RuleJsonForm(forms.Form):
    """A whole rule as JSON, for power users: ``{"name", "enabled", "when", "then"}``."""

    spec = forms.CharField(
        label="Rule (JSON)",
        widget=forms.Textarea(attrs={"rows": 22, "spellcheck": "false", "class": "rule-json__text"}),
        help_text='An object with "name", "enabled", "when" (the condition tree) and "then" (the actions).',
    )

    def clean_spec(self) -> dict[str, Any]:
        text = self.cleaned_data["spec"]
        try:
            value = json_loads_checked(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                f"Not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})."
            ) from None
        except JsonRefused as error:
            raise forms.ValidationError(f"Not accepted: {error}.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("The rule must be a JSON object.")
        unknown = sorted(set(value) - {"id", "name", "enabled", "when", "then"})
        if unknown:
            raise forms.ValidationError(
                f"Unknown key {unknown[0]!r}: a rule has name, enabled, when and then."
            )
        name = value.get("name")
        if not isinstance(name, str) or not name.strip():
            raise forms.ValidationError('Give the rule a "name".')
        if len(name.strip()) > RULE_NAME_MAX:
            raise forms.ValidationError(f"A rule's name has at most {RULE_NAME_MAX} characters.")
        value.pop("id", None)
        return {
            "name": name.strip(),
            "enabled": value.get("enabled", True),
            "when": value.get("when"),
            "then": value.get("then"),
        }


def rule_json_text(spec: Mapping[str, Any]) -> str:
    """A rule as the JSON editor shows it."""
    shown = {key: spec[key] for key in ("name", "enabled", "when", "then") if key in spec}
    return json.dumps(shown, indent=2, ensure_ascii=False)


class BacktestForm(forms.Form):
    days = forms.IntegerField(
        min_value=1,
        max_value=MAX_BACKTEST_DAYS,
        initial=7,
        label="Backtest over the last",
        help_text="days of routed mentions",
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_BACKTEST_DAYS}),
    )
