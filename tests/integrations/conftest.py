"""Fixtures of the integrations tests: a local receiver, and private targets allowed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integrations.receiver import Receiver, local_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with local_receiver() as state:
        yield state


@pytest.fixture
def allow_private(settings) -> None:
    settings.SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE = True
