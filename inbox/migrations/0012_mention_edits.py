"""When the author last edited a post that keeps its id when edited (Mastodon's): a later edit replaces the
stored text, an earlier one changes nothing. The versions it replaces are kept in raw["edit_history"]."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0011_mention_language"),
    ]

    operations = [
        migrations.AddField(
            model_name="mention",
            name="edited_at",
            field=models.DateTimeField(
                blank=True, help_text="When the author last edited the post.", null=True
            ),
        ),
    ]
