"""Settings come from the environment; production refuses to start without its secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DEBUG, s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL.split(':')[0])"
)


def run_with(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SOCIALOPS_ENV", "CELERY_BROKER_URL", "DEBUG"}
    }
    env.update(
        {"DJANGO_SETTINGS_MODULE": "socialops.settings", "SOCIALOPS_DATA_DIR": str(tmp_path)}, **variables
    )
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_configuration_gives_the_embedded_default(tmp_path: Path) -> None:
    result = run_with(tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "django.db.backends.sqlite3", "filesystem"]
    assert (tmp_path / "dev-secret-key").stat().st_mode & 0o777 == 0o600


def test_database_and_redis_urls_switch_to_postgresql_and_redis(tmp_path: Path) -> None:
    result = run_with(
        tmp_path, DATABASE_URL="postgres://u:p@db.example:5432/so", REDIS_URL="redis://cache.example:6379/0"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "django.db.backends.postgresql", "redis"]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"DATABASE_URL": "postgres://u:p@db/so"}, "cannot start in production without SECRET_KEY"),
        ({"SECRET_KEY": "s" * 50}, "cannot start in production without DATABASE_URL"),
    ],
)
def test_production_without_a_secret_stops_with_a_clear_message(
    tmp_path: Path, variables: dict[str, str], message: str
) -> None:
    result = run_with(tmp_path, SOCIALOPS_ENV="production", **variables)

    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "dev-secret-key").exists()


def test_production_with_its_secrets_runs_without_debug(tmp_path: Path) -> None:
    result = run_with(
        tmp_path, SOCIALOPS_ENV="production", SECRET_KEY="s" * 50, DATABASE_URL="postgres://u:p@db/so"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "django.db.backends.postgresql", "filesystem"]


def test_an_unknown_environment_name_is_refused(tmp_path: Path) -> None:
    result = run_with(tmp_path, SOCIALOPS_ENV="prod")

    assert result.returncode != 0
    assert "SOCIALOPS_ENV must be 'development' or 'production', not 'prod'" in result.stderr
