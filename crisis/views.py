"""The radar's pages: the list of incidents, for team leads and admins."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from crisis.models import Incident
from crisis.selectors import INCIDENT_PAGE_SIZE, incidents_for


@login_required
@require_GET
def incident_list(request: HttpRequest) -> HttpResponse:
    """Incidents, newest first, searchable by their words; a 403 to anyone but leads and admins."""
    search = request.GET.get("q", "")[:200]
    status = request.GET.get("status", "")
    incidents = list(incidents_for(user=request.user, search=search, status=status)[:INCIDENT_PAGE_SIZE])
    return render(
        request,
        "crisis/incidents.html",
        {"incidents": incidents, "search": search, "status": status, "statuses": Incident.Status.choices},
    )
