"""rest_framework.authtoken is gone: its table held API keys in clear, so it is dropped, not kept.

Those keys are not carried over (they cannot be hashed into named, expiring tokens that their owners
would know about); people create new tokens on their account page or with POST /api/v1/auth/token/."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("users", "0001_initial")]

    operations = [
        migrations.RunSQL(
            [
                "DROP TABLE IF EXISTS authtoken_token",
                "DELETE FROM django_migrations WHERE app = 'authtoken'",
            ],
            reverse_sql=migrations.RunSQL.noop,
        )
    ]
