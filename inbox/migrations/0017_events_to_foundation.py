from django.db import migrations


class Migration(migrations.Migration):
    """The audit trail and the live events now belong to the ground floor (``foundation``); their tables
    stay where they are."""

    dependencies = [
        ("inbox", "0016_network_without_choices"),
        ("foundation", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="AuditEvent"),
                migrations.DeleteModel(name="LiveEvent"),
            ],
            database_operations=[],
        ),
    ]
