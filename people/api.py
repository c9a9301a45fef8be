"""Persons in the REST API, read-only: a list (filtered by segment, newest first, by keyset) and one person
with their handles, segments and counts. Mounted under ``/api/v1/persons/`` with the inbox's access rule: a
person none of whose mentions the user may see is not listed, and is a 404."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from inbox.api import NOT_FOUND, InboxApi, _parse
from inbox.models import Author
from people import selectors
from people.models import Person, PersonAuthor
from people.segments import ORDER

PAGE_DEFAULT = 50
PAGE_MAX = 200


class HandleOut(serializers.ModelSerializer):
    class Meta:
        model = Author
        fields = ["id", "network", "handle", "display_name", "follower_count", "is_verified"]


class PersonOut(serializers.ModelSerializer):
    handles = serializers.SerializerMethodField()

    class Meta:
        model = Person
        fields = ["id", "display_name", "is_vip", "segments", "tags", "created_at", "erased_at", "handles"]

    @extend_schema_field(HandleOut(many=True))
    def get_handles(self, person: Person) -> list[dict]:
        return HandleOut([link.author for link in person.links.all()], many=True).data


class PersonDetailOut(PersonOut):
    mentions_visible = serializers.IntegerField(help_text="Mentions of this person you may see.")
    mentions_hidden = serializers.IntegerField(help_text="Their mentions on teams you may not see.")

    class Meta(PersonOut.Meta):
        fields = [*PersonOut.Meta.fields, "mentions_visible", "mentions_hidden"]


class PersonsIn(serializers.Serializer):
    segment = serializers.ChoiceField(
        choices=ORDER, required=False, help_text="Only persons in this segment."
    )
    before = serializers.IntegerField(required=False, min_value=1, help_text="Persons with a lower id.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=PAGE_MAX, default=PAGE_DEFAULT)


class PersonsPageOut(serializers.Serializer):
    results = PersonOut(many=True)
    next_before = serializers.IntegerField(allow_null=True, help_text="`before` for the next page, or null.")


def _handles() -> Prefetch:
    return Prefetch("links", queryset=PersonAuthor.objects.select_related("author").order_by("author_id"))


class PersonsApi(InboxApi):
    @extend_schema(
        operation_id="persons_list",
        summary="Persons you may see, newest first, optionally in one segment",
        parameters=[PersonsIn],
        responses=PersonsPageOut,
    )
    def get(self, request: Request) -> Response:
        query = _parse(PersonsIn, request.query_params)
        persons = selectors.persons_visible_to(user=request.user).prefetch_related(_handles()).order_by("-id")
        if query.get("segment"):
            persons = selectors.persons_in_segment(persons, query["segment"])
        if query.get("before"):
            persons = persons.filter(pk__lt=query["before"])
        page = list(persons[: query["limit"] + 1])
        more = len(page) > query["limit"]
        page = page[: query["limit"]]
        return Response(
            {"results": PersonOut(page, many=True).data, "next_before": page[-1].pk if more else None}
        )


class PersonDetailApi(InboxApi):
    @extend_schema(
        operation_id="persons_retrieve",
        summary="One person: handles, segments, tags and how many of their mentions you may see",
        responses={200: PersonDetailOut, 404: NOT_FOUND},
    )
    def get(self, request: Request, person_id: int) -> Response:
        try:
            person = (
                selectors.persons_visible_to(user=request.user).prefetch_related(_handles()).get(pk=person_id)
            )
        except Person.DoesNotExist:
            raise NotFound() from None
        visible, hidden = selectors.person_mention_counts(user=request.user, person=person)
        person.mentions_visible, person.mentions_hidden = visible, hidden
        return Response(PersonDetailOut(person).data)
