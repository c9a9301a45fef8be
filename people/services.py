"""Writes of the people app: persons for authors, merge and split (audited), merge suggestions, segments,
VIP, tags and notes. Each service owns its transaction; each state change a person makes records a domain
event (the audit log shows it)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from foundation.events import event_record
from inbox.models import Author, Mention
from people import counters
from people import keys as K
from people.models import AuthorKey, MergeSuggestion, PeopleSettings, Person, PersonAuthor, PersonNote
from people.segments import Behaviour, Thresholds, segments_of
from routing.facts import label_normalized

COMMON_KEY_AUTHORS = 20  # a key more authors than this share says nothing about any two of them
PROFILE_FIELDS = (("author", "description"), ("author", "url"), ("account", "note"), ("account", "url"))


# --- Persons for authors ------------------------------------------------------------------------------------


def persons_ensure(*, author_ids: Iterable[int]) -> dict[int, int]:
    """The person of each author (author id -> person id), giving a person of one handle to each author
    that has none yet. Set-based: two queries and two inserts for any number of authors."""
    wanted = set(author_ids)
    if not wanted:
        return {}
    found = dict(
        PersonAuthor.objects.filter(author_id__in=wanted).values_list("author_id", "person_id").order_by()
    )
    missing = sorted(wanted - set(found))
    if missing:
        names = dict(Author.objects.filter(pk__in=missing).values_list("id", "display_name"))
        missing = [a for a in missing if a in names]
        persons = Person.objects.bulk_create([Person(display_name=names[a][:200]) for a in missing])
        links = [PersonAuthor(author_id=a, person_id=p.pk) for a, p in zip(missing, persons, strict=True)]
        PersonAuthor.objects.bulk_create(links, ignore_conflicts=True)
        # A concurrent run may have linked some of them first: read back who won, drop our spare persons.
        won = dict(
            PersonAuthor.objects.filter(author_id__in=missing)
            .values_list("author_id", "person_id")
            .order_by()
        )
        spare = [p.pk for a, p in zip(missing, persons, strict=True) if won.get(a) != p.pk]
        if spare:
            Person.objects.filter(pk__in=spare, links__isnull=True).delete()
        found.update(won)
    return found


def person_for_author(*, author: Author) -> Person:
    person_id = persons_ensure(author_ids=[author.pk])[author.pk]
    return Person.objects.get(pk=person_id)


# --- Merge and split ----------------------------------------------------------------------------------------


def _handles(person: Person) -> list[str]:
    return [
        f"{network}:@{handle}"
        for network, handle in Author.objects.filter(person_link__person=person)
        .order_by("id")
        .values_list("network", "handle")
    ]


def persons_merge(
    *, actor: Any, keep: Person, other: Person, suggestion: MergeSuggestion | None = None
) -> Person:
    """Move every handle, note and tag of ``other`` to ``keep`` and delete ``other``; VIP if either was.
    ``actor`` None: the system's auto-merge. Recorded as ``person.merged`` on ``keep``."""
    if keep.pk == other.pk:
        return keep
    with transaction.atomic():
        # The counters' lock before any person's row, in the consumer's order: never a deadlock with it.
        counters.counters_lock()
        first, second = sorted([keep.pk, other.pk])
        locked = {p.pk: p for p in Person.objects.select_for_update().filter(pk__in=[first, second])}
        keep, other = locked[keep.pk], locked[other.pk]
        before = {
            "person": keep.pk,
            "handles": _handles(keep),
            "merged": other.pk,
            "their_handles": _handles(other),
        }
        PersonAuthor.objects.filter(person=other).update(person=keep, linked_at=timezone.now())
        PersonNote.objects.filter(person=other).update(person=keep)
        keep.tags = sorted(set(keep.tags) | set(other.tags))
        keep.is_vip = keep.is_vip or other.is_vip
        keep.display_name = keep.display_name or other.display_name
        keep.save(update_fields=["tags", "is_vip", "display_name"])
        other.delete()
        if suggestion is not None:
            MergeSuggestion.objects.filter(pk=suggestion.pk).update(
                state=MergeSuggestion.State.ACCEPTED,
                decided_at=timezone.now(),
                decided_by=actor if getattr(actor, "is_authenticated", False) else None,
            )
        after = {"person": keep.pk, "handles": _handles(keep)}
        if suggestion is not None:
            after |= {
                "suggestion": suggestion.pk,
                "confidence": suggestion.confidence,
                "reasons": suggestion.reasons,
            }
        event_record(actor=actor, verb="person.merged", obj=keep, before=before, after=after, teams=[])
        segments_recompute(person_ids=[keep.pk])
    return keep


def person_split(*, actor: Any, person: Person, author: Author) -> Person:
    """Give ``author`` a person of its own again (the handle was not this person). Suggestions between it and
    the person's other handles are dismissed, so they are not offered again. Recorded as ``person.split``."""
    with transaction.atomic():
        counters.counters_lock()  # before the person's row, as in persons_merge
        person = Person.objects.select_for_update().get(pk=person.pk)
        link = PersonAuthor.objects.select_for_update().get(author=author, person=person)
        others = list(
            PersonAuthor.objects.filter(person=person).exclude(pk=link.pk).values_list("author_id", flat=True)
        )
        if not others:
            return person  # its only handle: nothing to split
        before = {"person": person.pk, "handles": _handles(person)}
        new = Person.objects.create(display_name=author.display_name[:200])
        link.person, link.linked_at = new, timezone.now()
        link.save(update_fields=["person", "linked_at"])
        MergeSuggestion.objects.filter(
            Q(author=author, other_id__in=others) | Q(other=author, author_id__in=others)
        ).update(state=MergeSuggestion.State.DISMISSED, decided_at=timezone.now())
        event_record(
            actor=actor,
            verb="person.split",
            obj=person,
            before=before,
            after={
                "person": person.pk,
                "handles": _handles(person),
                "new_person": new.pk,
                "moved": f"@{author.handle}",
            },
            teams=[],
        )
        segments_recompute(person_ids=[person.pk, new.pk])
    return new


def suggestion_accept(*, actor: Any, suggestion: MergeSuggestion) -> Person:
    """Merge the two persons of an open suggestion; the person of its older handle is kept."""
    with transaction.atomic():
        suggestion = MergeSuggestion.objects.select_for_update().get(pk=suggestion.pk)
        if suggestion.state != MergeSuggestion.State.OPEN:
            raise PermissionDenied("This suggestion was already decided.")
        persons = persons_ensure(author_ids=[suggestion.author_id, suggestion.other_id])
        keep = Person.objects.get(pk=persons[suggestion.author_id])
        other = Person.objects.get(pk=persons[suggestion.other_id])
        if keep.pk == other.pk:
            MergeSuggestion.objects.filter(pk=suggestion.pk).update(
                state=MergeSuggestion.State.ACCEPTED, decided_at=timezone.now()
            )
            return keep
        return persons_merge(actor=actor, keep=keep, other=other, suggestion=suggestion)


def suggestion_dismiss(*, actor: Any, suggestion: MergeSuggestion) -> None:
    with transaction.atomic():
        updated = MergeSuggestion.objects.filter(pk=suggestion.pk, state=MergeSuggestion.State.OPEN).update(
            state=MergeSuggestion.State.DISMISSED, decided_at=timezone.now(), decided_by=actor
        )
        if updated:
            event_record(
                actor=actor,
                verb="person.suggestion_dismissed",
                obj=suggestion,
                after={
                    "author": suggestion.author_id,
                    "other": suggestion.other_id,
                    "reasons": suggestion.reasons,
                },
                teams=[],
            )


# --- Suggestions --------------------------------------------------------------------------------------------


def _profile_text(raw: Any) -> str:
    if not isinstance(raw, Mapping):
        return ""
    parts = []
    for outer, inner in PROFILE_FIELDS:
        value = raw.get(outer)
        if isinstance(value, Mapping) and isinstance(value.get(inner), str):
            parts.append(value[inner])
    return " ".join(parts)


def author_facts(*, author_ids: Sequence[int]) -> list[K.AuthorFacts]:
    """What the keys of these authors come from: their handle and name, the profile their latest post
    carried, and their direct messages' texts."""
    if not author_ids:
        return []
    latest = dict(
        Mention.objects.filter(author_id__in=author_ids)
        .values("author_id")
        .annotate(latest=Max("id"))
        .values_list("author_id", "latest")
        .order_by()
    )
    profiles = {
        author_id: _profile_text(raw)
        for author_id, raw in Mention.objects.filter(pk__in=latest.values()).values_list("author_id", "raw")
    }
    messages: dict[int, list[str]] = defaultdict(list)
    for author_id, text in Mention.objects.filter(author_id__in=author_ids, kind=Mention.Kind.DM).values_list(
        "author_id", "text"
    ):
        messages[author_id].append(text)
    return [
        K.AuthorFacts(
            author_id=pk,
            network=network,
            handle=handle,
            display_name=name,
            profile=profiles.get(pk, ""),
            direct_messages=tuple(messages.get(pk, ())),
        )
        for pk, network, handle, name in Author.objects.filter(pk__in=author_ids).values_list(
            "id", "network", "handle", "display_name"
        )
    ]


def suggestions_find(*, author_ids: Sequence[int]) -> list[MergeSuggestion]:
    """Store the keys of these authors and open a suggestion for each pair of handles of different persons
    that share one (or whose profile names the other's handle). Indexed lookups by key, a handful per
    author: the cost grows with the new authors, not with everyone already known. Keys shared by more than
    ``COMMON_KEY_AUTHORS`` authors are passed over. With auto-merge on, pairs at or above the threshold are
    merged at once (by the system, audited). Returns the suggestions opened."""
    facts = author_facts(author_ids=author_ids)
    if not facts:
        return []
    networks = {f.author_id: f.network for f in facts}
    mine: dict[tuple[str, str], set[int]] = defaultdict(set)
    for f in facts:
        for key in K.author_keys(f):
            mine[key].add(f.author_id)
    AuthorKey.objects.bulk_create(
        [
            AuthorKey(author_id=a, kind=kind, value=value)
            for (kind, value), authors in mine.items()
            for a in authors
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    # What each of our keys is looked up as: a named handle is some other author's handle, and the other way.
    lookups: dict[str, set[str]] = defaultdict(set)
    for kind, value in mine:
        if kind == K.NAMED_HANDLE:
            lookups[K.HANDLE].add(value)
        elif kind == K.HANDLE:
            lookups[K.HANDLE].add(value)
            lookups[K.NAMED_HANDLE].add(value)
        else:
            lookups[kind].add(value)
    holders: dict[tuple[str, str], list[int]] = defaultdict(list)
    for kind, values in lookups.items():
        values_list = sorted(values)
        for start in range(0, len(values_list), 1000):
            chunk = values_list[start : start + 1000]
            common = set(
                AuthorKey.objects.filter(kind=kind, value__in=chunk)
                .values("value")
                .annotate(n=Count("id"))
                .filter(n__gt=COMMON_KEY_AUTHORS)
                .values_list("value", flat=True)
                .order_by()
            )
            for value, author_id in (
                AuthorKey.objects.filter(kind=kind, value__in=chunk)
                .exclude(value__in=common)
                .values_list("value", "author_id")
            ):
                holders[(kind, value)].append(author_id)
    pairs: dict[tuple[int, int], set[str]] = defaultdict(set)
    for (kind, value), authors in mine.items():
        if kind == K.NAMED_HANDLE:
            matches = [(K.NAMED_HANDLE, other) for other in holders.get((K.HANDLE, value), ())]
        elif kind == K.HANDLE:
            matches = [(K.HANDLE, other) for other in holders.get((K.HANDLE, value), ())]
            matches += [(K.NAMED_HANDLE, other) for other in holders.get((K.NAMED_HANDLE, value), ())]
        else:
            matches = [(kind, other) for other in holders.get((kind, value), ())]
        for author_id in authors:
            for reason, other in matches:
                if other != author_id:
                    pairs[(min(author_id, other), max(author_id, other))].add(reason)
    if not pairs:
        return []
    every = {a for pair in pairs for a in pair}
    other_networks = dict(Author.objects.filter(pk__in=every - set(networks)).values_list("id", "network"))
    networks.update(other_networks)
    for pair, reasons in list(pairs.items()):
        if K.HANDLE in reasons and networks.get(pair[0]) == networks.get(pair[1]):
            reasons.discard(K.HANDLE)  # one network does not give two accounts one handle: a different person
        if not reasons:
            del pairs[pair]
    person_of = persons_ensure(author_ids={a for pair in pairs for a in pair})
    suggestions = [
        MergeSuggestion(
            author_id=a,
            other_id=b,
            reasons=sorted(reasons, key=lambda kind: -K.CONFIDENCE[kind]),
            confidence=K.confidence_of(reasons),
        )
        for (a, b), reasons in sorted(pairs.items())
        if person_of.get(a) != person_of.get(b)
    ]
    if not suggestions:
        return []
    known = set(
        MergeSuggestion.objects.filter(
            author_id__in=[s.author_id for s in suggestions], other_id__in=[s.other_id for s in suggestions]
        ).values_list("author_id", "other_id")
    )
    fresh = [s for s in suggestions if (s.author_id, s.other_id) not in known]
    MergeSuggestion.objects.bulk_create(fresh, ignore_conflicts=True)
    opened = list(
        MergeSuggestion.objects.filter(
            state=MergeSuggestion.State.OPEN,
            author_id__in=[s.author_id for s in fresh],
            other_id__in=[s.other_id for s in fresh],
        ).order_by("-confidence", "id")
    )
    settings = PeopleSettings.current()
    if settings.auto_merge:
        for suggestion in opened:
            if suggestion.confidence >= settings.auto_merge_threshold:
                suggestion_accept(actor=None, suggestion=suggestion)
    return opened


# --- Segments -----------------------------------------------------------------------------------------------


def thresholds_current() -> Thresholds:
    s = PeopleSettings.current()
    return Thresholds(
        influencer_followers=s.influencer_followers,
        advocate_positive=s.advocate_positive,
        detractor_negative=s.detractor_negative,
        customer_support=s.customer_support,
        prospect_purchase=s.prospect_purchase,
        press_questions=s.press_questions,
    )


def segments_recompute(*, person_ids: Iterable[int]) -> int:
    """Recompute the segments of these persons from their handles' counters (``people.counters``; a
    handle not counted yet is counted first), and copy them to the handles (``inbox.Author.segments``,
    which inbox filters and routing rules read). Reads one row per handle, whatever the number of
    mentions. Idempotent; writes only rows whose segments changed.
    Returns how many persons changed."""
    person_ids = sorted(set(person_ids))
    if not person_ids:
        return 0
    rows = _handles_with_counts(person_ids)
    uncounted = {row[3] for row in rows if row[7] is None}
    if uncounted:
        counters.mentions_count(author_ids=uncounted)
        rows = _handles_with_counts(person_ids)
    thresholds = thresholds_current()
    handles: dict[int, list[int]] = defaultdict(list)
    persons: dict[int, tuple[bool, list[str]]] = {}
    totals: dict[int, Behaviour] = defaultdict(Behaviour)
    author_segments: dict[int, list[str]] = {}
    for person_id, is_vip, had, author_id, author_has, followers, verified, *counts in rows:
        handles[person_id].append(author_id)
        persons[person_id] = (is_vip, had)
        author_segments[author_id] = author_has
        mentions, positive, negative, support, purchase, press = (n or 0 for n in counts)
        totals[person_id] = totals[person_id] + Behaviour(
            mentions=mentions,
            positive=positive,
            negative=negative,
            support=support,
            purchase=purchase,
            press=press,
            max_followers=followers,
            verified=verified,
        )
    persons_to: dict[int, list[str]] = {}
    authors_to: dict[int, list[str]] = {}
    for person_id, (is_vip, had) in persons.items():
        segments = segments_of(totals[person_id], thresholds, is_vip=is_vip)
        if segments != had:
            persons_to[person_id] = segments
        for author_id in handles[person_id]:
            if author_segments[author_id] != segments:
                authors_to[author_id] = segments
    _segments_write(Person, persons_to)
    _segments_write(Author, authors_to)
    return len(persons_to)


def _segments_write(model: type[Person] | type[Author], segments: Mapping[int, list[str]]) -> None:
    """One UPDATE for a batch's new segments (PostgreSQL, from arrays), or one per distinct list."""
    if not segments:
        return
    ids = sorted(segments)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {model._meta.db_table} AS t SET segments = v.segments::jsonb"  # noqa: S608
                " FROM unnest(%s::bigint[], %s::text[]) AS v(id, segments) WHERE t.id = v.id",
                [ids, [json.dumps(segments[pk]) for pk in ids]],
            )
        return
    grouped: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for pk in ids:
        grouped[tuple(segments[pk])].append(pk)
    for names, pks in grouped.items():
        model.objects.filter(pk__in=pks).update(segments=list(names))


def _handles_with_counts(person_ids: Sequence[int]) -> list[tuple]:
    """(person, VIP, person's segments, author, author's segments, followers, verified, *counts) for each
    handle of these persons; the counts are None for a handle not counted yet."""
    return list(
        PersonAuthor.objects.filter(person_id__in=person_ids).values_list(
            "person_id",
            "person__is_vip",
            "person__segments",
            "author_id",
            "author__segments",
            "author__follower_count",
            "author__is_verified",
            *(f"author__behaviour__{name}" for name in counters.COUNTS),
        )
    )


def authors_refresh(*, author_ids: Iterable[int]) -> None:
    """What new mentions from these authors change: a person for each, suggestions for the authors that
    had none before, and the segments of their persons. The domain events' consumer calls it."""
    author_ids = set(author_ids)
    if not author_ids:
        return
    persons = dict(
        PersonAuthor.objects.filter(author_id__in=author_ids).values_list("author_id", "person_id").order_by()
    )
    new = sorted(author_ids - set(persons))
    if new:
        persons_ensure(author_ids=new)
        suggestions_find(author_ids=new)
        persons = persons_ensure(author_ids=author_ids)  # an auto-merge may have moved some
    segments_recompute(person_ids=set(persons.values()))


# --- VIP, tags, notes ---------------------------------------------------------------------------------------


def person_set_vip(*, actor: Any, person: Person, is_vip: bool) -> Person:
    with transaction.atomic():
        counters.counters_lock()  # before the person's row, as in persons_merge
        person = Person.objects.select_for_update().get(pk=person.pk)
        if person.is_vip == is_vip:
            return person
        person.is_vip = is_vip
        person.save(update_fields=["is_vip"])
        event_record(
            actor=actor,
            verb="person.vip_set",
            obj=person,
            before={"vip": not is_vip},
            after={"vip": is_vip},
            teams=[],
        )
        segments_recompute(person_ids=[person.pk])
    person.refresh_from_db()
    return person


def person_tag(*, actor: Any, person: Person, tags: Iterable[str]) -> Person:
    """Set the person's tags (labels: trimmed, lower case, at most ``LABEL_MAX`` characters each)."""
    cleaned = sorted({label_normalized(tag) for tag in tags if tag.strip()})
    with transaction.atomic():
        person = Person.objects.select_for_update().get(pk=person.pk)
        before = list(person.tags)
        if before == cleaned:
            return person
        person.tags = cleaned
        person.save(update_fields=["tags"])
        event_record(
            actor=actor,
            verb="person.tagged",
            obj=person,
            before={"tags": before},
            after={"tags": cleaned},
            teams=[],
        )
    return person


def person_note_add(*, actor: Any, person: Person, body: str) -> PersonNote:
    body = body.strip()
    if not body:
        raise ValueError("A note needs some text.")
    with transaction.atomic():
        note = PersonNote.objects.create(person=person, author=actor, body=body)
        event_record(actor=actor, verb="person.noted", obj=person, after={"note": note.pk}, teams=[])
    return note
