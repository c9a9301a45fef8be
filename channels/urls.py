from django.urls import path

from channels import views

app_name = "channels"

urlpatterns = [
    path("", views.index, name="index"),
    path("connect/x/", views.x_connect, name="x_connect"),
    # No trailing slash: X only redirects to the exact address registered with the app.
    path("connect/x/callback", views.x_callback, name="x_callback"),
    path("connect/mastodon/", views.mastodon_connect, name="mastodon_connect"),
    path("<slug:slug>/reauthorise/", views.reauthorise, name="reauthorise"),
]
