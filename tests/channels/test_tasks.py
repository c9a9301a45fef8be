"""Pull tasks end to end on a real Celery worker, through Redis, into PostgreSQL."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from channels.connectors.simulated import SimulatedConnector
from channels.models import Channel
from channels.services import channel_ref
from inbox.models import Mention, MentionChannel
from inbox.tasks import channel_pull_task, channels_pull_due
from tests.conftest import wait_until
from tests.factories import ChannelFactory, segment


@pytest.mark.slow
@pytest.mark.usefixtures("six_segments")
def test_beat_fan_out_pulls_every_due_channel_on_a_real_worker(worker: None) -> None:
    help_desk = ChannelFactory(segment=segment("customer-relations"), credentials={"posts_per_pull": 7})
    shop = ChannelFactory(segment=segment("product-promotion"), credentials={"posts_per_pull": 4})
    ChannelFactory(state=Channel.State.PAUSED, credentials={"posts_per_pull": 9})
    expected = {
        channel.pk: [post.external_id for post in SimulatedConnector().fetch(channel_ref(channel), {}).posts]
        for channel in (help_desk, shop)
    }

    channels_pull_due.delay()
    wait_until(lambda: Mention.objects.count() == 11)

    for channel_id, external_ids in expected.items():
        received = MentionChannel.objects.filter(channel_id=channel_id).values_list(
            "mention__external_id", flat=True
        )
        assert sorted(received) == sorted(external_ids)
    help_desk.refresh_from_db()
    shop.refresh_from_db()
    assert help_desk.cursor == {"seq": 7}
    assert shop.cursor == {"seq": 4}
    assert help_desk.last_pull_result["inserted"] == 7
    # Routed as they were stored: every mention has its owning team (strays go to the team that owns them).
    assert not Mention.objects.filter(routed_at=None).exists()
    assert not Mention.objects.filter(team=None).exists()


@pytest.mark.slow
@pytest.mark.usefixtures("six_segments")
def test_a_pull_task_sent_twice_stores_each_post_once(worker: None) -> None:
    channel = ChannelFactory(credentials={"posts_per_pull": 5})

    channel_pull_task.delay(channel.pk)
    channel_pull_task.delay(channel.pk)
    wait_until(lambda: Channel.objects.get(pk=channel.pk).cursor == {"seq": 10})

    assert Mention.objects.count() == 10
    assert Mention.objects.values("external_id").distinct().count() == 10


@pytest.mark.slow
@pytest.mark.usefixtures("six_segments")
def test_a_channel_being_pulled_is_not_pulled_again_at_the_same_time(worker: None) -> None:
    channel = ChannelFactory(credentials={"posts_per_pull": 5})
    cache.set(f"channels:pull-lock:{channel.pk}", "another-worker", timeout=60)

    channel_pull_task.delay(channel.pk)
    marker = ChannelFactory(credentials={"posts_per_pull": 1})
    channel_pull_task.delay(
        marker.pk
    )  # the solo worker runs tasks in order: when this is done, so is the first
    wait_until(lambda: Mention.objects.filter(receipts__channel=marker).exists())

    assert Mention.objects.filter(receipts__channel=channel).count() == 0
    assert Channel.objects.get(pk=channel.pk).cursor == {}
