from django.urls import path

from integrations import notification_views as views

app_name = "notifications"

urlpatterns = [
    path("", views.notification_list, name="index"),
    path("read/", views.notifications_read, name="read"),
    path("settings/", views.notification_settings, name="settings"),
]
