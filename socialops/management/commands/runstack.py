"""Run the whole product in the foreground: web server, Celery worker and Celery beat. Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

STOP_GRACE_SECONDS = 10  # how long children get to finish their current work after Ctrl-C


class Command(BaseCommand):
    help = (
        "Migrate, set up the demo organisation and run the web server, a Celery worker and Celery beat "
        "together in the foreground. Ctrl-C stops all three. Data is kept between runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("PORT", "8000")),
            help="Web port (default $PORT or 8000).",
        )
        parser.add_argument(
            "--host", default=os.environ.get("HOST", "127.0.0.1"), help="Web address to bind."
        )
        parser.add_argument("--no-demo", action="store_true", help="Do not create the demo organisation.")

    def handle(self, *args: object, **options: object) -> None:
        port = int(options["port"])
        host = str(options["host"])
        self.stdout.write("Applying database migrations...")
        call_command("migrate", interactive=False, verbosity=0)
        if not options["no_demo"]:
            call_command("demo_setup", stdout=self.stdout)
        connection.close()  # the children open their own connections

        manage = str(Path(settings.BASE_DIR) / "manage.py")
        embedded = connection.vendor == "sqlite"
        worker = [sys.executable, "-m", "celery", "-A", "socialops", "worker", "--loglevel=INFO"]
        if embedded:
            # One writer at a time suits SQLite; the file broker has no broadcast for gossip and mingle.
            worker += ["--pool=solo", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        else:
            worker += ["--concurrency=2"]
        commands = {
            # The server the Dockerfile and compose run; one worker process is plenty for one person's demo.
            "web": [sys.executable, manage, "serve", "--bind", f"{host}:{port}", "--workers", "1"],
            "worker": worker,
            "beat": [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "socialops",
                "beat",
                "--loglevel=INFO",
                f"--schedule={settings.CELERY_BEAT_SCHEDULE_FILENAME}",
            ],
        }
        self.stdout.write(
            self.style.SUCCESS(f"\nsocialops is starting at http://{host}:{port}/  (Ctrl-C stops it)\n")
        )
        database = f"SQLite {settings.DATABASES['default']['NAME']}" if embedded else "PostgreSQL"
        broker = settings.CELERY_BROKER_URL.split("@")[-1]  # never print a password from the URL
        self.stdout.write(f"database: {database}; broker: {broker}\n")
        self._supervise(commands)

    def _supervise(self, commands: dict[str, list[str]]) -> None:
        children: dict[str, subprocess.Popen] = {}
        stopping = False

        def request_stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        for name, command in commands.items():
            # Own process groups, so that this command decides the order and manner of stopping.
            children[name] = subprocess.Popen(command, start_new_session=True)  # noqa: S603
        failed = ""
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    failed = f"{name} exited with status {child.returncode}"
                    stopping = True
                    break
            time.sleep(0.5)
        self.stdout.write("\nStopping web server, worker and beat...")
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if failed:
            raise CommandError(f"socialops stopped because the {failed}; its log is above.")
        self.stdout.write("Stopped. Your data is kept in the data directory; run the same command to go on.")
