"""Hand-off URLs, included under /integrations/handoff/."""

from django.urls import path

from integrations.handoff import views

app_name = "handoff"

urlpatterns = [
    path("", views.integrations, name="integrations"),
    path("new/", views.integration_new, name="integration_new"),
    path("<int:pk>/", views.integration_edit, name="integration_edit"),
    path("<int:pk>/test/", views.integration_test, name="integration_test"),
    path("mentions/<int:mention_id>/", views.hand_off, name="hand_off"),
    path("cases/<int:handoff_id>/retry/", views.retry, name="retry"),
]
