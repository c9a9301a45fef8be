from django.apps import AppConfig


class UsersConfig(AppConfig):
    """Sign-in (with its throttle), password changes and people's API tokens."""

    name = "users"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # drf-spectacular finds the API token scheme through this registration.
        from users import schema  # noqa: F401
