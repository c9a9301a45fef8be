"""Pull -> ingest -> route on a real Celery worker through Redis: new posts are routed as they are stored,
every one exactly once, and misdirected ones escalated once."""

from __future__ import annotations

import pytest

from foundation.models import DomainEvent
from inbox.models import Mention
from inbox.tasks import channel_pull_task
from routing.models import Escalation
from tests.conftest import wait_until
from tests.factories import ChannelFactory, segment


@pytest.mark.slow
@pytest.mark.usefixtures("six_segments")
def test_pulled_mentions_are_routed_as_they_are_stored(worker: None) -> None:
    channels = [
        ChannelFactory(segment=segment(slug), credentials={"posts_per_pull": 50, "backlog": 150})
        for slug in ("event-coverage", "customer-relations")
    ]

    for channel in channels:
        channel_pull_task.delay(channel.pk)
    wait_until(lambda: Mention.objects.exclude(routed_at=None).count() == 300, timeout=60)

    assert Mention.objects.count() == 300
    assert not Mention.objects.filter(team=None).exists()
    assert not Mention.objects.filter(intent="").exists()
    # The simulated stream sends some posts to the wrong account; routing escalates them, once each.
    misdirected = Mention.objects.filter(is_misdirected=True)
    assert misdirected.exists()
    assert Escalation.objects.count() == Escalation.objects.values("mention").distinct().count()
    # Moves between teams are in the audit log; routine routing is kept on the mention.
    assert DomainEvent.objects.filter(verb="mention.routed").count() == Escalation.objects.count()
    events = Mention.objects.filter(receipts__channel=channels[0])
    assert events.exclude(team=segment("event-coverage").team).exists()  # strays moved to their owners
