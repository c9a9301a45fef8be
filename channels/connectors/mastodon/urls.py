"""The Mastodon connect flow, mounted by ``channels.urls`` at ``/channels/connect/mastodon/``."""

from django.urls import path

from channels.connectors.mastodon import views

CONNECT_URL_NAME = "channels:mastodon_connect"
RENEW_LINK_TEXT = "Renew the access token"

urlpatterns = [
    path("", views.mastodon_connect, name="mastodon_connect"),
]
