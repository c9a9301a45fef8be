from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Reports: rollup tables kept up to date from the domain events, and the selectors the report pages read.
    Read-only over the other apps; nothing below it imports it."""

    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        # Routing's rules page shows each rule's hits from the tally kept here (routing.hit_counts says why).
        from reports.selectors import rule_hits_by_window
        from routing.hit_counts import rule_hits_reader_register

        rule_hits_reader_register(rule_hits_by_window)
