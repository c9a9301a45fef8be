from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """What leaves socialops: outbound webhooks, hand-off to a CRM or helpdesk, chat notifications. It
    consumes the domain events; nothing below it imports it."""

    name = "integrations"
    verbose_name = "Integrations"
