from django.contrib import admin

from inbox.models import Author, CannedResponse, Mention, MentionChannel, Reply, SavedView


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    list_display = ["handle", "network", "display_name", "follower_count", "is_verified", "last_seen_at"]
    list_filter = ["network", "is_verified"]
    search_fields = ["handle", "display_name", "external_id"]


class MentionChannelInline(admin.TabularInline):
    model = MentionChannel
    extra = 0
    raw_id_fields = ["channel"]


@admin.register(Mention)
class MentionAdmin(admin.ModelAdmin):
    list_display = ["external_id", "network", "kind", "author", "team", "status", "priority", "created_at"]
    list_filter = ["network", "kind", "status", "priority", "is_misdirected", "team"]
    search_fields = ["external_id", "text", "author__handle"]
    raw_id_fields = ["author", "assignee"]
    date_hierarchy = "created_at"
    show_full_result_count = False  # an exact count over millions of rows is slow
    inlines = [MentionChannelInline]


@admin.register(MentionChannel)
class MentionChannelAdmin(admin.ModelAdmin):
    list_display = ["mention", "channel", "received_at"]
    raw_id_fields = ["mention", "channel"]


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    list_display = ["title", "segment"]
    list_filter = ["segment"]
    search_fields = ["title", "body"]


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "team"]
    raw_id_fields = ["owner"]


@admin.register(Reply)
class ReplyAdmin(admin.ModelAdmin):
    list_display = ["mention", "author", "state", "created_at", "sent_at"]
    list_filter = ["state"]
    raw_id_fields = ["mention", "author", "reviewed_by"]
    readonly_fields = ["external_id", "url", "attempts", "error", "sent_at"]
