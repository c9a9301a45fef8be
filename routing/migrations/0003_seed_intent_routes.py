"""Seeds the intent -> segment map from the segment playbooks (a frozen copy: later edits of
routing/facts.py do not change what this migration did)."""

from django.db import migrations

INTENT_SEGMENTS = {
    "support_question": "customer-relations",
    "complaint": "customer-relations",
    "praise": "customer-relations",
    "purchase_question": "product-promotion",
    "event_question": "event-coverage",
    "press_question": "reputation-management",
    "crisis_signal": "crisis-management",
    "advocacy": "issue-advocacy",
    "spam": "",
    "other": "",
}


def seed_intent_routes(apps, schema_editor):
    IntentRoute = apps.get_model("routing", "IntentRoute")
    Segment = apps.get_model("channels", "Segment")
    segments = {segment.slug: segment for segment in Segment.objects.all()}
    for intent, slug in INTENT_SEGMENTS.items():
        IntentRoute.objects.get_or_create(intent=intent, defaults={"segment": segments.get(slug)})


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0002_rules_corrections_classifier"),
        ("channels", "0002_six_segments"),
    ]

    operations = [migrations.RunPython(seed_intent_routes, migrations.RunPython.noop)]
