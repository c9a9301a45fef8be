"""The registry is the list of networks: one registered is a network everywhere, with no migration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from channels.connectors import registry
from channels.connectors.base import Capabilities
from channels.connectors.registry import network_choices, network_label, registered_networks
from channels.models import Channel, QuarantinedItem, RateBudget
from inbox.lines import LineRefused, post_from_object
from inbox.models import Author, Mention
from tests.factories import ChannelFactory

LINE = {
    "external_id": "n-1",
    "text": "Is the tent pole in stock?",
    "author_handle": "carla",
    "created_at": "2026-01-05T10:00:00+00:00",
}


class _Fediring:
    network = "fediring"
    label = "Fediring"
    capabilities = Capabilities(listening=False)


@pytest.fixture
def fediring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    registered_networks()  # load the built-in connectors first, so the restored registry has them
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register("fediring")(_Fediring)
    yield


def test_the_built_in_networks_are_offered_in_the_order_they_came() -> None:
    assert network_choices() == [
        ("x", "X"),
        ("mastodon", "Mastodon"),
        ("bluesky", "Bluesky"),
        ("simulated", "Simulated"),
    ]


def test_a_network_nobody_registered_is_named_by_its_value_and_refused_by_the_import() -> None:
    with pytest.raises(LineRefused, match="unknown network 'fediring' \\(expected one of bluesky, mastodon"):
        post_from_object({**LINE, "network": "fediring"}, default_network="x")

    assert network_label("fediring") == "fediring"


@pytest.mark.django_db
def test_a_registered_network_is_a_network_everywhere_without_a_migration(fediring: None) -> None:
    channel = ChannelFactory(network="fediring")

    assert ("fediring", "Fediring") in network_choices()
    assert channel.get_network_display() == "Fediring"
    assert post_from_object({**LINE, "network": "fediring"}, default_network="x").network == "fediring"


def test_no_network_column_lists_the_networks_so_a_new_one_needs_no_migration() -> None:
    columns = [Channel, QuarantinedItem, RateBudget, Author, Mention]

    assert [(model.__name__, model._meta.get_field("network").choices) for model in columns] == [
        (model.__name__, None) for model in columns
    ]
