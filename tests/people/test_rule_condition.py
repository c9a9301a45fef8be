"""The rule condition "author segment is ...": routing reads the segments people copied to the handle."""

from __future__ import annotations

import pytest
from django.utils import timezone

from channels.connectors.base import AuthorData, Post
from inbox import route
from inbox.models import Author, Mention
from people import services
from people.models import PeopleSettings
from routing import rulesets
from tests.factories import ChannelFactory, MentionFactory, UserFactory, segment

pytestmark = pytest.mark.django_db


@pytest.fixture
def detractor_rule():
    rulesets.rule_save(
        user=UserFactory(admin=True),
        name="Detractors to the lead",
        when={"author_segment": ["detractor"]},
        then=[{"add_labels": ["detractor watch"]}],
    )


def test_a_stored_mention_of_a_detractor_gets_the_rules_label(detractor_rule, ann_x, ann_masto) -> None:
    channel = ChannelFactory(segment=segment("customer-relations"))
    Author.objects.filter(pk=ann_x.pk).update(segments=["detractor"])
    theirs = MentionFactory(author=ann_x, on_channels=[channel], text="still broken")
    others = MentionFactory(author=ann_masto, on_channels=[channel], text="still broken")

    route.mentions_route(mention_ids=[theirs.pk, others.pk])

    assert Mention.objects.get(pk=theirs.pk).labels == ["detractor watch"]
    assert Mention.objects.get(pk=others.pk).labels == []


def test_a_new_post_is_decided_with_the_segments_people_computed(detractor_rule, ann_x) -> None:
    channel = ChannelFactory(segment=segment("customer-relations"))
    MentionFactory(author=ann_x, sentiment_label="negative")
    PeopleSettings.objects.update_or_create(pk=1, defaults={"detractor_negative": 1})
    services.authors_refresh(author_ids=[ann_x.pk])
    post = Post(
        network=ann_x.network,
        external_id="new-post-1",
        kind="mention",
        text="this is the third time it broke",
        created_at=timezone.now(),
        author=AuthorData(external_id=ann_x.external_id, handle=ann_x.handle),
    )

    [routed] = route.posts_decide(channel=channel, posts=[post])

    assert routed.facts.author_segments == frozenset({"detractor"})
    assert routed.decision.labels == ("detractor watch",)
