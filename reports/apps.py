from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Reports: rollup tables kept up to date from the domain events, and the selectors the report pages read.
    Read-only over the other apps; nothing below it imports it."""

    name = "reports"
    verbose_name = "Reports"
