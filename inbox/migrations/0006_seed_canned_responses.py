"""Starter canned responses, one or two per segment, in the segments' playbook voice. Admins edit them."""

from django.db import migrations

CANNED = [
    (
        "customer-relations",
        "Sorry — let's fix it",
        "Hi {author}, sorry about this. Could you send us a DM with your order number so we can sort it out? — {agent}",
    ),
    (
        "customer-relations",
        "Thanks for the kind words",
        "Thank you {author_name}! We'll pass this on to the team. — {agent}",
    ),
    (
        "crisis-management",
        "We are looking into it",
        "Hi {author}, thank you for telling us. We are looking into this now and will post updates here.",
    ),
    (
        "reputation-management",
        "Setting the record straight",
        "Hi {author}, thanks for raising this. Here are the facts: ",
    ),
    (
        "event-coverage",
        "Event details",
        "Hi {author}! All the details — times, venue and tickets — are on our event page. See you there!",
    ),
    (
        "product-promotion",
        "Where to buy",
        "Hi {author}, great question! You'll find it in our online shop; DM us if you need help choosing.",
    ),
    (
        "issue-advocacy",
        "Our position",
        "Thanks for engaging, {author}. You can read our full position and what we're doing about it here: ",
    ),
]


def seed(apps, schema_editor):
    Segment = apps.get_model("channels", "Segment")
    CannedResponse = apps.get_model("inbox", "CannedResponse")
    segments = {s.slug: s for s in Segment.objects.all()}
    for slug, title, body in CANNED:
        if slug in segments:
            CannedResponse.objects.get_or_create(segment=segments[slug], title=title, defaults={"body": body})


def unseed(apps, schema_editor):
    CannedResponse = apps.get_model("inbox", "CannedResponse")
    CannedResponse.objects.filter(title__in=[title for _, title, _ in CANNED]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0005_triage"),
        ("channels", "0002_six_segments"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
