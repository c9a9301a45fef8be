from django.contrib import admin

from foundation.models import DomainEvent


@admin.register(DomainEvent)
class DomainEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "verb", "object_repr"]
    list_filter = ["verb"]
    search_fields = ["object_repr", "verb"]
    readonly_fields = [f.name for f in DomainEvent._meta.concrete_fields]

    def has_add_permission(self, request):  # the trail is written by services, never by hand
        return False

    def has_change_permission(self, request, obj=None):
        return False
