"""Bluesky, all in this folder: the session and its errors (``client``), payloads to posts (``parsing``), the
reply rules (``rules``: 300 graphemes, facets over UTF-8 byte offsets), the connector (``connector``) and
the connect flow (``connect``, ``forms``, ``views``, ``urls``, ``connect.html``).

Importing the package registers the connector.
"""

from channels.connectors.bluesky.connector import BlueskyConnector

__all__ = ["BlueskyConnector"]
