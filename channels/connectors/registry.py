"""Connectors by network. A network module registers its class; callers ask for one by network name."""

from __future__ import annotations

from collections.abc import Callable
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


def registered_networks() -> list[str]:
    _load_builtin_connectors()
    return sorted(_REGISTRY)


def _load_builtin_connectors() -> None:
    # Imported lazily so that only the network modules in use pull in their SDKs.
    from channels.connectors import bluesky, mastodon, simulated, x  # noqa: F401
