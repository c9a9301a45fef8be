"""Persons behind the handles: one person links one or more inbox authors (handles on any network), with the
keys that find the same person under another handle, the merge suggestions those keys raise, notes, and the
settings admins choose (segment thresholds, auto-merge, retention).

Every author gets a person the first time people looks at it (a person of one handle); merging moves the
handles of one person to another, splitting gives a handle a person of its own again.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Value
from django.utils import timezone

from people.keys import REASONS


class Person(models.Model):
    """Someone who writes to us, under one or more handles."""

    display_name = models.CharField(max_length=200, blank=True)
    is_vip = models.BooleanField(default=False, help_text="Set by hand: the VIP segment.")
    tags = models.JSONField(default=list, blank=True, help_text="Free tags people give the person.")
    segments = models.JSONField(
        default=list,
        db_default=Value([], output_field=models.JSONField()),
        blank=True,
        help_text="Computed from behaviour (routing.facts.AUTHOR_SEGMENTS), VIP included when set.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    erased_at = models.DateTimeField(null=True, blank=True, help_text="When the person's data was erased.")

    def __str__(self) -> str:
        return self.display_name or f"Person {self.pk}"


class PersonAuthor(models.Model):
    """A handle of a person: each author belongs to exactly one person."""

    author = models.OneToOneField("inbox.Author", on_delete=models.CASCADE, related_name="person_link")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="links")
    linked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.author_id} of person {self.person_id}"


class AuthorKey(models.Model):
    """A normalised value an author carries that another handle of the same person may carry too. Suggestions
    look these up by (kind, value) in an index: a new author costs a few index lookups, never a comparison
    with every other author."""

    class Kind(models.TextChoices):
        NAME = "name", "Same display name"
        HANDLE = "handle", "Same handle on another network"
        EMAIL = "email", "Same e-mail address in a direct message"
        NAMED_HANDLE = "named_handle", "Profile names the other handle"

    author = models.ForeignKey("inbox.Author", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    value = models.CharField(max_length=254)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["author", "kind", "value"], name="authorkey_author_kind_value_unique"
            )
        ]
        indexes = [models.Index(fields=["kind", "value"], name="authorkey_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class MergeSuggestion(models.Model):
    """Two handles that may be one person, why, and how sure we are; merged only by a person's click, or by
    the system when an admin turned auto-merge on and the confidence reaches the threshold."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Merged"
        DISMISSED = "dismissed", "Dismissed"

    author = models.ForeignKey("inbox.Author", on_delete=models.CASCADE, related_name="+", db_index=False)
    other = models.ForeignKey("inbox.Author", on_delete=models.CASCADE, related_name="+")
    reasons = models.JSONField(default=list, help_text="AuthorKey kinds that matched, strongest first.")
    confidence = models.FloatField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            # One row per pair, the lower author id first.
            models.UniqueConstraint(fields=["author", "other"], name="mergesuggestion_pair_unique"),
            models.CheckConstraint(
                condition=models.Q(author__lt=models.F("other")), name="mergesuggestion_ordered"
            ),
        ]
        indexes = [
            models.Index(fields=["other"], name="mergesuggestion_open_idx", condition=models.Q(state="open"))
        ]

    def __str__(self) -> str:
        return f"{self.author_id} ~ {self.other_id} ({self.confidence:.2f})"

    @property
    def reason_text(self) -> str:
        return ", ".join(REASONS.get(kind, kind) for kind in self.reasons)


class PersonNote(models.Model):
    """An internal note on a person, seen by whoever may see the person; never sent to a network."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Note on person {self.person_id}"


class PeopleSettings(models.Model):
    """The installation's choices for people (one row): segment thresholds, auto-merge, retention."""

    influencer_followers = models.PositiveIntegerField(default=10_000, help_text="Followers of one handle.")
    advocate_positive = models.PositiveIntegerField(
        default=3, help_text="Positive mentions, more than negative."
    )
    detractor_negative = models.PositiveIntegerField(
        default=3, help_text="Negative mentions, more than positive."
    )
    customer_support = models.PositiveIntegerField(
        default=1, help_text="Support questions or complaints, or a post naming an order number."
    )
    prospect_purchase = models.PositiveIntegerField(
        default=1, help_text="Purchase questions, with no support history."
    )
    press_questions = models.PositiveIntegerField(
        default=1, help_text="Press questions (a verified account is press at its first)."
    )
    auto_merge = models.BooleanField(default=False, help_text="Merge suggestions at or above the threshold.")
    auto_merge_threshold = models.FloatField(default=0.95)
    retention_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Erase mentions older than this many days (empty: keep them)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "people settings"
        verbose_name_plural = "people settings"

    def __str__(self) -> str:
        return "People settings"

    @classmethod
    def current(cls) -> PeopleSettings:
        return cls.objects.get_or_create(pk=1)[0]


class AuthorBehaviour(models.Model):
    """An author's counts over all of its mentions, the only thing segment decisions read: kept by the
    people consumer one mention at a time (``people.counters``), rebuilt nightly. A row exists once the
    author's whole history is counted."""

    author = models.OneToOneField(
        "inbox.Author", on_delete=models.CASCADE, primary_key=True, related_name="behaviour"
    )
    mentions = models.PositiveIntegerField(default=0)
    positive = models.PositiveIntegerField(default=0)
    negative = models.PositiveIntegerField(default=0)
    support = models.PositiveIntegerField(
        default=0, help_text="Support questions, complaints and posts naming an order number."
    )
    purchase = models.PositiveIntegerField(default=0, help_text="Purchase questions.")
    press = models.PositiveIntegerField(default=0, help_text="Press questions.")

    def __str__(self) -> str:
        return f"Counts of author {self.author_id}"


class CountedMention(models.Model):
    """What one mention adds to its author's counts, as last counted. Recounting a mention adds only the
    difference, so handling its events again, or in any order, leaves the counts right."""

    mention = models.OneToOneField(
        "inbox.Mention", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    author = models.ForeignKey("inbox.Author", on_delete=models.CASCADE, related_name="+")
    positive = models.BooleanField(default=False)
    negative = models.BooleanField(default=False)
    support = models.BooleanField(default=False)
    purchase = models.BooleanField(default=False)
    press = models.BooleanField(default=False)
    # Kept apart from support: an erased mention's text no longer shows its order number, and what was
    # counted stays counted (people.privacy).
    names_order = models.BooleanField(default=False)
    # Counted before routing decided (routing failed at ingest; the sweeper routes without an event): the
    # consumer counts it again once it is routed.
    routed = models.BooleanField(default=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["mention"], name="countedmention_unrouted_idx", condition=models.Q(routed=False)
            )
        ]

    def __str__(self) -> str:
        return f"Counted mention {self.mention_id}"
