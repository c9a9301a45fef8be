from django.urls import path

from channels import views

app_name = "channels"

urlpatterns = [
    path("", views.index, name="index"),
    path("connect/x/", views.x_connect, name="x_connect"),
    # No trailing slash: X only redirects to the exact address registered with the app.
    path("connect/x/callback", views.x_callback, name="x_callback"),
    path("connect/mastodon/", views.mastodon_connect, name="mastodon_connect"),
    path("connect/simulated/", views.simulated_connect, name="simulated_connect"),
    path("<slug:slug>/", views.channel_settings, name="settings"),
    path("<slug:slug>/reauthorise/", views.reauthorise, name="reauthorise"),
    path("<slug:slug>/pause/", views.pause, name="pause"),
    path("<slug:slug>/resume/", views.resume, name="resume"),
]
