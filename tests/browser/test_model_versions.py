"""The model versions page in real Chromium under the Content-Security-Policy: an admin makes an older version
active after confirming, and the page follows a running training and reloads when it has finished."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import Page, expect

from foundation.models import DomainEvent
from routing import learning
from routing.models import ModelVersion
from routing.views import TRAINING_LOCK_KEY
from tests.browser.test_rules import sign_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]

# Runs before any of the page's own scripts, from outside the page (the policy does not apply to it).
WATCH_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def versions() -> None:
    trained = learning.trained_load(None)
    now = timezone.now()
    common = {"intent_state": trained.intent.dump_state(), "owner_state": trained.owner.dump()}
    ModelVersion.objects.create(
        number=1,
        promoted=True,
        held_back=3,
        examples={"history": 120, "corrections": 3, "intent_labels": 2},
        reason="nightly",
        created_at=now - timedelta(days=1),
        activated_at=now - timedelta(days=1),
        verdict=(
            "3 new corrections since the active version: too few to backtest on (at least 10); made active."
        ),
        **common,
    )
    ModelVersion.objects.create(
        number=2,
        is_active=True,
        promoted=True,
        held_back=14,
        held_back_accuracy=0.857,
        held_back_accuracy_active=0.714,
        temperature=1.2,
        examples={"history": 130, "corrections": 17, "intent_labels": 9, "escalations_accepted": 2},
        reason="corrections",
        created_at=now - timedelta(hours=2),
        activated_at=now - timedelta(hours=2),
        verdict=(
            "Owner accuracy 85.7% on the 14 newest corrections it was trained without; the active version "
            "got 71.4%: not worse, made active."
        ),
        **common,
    )


def test_an_admin_makes_an_older_version_active_and_sees_a_training_run(
    live_server, page: Page, screenshot
) -> None:
    reports: list[str] = []
    page.on("console", lambda m: reports.append(m.text) if m.type in {"error", "warning"} else None)
    page.on("pageerror", lambda e: reports.append(f"uncaught: {e}"))
    page.add_init_script(WATCH_VIOLATIONS)
    admin = UserFactory(username="ada", first_name="Ada", last_name="Lovelace", admin=True)
    sign_in(page.context, live_server.url, admin)
    versions()

    page.goto(f"{live_server.url}/routing/versions/")
    page.get_by_role("link", name="Model versions", exact=True).click()
    expect(page.get_by_role("heading", name="Model versions")).to_be_visible()
    expect(page.locator("#model-2")).to_contain_text("85.7% right on the 14 newest corrections")
    expect(page.locator("#model-2")).to_contain_text("Active")
    screenshot("model-versions")
    assert page.evaluate("window.cspViolations") == []  # each page load starts a new list

    page.locator("#model-1").get_by_role("link", name="Make active… version 1").click()
    expect(page.get_by_role("heading", name="Make model version 1 active?")).to_be_visible()
    assert page.evaluate("window.cspViolations") == []
    page.get_by_role("button", name="Make version 1 active").click()

    expect(page.get_by_role("status").first).to_contain_text("Version 1 is active")
    expect(page.locator("#model-1")).to_contain_text("by Ada Lovelace")
    assert list(ModelVersion.objects.filter(is_active=True).values_list("number", flat=True)) == [1]
    assert DomainEvent.objects.filter(verb="model.activated", actor=admin).count() == 1

    assert page.evaluate("window.cspViolations") == []
    cache.set(TRAINING_LOCK_KEY, "1", timeout=60)  # a worker is training
    page.reload()
    expect(page.locator("#model-training")).to_contain_text("A training is running now.")
    expect(page.get_by_role("button", name="Train now")).to_be_disabled()
    cache.delete(TRAINING_LOCK_KEY)  # it has finished: htmx's next poll reloads the page
    expect(page.get_by_role("button", name="Train now")).to_be_enabled(timeout=10_000)
    expect(page.locator("#model-training")).to_be_empty()

    assert page.evaluate("window.cspViolations") == []
    assert reports == []
