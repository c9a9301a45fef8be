"""``python manage.py serve``: the web server, the same everywhere — ``make run`` (through ``runstack``), the
Dockerfile, docker-compose and the web benchmark.

gunicorn runs ``socialops.asgi`` with uvicorn workers: a page is a Django view in a thread for as long as
it takes, and an open inbox's event stream is an async generator that holds no thread while it waits, so a
worker keeps serving pages with a thousand streams open (``bench/bench_web.py``).
"""

from __future__ import annotations

import os
import shutil
import sys

from django.core.management.base import BaseCommand, CommandParser

APPLICATION = "socialops.asgi:application"
WORKER_CLASS = "uvicorn_worker.UvicornWorker"


def serve_argv(*, bind: str, workers: int, access_log: bool = True) -> list[str]:
    """The gunicorn command line the web server runs."""
    argv = [
        "gunicorn",
        APPLICATION,
        "--worker-class",
        WORKER_CLASS,
        "--workers",
        str(workers),
        "--bind",
        bind,
        # A stream open when a worker stops is closed at once; the browser reconnects to another worker.
        "--graceful-timeout",
        "5",
    ]
    if access_log:
        argv += ["--access-logfile", "-"]
    return argv


class Command(BaseCommand):
    help = "Run the web server (gunicorn with uvicorn workers, serving socialops.asgi)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--bind",
            default=f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}",
            help="Address and port (default $HOST:$PORT, 127.0.0.1:8000; a container binds 0.0.0.0).",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("WEB_CONCURRENCY", "2")),
            help="Worker processes (default $WEB_CONCURRENCY or 2; about one per core).",
        )
        parser.add_argument("--no-access-log", action="store_true", help="Do not log each request.")

    def handle(self, *args: object, **options: object) -> None:
        access_log = not options["no_access_log"]
        argv = serve_argv(bind=str(options["bind"]), workers=int(options["workers"]), access_log=access_log)
        program = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or shutil.which("gunicorn")
        if program is None:
            self.stderr.write("gunicorn is not installed: run `make install` first.")
            sys.exit(1)
        # Each request's view runs in a thread of its own, so connections are pooled per process rather than
        # opened per request (foundation/pgpool); DATABASE_POOL=false turns that off.
        os.environ.setdefault("DATABASE_POOL", "true")
        sys.stdout.flush()
        os.execv(program, argv)  # noqa: S606 - a fixed argv, no shell: this process becomes gunicorn
