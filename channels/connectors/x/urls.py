"""The X connect flow, mounted by ``channels.urls`` at ``/channels/connect/x/``."""

from django.urls import path

from channels.connectors.x import views

CONNECT_URL_NAME = "channels:x_connect"
CONNECT_LINK_TEXT = "Connect an X account"
RENEW_LINK_TEXT = ""  # renewing is re-authorising through X ("Re-authorise"), not a form to fill in again
reauthorise = views.reauthorise

urlpatterns = [
    path("", views.x_connect, name="x_connect"),
    # No trailing slash: X only redirects to the exact address registered with the app.
    path("callback", views.x_callback, name="x_callback"),
]
