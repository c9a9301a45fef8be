from django.apps import AppConfig


class FoundationConfig(AppConfig):
    """The ground floor: domain events (the outbox, which is also the audit trail), live delivery to the
    browsers and the access policy. Every other app imports it; it imports none of them."""

    name = "foundation"
    verbose_name = "Foundation"
