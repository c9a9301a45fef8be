"""Top-level URL configuration."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from socialops import views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="inbox:index", permanent=False)),
    path("healthz", views.healthz, name="healthz"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="registration/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("inbox/", include("inbox.urls")),
    path("channels/", include("channels.urls")),
    path("routing/", include("routing.urls")),
    path("audit/", include(("inbox.audit_urls", "audit"))),
    path("teams/", include("teams.urls")),
    path("sla/", include("inbox.sla_urls")),
    path("api/v1/", include("socialops.api_urls")),
    path("django-admin/", admin.site.urls),
]

handler400 = "socialops.views.bad_request"
handler403 = "socialops.views.permission_denied"
handler404 = "socialops.views.not_found"
handler500 = "socialops.views.server_error"
