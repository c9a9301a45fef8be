"""The container setup: docker-compose.yml, the Dockerfile and .dockerignore, read as files.

No Docker engine and no database are needed. The checks: the five services exist, each has a health check,
the app services wait for healthy PostgreSQL and Redis, they are configured only with variables that
socialops/settings.py reads, and every command they run names an entry point that really exists.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app
from celery.bin.celery import celery as celery_cli
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict = COMPOSE["services"]

APP_SERVICES = ("web", "worker", "beat")
BACKING_SERVICES = ("postgres", "redis")
ALL_SERVICES = APP_SERVICES + BACKING_SERVICES

# The names settings.py reads from the environment: env.str("NAME", ...), env.bool(...), env.list(...),
# env.int(...), env.float(...) and _required_in_production("NAME", ...).
SETTINGS_ENV_RE = re.compile(
    r"""(?:\benv\.(?:str|bool|list|int|float)|\b_required_in_production)\(\s*["']([A-Z][A-Z0-9_]*)["']"""
)

# Entry points named in a command line: `celery -A APP SUBCOMMAND`, `gunicorn MODULE:ATTRIBUTE` and
# `manage.py COMMAND`. Each launcher's mention pattern must find exactly as many hits as its parser.
CELERY_RE = re.compile(r"\bcelery\s+-A\s+([\w.]+)\s+([\w-]+)")
GUNICORN_RE = re.compile(r"\bgunicorn\s+([\w.]+):(\w+)")
MANAGE_RE = re.compile(r"\bmanage\.py\s+([\w-]+)")
LAUNCHERS = {
    "celery": (re.compile(r"\bcelery\s"), CELERY_RE),
    "gunicorn": (re.compile(r"\bgunicorn\s"), GUNICORN_RE),
    "manage.py": (re.compile(r"\bmanage\.py\s"), MANAGE_RE),
}


def _service_text(service: str) -> str:
    """The service's command and health check test, joined into one line (both are exec-form lists)."""
    spec = SERVICES.get(service, {})
    return " ".join([*spec.get("command", []), *spec.get("healthcheck", {}).get("test", [])])


TEXT = {service: _service_text(service) for service in APP_SERVICES}

CELERY_REFS = sorted(
    {(service, app, sub) for service in APP_SERVICES for app, sub in CELERY_RE.findall(TEXT[service])}
)
GUNICORN_REFS = sorted(
    {(service, mod, attr) for service in APP_SERVICES for mod, attr in GUNICORN_RE.findall(TEXT[service])}
)
MANAGE_REFS = sorted({(service, cmd) for service in APP_SERVICES for cmd in MANAGE_RE.findall(TEXT[service])})
APP_ENV_VARS = sorted(
    (service, name) for service in APP_SERVICES for name in SERVICES.get(service, {}).get("environment", {})
)


def _settings_env_names() -> set[str]:
    return set(SETTINGS_ENV_RE.findall((ROOT / "socialops" / "settings.py").read_text()))


def _dockerfile_instructions(keyword: str) -> list[str]:
    """Arguments of every KEYWORD instruction in the Dockerfile, line continuations joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return re.findall(rf"^\s*{keyword}\s+(.+)$", text, re.MULTILINE | re.IGNORECASE)


# --- services -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_service_exists(service: str) -> None:
    assert service in SERVICES


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_service_has_a_healthcheck(service: str) -> None:
    healthcheck = SERVICES[service]["healthcheck"]
    assert not healthcheck.get("disable", False)
    assert healthcheck["test"]
    assert isinstance(healthcheck["test"], str) or healthcheck["test"][0] in {"CMD", "CMD-SHELL"}


@pytest.mark.parametrize(
    ("service", "probe"),
    [
        ("web", "http://127.0.0.1:8000/healthz"),
        ("worker", "celery -A socialops inspect ping"),
        ("beat", "/tmp/celerybeat-schedule"),
        ("postgres", "pg_isready"),
        ("redis", "redis-cli ping"),
    ],
)
def test_healthcheck_probes_the_service(service: str, probe: str) -> None:
    assert probe in " ".join(SERVICES[service]["healthcheck"]["test"])


@pytest.mark.parametrize(("service", "image"), [("postgres", "postgres:15"), ("redis", "redis:7")])
def test_backing_service_image(service: str, image: str) -> None:
    assert SERVICES[service]["image"] == image


def test_postgres_keeps_its_data_in_a_named_volume() -> None:
    volumes = SERVICES["postgres"]["volumes"]
    mounts = {target: source for source, target, *_ in (volume.split(":") for volume in volumes)}
    assert mounts["/var/lib/postgresql/data"] in COMPOSE["volumes"]


@pytest.mark.parametrize("dependency", BACKING_SERVICES)
@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_service_waits_for_healthy_backing_service(service: str, dependency: str) -> None:
    assert SERVICES[service]["depends_on"][dependency]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_service_builds_the_dockerfile(service: str) -> None:
    assert SERVICES[service]["build"] == "."
    assert SERVICES[service]["image"] == SERVICES["web"]["image"]


def test_web_publishes_the_port_gunicorn_binds() -> None:
    port = re.search(r"--bind\s+0\.0\.0\.0:(\d+)", TEXT["web"]).group(1)
    assert f"{port}:{port}" in SERVICES["web"]["ports"]


def test_web_runs_the_one_server_command_that_make_run_runs_too() -> None:
    # Each open inbox holds its event stream open: the server is ASGI (uvicorn workers), where a waiting
    # stream holds no thread. compose, the Dockerfile and runstack all start it the same way.
    from socialops.management.commands import runstack

    dockerfile = " ".join(_dockerfile_instructions("CMD"))
    assert re.search(r"\bmanage\.py serve\b", TEXT["web"])
    assert re.search(r"\bmanage\.py serve\b", dockerfile)
    assert '"web": [sys.executable, manage, "serve"' in Path(runstack.__file__).read_text()


def test_the_server_command_serves_the_asgi_application_with_uvicorn_workers() -> None:
    from socialops.management.commands.serve import serve_argv

    argv = serve_argv(bind="0.0.0.0:8000", workers=2)

    module_path, attribute = argv[1].split(":")
    assert argv[0] == "gunicorn"
    assert callable(getattr(importlib.import_module(module_path), attribute))
    worker_module, worker_class = argv[argv.index("--worker-class") + 1].rsplit(".", 1)
    assert hasattr(importlib.import_module(worker_module), worker_class)
    assert argv[argv.index("--workers") + 1] == "2"


def test_web_migrates_before_it_serves() -> None:
    assert re.search(r"manage\.py migrate --noinput\s+&&\s+exec python manage\.py serve\s", TEXT["web"])


# --- environment ----------------------------------------------------------------------------------------


def test_settings_parser_finds_the_known_variables() -> None:
    known = {"SOCIALOPS_ENV", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "LOG_LEVEL"}
    assert known <= _settings_env_names()


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_services_share_one_environment(service: str) -> None:
    assert SERVICES[service]["environment"] == COMPOSE["x-app-environment"]


@pytest.mark.parametrize(("service", "name"), APP_ENV_VARS)
def test_environment_variable_is_read_by_settings(service: str, name: str) -> None:
    assert name in _settings_env_names()


def test_environment_is_production_and_requires_a_secret_key() -> None:
    environment = COMPOSE["x-app-environment"]
    assert environment["SOCIALOPS_ENV"] == "production"
    assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]+\}", environment["SECRET_KEY"])


def test_database_url_matches_the_postgres_service() -> None:
    url = urlsplit(COMPOSE["x-app-environment"]["DATABASE_URL"])
    postgres = SERVICES["postgres"]["environment"]
    assert (url.scheme, url.hostname, url.port) == ("postgres", "postgres", 5432)
    assert (url.username, url.password, url.path) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        "/" + postgres["POSTGRES_DB"],
    )


def test_redis_url_points_at_the_redis_service() -> None:
    url = urlsplit(COMPOSE["x-app-environment"]["REDIS_URL"])
    assert (url.scheme, url.hostname, url.port) == ("redis", "redis", 6379)


# --- entry points ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_service_command_is_exec_form(service: str) -> None:
    assert isinstance(SERVICES[service]["command"], list)


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_service_runs_the_web_server_or_celery(service: str) -> None:
    command = " ".join(SERVICES[service]["command"])
    assert re.search(r"\bmanage\.py serve\b", command) or CELERY_RE.search(command)


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
@pytest.mark.parametrize("service", APP_SERVICES)
def test_every_launcher_mention_is_parsed(service: str, launcher: str) -> None:
    mention, parser = LAUNCHERS[launcher]
    assert len(mention.findall(TEXT[service])) == len(parser.findall(TEXT[service]))


@pytest.mark.parametrize(("service", "app_name", "subcommand"), CELERY_REFS)
def test_celery_app_and_subcommand_exist(service: str, app_name: str, subcommand: str) -> None:
    assert (ROOT / Path(*app_name.split(".")) / "celery.py").is_file()
    module = importlib.import_module(f"{app_name}.celery")
    assert isinstance(module.app, Celery)
    assert find_app(app_name) is module.app  # what `celery -A app_name` resolves
    assert subcommand in celery_cli.commands


@pytest.mark.parametrize(("service", "command"), MANAGE_REFS)
def test_management_command_exists(service: str, command: str) -> None:
    assert command in get_commands()


def test_entry_points_were_found() -> None:
    assert {sub for _, _, sub in CELERY_REFS} >= {"worker", "beat", "inspect"}
    assert ("web", "migrate") in MANAGE_REFS
    assert ("web", "serve") in MANAGE_REFS


@pytest.mark.parametrize("program", ["celery", "gunicorn", "uvicorn", "uvicorn-worker"])
def test_launcher_is_a_project_dependency(program: str) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dependencies = pyproject["project"]["dependencies"]
    names = {re.match(r"[A-Za-z0-9_.-]+", dependency).group(0).lower() for dependency in dependencies}
    assert program in names


# --- Dockerfile and .dockerignore -----------------------------------------------------------------------


def test_dockerfile_exists() -> None:
    assert (ROOT / "Dockerfile").is_file()


def test_dockerfile_base_image_is_python_311() -> None:
    image = _dockerfile_instructions("FROM")[-1].split()[0]
    assert re.fullmatch(r"python:3\.11(?:\.\d+)?(?:-[\w.-]+)?(?:@sha256:[0-9a-f]{64})?", image)


def test_dockerfile_starts_the_web_server_command() -> None:
    start = " ".join(_dockerfile_instructions("ENTRYPOINT") + _dockerfile_instructions("CMD"))
    assert re.search(r"exec python manage\.py serve --bind 0\.0\.0\.0:", start)
    assert "serve" in get_commands()


def test_dockerfile_runs_as_a_non_root_user() -> None:
    user = _dockerfile_instructions("USER")[-1].split(":")[0].strip()
    assert user not in {"root", "0"}


def test_dockerfile_secrets_for_collectstatic_are_build_only() -> None:
    collect = list(filter(re.compile(r"\bcollectstatic --noinput").search, _dockerfile_instructions("RUN")))
    assert len(collect) == 1
    assert "SECRET_KEY=" in collect[0]
    assert "DATABASE_URL=" in collect[0]
    assert not any("SECRET_KEY" in env or "DATABASE_URL" in env for env in _dockerfile_instructions("ENV"))
    assert not any("SECRET_KEY" in arg for arg in _dockerfile_instructions("ARG"))


@pytest.mark.parametrize("pattern", [".git", ".venv", "var", ".env", "bench/results.json"])
def test_dockerignore_excludes(pattern: str) -> None:
    assert pattern in (ROOT / ".dockerignore").read_text().split()
