"""Signatures as receivers check them: HMAC-SHA256 over "<timestamp>.<body>", one v1 per valid secret."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from integrations.signing import (
    SignatureInvalid,
    signature_compute,
    signature_header,
    signature_verify,
    webhook_secret_generate,
)

BODY = b'{"version":1,"id":7,"type":"mention.closed"}'
NOW = 1_800_000_000


def test_the_signature_is_the_hex_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(b"whsec_abc", b"1800000000." + BODY, hashlib.sha256).hexdigest()

    assert signature_compute(secret="whsec_abc", timestamp=NOW, body=BODY) == expected
    assert signature_header(secrets_=["whsec_abc"], timestamp=NOW, body=BODY) == f"t={NOW},v1={expected}"


def test_a_receiver_accepts_the_signature_and_gets_its_timestamp():
    header = signature_header(secrets_=["whsec_abc"], timestamp=NOW, body=BODY)

    assert signature_verify(header=header, body=BODY, secret="whsec_abc", now=NOW + 10) == NOW


def test_during_a_rotation_either_secret_verifies():
    header = signature_header(secrets_=["whsec_new", "whsec_old"], timestamp=NOW, body=BODY)

    assert header.count("v1=") == 2
    assert signature_verify(header=header, body=BODY, secret="whsec_new", now=NOW) == NOW
    assert signature_verify(header=header, body=BODY, secret="whsec_old", now=NOW) == NOW


@pytest.mark.parametrize(
    ("header", "body", "secret", "now"),
    [
        (signature_header(secrets_=["whsec_abc"], timestamp=NOW, body=BODY), BODY + b" ", "whsec_abc", NOW),
        (signature_header(secrets_=["whsec_abc"], timestamp=NOW, body=BODY), BODY, "whsec_other", NOW),
        (signature_header(secrets_=["whsec_abc"], timestamp=NOW, body=BODY), BODY, "whsec_abc", NOW + 301),
        (f"t={NOW}", BODY, "whsec_abc", NOW),
        ("v1=00", BODY, "whsec_abc", NOW),
        ("", BODY, "whsec_abc", NOW),
    ],
    ids=["tampered body", "wrong secret", "too old", "no signature", "no timestamp", "empty"],
)
def test_a_receiver_refuses(header, body, secret, now):
    with pytest.raises(SignatureInvalid):
        signature_verify(header=header, body=body, secret=secret, now=now)


def test_secrets_are_long_random_and_prefixed():
    first, second = webhook_secret_generate(), webhook_secret_generate()

    assert first.startswith("whsec_")
    assert len(first) == len("whsec_") + 43
    assert first != second
