"""Mastodon, all in this folder: the connector with its calls, errors and parsing (``connector``).

Importing the package registers the connector.
"""

from channels.connectors.mastodon.connector import (
    DEFAULT_RETRY_AFTER,
    HASHTAG_ENDPOINT,
    NOTIFICATIONS_ENDPOINT,
    REQUEST_TIMEOUT,
    MastodonConnector,
    html_to_text,
)
from channels.connectors.mastodon.rules import addresses, instance_host

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "HASHTAG_ENDPOINT",
    "NOTIFICATIONS_ENDPOINT",
    "REQUEST_TIMEOUT",
    "MastodonConnector",
    "addresses",
    "html_to_text",
    "instance_host",
]
