from django.contrib import admin

from people.models import PeopleSettings


@admin.register(PeopleSettings)
class PeopleSettingsAdmin(admin.ModelAdmin):
    """Segment thresholds, auto-merge and the retention policy (one row)."""

    list_display = ("__str__", "auto_merge", "auto_merge_threshold", "retention_days", "updated_at")
