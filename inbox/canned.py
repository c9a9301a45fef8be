"""Canned responses: the placeholders a reply template may hold, their preview, and the changes a team's
leads make to their segments' templates (admins to every segment's)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet

from channels.models import Segment
from foundation.access import may_lead
from foundation.events import event_record
from inbox.models import CannedResponse
from teams.models import Team
from teams.roles import actor_of

# What the composer fills in (static/js/inbox.js does the same when an agent picks a template).
PLACEHOLDERS = {
    "author": "the author's handle, e.g. @jo_hiker",
    "author_name": "the author's name, e.g. Jo Hiker",
    "agent": "your name",
    "channel": "the brand account, e.g. @northwind_help",
}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


class CannedResponseError(Exception):
    """A change to a canned response that the person may not make."""


def unknown_placeholders(body: str) -> list[str]:
    """Placeholders in ``body`` the composer would leave as they are, e.g. a misspelt ``{authorname}``."""
    return sorted({name for name in PLACEHOLDER.findall(body) if name not in PLACEHOLDERS})


def canned_fill(body: str, values: Mapping[str, str]) -> str:
    """The body with its known placeholders filled in; unknown ones stay as written (as in the composer)."""
    return PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), body)


def preview_values(*, agent_name: str, segment: Segment | None) -> dict[str, str]:
    """Example values for a preview: a made-up author, the person previewing, the segment's first account."""
    channel = segment.channels.order_by("handle").first() if segment is not None else None
    return {
        "author": "@jo_hiker",
        "author_name": "Jo Hiker",
        "agent": agent_name,
        "channel": channel.handle if channel is not None else "@your_brand",
    }


def team_segments(*, team: Team) -> QuerySet[Segment]:
    """The segments whose canned responses the team's leads keep: the ones the team owns."""
    return Segment.objects.filter(team=team)


def canned_responses_for_team(*, team: Team) -> QuerySet[CannedResponse]:
    return (
        CannedResponse.objects.filter(segment__team=team)
        .select_related("segment")
        .order_by("segment__position", "title", "id")
    )


def _state(canned: CannedResponse) -> dict[str, str]:
    return {"segment": canned.segment.slug, "title": canned.title, "body": canned.body}


def _check(user: AbstractBaseUser, segment: Segment) -> None:
    if not may_lead(actor_of(user), team_id=segment.team_id):
        raise CannedResponseError(f"Only a lead of {segment.team} or an admin can change its canned replies.")


def canned_response_save(
    *,
    user: AbstractBaseUser,
    segment: Segment,
    title: str,
    body: str,
    canned: CannedResponse | None = None,
) -> CannedResponse:
    """Creates (``canned`` None) or changes a canned response of a segment the person leads; audited."""
    _check(user, segment)
    if canned is not None:
        _check(user, canned.segment)  # moving one out of another team's segment needs that team's lead too
    with transaction.atomic():
        before = None if canned is None else _state(canned)
        if canned is None:
            canned = CannedResponse(segment=segment, title=title, body=body)
        else:
            canned.segment, canned.title, canned.body = segment, title, body
        canned.save()
        event_record(
            actor=user,
            verb="canned_response.created" if before is None else "canned_response.changed",
            obj=canned,
            before=before,
            after={"segment": segment.slug, "title": title, "body": body},
            teams=[segment.team_id],
        )
    return canned


def canned_response_delete(*, user: AbstractBaseUser, canned: CannedResponse) -> None:
    """Deletes a canned response of a segment the person leads; audited."""
    _check(user, canned.segment)
    with transaction.atomic():
        event_record(
            actor=user,
            verb="canned_response.deleted",
            obj=canned,
            before=_state(canned),
            teams=[canned.segment.team_id],
        )
        canned.delete()
