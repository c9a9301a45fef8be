# syntax=docker/dockerfile:1
#
# socialops application image: the web server (gunicorn, the default command), the Celery worker and
# Celery beat all run from it; docker-compose.yml picks the command per service. Threaded workers: each open
# inbox holds one thread for its live-event stream (server-sent events).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app

# An unprivileged user runs every process; the source stays owned by root, so it cannot rewrite it.
RUN groupadd --system --gid 10001 socialops \
    && useradd --system --uid 10001 --gid socialops --create-home --shell /usr/sbin/nologin socialops

# Dependencies first, so this layer is rebuilt only when pyproject.toml changes. pyproject.toml sets
# `[tool.setuptools] packages = []`: installing "." installs the pinned dependencies and no modules
# (socialops runs from /app). The in-tree build leaves build/ and an egg-info behind; drop them.
COPY pyproject.toml ./
RUN pip install --no-cache-dir . \
    && rm -rf build ./*.egg-info

COPY . .

# Static files are collected into the image (whitenoise serves them). Production settings refuse to load
# without SECRET_KEY and DATABASE_URL, so this step alone gets throw-away values; collectstatic does not
# connect to the database, and neither value stays in the image's environment.
RUN SOCIALOPS_ENV=production \
    SECRET_KEY=build-only-collectstatic-not-a-secret \
    DATABASE_URL=postgres://build:build@localhost:5432/build \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var \
    && chown socialops:socialops /app/var

USER 10001:10001

EXPOSE 8000

# The web server (gunicorn with uvicorn workers serving socialops.asgi), as `make run` and compose start it;
# WEB_CONCURRENCY worker processes (default 2).
CMD ["sh", "-c", "exec python manage.py serve --bind 0.0.0.0:${PORT:-8000}"]
