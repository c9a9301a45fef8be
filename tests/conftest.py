"""Shared fixtures. The suite runs against real PostgreSQL and Redis (see `make test`)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest
from django.conf import settings

SHARED_FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"


def pytest_configure(config: pytest.Config) -> None:
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        raise pytest.UsageError(
            "socialops tests run against PostgreSQL, but DATABASE_URL is not set to one. "
            "Run `make test`, or set DATABASE_URL=postgres://postgres@127.0.0.1:5432/socialops "
            "and REDIS_URL=redis://127.0.0.1:6379/15."
        )
    if not settings.REDIS_URL:
        raise pytest.UsageError(
            "socialops tests run against Redis, but REDIS_URL is not set. Run `make test`, or set "
            "REDIS_URL=redis://127.0.0.1:6379/15."
        )


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """The recorded real network responses beside the clone (../shared/fixtures).

    Without them, tests that replay them skip; with REQUIRE_SHARED_FIXTURES=1 (as in CI) they fail instead.
    """
    if not SHARED_FIXTURES.is_dir():
        reason = f"recorded network responses not found at {SHARED_FIXTURES}"
        if os.environ.get("REQUIRE_SHARED_FIXTURES") == "1":
            pytest.fail(f"{reason}, and REQUIRE_SHARED_FIXTURES=1 says they must be there")
        pytest.skip(reason)
    return SHARED_FIXTURES


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def six_segments(transactional_db: None) -> None:
    """Transactional tests start from emptied tables: put back what the data migration wrote."""
    from django.apps import apps

    migration = importlib.import_module("channels.migrations.0002_six_segments")
    migration.create_segments(apps, None)
