"""The audit log: every recorded change, newest first, for admins to read, filter and export as CSV.

Events are domain events written by ``foundation.events`` in the transaction of each change. The table
grows with every triage action, so pages are keyset-paged on (created_at, id) and never counted, and the
export streams the whole filtered log in keyset batches. To anyone but an admin these pages do not exist.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from channels.connectors.registry import network_choices
from channels.models import Channel, Segment
from channels.views import admin_required
from foundation.models import DomainEvent
from inbox.forms import FilterDateField, ascii_id
from inbox.models import Mention, Reply
from inbox.selectors import cursor_decode, cursor_encode
from inbox.templatetags.inbox_tags import stamp
from routing.models import Escalation, ModelVersion, Rule
from teams.models import Membership, Team
from teams.roles import user_is_admin, user_name

AUDIT_PAGE_SIZE = 50  # a screenful; older events come by keyset, never OFFSET
EXPORT_BATCH_SIZE = 1000  # rows a keyset query reads while the CSV streams: memory stays flat
SYSTEM_ACTOR = "system"  # the actor filter's value for what socialops did by itself
SYSTEM_NAME = "socialops"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads a cell starting so as a formula
_VERB_PATTERN = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*\.?")

# Verbs whose words do not follow from their name. The rest read as "<Noun> <action in words>".
VERB_WORDS: dict[str, str] = {
    "mention.rerouted": "Mention re-routed",
    "mention.prioritized": "Mention priority changed",
    "mention.spam": "Mention marked as spam",
    "mention.not_spam": "Mention marked as not spam",
    "mention.noted": "Note added to a mention",
    "mention.woke": "Mention woke from snooze",
    "reply.awaiting_approval": "Reply waiting for approval",
    "channel.needs_reauth": "Channel needs re-authorisation",
    "channel.reauthorised": "Channel re-authorised",
    "member.away": "Member went away",
    "member.back": "Member came back",
    "api_token.created": "API token created",
    "api_token.revoked": "API token revoked",
    "user.password_changed": "Password changed",
    "sign_in.locked": "Sign-ins locked out after failures",
    "model.activated": "Routing model version made active",
}
# Nouns whose words are not their identifier's.
NOUN_WORDS: dict[str, str] = {"sla": "SLA", "sla_policy": "SLA policy"}
# The bulk bar records its actions by their command name (``mention.close``), one event per mention.
BULK_WORDS: dict[str, str] = {
    "assign": "assigned",
    "unassign": "unassigned",
    "close": "closed",
    "reopen": "reopened",
    "label": "labelled",
    "priority": "priority changed",
    "snooze": "snoozed",
    "spam": "marked as spam",
}
# Keys of before/after that hold a person, a team, a segment, a channel or rules, shown by name instead of by
# id or slug.
USER_KEYS = frozenset({"user", "assignee"})
USERNAME_KEYS = frozenset({"leads"})  # usernames
TEAM_KEYS = frozenset({"team", "team_override", "escalated_to", "from_team", "to_team"})
SEGMENT_KEYS = frozenset({"segment"})
CHANNEL_KEYS = frozenset({"channel"})
RULE_KEYS = frozenset({"rules_fired", "rules", "order"})  # rule ids, in order
MODEL_VERSION_KEYS = frozenset({"active"})  # the number of the routing model version that was active
# Keys whose values are choices, shown by their label: priorities are numbers (20) on a mention and words
# ("urgent") in a routing decision.
PRIORITY_LABELS: dict[Any, str] = {
    **{value: label for value, label in Mention.Priority.choices},
    **{member.name.lower(): member.label for member in Mention.Priority},
}
CHOICE_LABELS: dict[str, dict[Any, str]] = {
    "priority": PRIORITY_LABELS,
    "status": dict(Mention.Status.choices),
    "role": dict(Membership.Role.choices),
    # "Manual: agents take mentions from the queue" -> "Manual"
    "mode": {value: label.split(":", 1)[0] for value, label in Team.Assignment.choices},
    "network": dict(network_choices()),
    "state": {
        **dict(Reply.State.choices),
        **dict(Escalation.State.choices),
        **dict(Channel.State.choices),
    },
}
WORDS_KEYS = frozenset({"intent", "kind"})  # identifiers that read as words: support_question
NOTHING = "(none)"  # a value that was empty, or was set to nothing
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def verb_words(verb: str) -> str:
    """What a verb means, in a few words: ``team.member_added`` → ``Team member added``."""
    if verb in VERB_WORDS:
        return VERB_WORDS[verb]
    noun, _, action = verb.partition(".")
    if noun == "mention" and action in BULK_WORDS:
        return f"Mention {BULK_WORDS[action]} (in bulk)"
    noun_words = _noun_words(noun)
    return f"{noun_words[:1].upper()}{noun_words[1:]} {_words(action)}".strip()


def _noun_words(noun: str) -> str:
    return NOUN_WORDS.get(noun, _words(noun))


def _words(identifier: str) -> str:
    return identifier.replace("_", " ").replace("-", " ")


# --- Filters ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    """Which events the log shows. Empty values filter nothing."""

    actor: str = ""  # a user id, or SYSTEM_ACTOR
    verb: str = ""  # one verb, or every verb of a kind when it ends with "." ("mention.")
    object_type: str = ""  # "app_label.model"
    object_id: str = ""
    object_text: str = ""  # part of the object's description, any case
    since: date | None = None  # first day shown, in the site's time zone
    until: date | None = None  # last day shown, in the site's time zone

    def as_query(self) -> dict[str, str]:
        """The filters as the query string the page's form sends, leaving out the empty ones."""
        values = {**asdict(self), "object": self.object_text}
        del values["object_text"]
        return {
            name: value.isoformat() if isinstance(value, date) else str(value)
            for name, value in values.items()
            if value not in (None, "")
        }


@dataclass(frozen=True)
class AuditChoices:
    """What the filter's select boxes offer: the actors, verbs and object types the log holds."""

    actors: list[tuple[str, str]]
    verbs: list[tuple[str, str]]
    object_types: list[tuple[str, str]]


def audit_filter_choices() -> AuditChoices:
    """The distinct actors, verbs and object types in the log, each found by walking an index (a few
    dozen index probes however many events there are)."""
    user_model = get_user_model()
    people = sorted(
        user_model.objects.filter(pk__in=_distinct_values("actor_id")),
        key=lambda person: user_name(person).lower(),
    )
    verbs = _distinct_values("verb")
    kinds = sorted({verb.split(".", 1)[0] for verb in verbs if "." in verb})
    content_types = [ContentType.objects.get_for_id(pk) for pk in _distinct_values("object_type_id")]
    return AuditChoices(
        actors=[(SYSTEM_ACTOR, f"{SYSTEM_NAME} (automatic)")]
        + [(str(person.pk), user_name(person)) for person in people],
        verbs=[(f"{kind}.", f"Every {_noun_words(kind)} action") for kind in kinds]
        + [(verb, f"{verb_words(verb)} ({verb})") for verb in verbs],
        object_types=sorted(
            ((f"{ct.app_label}.{ct.model}", _type_name(ct)) for ct in content_types),
            key=lambda choice: choice[1],
        ),
    )


def _distinct_values(column: str) -> list[Any]:
    """The distinct non-null values of a column that leads an index, in order.

    PostgreSQL has no skip scan: ``SELECT DISTINCT`` would read every row. The recursive query asks the index
    for the next larger value, once per distinct value.
    """
    table = DomainEvent._meta.db_table
    if connection.vendor != "postgresql":
        return list(
            DomainEvent.objects.filter(**{f"{column}__isnull": False})
            .order_by(column)
            .values_list(column, flat=True)
            .distinct()
        )
    # The column names are this module's constants, never input.
    sql = f"""
        WITH RECURSIVE found(value) AS (
            (SELECT {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY {column} LIMIT 1)
            UNION ALL
            SELECT (SELECT {column} FROM {table} WHERE {column} > found.value ORDER BY {column} LIMIT 1)
            FROM found WHERE found.value IS NOT NULL
        )
        SELECT value FROM found WHERE value IS NOT NULL
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


class AuditFilterForm(forms.Form):
    """The log's filters, from the query string: their one check, for the page and the export. A bad value
    is named beside its field and the answer is a 400."""

    actor = forms.ChoiceField(label="Who", required=False)
    verb = forms.ChoiceField(label="Action", required=False)
    object_type = forms.ChoiceField(label="Object type", required=False)
    object_id = forms.CharField(label="Object id", required=False, max_length=64)
    object = forms.CharField(label="Object contains", required=False, max_length=200)
    since = FilterDateField(label="From", required=False)
    until = FilterDateField(label="To", required=False)

    def __init__(self, *args: Any, choices: AuditChoices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        verbs = list(choices.verbs)
        asked = self.data.get("verb", "") if self.is_bound else ""
        if asked and _VERB_PATTERN.fullmatch(asked) and asked not in dict(verbs):
            # A kept link may name an action nobody has taken (yet, or any more): it simply matches nothing.
            kind = asked.removesuffix(".")
            verbs.append(
                (asked, f"Every {_noun_words(kind)} action" if asked.endswith(".") else verb_words(asked))
            )
        self.fields["actor"].choices = [("", "Anyone"), *choices.actors]
        self.fields["verb"].choices = [("", "Any action"), *verbs]
        self.fields["object_type"].choices = [("", "Any type"), *choices.object_types]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The last day comes before the first day.")
        return data

    def problems(self) -> str:
        """The errors in one line, each after its field's label."""
        return "; ".join(
            f"{self.fields[name].label if name in self.fields else 'Filters'}: {' '.join(errors)}"
            for name, errors in self.errors.items()
        )

    def filters(self) -> AuditFilters:
        data = self.cleaned_data
        return AuditFilters(
            actor=data["actor"],
            verb=data["verb"],
            object_type=data["object_type"],
            object_id=data["object_id"].strip(),
            object_text=data["object"].strip(),
            since=data["since"],
            until=data["until"],
        )


# --- Reading the log -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditChange:
    """One field of an event's object: what it was and what it became, in words."""

    field: str
    before: str  # "" when the field was not recorded before (the event set it)
    after: str
    changed: bool  # False for context the event did not change (whose membership it was)


@dataclass(frozen=True)
class AuditRow:
    """An event as the log shows it."""

    event: DomainEvent
    who: str
    action: str
    object_type: str
    object_url: str
    changes: list[AuditChange]


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    next_cursor: str


def audit_events(*, user: AbstractBaseUser, filters: AuditFilters) -> QuerySet[DomainEvent]:
    """The events the filters match, newest first; nothing for anyone but an admin."""
    if not user_is_admin(user):
        return DomainEvent.objects.none()
    events = DomainEvent.objects.all()
    if filters.actor == SYSTEM_ACTOR:
        events = events.filter(actor__isnull=True)
    elif filters.actor:
        actor = ascii_id(filters.actor)
        if actor is None:  # the form offers only ids and "system"; a value built elsewhere matches nothing
            return DomainEvent.objects.none()
        events = events.filter(actor_id=actor)
    if filters.verb.endswith("."):
        events = events.filter(verb__startswith=filters.verb)
    elif filters.verb:
        events = events.filter(verb=filters.verb)
    if filters.object_type:
        app_label, _, model = filters.object_type.partition(".")
        try:
            events = events.filter(object_type=ContentType.objects.get_by_natural_key(app_label, model))
        except ContentType.DoesNotExist:
            return DomainEvent.objects.none()
    if filters.object_id:
        events = events.filter(object_id=filters.object_id)
    if filters.object_text:
        events = events.filter(object_repr__icontains=filters.object_text)
    zone = timezone.get_current_timezone()
    if filters.since:
        events = events.filter(created_at__gte=datetime.combine(filters.since, time.min, tzinfo=zone))
    if filters.until:
        next_day = filters.until + timedelta(days=1)
        events = events.filter(created_at__lt=datetime.combine(next_day, time.min, tzinfo=zone))
    return events.order_by("-created_at", "-id")


def audit_page(
    *, user: AbstractBaseUser, filters: AuditFilters, after: str = "", limit: int = AUDIT_PAGE_SIZE
) -> AuditPage:
    """One page of the log after the keyset cursor ``after``, with names looked up for the whole page.

    ``created_at <= c`` in front of the keyset condition lets PostgreSQL walk an index from the cursor.
    A cursor that is not one of ours raises ``ValueError`` with a message for the reader.
    """
    events = audit_events(user=user, filters=filters)
    if after:
        created_at, last_id = cursor_decode(after)
        events = events.filter(
            Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=last_id),
            created_at__lte=created_at,
        )
    found = list(events.select_related("actor", "object_type")[: limit + 1])
    next_cursor = ""
    if len(found) > limit:
        found = found[:limit]
        next_cursor = cursor_encode(found[-1].created_at, found[-1].id)
    return AuditPage(rows=_rows(found), next_cursor=next_cursor)


class _Names:
    """The people, teams, segments, channels and rules a batch of events refers to, looked up once per batch
    (one query per kind that occurs, however many events)."""

    def __init__(self, events: Sequence[DomainEvent]) -> None:
        user_ids: set[int] = set()
        usernames: set[str] = set()
        team_refs: set[int | str] = set()
        segment_slugs: set[str] = set()
        channel_refs: set[int | str] = set()
        rule_ids: set[int] = set()
        for event in events:
            for side in (event.before, event.after):
                if not isinstance(side, Mapping):
                    continue
                for key, value in side.items():
                    values = value if isinstance(value, list) else [value]
                    if key in USER_KEYS:
                        user_ids.update(v for v in values if _is_id(v))
                    elif key in USERNAME_KEYS:
                        usernames.update(v for v in values if isinstance(v, str))
                    elif key in TEAM_KEYS:
                        team_refs.update(v for v in values if _is_id(v) or (isinstance(v, str) and v))
                    elif key in SEGMENT_KEYS:
                        segment_slugs.update(v for v in values if isinstance(v, str))
                    elif key in CHANNEL_KEYS:
                        channel_refs.update(v for v in values if _is_id(v) or (isinstance(v, str) and v))
                    elif key in RULE_KEYS:
                        rule_ids.update(v for v in values if _is_id(v))
        people = get_user_model().objects.filter(Q(pk__in=user_ids) | Q(username__in=usernames))
        self.users: dict[int, str] = {}
        self.usernames: dict[str, str] = {}
        if user_ids or usernames:
            for person in people:
                self.users[person.pk] = self.usernames[person.get_username()] = user_name(person)
        team_ids = {ref for ref in team_refs if isinstance(ref, int)}
        team_slugs = {ref for ref in team_refs if isinstance(ref, str)}
        self.teams: dict[int | str, str] = {}
        if team_ids or team_slugs:
            teams = Team.objects.filter(Q(pk__in=team_ids) | Q(slug__in=team_slugs))
            for pk, slug, name in teams.values_list("pk", "slug", "name"):
                self.teams[pk] = self.teams[slug] = name
        self.segments = dict(Segment.objects.filter(slug__in=segment_slugs).values_list("slug", "name"))
        self.rules = dict(Rule.objects.filter(pk__in=rule_ids).values_list("pk", "name"))
        channel_type = ContentType.objects.get_for_model(Channel)
        channel_ids = {ref for ref in channel_refs if isinstance(ref, int)} | {
            ascii_id(e.object_id)
            for e in events
            if e.object_type_id == channel_type.pk and ascii_id(e.object_id)
        }
        channel_slugs = {ref for ref in channel_refs if isinstance(ref, str)}
        self.channel_slugs: dict[int, str] = {}
        self.channels: dict[int | str, str] = {}
        if channel_ids or channel_slugs:
            channels = Channel.objects.filter(Q(pk__in=channel_ids) | Q(slug__in=channel_slugs))
            for pk, slug, handle in channels.values_list("pk", "slug", "handle"):
                self.channel_slugs[pk] = slug
                self.channels[pk] = self.channels[slug] = handle

    def value(self, key: str, value: Any) -> str:
        """A recorded value in words: people, teams, segments, channels and rules by name, choices by their
        label, times in the current time zone as the rest of the pages show them, nothing as "(none)"."""
        if value is None or value == "" or value == []:
            return NOTHING
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list):
            return ", ".join(self.value(key, item) for item in value)
        if key in USER_KEYS and _is_id(value):
            return self.users.get(value, f"user {value}")
        if key in USERNAME_KEYS and isinstance(value, str):
            return self.usernames.get(value, value)
        if key in TEAM_KEYS and (_is_id(value) or isinstance(value, str)):
            return self.teams.get(value, f"team {value}")
        if key in SEGMENT_KEYS and isinstance(value, str):
            return self.segments.get(value, value)
        if key in CHANNEL_KEYS and (_is_id(value) or isinstance(value, str)):
            return self.channels.get(value, f"channel {value}")
        if key in RULE_KEYS and _is_id(value):
            name = self.rules.get(value)
            return f"“{name}” (rule {value})" if name else f"rule {value} (deleted)"
        if key in MODEL_VERSION_KEYS and _is_id(value):
            return f"version {value}"
        if key in CHOICE_LABELS and isinstance(value, str | int) and value in CHOICE_LABELS[key]:
            return CHOICE_LABELS[key][value]
        if key in WORDS_KEYS and isinstance(value, str):
            return _words(value)
        if isinstance(value, str) and _ISO_DATETIME.match(value):
            return _when(value)
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False, sort_keys=True)
        return str(value)


def _when(value: str) -> str:
    """An ISO time as the pages show times: ``26 Nov 2026, 15:58`` in the current time zone."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return stamp(moment)


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def audit_changes(before: Any, after: Any, names: _Names) -> list[AuditChange]:
    """The fields an event recorded, each with its value before and after: changed ones first, each group in
    alphabetical order (PostgreSQL's jsonb keeps no order of its own).

    A field recorded on one side only is not a change to nothing: one recorded before alone is context the
    event did not touch (a bulk close records the priority it left as it was; a deleted rule, what it was),
    one recorded after alone was set by the event. A value set to nothing reads "(none)".
    """
    before = before if isinstance(before, Mapping) else {}
    after = after if isinstance(after, Mapping) else {}
    changed, context = [], []
    for key in sorted({*after, *before}):
        if key not in after:
            was = names.value(key, before[key])
            context.append(AuditChange(field=_words(key), before=was, after=was, changed=False))
            continue
        was = names.value(key, before[key]) if key in before else ""
        now = names.value(key, after[key])
        if key in before and before[key] == after[key]:
            context.append(AuditChange(field=_words(key), before=was, after=now, changed=False))
        else:
            changed.append(AuditChange(field=_words(key), before=was, after=now, changed=True))
    return changed + context


def audit_history(events: Sequence[DomainEvent]) -> list[tuple[DomainEvent, list[AuditChange]]]:
    """Each event with its changes in words, names looked up once for all of them (a mention's history)."""
    names = _Names(events)
    return [(event, audit_changes(event.before, event.after, names)) for event in events]


def _rows(events: Sequence[DomainEvent]) -> list[AuditRow]:
    names = _Names(events)
    mention_type = ContentType.objects.get_for_model(Mention)
    channel_type = ContentType.objects.get_for_model(Channel)
    model_version_type = ContentType.objects.get_for_model(ModelVersion)
    rows = []
    for event in events:
        object_url = ""
        if event.object_type_id == mention_type.pk:
            object_url = f"{reverse('inbox:index')}?{urlencode({'open': event.object_id})}"
        elif event.object_type_id == channel_type.pk and ascii_id(event.object_id):
            slug = names.channel_slugs.get(ascii_id(event.object_id))
            object_url = reverse("channels:settings", args=[slug]) if slug else ""
        elif event.object_type_id == model_version_type.pk:
            number = event.after.get("active") if isinstance(event.after, Mapping) else None
            anchor = f"#model-{number}" if _is_id(number) else ""
            object_url = f"{reverse('routing:model_versions')}{anchor}"
        rows.append(
            AuditRow(
                event=event,
                who=user_name(event.actor) if event.actor else SYSTEM_NAME,
                action=verb_words(event.verb),
                object_type=_type_name(event.object_type),
                object_url=object_url,
                changes=audit_changes(event.before, event.after, names),
            )
        )
    return rows


def _type_name(content_type: ContentType) -> str:
    model = content_type.model_class()
    name = str(model._meta.verbose_name) if model else content_type.model
    return name[:1].upper() + name[1:]


# --- Pages -----------------------------------------------------------------------------------------------


def _filter_form(request: HttpRequest) -> AuditFilterForm:
    bound = {key: value for key, value in request.GET.items() if key != "after"}
    return AuditFilterForm(bound or None, choices=audit_filter_choices())


@admin_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The log, newest first, filtered by the query string, one keyset page at a time."""
    form = _filter_form(request)
    filters = form.filters() if form.is_bound and form.is_valid() else AuditFilters()
    after = request.GET.get("after", "")
    page, cursor_error = AuditPage(rows=[], next_cursor=""), ""
    if not form.errors:
        try:
            page = audit_page(user=request.user, filters=filters, after=after)
        except ValueError as exc:
            cursor_error = str(exc)
    query = filters.as_query()
    return render(
        request,
        "audit/index.html",
        {
            "form": form,
            "filters": filters,
            "page": page,
            "is_first_page": not after,
            "cursor_error": cursor_error,
            "query": urlencode(query),
            "next_query": urlencode({**query, "after": page.next_cursor}) if page.next_cursor else "",
            "is_filtered": bool(query),
        },
        status=400 if form.errors else 200,
    )


class _Echo:
    """A file-like object whose write hands the line back, so csv.writer can feed a streamed response."""

    def write(self, value: str) -> str:
        return value


CSV_HEADER = (
    "when",
    "who",
    "action",
    "verb",
    "object type",
    "object id",
    "object",
    "changes",
    "before",
    "after",
)


@admin_required
@require_GET
def export(request: HttpRequest) -> HttpResponse:
    """Every event the current filters match, newest first, as a CSV file streamed as it is read."""
    form = _filter_form(request)
    if form.is_bound and not form.is_valid():
        return HttpResponseBadRequest(
            f"The filters are not valid, so nothing was exported. {form.problems()}",
            content_type="text/plain; charset=utf-8",
        )
    filters = form.filters() if form.is_bound else AuditFilters()
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(
        _csv_lines(user=request.user, filters=filters), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="socialops-audit-{stamp}.csv"'
    return response


def _csv_lines(*, user: AbstractBaseUser, filters: AuditFilters) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    after = ""
    while True:
        page = audit_page(user=user, filters=filters, after=after, limit=EXPORT_BATCH_SIZE)
        for row in page.rows:
            yield writer.writerow([csv_safe(cell) for cell in _csv_cells(row)])
        if not page.next_cursor:
            return
        after = page.next_cursor


def _csv_cells(row: AuditRow) -> Iterable[str]:
    event = row.event
    return (
        timezone.localtime(event.created_at).isoformat(timespec="seconds"),
        row.who,
        row.action,
        event.verb,
        row.object_type,
        event.object_id,
        event.object_repr,
        "; ".join(_change_text(change) for change in row.changes),
        json.dumps(event.before, ensure_ascii=False, sort_keys=True) if event.before else "",
        json.dumps(event.after, ensure_ascii=False, sort_keys=True) if event.after else "",
    )


def _change_text(change: AuditChange) -> str:
    if not change.changed or not change.before:
        return f"{change.field}: {change.after}"
    return f"{change.field}: {change.before} → {change.after}"


def csv_safe(value: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe.

    Object descriptions carry text from the networks (handles, post excerpts), which anyone can write.
    """
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value
