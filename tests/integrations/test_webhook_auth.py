"""The shared webhook verifiers: a secret token, and a timestamped HMAC with rotation and a freshness window."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pydantic import SecretStr

from integrations.webhook_auth import (
    DEFAULT_TOLERANCE_SECONDS,
    WebhookSignatureError,
    token_matches,
    verify_timestamped_hmac,
)

NOW = 1_700_000_000
BODY = b'{"event":"delivered"}'


def signature(secret: str, timestamp, body: bytes = BODY) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def refusal(**kwargs) -> tuple[str, str]:
    arguments = {"raw_body": BODY, "timestamp": NOW, "signatures": [signature("old", NOW)],
                 "secrets": ["old"], "now": NOW, **kwargs}
    with pytest.raises(WebhookSignatureError) as caught:
        verify_timestamped_hmac(**arguments)
    return caught.value.reason, str(caught.value)


# -- tokens --------------------------------------------------------------------------------------
def test_a_token_matches_any_configured_secret_plain_or_secretstr():
    assert token_matches("new-token", ["old-token", SecretStr("new-token")]) is True
    assert token_matches("old-token", [SecretStr("old-token"), None, ""]) is True


@pytest.mark.parametrize("given, secrets", [
    ("wrong", ["old-token", "new-token"]),
    ("old-toke", ["old-token"]),
    ("", ["", None]),
    (None, ["old-token"]),
    ("", ["old-token"]),
    ("anything", []),
    ("anything", [None, "", SecretStr("")]),
])
def test_a_token_does_not_match_otherwise(given, secrets):
    assert token_matches(given, secrets) is False


# -- timestamped HMAC ------------------------------------------------------------------------------
def test_a_fresh_signature_under_any_secret_passes():
    assert verify_timestamped_hmac(BODY, NOW, [signature("new", NOW)], ["old", SecretStr("new")], NOW) is None
    assert verify_timestamped_hmac(BODY, str(NOW), ["junk", signature("old", NOW)], ["old"], NOW) is None


def test_signatures_are_read_case_and_space_insensitively():
    sig = signature("old", NOW)
    assert verify_timestamped_hmac(BODY, f" {NOW} ", [f"  {sig.upper()} "], ["old"], NOW) is None


@pytest.mark.parametrize("secrets", [[], [None, ""], [SecretStr("")]])
def test_without_a_secret_nothing_passes(secrets):
    assert refusal(secrets=secrets) == ("no_secret", "no webhook secret configured")


@pytest.mark.parametrize("timestamp", [None, "", "  "])
def test_a_missing_timestamp_is_malformed(timestamp):
    assert refusal(timestamp=timestamp) == ("malformed", "signature timestamp missing")


@pytest.mark.parametrize("timestamp", ["abc", "12a", "-5", "1.5", "²", "١٢٣", "1" * 13, "9" * 5000])
def test_a_timestamp_that_is_no_unix_time_is_a_bad_timestamp_even_when_signed(timestamp):
    """A signed 5,000-digit timestamp once reached ``int()`` (over 4,300 digits: ValueError, a 500)."""
    signed = hmac.new(b"old", f"{timestamp}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert refusal(timestamp=timestamp, signatures=[signed]) == (
        "bad_timestamp", "signature timestamp is not unix seconds")


@pytest.mark.parametrize("signatures", [
    [],
    [None, ""],
    [signature("other", NOW)],
    [signature("old", NOW + 1)],                     # signed for another moment
    [signature("old", NOW, b"{}")],                  # signed for another body
    [signature("old", NOW)[:-1]],
    ["é" + signature("old", NOW)[1:]],               # not ASCII: skipped, not compared
])
def test_a_wrong_signature_is_a_mismatch(signatures):
    assert refusal(signatures=signatures) == ("mismatch", "signature does not match")


def test_the_signature_covers_timestamp_dot_body():
    expected = hmac.new(b"old", b"%d.%s" % (NOW, BODY), hashlib.sha256).hexdigest()
    assert verify_timestamped_hmac(BODY, NOW, [expected], ["old"], NOW) is None


@pytest.mark.parametrize("age, outcome", [
    (DEFAULT_TOLERANCE_SECONDS, None),
    (DEFAULT_TOLERANCE_SECONDS + 1, ("too_old", "signature timestamp is too old")),
    (-DEFAULT_TOLERANCE_SECONDS, None),
    (-DEFAULT_TOLERANCE_SECONDS - 1, ("in_future", "signature timestamp is in the future")),
])
def test_the_timestamp_must_be_within_five_minutes_either_way(age, outcome):
    assert DEFAULT_TOLERANCE_SECONDS == 300
    moment = NOW - age
    arguments = {"raw_body": BODY, "timestamp": moment, "signatures": [signature("old", moment)],
                 "secrets": ["old"], "now": NOW}
    if outcome is None:
        assert verify_timestamped_hmac(**arguments) is None
    else:
        assert refusal(**arguments) == outcome


def test_the_tolerance_can_be_narrowed():
    moment = NOW - 61
    assert refusal(timestamp=moment, signatures=[signature("old", moment)], tolerance=60)[0] == "too_old"
    assert verify_timestamped_hmac(BODY, moment, [signature("old", moment)], ["old"], NOW, tolerance=61) is None


def test_an_old_timestamp_with_a_wrong_signature_is_a_mismatch_first():
    assert refusal(timestamp=NOW - 10_000, signatures=["0" * 64]) == ("mismatch", "signature does not match")
