"""factory_boy factories for the domain model."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from channels.models import Channel, Network, Segment
from inbox.models import Author, Mention, MentionChannel
from teams.models import Membership, Team
from teams.roles import ADMINS_GROUP

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def admin(self, create: bool, extracted: bool | None, **kwargs: object) -> None:
        if create and extracted:
            self.groups.add(Group.objects.get(name=ADMINS_GROUP))
        if create:
            self.save()


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    role = Membership.Role.AGENT


def segment(slug: str) -> Segment:
    """The six segments come from the data migration; tests look them up rather than make new ones."""
    return Segment.objects.get(slug=slug)


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    slug = factory.Sequence(lambda n: f"channel-{n}")
    network = Network.SIMULATED
    handle = factory.Sequence(lambda n: f"@brand{n}")
    external_account_id = factory.Sequence(lambda n: f"acct-{n}")
    segment = factory.LazyFunction(lambda: segment("customer-relations"))


class AuthorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Author

    network = Network.SIMULATED
    external_id = factory.Sequence(lambda n: f"author-{n}")
    handle = factory.Sequence(lambda n: f"person{n}")
    display_name = factory.Sequence(lambda n: f"Person {n}")


class MentionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Mention
        skip_postgeneration_save = True

    network = Network.SIMULATED
    external_id = factory.Sequence(lambda n: f"post-{n}")
    text = factory.Sequence(lambda n: f"Hello brand, this is post {n}")
    created_at = factory.LazyFunction(timezone.now)
    author = factory.SubFactory(AuthorFactory)
    team = None

    @factory.post_generation
    def on_channels(self, create: bool, extracted: list[Channel] | None, **kwargs: object) -> None:
        for channel in extracted or []:
            MentionChannel.objects.create(mention=self, channel=channel)
