"""People's pages: a person's profile (from the inbox's author card), merge suggestions, merge, split, VIP,
tags, notes, and for admins export and erase. Every view finds the person through a selector that applies
the inbox's visibility, so a person nobody let the viewer see is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from inbox.models import Author
from people import privacy, selectors, services
from people.models import MergeSuggestion, Person
from routing.facts import LabelRefused
from teams.roles import user_is_admin


def _person(request: HttpRequest, person_id: int) -> Person:
    try:
        return selectors.person_get(user=request.user, person_id=person_id)
    except Person.DoesNotExist:
        raise Http404("No such person") from None


@login_required
@require_GET
def author_profile(request: HttpRequest, author_id: int) -> HttpResponse:
    """The author card's link: the person behind this handle (one is made the first time)."""
    try:
        author = selectors.author_visible(user=request.user, author_id=author_id)
    except Author.DoesNotExist:
        raise Http404("No such author") from None
    person = services.person_for_author(author=author)
    return redirect("people:profile", person_id=person.pk)


@login_required
@require_GET
def profile(request: HttpRequest, person_id: int) -> HttpResponse:
    person = _person(request, person_id)
    before = request.GET.get("before", "")
    data = selectors.person_profile(
        user=request.user,
        person=person,
        before=int(before) if before.isascii() and before.isdigit() else None,
    )
    return render(request, "people/profile.html", {"profile": data, "person": person})


@login_required
@require_GET
def suggestions(request: HttpRequest) -> HttpResponse:
    return render(
        request, "people/suggestions.html", {"suggestions": selectors.suggestions_open(user=request.user)}
    )


def _suggestion(request: HttpRequest, suggestion_id: int) -> MergeSuggestion:
    try:
        return selectors.suggestion_get(user=request.user, suggestion_id=suggestion_id)
    except MergeSuggestion.DoesNotExist:
        raise Http404("No such suggestion") from None


def _back(request: HttpRequest, person: Person | None = None) -> HttpResponse:
    if person is not None:
        return redirect("people:profile", person_id=person.pk)
    return redirect("people:suggestions")


@login_required
@require_POST
def suggestion_accept(request: HttpRequest, suggestion_id: int) -> HttpResponse:
    suggestion = _suggestion(request, suggestion_id)
    try:
        person = services.suggestion_accept(actor=request.user, suggestion=suggestion)
    except PermissionDenied as refused:
        messages.error(request, str(refused))
        return _back(request)
    messages.success(request, "Merged: one person now.")
    return _back(request, person)


@login_required
@require_POST
def suggestion_dismiss(request: HttpRequest, suggestion_id: int) -> HttpResponse:
    suggestion = _suggestion(request, suggestion_id)
    services.suggestion_dismiss(actor=request.user, suggestion=suggestion)
    messages.success(request, "Suggestion dismissed.")
    next_person = request.POST.get("person", "")
    if next_person.isascii() and next_person.isdigit():
        return redirect("people:profile", person_id=int(next_person))
    return _back(request)


@login_required
@require_POST
def split(request: HttpRequest, person_id: int, author_id: int) -> HttpResponse:
    person = _person(request, person_id)
    try:
        author = Author.objects.get(pk=author_id, person_link__person=person)
    except Author.DoesNotExist:
        raise Http404("Not a handle of this person") from None
    services.person_split(actor=request.user, person=person, author=author)
    messages.success(request, f"@{author.handle} is a person of its own now.")
    return _back(request, person)


@login_required
@require_POST
def vip(request: HttpRequest, person_id: int) -> HttpResponse:
    person = _person(request, person_id)
    is_vip = request.POST.get("vip") == "yes"
    services.person_set_vip(actor=request.user, person=person, is_vip=is_vip)
    messages.success(request, "Marked as VIP." if is_vip else "No longer a VIP.")
    return _back(request, person)


@login_required
@require_POST
def tags(request: HttpRequest, person_id: int) -> HttpResponse:
    person = _person(request, person_id)
    try:
        services.person_tag(actor=request.user, person=person, tags=request.POST.get("tags", "").split(","))
    except LabelRefused as refused:
        messages.error(request, str(refused))
    return _back(request, person)


@login_required
@require_POST
def note(request: HttpRequest, person_id: int) -> HttpResponse:
    person = _person(request, person_id)
    try:
        services.person_note_add(actor=request.user, person=person, body=request.POST.get("body", "")[:5000])
    except ValueError as refused:
        messages.error(request, str(refused))
    return _back(request, person)


def _admin_person(request: HttpRequest, person_id: int) -> Person:
    if not user_is_admin(request.user):
        raise PermissionDenied("Only admins export or erase a person.")
    return _person(request, person_id)


@login_required
@require_GET
def export(request: HttpRequest, person_id: int) -> HttpResponse:
    person = _admin_person(request, person_id)
    response = JsonResponse(selectors.person_export(person=person), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="person-{person.pk}.json"'
    return response


@login_required
@require_POST
def erase(request: HttpRequest, person_id: int) -> HttpResponse:
    person = _admin_person(request, person_id)
    if request.POST.get("confirm") != "erase":
        messages.error(request, 'Type "erase" to confirm.')
        return _back(request, person)
    privacy.person_erase(actor=request.user, person=person)
    messages.success(request, "The person's text and identifiers are erased.")
    return _back(request, person)
