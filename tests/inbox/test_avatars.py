"""Authors' avatars on the inbox's pages: the network's image where its host is allowed, over the author's
initials; what strangers wrote (names, handles, image addresses) escaped; nothing else loaded."""

from __future__ import annotations

import re

import pytest

from inbox.models import Author
from inbox.templatetags.inbox_tags import avatar, avatar_src
from teams.models import Membership
from tests.factories import AuthorFactory, MembershipFactory, MentionFactory, segment

pytestmark = pytest.mark.django_db

PICTURE = (
    "https://pbs.twimg.com/profile_images/1064874890011045889/Rd6scmEH_normal.jpg"  # from the recordings
)


@pytest.fixture
def agent():
    return MembershipFactory(team=segment("customer-relations").team, role=Membership.Role.AGENT).user


def images(html: str) -> list[str]:
    return re.findall(r"<img [^>]*>", html)


def test_an_avatar_is_the_network_s_image_over_the_initials() -> None:
    author = Author(handle="alice_hikes", display_name="Alice Moreau", avatar_url=PICTURE)

    assert avatar(author, 40, "mention__avatar") == (
        '<span class="avatar mention__avatar" aria-hidden="true"><span class="avatar__initials">AM</span>'
        f'<img class="avatar__img" src="{PICTURE}" width="40" height="40" alt="" loading="lazy" '
        'decoding="async" referrerpolicy="no-referrer" data-avatar></span>'
    )


@pytest.mark.parametrize(
    "address",
    [
        "",
        "http://pbs.twimg.com/profile_images/1/a.jpg",  # not https
        "https://tracker.example/pixel.png",  # a host the policy does not allow
        "https://pbs.twimg.com.tracker.example/a.png",
        "javascript:alert(1)",
    ],
)
def test_without_an_image_a_page_may_load_the_avatar_is_the_initials_alone(address: str) -> None:
    author = Author(handle="cho_m", display_name="", avatar_url=address)

    assert avatar_src(address) == ""
    assert avatar(author) == (
        '<span class="avatar" aria-hidden="true"><span class="avatar__initials">C</span></span>'
    )


def test_names_handles_and_image_addresses_from_the_networks_are_escaped_on_the_inbox(client, agent) -> None:
    author = AuthorFactory(
        handle="x<b>y",
        display_name='<img src=x onerror="alert(1)"> Mal "Lory"',
        avatar_url='https://pbs.twimg.com/a.jpg"><script>alert(2)</script>',
    )
    mention = MentionFactory(team=agent.memberships.get().team, author=author)
    client.force_login(agent)

    html = client.get(f"/inbox/?open={mention.pk}").content.decode()

    assert "<script>alert(2)" not in html
    assert 'onerror="alert(1)"' not in html
    assert "<b>y" not in html
    avatars = images(html)
    # The list's row, the detail's head and the author card: one image each, the address escaped whole.
    assert avatars == [
        '<img class="avatar__img" '
        'src="https://pbs.twimg.com/a.jpg&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;" '
        f'width="{size}" height="{size}" alt="" loading="lazy" decoding="async" referrerpolicy="no-referrer" '
        "data-avatar>"
        for size in (40, 48, 32)
    ]
    # The initials: the first and last words' first letters ("<img" → I, '"Lory"' → L).
    assert html.count('<span class="avatar__initials">IL</span>') == 3


def test_an_author_without_an_image_gets_initials_and_no_img(client, agent) -> None:
    author = AuthorFactory(handle="omar_b", display_name="Omar Bakr", avatar_url="")
    mention = MentionFactory(team=agent.memberships.get().team, author=author)
    client.force_login(agent)

    html = client.get(f"/inbox/?open={mention.pk}").content.decode()

    assert images(html) == []
    assert html.count('<span class="avatar__initials">OB</span>') == 3
