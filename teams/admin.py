from django.contrib import admin

from teams.models import ChannelHandover, Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "team__name"]
    autocomplete_fields = ["user", "team"]


@admin.register(ChannelHandover)
class ChannelHandoverAdmin(admin.ModelAdmin):
    list_display = ["channel", "kind", "state", "from_team", "to_team", "requested_by", "created_at"]
    list_filter = ["kind", "state"]
    readonly_fields = [f.name for f in ChannelHandover._meta.concrete_fields]

    def has_add_permission(self, request):  # hand-overs go through the team pages, which audit them
        return False

    def has_change_permission(self, request, obj=None):
        return False
