"""Creates the six segments of the strategy matrix, each owned by a team of its own, and the Admins group.

The rows are written from a copy of the playbooks frozen here, so a later edit of channels/segments.py
does not change what this migration did.
"""

from django.db import migrations
from django.utils.text import slugify

SEGMENTS = [
    (
        "customer-relations",
        "Customer relations",
        "Customer Care",
        "Customers and prospects.",
        "Tips, company information and content relevant to customers.",
        "Answer questions and respond to comments about the brand.",
        60,
        30,
    ),
    (
        "crisis-management",
        "Crisis management",
        "Crisis Response",
        "The brand, its products and relevant issues.",
        "Pointers to resources, updates and explanations.",
        "Answer questions, respond, raise issues and give information; DM high-reach or very negative "
        "posters and amplify supporters.",
        30,
        10,
    ),
    (
        "reputation-management",
        "Reputation management",
        "Communications",
        "Industry leaders, interest groups and news media.",
        "Insight, expertise and thought leadership.",
        "Join the conversation, be transparent and add value.",
        180,
        120,
    ),
    (
        "event-coverage",
        "Event coverage",
        "Events",
        "Attendees, people interested in the event, and media.",
        "Event information, live updates and behind the scenes.",
        "Meet-ups, talk to attendees, ask and answer questions; time-boxed to the event window.",
        60,
        30,
    ),
    (
        "product-promotion",
        "Product promotion / sales",
        "Sales & Promotion",
        "Current and potential customers, and people interested in similar products.",
        "Links to promotions, news on upcoming products and discount codes.",
        "Check replies and DMs, answer questions and give information.",
        120,
        60,
    ),
    (
        "issue-advocacy",
        "Issue advocacy",
        "Advocacy",
        "People interested in the cause, industry leaders and news.",
        "Added value: tips, alerts and fundraising information.",
        "Know followers, thank supporters and get them involved (donors and volunteers differ).",
        180,
        120,
    ),
]


def create_segments(apps, schema_editor):
    Team = apps.get_model("teams", "Team")
    Segment = apps.get_model("channels", "Segment")
    Group = apps.get_model("auth", "Group")
    Group.objects.get_or_create(name="Admins")
    for position, (slug, name, team_name, follow, create, engage, poll, window) in enumerate(SEGMENTS):
        team, _ = Team.objects.get_or_create(
            slug=slugify(team_name), defaults={"name": team_name, "description": f"Owns {name}."}
        )
        Segment.objects.update_or_create(
            slug=slug,
            defaults={
                "name": name,
                "team": team,
                "follow": follow,
                "create": create,
                "engage": engage,
                "default_poll_seconds": poll,
                "acceptance_window_minutes": window,
                "position": position,
            },
        )


def remove_segments(apps, schema_editor):
    Segment = apps.get_model("channels", "Segment")
    Segment.objects.filter(slug__in=[row[0] for row in SEGMENTS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("channels", "0001_initial"),
        ("teams", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_segments, remove_segments)]
