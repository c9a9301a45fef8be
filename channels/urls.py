from django.urls import URLPattern, URLResolver, include, path

from channels import views
from channels.connectors.registry import capabilities_for, registered_networks

app_name = "channels"


def _network_connect_urls() -> list[URLPattern | URLResolver]:
    """Each network whose folder has its own connect flow, at ``connect/<network>/``."""
    patterns: list[URLPattern | URLResolver] = []
    for network in registered_networks():
        capabilities = capabilities_for(network)
        if capabilities is not None and capabilities.connect_urls:
            patterns.append(path(f"connect/{network}/", include(capabilities.connect_urls)))
    return patterns


urlpatterns = [
    path("", views.index, name="index"),
    path("connect/simulated/", views.simulated_connect, name="simulated_connect"),
    *_network_connect_urls(),
    path("<slug:slug>/", views.channel_settings, name="settings"),
    path("<slug:slug>/reauthorise/", views.reauthorise, name="reauthorise"),
    path("<slug:slug>/pause/", views.pause, name="pause"),
    path("<slug:slug>/resume/", views.resume, name="resume"),
    path("<slug:slug>/quarantine/<int:item_id>/retry/", views.quarantine_retry, name="quarantine_retry"),
    path(
        "<slug:slug>/quarantine/<int:item_id>/discard/", views.quarantine_discard, name="quarantine_discard"
    ),
]
