"""Content-Security-Policy and Permissions-Policy on every answer (Django 5.2 has neither built in).

A small middleware of our own rather than django-csp: our policy is one fixed header (no nonces: every
script is a file under /static/), and django-csp does not send Permissions-Policy anyway.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = getattr(response, "content_security_policy", settings.CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response


def csp_allow_inline_styles(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For pages we do not write ourselves (the API docs' Swagger UI has a <style> block): inline
    styles allowed, scripts still only from our own files."""

    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response.content_security_policy = settings.CONTENT_SECURITY_POLICY.replace(
            "style-src 'self'", "style-src 'self' 'unsafe-inline'"
        )
        return response

    return wrapped
