from django.contrib import admin

from channels.models import Channel, QuarantinedItem, RateBudget, Segment
from channels.selectors import channel_budget_summary


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "default_poll_seconds", "acceptance_window_minutes"]
    search_fields = ["name"]
    autocomplete_fields = ["team"]


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = [
        "handle",
        "network",
        "segment",
        "state",
        "last_pull_at",
        "last_outcome",
        "budget_left",
        "next_pull_at",
    ]
    list_filter = ["network", "state", "segment"]
    search_fields = ["handle", "slug", "external_account_id"]
    autocomplete_fields = ["segment", "team_override"]
    # Tokens are write-only: the admin never shows the decrypted credentials.
    exclude = ["credentials"]
    readonly_fields = [
        "cursor",
        "last_pull_at",
        "last_pull_result",
        "budget_left",
        "next_pull_at",
        "created_at",
    ]

    @admin.display(description="Last pull")
    def last_outcome(self, channel: Channel) -> str:
        return channel.last_pull_summary

    @admin.display(description="Budget left")
    def budget_left(self, channel: Channel) -> str:
        return channel_budget_summary(channel)


@admin.register(QuarantinedItem)
class QuarantinedItemAdmin(admin.ModelAdmin):
    list_display = ["created_at", "channel", "source", "external_id", "error"]
    list_filter = ["source", "network", "channel"]
    search_fields = ["external_id", "error"]
    readonly_fields = [f.name for f in QuarantinedItem._meta.concrete_fields]


@admin.register(RateBudget)
class RateBudgetAdmin(admin.ModelAdmin):
    list_display = ["network", "endpoint", "token_key", "remaining", "limit", "reset_at", "updated_at"]
    list_filter = ["network"]
    readonly_fields = [f.name for f in RateBudget._meta.concrete_fields]
