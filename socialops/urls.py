"""Top-level URL configuration."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from socialops import views
from socialops.security import csp_allow_inline_styles
from users.views import SignInView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="inbox:index", permanent=False)),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("me/", include("users.urls")),
    path("account/", RedirectView.as_view(pattern_name="users:account", permanent=True)),  # its old address
    path("inbox/", include("inbox.urls")),
    path("channels/", include("channels.urls")),
    path("routing/", include("routing.urls")),
    path("audit/", include(("inbox.audit_urls", "audit"))),
    path("teams/", include("inbox.team_urls")),
    path("sla/", include("inbox.sla_urls")),
    path("integrations/", include("integrations.urls")),
    path("reports/", include("reports.urls")),
    path("crisis/", include("crisis.urls")),
    path("notifications/", include("integrations.notification_urls")),
    path("people/", include("people.urls")),
    path("api/v1/", include("socialops.api_urls")),
    path("integrations/handoff/", include("integrations.handoff_urls")),
    path("integrations/slack/", include("integrations.slack_urls")),
    # Django admin's own sign-in form is not throttled: people sign in through ours, which comes back here.
    path("django-admin/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("django-admin/", admin.site.urls),
]

handler400 = "socialops.views.bad_request"
handler403 = "socialops.views.permission_denied"
handler404 = "socialops.views.not_found"
handler500 = csp_allow_inline_styles(views.server_error)  # its page carries its own <style>
