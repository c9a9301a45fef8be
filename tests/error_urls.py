"""The product's URLs plus views that fail on purpose, for the error page tests (``pytest.mark.urls``)."""

from django.core.exceptions import BadRequest, PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import path

from socialops.urls import handler400, handler403, handler404, handler500
from socialops.urls import urlpatterns as product_urlpatterns


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("not for you")


def bad(request: HttpRequest) -> HttpResponse:
    raise BadRequest("unreadable")


def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


urlpatterns = [
    path("test-errors/forbidden/", forbidden),
    path("test-errors/bad/", bad),
    path("test-errors/broken/", broken),
    *product_urlpatterns,
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
