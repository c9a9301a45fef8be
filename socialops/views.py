"""Project-wide views: health and readiness checks, and error pages."""

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from foundation.cache import cache_ping


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any database failure means "unreachable"
        return False
    return True


def healthz(request: HttpRequest) -> JsonResponse:
    """Each dependency's state. 200 while the database answers: with Redis down the product degrades (no
    presence, live updates paused, pulls and sends wait) but works, and says so here ("degraded"). 503 when
    the database does not answer. Used by docker-compose and load balancers (``/readyz`` is the same
    verdict, without the details)."""
    database = _database_answers()
    cache = "ok" if cache_ping() else "unreachable"
    if settings.REDIS_URL is None:
        cache = "none"  # the embedded default: a file cache, nothing to reach
    if not database:
        return JsonResponse({"status": "unavailable", "database": "unreachable", "cache": cache}, status=503)
    status = "ok" if cache in ("ok", "none") else "degraded"
    return JsonResponse({"status": status, "database": "ok", "cache": cache})


def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: 200 when the database answers, else 503 (a load balancer sends no one here)."""
    if not _database_answers():
        return JsonResponse({"ready": False}, status=503)
    return JsonResponse({"ready": True})


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler404``, and the 404 page with DEBUG on too (``socialops.middleware``)."""
    return render(request, "errors/404.html", status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler403``, and the 403 page with DEBUG on too."""
    return render(request, "errors/403.html", status=403)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler400``, and the 400 page with DEBUG on too."""
    return render(request, "errors/400.html", status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "errors/500.html", status=500)
