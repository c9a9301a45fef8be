"""What the hand-off actions and the backends (generic JSON, HubSpot) hand each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class CaseDraft:
    """A mention as a case: what a backend may put in the external system."""

    mention_id: int
    text: str
    url: str
    network: str
    kind: str
    created_at: str
    intent: str
    priority: str
    sentiment: str
    labels: tuple[str, ...]
    author_handle: str
    author_name: str
    team_name: str
    team_slug: str
    actor_name: str
    inbox_url: str


@dataclass(frozen=True)
class Case:
    """The case the external system made (or what we know of it later)."""

    external_id: str
    external_url: str = ""
    status: str = ""
    is_closed: bool = False


class HandOffFailed(Exception):
    """The external system did not take the case; ``retryable`` says whether trying later can help."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Backend(Protocol):
    def case_create(self, *, config: dict[str, Any], secret: dict[str, Any], draft: CaseDraft) -> Case: ...

    def case_fetch(self, *, config: dict[str, Any], secret: dict[str, Any], external_id: str) -> Case | None:
        """The case's current status, or None when the system keeps no status we can read."""

    def connection_test(self, *, config: dict[str, Any], secret: dict[str, Any]) -> str:
        """A sentence saying the settings work; raises HandOffFailed saying why not."""
