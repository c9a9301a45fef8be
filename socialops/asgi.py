"""ASGI entry point, for servers that stream server-sent events."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialops.settings")

application = get_asgi_application()
