"""Create the demo organisation: people with known logins and a simulated channel per segment."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from channels.connectors.simulated import BLUESKY_SHAPE, SHAPE_CREDENTIAL, SimulatedConnector
from channels.models import Channel, Network, Segment
from inbox.models import SlaPolicy
from inbox.pulls import channel_pull
from teams.models import Membership, Team
from teams.roles import ADMINS_GROUP

DEMO_CHANNEL_POLL_SECONDS = 15  # quick enough that a newcomer sees mentions arrive within a minute
BACKFILL_POSTS_PER_CHANNEL = 6  # so the inbox is not empty on first login


@dataclass(frozen=True)
class DemoPerson:
    username: str
    password: str
    first_name: str
    role: str  # "admin", or a Membership role
    team_slugs: tuple[str, ...]


DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson("admin", "socialops-admin", "Alex", "admin", ()),
    # Every team has a lead: escalations, SLA breaches and approvals of a lead-less team fall to the admins.
    DemoPerson("lead", "socialops-lead", "Lee", Membership.Role.LEAD, ("customer-care",)),
    DemoPerson("robin", "socialops-lead", "Robin", Membership.Role.LEAD, ("crisis-response",)),
    DemoPerson("morgan", "socialops-lead", "Morgan", Membership.Role.LEAD, ("communications", "advocacy")),
    DemoPerson("jordan", "socialops-lead", "Jordan", Membership.Role.LEAD, ("sales-promotion", "events")),
    DemoPerson(
        "casey", "socialops-agent", "Casey", Membership.Role.AGENT, ("customer-care", "crisis-response")
    ),
    DemoPerson("sam", "socialops-agent", "Sam", Membership.Role.AGENT, ("sales-promotion", "events")),
)

DEMO_CHANNELS: dict[str, tuple[str, str]] = {
    # segment slug: (channel slug, handle)
    "customer-relations": ("northwind-help", "@northwind_help"),
    "crisis-management": ("northwind-alerts", "@northwind_alerts"),
    "reputation-management": ("northwind-news", "@northwind_news"),
    "event-coverage": ("northwind-live", "@northwind_live"),
    "product-promotion": ("northwind-shop", "@northwind_shop"),
    "issue-advocacy": ("northwind-cares", "@northwind_cares"),
}


# One more customer-care account, on the simulated network but with Bluesky-shaped posts (at:// ids, DIDs,
# handles under bsky.social), so the demo inbox shows what a Bluesky channel brings in.
DEMO_BLUESKY_CHANNEL = ("northwind-bsky", "@northwind.bsky.social", "customer-relations")

DEMO_SLA_MINUTES = {"crisis-management": 15, "customer-relations": 60}  # first response targets


class Command(BaseCommand):
    help = (
        "Create the demo organisation (idempotent): an admin, a lead for every team and two agents with "
        "printed logins, and one simulated channel per segment (and a Bluesky-shaped one for customer care), "
        "with a few mentions already pulled."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-backfill", action="store_true", help="Do not pull a first batch of simulated mentions."
        )
        parser.add_argument(
            "--force", action="store_true", help="Allow demo logins in production mode (not recommended)."
        )

    def handle(self, *args: object, **options: object) -> None:
        if settings.IS_PRODUCTION and not options["force"]:
            raise CommandError(
                "demo_setup creates accounts with published passwords; it refuses to run with "
                "SOCIALOPS_ENV=production. Pass --force if you really want it."
            )
        created_channels = self._organisation()
        if not options["no_backfill"]:
            connector = SimulatedConnector(page_size=BACKFILL_POSTS_PER_CHANNEL)
            for channel in created_channels:
                channel_pull(channel_id=channel.pk, connector=connector, max_pages=1)
        self.stdout.write(self.style.SUCCESS("Demo organisation ready. Logins (username / password):"))
        for person in DEMO_PEOPLE:
            teams = ", ".join(person.team_slugs) or "all teams"
            self.stdout.write(f"  {person.username:<6} / {person.password:<16} {person.role} ({teams})")
        self.stdout.write("Django admin: /django-admin/ as admin.")

    @transaction.atomic
    def _organisation(self) -> list[Channel]:
        user_model = get_user_model()
        admins = Group.objects.get(name=ADMINS_GROUP)
        for person in DEMO_PEOPLE:
            user, created = user_model.objects.get_or_create(
                username=person.username, defaults={"first_name": person.first_name}
            )
            if created:
                user.set_password(person.password)
                user.save()
            if person.role == "admin":
                user.groups.add(admins)
                # Django admin (/django-admin/) needs staff; a superuser may edit every model there (canned
                # responses, the quarantine). Set on every run, so an older demo database is fixed too.
                if not (user.is_staff and user.is_superuser):
                    user.is_staff = user.is_superuser = True
                    user.save(update_fields=["is_staff", "is_superuser"])
            for team_slug in person.team_slugs:
                Membership.objects.get_or_create(
                    user=user, team=Team.objects.get(slug=team_slug), defaults={"role": person.role}
                )
        created_channels = []
        for segment in Segment.objects.all():
            slug, handle = DEMO_CHANNELS[segment.slug]
            channel, created = Channel.objects.get_or_create(
                slug=slug,
                defaults={
                    "network": Network.SIMULATED,
                    "handle": handle,
                    "external_account_id": f"sim-{slug}",
                    "segment": segment,
                    "poll_interval_seconds": DEMO_CHANNEL_POLL_SECONDS,
                    "listening_queries": ["northwind", "#northwind"],
                },
            )
            if created:
                created_channels.append(channel)
        slug, handle, segment_slug = DEMO_BLUESKY_CHANNEL
        channel, created = Channel.objects.get_or_create(
            slug=slug,
            defaults={
                "network": Network.SIMULATED,
                "handle": handle,
                "external_account_id": f"sim-{slug}",
                "segment": Segment.objects.get(slug=segment_slug),
                "poll_interval_seconds": DEMO_CHANNEL_POLL_SECONDS,
                "credentials": {SHAPE_CREDENTIAL: BLUESKY_SHAPE},
            },
        )
        if created:
            created_channels.append(channel)
        # SLA clocks on the two segments where minutes matter, so the inbox shows them counting down.
        for slug, first_response in DEMO_SLA_MINUTES.items():
            SlaPolicy.objects.get_or_create(
                segment=Segment.objects.get(slug=slug),
                defaults={
                    "first_response_minutes": first_response,
                    "next_response_minutes": first_response,
                    "resolution_minutes": first_response * 8,
                    "warn_before_minutes": max(5, first_response // 4),
                },
            )
        return created_channels
