from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    # The label stays "channels"; this is our app, not the Django Channels library (never installed).
    name = "channels"
    verbose_name = "Channels and segments"
