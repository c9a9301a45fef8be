"""X, all in this folder: the calls, their errors and the tokens (``client``), payloads to posts
(``parsing``), the reply rules (``rules``: X's weighted count, every link as a t.co address), the connector
(``connector``), and the connect flow (``oauth``: OAuth 2.0 with PKCE; ``connect``, ``forms``, ``views``,
``urls`` and the pages' templates beside them).

Importing the package registers the connector.
"""

from channels.connectors.x.client import (
    CREATE_DM_ENDPOINT,
    CREATE_TWEET_ENDPOINT,
    DM_EVENTS_ENDPOINT,
    MENTIONS_ENDPOINT,
    REQUEST_TIMEOUT,
    SEARCH_ENDPOINT,
)
from channels.connectors.x.connector import XConnector
from channels.connectors.x.oauth import x_authorization_finish, x_authorization_start

__all__ = [
    "CREATE_DM_ENDPOINT",
    "CREATE_TWEET_ENDPOINT",
    "DM_EVENTS_ENDPOINT",
    "MENTIONS_ENDPOINT",
    "REQUEST_TIMEOUT",
    "SEARCH_ENDPOINT",
    "XConnector",
    "x_authorization_finish",
    "x_authorization_start",
]
