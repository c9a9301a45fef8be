"""socialops settings: everything comes from the environment (django-environ).

With no configuration at all this is the embedded default: SQLite in WAL mode under ``var/``, a Celery
broker on the file system (works across processes, needs no server), DEBUG on and a generated development
secret key. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis. ``SOCIALOPS_ENV=production``
turns DEBUG off and makes the secret key and the database URL mandatory.
"""

from __future__ import annotations

import secrets
import warnings
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

SOCIALOPS_ENV = env.str("SOCIALOPS_ENV", default="development")
if SOCIALOPS_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"SOCIALOPS_ENV must be 'development' or 'production', not {SOCIALOPS_ENV!r}.")
IS_PRODUCTION = SOCIALOPS_ENV == "production"

DATA_DIR = Path(env.str("SOCIALOPS_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
if not IS_PRODUCTION:
    DATA_DIR.mkdir(parents=True, exist_ok=True)


def _required_in_production(name: str, why: str) -> str | None:
    value = env.str(name, default="") or None
    if IS_PRODUCTION and value is None:
        raise ImproperlyConfigured(
            f"socialops cannot start in production without {name}: {why} "
            f"Set {name} in the environment (see the configuration table in README.md)."
        )
    return value


def _development_secret_key() -> str:
    """A random key kept in the data directory, so sessions survive a restart of the demo."""
    key_file = DATA_DIR / "dev-secret-key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = (
    _required_in_production(
        "SECRET_KEY", "it signs sessions and derives the key that encrypts channel tokens."
    )
    or _development_secret_key()
)

DEBUG = env.bool("DEBUG", default=not IS_PRODUCTION)

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if IS_PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Tokens of brand accounts are encrypted at rest with Fernet. The first key encrypts; every key listed
# decrypts, so keys can be rotated. Without the variable the key is derived from SECRET_KEY.
SOCIALOPS_ENCRYPTION_KEYS = env.list("SOCIALOPS_ENCRYPTION_KEYS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served from here: the docs page works without internet
    "django_htmx",
    "socialops",
    "foundation",
    "teams",
    "channels",
    "inbox",
    "routing",
    "users",
    "integrations",
    "reports",
    "crisis",
    "people",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "socialops.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "users.middleware.TimeZoneMiddleware",  # after authentication: the zone is the signed-in person's
    # After the session and authentication, so an error page shows the header of whoever is signed in.
    "socialops.middleware.ErrorPagesMiddleware",
]

ROOT_URLCONF = "socialops.urls"
WSGI_APPLICATION = "socialops.wsgi.application"
ASGI_APPLICATION = "socialops.asgi.application"
# WhiteNoise answers static files with a sync iterator, which Django under ASGI reads in a thread, warning on
# each file. Browsers cache them (the names carry a hash), so there is nothing to act on; every other
# streaming response of ours is async under ASGI (the event stream).
warnings.filterwarnings(
    "ignore", message="StreamingHttpResponse must consume synchronous iterators", category=Warning
)

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "teams.context_processors.roles",
                "foundation.context_processors.degraded",
                "integrations.context_processors.notifications",
                "users.context_processors.preferences",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------

DATABASE_URL = _required_in_production(
    "DATABASE_URL", "production runs on PostgreSQL, e.g. postgres://user:password@host:5432/socialops."
)
if DATABASE_URL:
    DATABASES = {"default": env.db_url_config(DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "socialops.sqlite3",
            "OPTIONS": {
                # WAL lets the web server read while the worker writes; IMMEDIATE takes the write lock at
                # BEGIN so two writers queue on the busy timeout instead of failing mid-transaction.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
# The web server's processes keep a pool of PostgreSQL connections (foundation/pgpool/base.py says why):
# ``manage.py serve`` turns DATABASE_POOL on. Per process: at most DATABASE_POOL_SIZE connections, a request
# waits DATABASE_POOL_TIMEOUT seconds for one, and one is closed after DATABASE_POOL_LIFETIME seconds.
_POSTGRESQL = "django.db.backends.postgresql"
if env.bool("DATABASE_POOL", default=False) and DATABASES["default"]["ENGINE"] == _POSTGRESQL:
    DATABASES["default"]["ENGINE"] = "foundation.pgpool"
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django "closes" after each request: back to the pool
    DATABASES["default"]["POOL"] = {
        "SIZE": env.int("DATABASE_POOL_SIZE", default=20),
        "TIMEOUT": env.float("DATABASE_POOL_TIMEOUT", default=30.0),
        "LIFETIME": env.float("DATABASE_POOL_LIFETIME", default=600.0),
    }
DATABASES["default"].setdefault("TEST", {})
if env.str("TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["TEST"]["NAME"] = env.str("TEST_DATABASE_NAME")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache and Celery ----------------------------------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="") or None
# Redis pub/sub channel of the browsers' live events. Pub/sub ignores the database number: installations
# sharing one Redis server need a channel each.
# The Celery tasks that consume the domain events (foundation.events); each is queued after a commit that
# recorded events and run by beat every few seconds as well.
SOCIALOPS_EVENT_CONSUMERS = env.list(
    "SOCIALOPS_EVENT_CONSUMERS",
    default=[
        "integrations.tasks.webhooks_fanout",
        "integrations.tasks.slack_notify",
        "reports.tasks.rollups_consume_task",
        "crisis.tasks.crisis_consume",
        "integrations.tasks.notifications_consume",
        "people.tasks.people_consume",
    ],
)
SOCIALOPS_EVENTS_CHANNEL = env.str("SOCIALOPS_EVENTS_CHANNEL", default="socialops:events")

if REDIS_URL:
    # Answers as an empty cache while Redis is unreachable, instead of failing every page (foundation.cache);
    # short timeouts, so a Redis that hangs costs a page a second at most, once per few seconds.
    CACHES = {
        "default": {
            "BACKEND": "foundation.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
else:
    # Shared by the web server, the worker and beat through the file system, so locks hold across them.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Delivery: at least once. A message is acknowledged when its task has finished, not when a worker takes
# it, so a worker that dies mid-task leaves the message to be delivered again; every task says in its
# docstring why running it again is safe (replies are claimed on their row and sent once; pulls, sweeps and
# consumers re-read their rows). The two that send mail or a rule's notification opt out (acks_late=False):
# a second email is worse than a lost one there.
CELERY_TASK_ACKS_LATE = True
# A pool process killed mid-task (SIGKILL, out of memory) gets its message acknowledged as failed rather
# than put back at once: a task that kills its worker must not loop. Its work is not lost: the sweepers
# find it on the rows (replies_send_due, webhooks_deliver, slack/handoff resends, mentions_route_unrouted).
CELERY_TASK_REJECT_ON_WORKER_LOST = False
# One message reserved at a time: with late acks every reserved message is unacknowledged, and more would
# wait behind a long task and be stranded with a killed worker until the visibility timeout.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis redelivers an unacknowledged message after the visibility timeout (kombu's default is an hour,
# which is also how long Mastodon keeps an idempotency key: a stranded reply task came back just when the
# key no longer held). Ten minutes brings messages stranded with a killed worker back within minutes, and
# is longer than any task runs and than the countdowns of pulls (at most 300 s), Slack (a few minutes) and
# replies (none: a reply waits on its row, not in the broker). Longer countdowns (a webhook delivery
# woken for its next retry, up to an hour) may come back as copies; each runs a sweep that finds its rows
# under lock, so a copy costs a run, not a second delivery. A redelivered reply task finds its reply sent
# or not due and leaves it.
SOCIALOPS_BROKER_VISIBILITY_TIMEOUT_SECONDS = env.int(
    "SOCIALOPS_BROKER_VISIBILITY_TIMEOUT_SECONDS", default=600
)
if not CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": SOCIALOPS_BROKER_VISIBILITY_TIMEOUT_SECONDS,
        # Queuing a task from a request gives up on a broker that refuses connections within a fraction of
        # a second (kombu's default keeps trying for about six): what is queued is on a row the sweepers
        # find, so the agent's request must not wait. Workers reconnect by their own policy
        # (broker_connection_retry), not by these.
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.2,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# How often beat looks for channels whose next pull is due. Each channel has its own cadence.
SOCIALOPS_PULL_TICK_SECONDS = env.float("SOCIALOPS_PULL_TICK_SECONDS", default=5.0)
CELERY_BEAT_SCHEDULE = {
    "pull-due-channels": {
        "task": "inbox.tasks.channels_pull_due",
        "schedule": timedelta(seconds=SOCIALOPS_PULL_TICK_SECONDS),
        "options": {"expires": SOCIALOPS_PULL_TICK_SECONDS * 4},
    },
    # Mentions whose route task was lost (a worker died between the ingest and routing).
    "route-unrouted-mentions": {
        "task": "inbox.tasks.mentions_route_unrouted",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 120},
    },
    # SLA clocks: start them for new mentions, warn before a breach, raise breaches to team leads.
    "sla-tick": {
        "task": "inbox.tasks.sla_tick",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 120},
    },
    # Auto-assigning teams hand queued mentions to people who have room again.
    "assign-team-queues": {
        "task": "inbox.tasks.queues_assign",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 120},
    },
    # Replies due to be sent: deferred ones whose time came, and ones whose send task was never queued (the
    # broker was down) or was lost with the broker or a worker. A queued reply waits at most about this
    # long plus inbox.outbox.REPLY_HANDOFF_SECONDS for a task, within the minute it may wait
    # without a reason.
    "send-due-replies": {
        "task": "inbox.tasks.replies_send_due",
        "schedule": timedelta(seconds=10),
        "options": {"expires": 30},
    },
    # Snoozed mentions whose time has come go back to the queues.
    "wake-snoozed-mentions": {
        "task": "inbox.tasks.mentions_wake",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 120},
    },
    # The routing models learn the day's handled posts (corrections retrain them as they come).
    "routing-models-nightly": {
        "task": "inbox.tasks.classifier_train",
        "schedule": crontab(hour=3, minute=17),
        "kwargs": {"reason": "nightly"},
        "options": {"expires": 3600},
    },
    # Webhooks: the fan-out of domain events into deliveries (woken after each commit; this is the safety
    # net) and the sweep of due deliveries (retries, and rows left by a worker that died).
    "webhooks-fanout": {
        "task": "integrations.tasks.webhooks_fanout",
        "schedule": timedelta(seconds=5),
        "options": {"expires": 20},
    },
    "webhooks-deliver-due": {
        "task": "integrations.tasks.webhooks_deliver",
        "schedule": timedelta(seconds=5),
        "options": {"expires": 20},
    },
    # Escalations nobody accepted within their segment's acceptance window go to the team lead.
    "escalations-overdue": {
        "task": "inbox.tasks.escalations_overdue",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 120},
    },
    # Slack notifications: events a commit's wake did not reach, and messages whose send task was lost.
    # Reports: the rollups' consumer of the domain events (woken after each commit; this is the safety net).
    "reports-rollups": {
        "task": "reports.tasks.rollups_consume_task",
        "schedule": timedelta(seconds=10),
        "options": {"expires": 30},
    },
    # People's notifications (the bell): events a commit's wake did not reach.
    "notifications": {
        "task": "integrations.tasks.notifications_consume",
        "schedule": timedelta(seconds=10),
        "options": {"expires": 30},
    },
    # Reports: the weekly digest to the leads who switched it on (last week, Monday to Sunday, UTC).
    "reports-weekly-digest": {
        "task": "reports.tasks.digests_send_task",
        "schedule": crontab(day_of_week="mon", hour=7, minute=0),
        "options": {"expires": 6 * 3600},
    },
    "slack-notify": {
        "task": "integrations.tasks.slack_notify",
        "schedule": timedelta(seconds=10),
        "options": {"expires": 30},
    },
    # The crisis radar: counts received mentions (woken after commits; this is the safety net) and runs its
    # detector for each finished minute.
    "crisis-radar": {
        "task": "crisis.tasks.crisis_consume",
        "schedule": timedelta(seconds=20),
        "options": {"expires": 60},
    },
    # People: persons, merge suggestions and segments of the authors new mentions come from (woken after
    # commits; this is the safety net), every segment again each night, and the retention policy.
    "people-consume": {
        "task": "people.tasks.people_consume",
        "schedule": timedelta(seconds=20),
        "options": {"expires": 60},
    },
    "people-segments-nightly": {
        "task": "people.tasks.segments_nightly",
        "schedule": crontab(hour=3, minute=10),
        "options": {"expires": 3600},
    },
    "people-retention": {
        "task": "people.tasks.retention_apply",
        "schedule": crontab(hour=3, minute=40),
        "options": {"expires": 3600},
    },
    "slack-messages-resend": {
        "task": "integrations.tasks.slack_messages_resend",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 120},
    },
    # Hand-offs: the state of open cases in the external system, and sends whose task was lost.
    "handoffs-status-pull": {
        "task": "integrations.tasks.handoffs_status_pull",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 600},
    },
    "handoffs-resend": {
        "task": "integrations.tasks.handoffs_resend",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 120},
    },
}

# Every request to an address admins type in (webhooks, hand-off endpoints, Slack) goes only to public
# addresses unless this allows private ones (loopback, private networks, link-local: tests and benchmarks
# send to 127.0.0.1; a helpdesk on the same private network); see integrations/destinations.py.
SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE = env.bool("SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE", default=False)
# A failed delivery is tried again after a random wait of up to base x 2^(attempt-1) seconds (capped at an
# hour) for this many hours, then given up ("dead").
SOCIALOPS_WEBHOOKS_RETRY_BASE_SECONDS = env.float("SOCIALOPS_WEBHOOKS_RETRY_BASE_SECONDS", default=10.0)
SOCIALOPS_WEBHOOKS_RETRY_HOURS = env.float("SOCIALOPS_WEBHOOKS_RETRY_HOURS", default=24.0)
# A subscription whose deliveries failed this many times in a row is paused and the admins are told.
SOCIALOPS_WEBHOOKS_PAUSE_AFTER_FAILURES = env.int("SOCIALOPS_WEBHOOKS_PAUSE_AFTER_FAILURES", default=50)
# How long a worker holds the deliveries it is sending; one killed mid-delivery leaves them due after it.
SOCIALOPS_WEBHOOKS_LEASE_SECONDS = env.float("SOCIALOPS_WEBHOOKS_LEASE_SECONDS", default=60.0)
# How long a rotated-out webhook secret still signs (beside the new one).
SOCIALOPS_WEBHOOKS_ROTATION_OVERLAP_HOURS = env.float(
    "SOCIALOPS_WEBHOOKS_ROTATION_OVERLAP_HOURS", default=24.0
)

# How long a channel's pull lock lives; a worker killed mid-pull holds it until then.
SOCIALOPS_PULL_LOCK_SECONDS = env.int("SOCIALOPS_PULL_LOCK_SECONDS", default=30)

# The longest import line (import_mentions, and the body of POST /api/v1/mentions/) in bytes. The longest
# post (25,000 characters) written as JSON escapes (\uXXXX, 6 bytes a character) is 150,000 bytes; 256 KiB
# holds it with its other fields while keeping a runaway line (a file without line ends) from being parsed.
SOCIALOPS_IMPORT_MAX_LINE_BYTES = env.int("SOCIALOPS_IMPORT_MAX_LINE_BYTES", default=256 * 1024)

# Email for rule notifications. EMAIL_URL like smtp+tls://user:password@host:587; without it emails are
# printed to the worker's console.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="socialops@localhost")

# X (Twitter) app credentials: the OAuth 2.0 client for connecting accounts, and an app bearer token for
# keyword search. Optional: without them X channels cannot be connected.
X_CLIENT_ID = env.str("X_CLIENT_ID", default="")
X_CLIENT_SECRET = env.str("X_CLIENT_SECRET", default="")
X_BEARER_TOKEN = env.str("X_BEARER_TOKEN", default="")

# Where people reach this installation: links to a mention in webhook payloads, hand-offs and notifications
# (none when empty).
SOCIALOPS_BASE_URL = env.str(
    "SOCIALOPS_BASE_URL", default="" if IS_PRODUCTION else "http://127.0.0.1:8000"
).rstrip("/")
# HubSpot's API and app addresses (the API one is moved by tests to a local server).
SOCIALOPS_HUBSPOT_API_BASE = env.str("SOCIALOPS_HUBSPOT_API_BASE", default="https://api.hubapi.com")
SOCIALOPS_HUBSPOT_APP_BASE = env.str("SOCIALOPS_HUBSPOT_APP_BASE", default="https://app.hubspot.com")

# Seed of the simulated network; the same seed gives the same stream of posts.
SOCIALOPS_SIMULATED_SEED = env.int("SOCIALOPS_SIMULATED_SEED", default=20261123)

# --- Auth, i18n, static ---------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttle (users/sign_in.py): this many failed sign-ins of one username from one address, or of
# any usernames from one address, within the cool-off lock further attempts out for the cool-off.
SOCIALOPS_SIGN_IN_FAILURE_LIMIT = env.int("SOCIALOPS_SIGN_IN_FAILURE_LIMIT", default=5)
SOCIALOPS_SIGN_IN_ADDRESS_FAILURE_LIMIT = env.int("SOCIALOPS_SIGN_IN_ADDRESS_FAILURE_LIMIT", default=20)
SOCIALOPS_SIGN_IN_COOL_OFF_MINUTES = env.int("SOCIALOPS_SIGN_IN_COOL_OFF_MINUTES", default=15)
# Reverse proxies in front of the web server whose X-Forwarded-For entry is trusted (0: none, the
# connection's address is the client's).
SOCIALOPS_TRUSTED_PROXIES = env.int("SOCIALOPS_TRUSTED_PROXIES", default=0)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "inbox:index"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
if not IS_PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise looks here even before collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if IS_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

REST_FRAMEWORK = {
    # Token first: a request without credentials gets 401 with "WWW-Authenticate: Token", not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "users.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Ours first: refuses deep nesting and lone surrogates with a 400 instead of a 500.
    "DEFAULT_PARSER_CLASSES": [
        "foundation.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "socialops API",
    "DESCRIPTION": (
        "The shared social inbox: mentions with their routing decisions, triage actions, channels, teams "
        "and rules. Authenticate with `Authorization: Token <key>` or a browser session."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema maps the whole API: only people signed in may read it.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Two choice sets share the field name "intent": name each, so the schema's enums read as what they are.
    "ENUM_NAME_OVERRIDES": {
        "IntentEnum": "routing.facts.INTENTS",
        "NotSpamIntentEnum": "inbox.serializers.NOT_SPAM_INTENTS",
        # The mention's sentiment and the corrected label are the same three values: one name.
        "SentimentEnum": "inbox.models.Mention.SentimentLabel",
    },
    "COMPONENT_SPLIT_REQUEST": True,
    # No CDN: Swagger UI's files come from drf-spectacular-sidecar through our own static files.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Security -------------------------------------------------------------------------------------------

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Every page's scripts and styles are files under /static/: no inline <script>, no on…= handlers, no
# style attributes, no eval (so no hx-on and no hx-trigger filters). htmx's own indicator <style> is off
# (htmx-config meta tag in base.html). data: is for the favicon and Swagger UI's icons. form-action lets
# "Connect an X account" continue to X's authorisation page.
# Authors' avatars load from the networks' image hosts, named here, rather than through a proxy of ours: a
# proxy would fetch addresses strangers chose from inside our network (a server-side request forgery to
# guard) and hold their images; the browser caches these CDNs' images itself (they send long max-age). A
# host not listed shows the author's initials (inbox_tags.avatar), so the policy never blocks an image.
# Mastodon instances serve their own media, from hosts of their own: add yours (AVATAR_HOSTS=a,b).
AVATAR_HOSTS = env.list(
    "AVATAR_HOSTS",
    default=[
        "pbs.twimg.com",  # X profile images
        "abs.twimg.com",  # X's default profile image
        "cdn.bsky.app",  # Bluesky avatars
        "files.mastodon.social",  # mastodon.social, and the remote accounts it caches
    ],
)
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        " ".join(["img-src 'self' data:", *(f"https://{host}" for host in AVATAR_HOSTS)]),
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self' https://x.com https://twitter.com",
    ]
)
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if IS_PRODUCTION:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # the container's health probe speaks plain HTTP
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        # Asking browsers to preload the domain is the installation's own decision (SECURE_HSTS_PRELOAD).
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
