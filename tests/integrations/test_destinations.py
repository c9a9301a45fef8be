"""SSRF: no request to loopback, private, link-local, multicast or reserved addresses unless allowed."""

from __future__ import annotations

import pytest

from integrations.destinations import DestinationRefused, destination_check

PUBLIC = "93.184.215.14"  # an address on the public internet (example.com's), given literally: no DNS needed


@pytest.fixture(autouse=True)
def _private_refused(settings) -> None:
    settings.SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE = False


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:8000/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://192.168.0.10/hook", "private"),
        ("http://172.16.5.5/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://240.0.0.1/hook", "reserved"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://100.64.0.1/hook", "not a public address"),
    ],
)
def test_a_url_resolving_to_a_non_public_address_is_refused(url, words):
    with pytest.raises(DestinationRefused, match=words):
        destination_check(url)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/hook", "https:// or http://"),
        ("file:///etc/passwd", "https:// or http://"),
        ("https:///hook", "no host"),
        (f"https://user:pw@{PUBLIC}/hook", "user name or password"),
        ("https://no-such-host.invalid/hook", "does not resolve"),
    ],
)
def test_a_url_that_is_not_a_plain_web_address_is_refused(url, words):
    with pytest.raises(DestinationRefused, match=words):
        destination_check(url)


def test_a_public_address_is_allowed_and_pinned():
    destination = destination_check(f"https://{PUBLIC}/hooks/in?x=1")

    assert destination.address == PUBLIC
    assert destination.port == 443
    assert destination.pinned_url == f"https://{PUBLIC}:443/hooks/in?x=1"


def test_the_setting_allows_private_addresses(settings):
    settings.SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE = True

    destination = destination_check("http://127.0.0.1:9/hook")

    assert destination.address == "127.0.0.1"
    assert destination.pinned_url == "http://127.0.0.1:9/hook"
