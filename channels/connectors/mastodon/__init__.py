"""Mastodon, all in this folder: the calls and their errors (``client``), payloads to posts (``parsing``),
the reply and listening rules (``rules``: 500 characters, ``user@host`` counted as ``@user``, the ``@author``
put in front of a reply, hashtags), the connector (``connector``), and the connect flow (``connect``,
``forms``, ``views``, ``urls`` and ``connect.html``).

Importing the package registers the connector.
"""

from channels.connectors.mastodon.client import (
    DEFAULT_RETRY_AFTER,
    HASHTAG_ENDPOINT,
    NOTIFICATIONS_ENDPOINT,
    REQUEST_TIMEOUT,
)
from channels.connectors.mastodon.connector import MastodonConnector
from channels.connectors.mastodon.parsing import html_to_text
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
