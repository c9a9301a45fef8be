"""X, all in this folder: the connector with its calls, errors and parsing (``connector``).

Importing the package registers the connector.
"""

from channels.connectors.x.connector import (
    CREATE_DM_ENDPOINT,
    CREATE_TWEET_ENDPOINT,
    DM_EVENTS_ENDPOINT,
    MENTIONS_ENDPOINT,
    REQUEST_TIMEOUT,
    SEARCH_ENDPOINT,
    XConnector,
)
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
