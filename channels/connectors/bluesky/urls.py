"""The Bluesky connect flow, mounted by ``channels.urls`` at ``/channels/connect/bluesky/``."""

from django.urls import path

from channels.connectors.bluesky import views

CONNECT_URL_NAME = "channels:bluesky_connect"

urlpatterns = [
    path("", views.bluesky_connect, name="bluesky_connect"),
]
