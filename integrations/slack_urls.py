"""Slack notification URLs, included under /integrations/slack/."""

from django.urls import path

from integrations import slack_views as views

app_name = "slack"

urlpatterns = [
    path("", views.notifiers, name="notifiers"),
    path("new/", views.notifier_new, name="notifier_new"),
    path("<int:pk>/", views.notifier_edit, name="notifier_edit"),
    path("<int:pk>/test/", views.notifier_test, name="notifier_test"),
]
