"""Erasing a person, and the retention policy: text and identifiers are replaced, what was counted stays
(intent, sentiment, status, times, teams), so reports and rollups keep their figures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from foundation.events import event_record
from foundation.models import DomainEvent
from inbox.models import Author, Mention, Note, Reply
from people.models import AuthorKey, MergeSuggestion, PeopleSettings, Person, PersonAuthor, PersonNote
from routing.models import Correction, SentimentCorrection

ERASED_TEXT = Mention.ERASED_TEXT
RETENTION_CHUNK = 2_000  # mentions per transaction of the retention sweep


def mentions_erase(*, mention_ids: Sequence[int]) -> int:
    """Replace the text, links, payload and network ids of these mentions (and the text of their notes and
    our replies, which quote them), keeping everything counted. Network ids become ``erased:<id>``, unique
    as the constraint asks. Search indexes follow the text (PostgreSQL's is an expression index, SQLite's
    FTS table has triggers)."""
    if not mention_ids:
        return 0
    erased = Mention.objects.filter(pk__in=mention_ids).update(
        text=ERASED_TEXT,
        url="",
        raw={},
        conversation_key="",
        in_reply_to="",
        canonical_id="",
        external_id=Concat(Value("erased:"), Cast(F("id"), output_field=CharField())),
    )
    # The audit trail names a mention by its network id: keep the events, not the id.
    DomainEvent.objects.filter(
        object_type=ContentType.objects.get_for_model(Mention), object_id__in=[str(pk) for pk in mention_ids]
    ).update(object_repr="erased mention")
    Note.objects.filter(mention_id__in=mention_ids).update(body=ERASED_TEXT)
    Reply.objects.filter(mention_id__in=mention_ids).update(text=ERASED_TEXT, url="")
    # Learning's copies of the text: the corrections stay (reports count them), their text does not.
    Correction.objects.filter(mention_id__in=mention_ids).update(text="")
    SentimentCorrection.objects.filter(mention_id__in=mention_ids).delete()
    return erased


def person_erase(*, actor: Any, person: Person) -> Person:
    """Erase everything that identifies a person: every handle's name and ids, every mention's text, the
    person's notes, keys and suggestions. Recorded as ``person.erased`` (who and when; nothing of what)."""
    with transaction.atomic():
        person = Person.objects.select_for_update().get(pk=person.pk)
        author_ids = list(PersonAuthor.objects.filter(person=person).values_list("author_id", flat=True))
        mention_ids = list(Mention.objects.filter(author_id__in=author_ids).values_list("id", flat=True))
        erased = mentions_erase(mention_ids=mention_ids)
        Author.objects.filter(pk__in=author_ids).update(
            handle=Concat(Value("erased-"), Cast(F("id"), output_field=CharField())),
            external_id=Concat(Value("erased:"), Cast(F("id"), output_field=CharField())),
            display_name="",
            tags=[],
        )
        AuthorKey.objects.filter(author_id__in=author_ids).delete()
        MergeSuggestion.objects.filter(author_id__in=author_ids).delete()
        MergeSuggestion.objects.filter(other_id__in=author_ids).delete()
        PersonNote.objects.filter(person=person).delete()
        # The audit trail keeps that things happened to the person, not the handles they named.
        DomainEvent.objects.filter(
            object_type=ContentType.objects.get_for_model(Person), object_id=str(person.pk)
        ).update(before={}, after={"erased": True}, object_repr="Erased person")
        person.display_name = "Erased person"
        person.tags = []
        person.erased_at = timezone.now()
        person.save(update_fields=["display_name", "tags", "erased_at"])
        event_record(
            actor=actor,
            verb="person.erased",
            obj=person,
            after={"handles": len(author_ids), "mentions": erased},
            teams=[],
        )
    return person


def retention_apply(*, now: Any = None) -> int:
    """Erase the text of mentions older than the retention policy's days (none when it is empty), in
    chunks, oldest first; already erased mentions are skipped. Returns how many were erased."""
    days = PeopleSettings.current().retention_days
    if not days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                Mention.objects.filter(created_at__lt=cutoff)
                .exclude(text=ERASED_TEXT)
                .order_by("created_at", "id")
                .values_list("id", flat=True)[:RETENTION_CHUNK]
            )
            if not ids:
                break
            total += mentions_erase(mention_ids=ids)
    if total:
        settings = PeopleSettings.current()
        with transaction.atomic():
            event_record(
                actor=None,
                verb="people.retention_applied",
                obj=settings,
                after={"mentions": total, "older_than_days": days},
                teams=[],
            )
    return total
