"""The product's own 400, 403 and 404 pages, with DEBUG on as well as off."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from socialops import views


class ErrorPagesMiddleware:
    """With DEBUG on (the embedded default of ``make run``), render our error pages where Django would show
    its yellow debug pages for a 404, 403 or 400. With DEBUG off Django already calls ``handler404`` and the
    others, which render the same templates, so this steps aside.

    A 404, 403 or 400 is the product working as designed: another team's mention, an admin page, a link
    that was never valid. The person meeting it is a community manager, not a developer, so they get the
    page that says what happened and where to go. A 500 is different: it is a bug, and with DEBUG on
    Django's traceback page is left in place because it is what a developer needs to fix it; DEBUG is only
    on in development (``SOCIALOPS_ENV=production`` turns it off), where the people running it are the ones
    who would read the traceback. Without DEBUG, ``handler500`` shows ``errors/500.html``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # An address no pattern matches fails before any view runs, so process_exception never sees it and
        # Django answers with its technical 404. Look it up first. Returning a 404 response (rather than
        # raising) lets CommonMiddleware, which sits outside this one, still add a missing slash.
        if settings.DEBUG and not _resolves(request):
            return views.not_found(request)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not settings.DEBUG:
            return None  # the handlers in socialops/urls.py render the same pages
        if isinstance(exception, Http404):
            return views.not_found(request, exception)
        if isinstance(exception, PermissionDenied):
            return views.permission_denied(request, exception)
        if isinstance(exception, BadRequest | SuspiciousOperation):
            return views.bad_request(request, exception)
        return None  # a 500: Django's traceback page, see the class docstring


def _resolves(request: HttpRequest) -> bool:
    try:
        resolve(request.path_info, getattr(request, "urlconf", None))
    except Resolver404:
        return False
    return True
