"""Connectors by network. A network module registers its class; callers ask for one by network name.

The registry is the list of networks: forms, the API, imports and the pages take the networks (and their
labels, the connector's ``label``) from here, so the network columns carry no ``choices`` and a new network
needs no migration for its name.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import import_module
from typing import TypeVar

from channels.connectors.base import Capabilities, Connector, ConnectorError

_REGISTRY: dict[str, Callable[[], Connector]] = {}

F = TypeVar("F", bound=Callable[[], Connector])


def register(network: str) -> Callable[[F], F]:
    """Class decorator: ``@register("x")`` makes ``connector_for("x")`` build that class."""

    def decorate(factory: F) -> F:
        if not isinstance(getattr(factory, "capabilities", None), Capabilities):
            # Every network's connector declares its capabilities; a stand-in that declares none (a test's
            # factory function) gets the defaults.
            factory.capabilities = Capabilities()  # type: ignore[attr-defined]
        if not isinstance(getattr(factory, "label", None), str):
            factory.label = network  # type: ignore[attr-defined]
        _REGISTRY[network] = factory
        return factory

    return decorate


def connector_for(network: str) -> Connector:
    _load_builtin_connectors()
    try:
        factory = _REGISTRY[network]
    except KeyError:
        raise ConnectorError(f"no connector is registered for network {network!r}") from None
    return factory()


def capabilities_for(network: str) -> Capabilities | None:
    """What the connector of ``network`` declares it can do, without building it; None for an unknown one."""
    _load_builtin_connectors()
    factory = _REGISTRY.get(network)
    return getattr(factory, "capabilities", None) if factory is not None else None


def network_label(network: str) -> str:
    """What people read for ``network`` (its connector's ``label``: "X", "Mastodon"); the value itself for
    a network nobody registered."""
    _load_builtin_connectors()
    factory = _REGISTRY.get(network)
    return getattr(factory, "label", network) if factory is not None else network


def network_choices() -> list[tuple[str, str]]:
    """(network, label) of every registered network, the choices of forms and the API: the built-in ones in
    the order they came (a saved choice of several reads back as it was saved), then any other by label."""
    order = {network: position for position, network in enumerate(BUILTIN_NETWORKS)}
    networks = sorted(registered_networks(), key=lambda n: (order.get(n, len(order)), network_label(n)))
    return [(network, network_label(network)) for network in networks]


def registered_networks() -> list[str]:
    _load_builtin_connectors()
    return sorted(_REGISTRY)


# The built-in networks, each a package (or module) under channels.connectors whose import registers its
# connector, in the order forms and the API offer them.
BUILTIN_NETWORKS = ("x", "mastodon", "bluesky", "simulated")


@cache
def _load_builtin_connectors() -> None:
    # Imported lazily so that only the network modules in use pull in their SDKs; once per process (a
    # 50-row list asks for a network's label 50 times).
    for network in BUILTIN_NETWORKS:
        import_module(f"channels.connectors.{network}")
