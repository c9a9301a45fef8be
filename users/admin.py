from django.contrib import admin

from users.models import ApiToken, SignInLockout


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = ["user", "name", "prefix", "key_hash", "created_at", "expires_at", "last_used_at"]

    def has_add_permission(self, request) -> bool:
        return False  # a key is only ever shown to its owner, on the account page


@admin.register(SignInLockout)
class SignInLockoutAdmin(admin.ModelAdmin):
    list_display = ["created_at", "scope", "username", "address", "failures", "locked_until"]
    list_filter = ["scope"]
    search_fields = ["username", "address"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
