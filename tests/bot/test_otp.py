import hashlib
import hmac
import re

import pytest

from bot.otp import (
    REFERENCE_ALPHABET,
    OtpKeyMissing,
    code_digest,
    code_matches,
    echo_key,
    new_code,
    new_reference,
    number_digest,
    otp_key,
)
from bot.settings import load_settings

KEY = b"test-otp-key-not-real"
LONG_SECRET = "otp-secret-for-tests-only-0123456789"


LINE_SECRET = "11" * 16  # made up, in LINE's form (32 hex)


def settings(**values):
    return load_settings(_env_file=None, **values)


def test_codes_are_six_random_digits():
    codes = {new_code() for _ in range(200)}
    assert all(re.fullmatch(r"\d{6}", c) for c in codes)
    assert len(codes) > 190  # random, not a counter or a constant


def test_references_avoid_look_alike_characters():
    refs = [new_reference() for _ in range(100)]
    assert all(len(r) == 4 and set(r) <= set(REFERENCE_ALPHABET) for r in refs)
    assert not set("".join(refs)) & set("01OI")


def test_digest_matches_only_the_same_code_for_the_same_request():
    digest = code_digest(KEY, "req1", "123456")
    assert "123456" not in digest
    assert code_matches(KEY, "req1", "123456", digest)
    assert not code_matches(KEY, "req1", "123457", digest)
    assert not code_matches(KEY, "req2", "123456", digest)      # bound to its request
    assert not code_matches(b"other-key", "req1", "123456", digest)


def test_number_digest_is_keyed_and_stable():
    a = number_digest(KEY, "0812345678")
    assert a == number_digest(KEY, "0812345678")
    assert a != number_digest(KEY, "0899999999")
    assert a != number_digest(b"other-key", "0812345678")
    assert "5678" not in a and a != hashlib.sha256(b"0812345678").hexdigest()[:32]


def test_otp_key_is_otp_secret():
    assert otp_key(settings(otp_secret=LONG_SECRET, line_channel_secret=LINE_SECRET)) == LONG_SECRET.encode()
    assert echo_key(settings(otp_secret=LONG_SECRET, line_channel_secret=LINE_SECRET)) == LONG_SECRET.encode()


def test_otp_key_never_falls_back_to_the_line_secret():
    with pytest.raises(OtpKeyMissing):
        otp_key(settings(line_channel_secret=LINE_SECRET))
    with pytest.raises(OtpKeyMissing):
        otp_key(settings())


def test_the_echo_key_alone_is_derived_from_the_line_secret_not_equal_to_it():
    key = echo_key(settings(line_channel_secret=LINE_SECRET))
    assert key != LINE_SECRET.encode()
    assert key == hmac.new(LINE_SECRET.encode(), b"hospital-line-bot/otp-key/v1", hashlib.sha256).digest()
    assert key != echo_key(settings(line_channel_secret="a" * 32))
    with pytest.raises(OtpKeyMissing):
        echo_key(settings())
