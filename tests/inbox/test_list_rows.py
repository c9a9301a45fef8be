"""What a list row says: texts clipped, labels of choices, receiving accounts."""

from __future__ import annotations

import pytest

from inbox.models import Mention
from tests.factories import ChannelFactory, MembershipFactory, MentionFactory, segment

pytestmark = pytest.mark.django_db

LIST_URL = "/inbox/mentions/"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def agent():
    return MembershipFactory(team=segment("customer-relations").team).user


def test_a_long_text_is_clipped_with_an_ellipsis_a_short_one_kept_whole_and_escaped(client, agent) -> None:
    team = segment("customer-relations").team
    MentionFactory(team=team, text="word " * 60)
    MentionFactory(team=team, text="<b>short</b> & sweet")
    client.force_login(agent)

    html = client.get(LIST_URL, {"queue": "team"}, **HTMX).content.decode()

    assert ("word " * 43 + "word…") in html  # 219 characters and the ellipsis, as truncatechars:220 cuts
    assert ("word " * 45) not in html
    assert "&lt;b&gt;short&lt;/b&gt; &amp; sweet" in html
    assert "<b>short</b>" not in html


def test_a_row_shows_the_labels_of_its_status_priority_and_sentiment_and_its_receiving_accounts(
    client, agent
) -> None:
    team = segment("customer-relations").team
    first = ChannelFactory(segment=segment("customer-relations"), handle="@acme_help")
    second = ChannelFactory(segment=segment("crisis-management"), handle="@acme_alerts")
    MentionFactory(
        team=team,
        on_channels=[second, first],
        priority=Mention.Priority.URGENT,
        sentiment_label="negative",
        status=Mention.Status.OPEN,
    )
    client.force_login(agent)

    html = client.get(LIST_URL, {"queue": "team"}, **HTMX).content.decode()

    assert '<span class="badge priority-40">Urgent</span>' in html
    assert '<span class="badge sentiment-negative">Negative</span>' in html
    assert '<span class="badge badge--status status-open">Open</span>' in html
    assert '<span class="badge badge--network">Simulated</span>' in html
    # Both accounts, in the order they were connected, each with its segment.
    assert html.index(">@acme_help</span>") < html.index(">@acme_alerts</span>")
    assert '<span class="badge segment-crisis-management">Crisis management</span>' in html
