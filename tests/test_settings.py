"""Settings come from the environment; production refuses to start without its secrets. Security
settings: `check --deploy` is clean with the documented production settings; every answer carries the
Content-Security-Policy and Permissions-Policy, production answers HSTS; templates hold nothing the policy
would block."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

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


# --- Security headers and check --deploy --------------------------------------------------------------
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    # Authors' avatars: the networks' image hosts (settings.AVATAR_HOSTS), https only.
    "img-src 'self' data: https://pbs.twimg.com https://abs.twimg.com https://cdn.bsky.app "
    "https://files.mastodon.social; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self' https://x.com https://twitter.com"
)
PERMISSIONS = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), "
    "usb=()"
)


def production_env(database_url: str) -> dict[str, str]:
    """The production settings the README documents, and nothing else from this test run's environment."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "SOCIALOPS_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": database_url,
        "ALLOWED_HOSTS": "inbox.example.com",
    }


def manage(*args: str, database_url: str = "postgres://socialops:secret@127.0.0.1:5432/socialops"):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=production_env(database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_with_the_documented_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING")

    assert result.stderr == ""
    assert result.stdout == "System check identified no issues (1 silenced).\n"
    assert result.returncode == 0


def test_production_answers_with_hsts_csp_and_permissions_policy(test_database_url):
    script = (
        "import json; from django.test import Client; "  # /healthz: pages need collectstatic's manifest
        "r = Client().get('/healthz', secure=True, HTTP_HOST='inbox.example.com'); "
        "print(json.dumps({'status': r.status_code, 'headers': dict(r.headers)}))"
    )

    result = manage("shell", "--no-imports", "-c", script, database_url=test_database_url)

    answer = json.loads(result.stdout)
    assert answer["status"] == 200
    headers = answer["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert headers["Content-Security-Policy"] == POLICY
    assert headers["Permissions-Policy"] == PERMISSIONS
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"


@pytest.fixture
def test_database_url(db) -> str:
    """The test database, for what the production answers read (the health probe's SELECT 1)."""
    database = settings.DATABASES["default"]
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


def test_production_sends_plain_http_to_https_except_the_health_probe(test_database_url):
    script = (
        "import json; from django.test import Client; c = Client(HTTP_HOST='inbox.example.com'); "
        "page, health = c.get('/accounts/login/'), c.get('/healthz'); "
        "print(json.dumps([page.status_code, page['Location'], health.status_code, health.json()]))"
    )

    result = manage("shell", "--no-imports", "-c", script, database_url=test_database_url)

    assert json.loads(result.stdout) == [
        301,
        "https://inbox.example.com/accounts/login/",
        200,
        {"status": "ok", "database": "ok", "cache": "none"},  # this production run has no REDIS_URL
    ]


@pytest.mark.django_db
def test_every_page_carries_the_policy_and_development_sends_no_hsts(client):
    response = client.get("/accounts/login/")

    assert response["Content-Security-Policy"] == POLICY
    assert response["Permissions-Policy"] == PERMISSIONS
    assert "Strict-Transport-Security" not in response


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
HANDLER = re.compile(r"""\son[a-z]+\s*=\s*["'{]""", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"""\sstyle\s*=""", re.IGNORECASE)
STYLE_ELEMENT = re.compile(r"<style\b", re.IGNORECASE)
EVAL_HTMX = re.compile(r"""hx-on|hx-vals\s*=\s*["']\s*(js|javascript):|hx-trigger\s*=\s*["'][^"']*\[""")


# The 500 page carries its own styles so that it renders when nothing else does; its view allows them.
SELF_CONTAINED = {BASE_DIR / "templates" / "errors" / "500.html"}


def templates() -> list[Path]:
    return sorted(set((BASE_DIR / "templates").rglob("*.html")) - SELF_CONTAINED)


def test_templates_hold_nothing_the_content_security_policy_blocks():
    found = {
        str(path.relative_to(BASE_DIR)): kind
        for path in templates()
        for kind, pattern in (
            ("inline <script>", INLINE_SCRIPT),
            ("on…= handler", HANDLER),
            ("style attribute", STYLE_ATTRIBUTE),
            ("<style> element", STYLE_ELEMENT),
            ("htmx that needs eval", EVAL_HTMX),
        )
        if pattern.search(path.read_text())
    }

    assert len(templates()) > 40
    assert found == {}


def test_htmx_is_told_not_to_inject_its_indicator_style():
    base = (BASE_DIR / "templates" / "base.html").read_text()

    assert """<meta name="htmx-config" content='{"includeIndicatorStyles": false}'>""" in base


def test_the_self_contained_error_page_may_use_its_inline_styles_and_nothing_more(client, settings):
    from socialops.urls import handler500

    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    response = handler500(client.get("/healthz").wsgi_request)

    assert response.status_code == 500
    assert response.content_security_policy == POLICY.replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'"
    )
