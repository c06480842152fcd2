"""The HTTP base every client stands on: timeouts, retries and their delays, typed errors, log lines.

Stubbed at the HTTP boundary: ``responses`` for answers, a real local socket for what
``responses`` cannot show (a server that never answers, a refused connection).
"""

from __future__ import annotations

import logging
import socket
import time

import pytest
import requests
import responses

from integrations import http
from integrations.errors import (
    AuthenticationError,
    InvalidRequestError,
    ProviderConnectionError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from integrations.http import DEFAULT_TIMEOUT, HttpClient, retry_after_seconds

BASE = "https://provider.test/api"
PHONE = "0812345678"  # made-up


class Client(HttpClient):
    provider = "test"


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(sleeps):
    return Client(BASE + "/", sleep=sleeps.append)


@pytest.fixture
def jitter(monkeypatch):
    """Record the bounds of every full-jitter draw and return the upper one (the longest delay)."""
    bounds = []

    def uniform(low, high):
        bounds.append((low, high))
        return high

    monkeypatch.setattr(http.random, "uniform", uniform)
    return bounds


# -- Retry-After ---------------------------------------------------------------------------------
@pytest.mark.parametrize("value, seconds", [("7", 7.0), ("2.5", 2.5), ("0", 0.0), ("-3", 0.0), ("-0.5", 0.0)])
def test_retry_after_in_seconds_never_negative(value, seconds):
    assert retry_after_seconds({"Retry-After": value}) == seconds


@pytest.mark.parametrize("headers", [{}, {"Retry-After": ""}, {"Retry-After": "Wed, 21 Oct 2025 07:28:00 GMT"}])
def test_retry_after_absent_empty_or_a_date_is_unknown(headers):
    assert retry_after_seconds(headers) is None


# -- defaults and URLs -----------------------------------------------------------------------------
def test_defaults_every_request_has_a_connect_and_a_read_timeout():
    client = HttpClient("https://x.test")
    assert DEFAULT_TIMEOUT == (3.05, 15.0)
    assert (client.timeout, client.max_retries, client.backoff) == ((3.05, 15.0), 2, 0.25)


def test_urls_join_the_base_without_double_slashes():
    client = HttpClient("https://x.test/api//")
    assert client.base_url == "https://x.test/api"
    assert client.url("/v1/items") == "https://x.test/api/v1/items"
    assert client.url("v1/items") == "https://x.test/api/v1/items"
    assert client.url("https://token.test/token") == "https://token.test/token"
    assert client.url("http://plain.test/x") == "http://plain.test/x"


def test_the_session_pools_connections_and_leaves_retries_to_us():
    session = HttpClient("https://x.test").session
    for scheme in ("https://", "http://"):
        adapter = session.adapters[scheme]
        assert adapter.max_retries.total == 0
        assert adapter.poolmanager.connection_pool_kw["maxsize"] == 16
        assert adapter._pool_connections == 4  # pools kept (one per provider host, a few hosts each)


# -- what is sent ----------------------------------------------------------------------------------
@responses.activate
def test_sends_accept_json_auth_and_caller_headers_with_the_timeout(client):
    class Authed(Client):
        def auth_headers(self):
            return {"Authorization": "Bearer t", "Accept": "text/plain"}

    responses.get(f"{BASE}/v1/a", json={"ok": 1})
    assert Client(BASE).json("GET", "/v1/a") == {"ok": 1}
    assert responses.calls[0].request.headers["Accept"] == "application/json"
    assert responses.calls[0].request.req_kwargs["timeout"] == DEFAULT_TIMEOUT

    responses.post(f"{BASE}/v1/b", json={})
    Authed(BASE, timeout=(1.0, 2.0)).request("post", "/v1/b", headers={"X-Trace": "1"})
    sent = responses.calls[1].request
    assert sent.method == "POST"
    assert (sent.headers["Authorization"], sent.headers["Accept"], sent.headers["X-Trace"]) == \
        ("Bearer t", "text/plain", "1")
    assert sent.req_kwargs["timeout"] == (1.0, 2.0)


def test_a_server_that_never_answers_times_out(silent_server, sleeps):
    client = Client(silent_server, timeout=(1.0, 0.2), max_retries=0, sleep=sleeps.append)
    started = time.monotonic()
    with pytest.raises(ProviderConnectionError, match=r"^\[test\] ReadTimeout calling /v1/slow$") as caught:
        client.request("GET", "/v1/slow")
    assert time.monotonic() - started < 2  # the 0.2 s read timeout, not the server hanging up at 3 s
    assert caught.value.may_have_reached is True
    assert caught.value.provider == "test"


def test_a_refused_connection_is_retried_even_for_a_post(sleeps, jitter):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]  # nothing listens once it is closed
    client = Client(f"http://127.0.0.1:{port}", timeout=(1.0, 1.0), sleep=sleeps.append)
    with pytest.raises(ProviderConnectionError, match=r"^\[test\] ConnectionError calling /v1/send$") as caught:
        client.request("POST", "/v1/send?key=secret", json={"to": PHONE})
    assert caught.value.may_have_reached is False
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert sleeps == [0.25, 0.5]  # it surely never left, so two retries, with backoff


# -- connection failures and their retries --------------------------------------------------------
@responses.activate
def test_connection_error_without_arguments_may_have_reached_so_a_post_is_not_repeated(client, sleeps):
    responses.post(f"{BASE}/v1/send", body=requests.ConnectionError())
    with pytest.raises(ProviderConnectionError, match=r"^\[test\] ConnectionError calling /v1/send$") as caught:
        client.request("POST", "/v1/send")
    assert caught.value.may_have_reached is True
    assert (len(responses.calls), sleeps) == (1, [])


@responses.activate
def test_a_post_with_an_idempotency_key_is_repeated_after_a_read_timeout(client, sleeps, jitter):
    responses.post(f"{BASE}/v1/send", body=requests.ReadTimeout())
    with pytest.raises(ProviderConnectionError, match=r"^\[test\] ReadTimeout calling /v1/send$"):
        client.request("POST", "/v1/send", idempotent=True)
    assert len(responses.calls) == 3
    assert sleeps == [0.25, 0.5]


@responses.activate
def test_connect_timeout_is_known_not_to_have_reached(client, sleeps, jitter):
    responses.post(f"{BASE}/v1/send", body=requests.ConnectTimeout())
    with pytest.raises(ProviderConnectionError, match=r"^\[test\] ConnectTimeout calling /v1/send$") as caught:
        client.request("POST", "/v1/send")
    assert caught.value.may_have_reached is False
    assert len(responses.calls) == 3


@responses.activate
def test_backoff_is_full_jitter_doubling_from_the_base(sleeps, jitter):
    responses.get(f"{BASE}/v1/a", status=503)
    client = Client(BASE, max_retries=4, backoff=0.5, sleep=sleeps.append)
    with pytest.raises(ServerError):
        client.request("GET", "/v1/a")
    assert jitter == [(0, 0.5), (0, 1.0), (0, 2.0), (0, 4.0)]
    assert sleeps == [0.5, 1.0, 2.0, 4.0]
    assert len(responses.calls) == 5


@responses.activate
def test_real_jitter_stays_within_its_bounds(client, sleeps):
    responses.get(f"{BASE}/v1/a", status=502)
    with pytest.raises(ServerError):
        client.request("GET", "/v1/a")
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.25 and 0 <= sleeps[1] <= 0.5


# -- answers ---------------------------------------------------------------------------------------
@responses.activate
@pytest.mark.parametrize("value, slept", [("0", 0.0), ("-2", 0.0), ("5", 5.0)])
def test_a_short_retry_after_is_slept_on_exactly(client, sleeps, value, slept):
    responses.get(f"{BASE}/v1/a", status=429, headers={"Retry-After": value})
    responses.get(f"{BASE}/v1/a", json={"ok": True})
    assert client.json("GET", "/v1/a") == {"ok": True}
    assert sleeps == [slept]


@responses.activate
def test_a_long_retry_after_is_left_to_the_job(client, sleeps):
    responses.get(f"{BASE}/v1/a", status=429, headers={"Retry-After": "5.5", "X-Request-Id": "req-1"})
    with pytest.raises(RateLimitError) as caught:
        client.request("GET", "/v1/a")
    assert (caught.value.retry_after, caught.value.request_id, caught.value.status) == (5.5, "req-1", 429)
    assert (len(responses.calls), sleeps) == (1, [])


@responses.activate
def test_a_failed_post_is_not_repeated_and_ok_statuses_are_answers(client, sleeps):
    responses.post(f"{BASE}/v1/send", status=503)
    with pytest.raises(ServerError):
        client.request("POST", "/v1/send")
    assert (len(responses.calls), sleeps) == (1, [])
    responses.get(f"{BASE}/v1/gone", status=404)
    assert client.request("GET", "/v1/gone", ok_statuses=(404,)).status_code == 404


@responses.activate
def test_json_of_an_empty_body_is_none_and_of_a_non_json_body_an_error(client):
    responses.delete(f"{BASE}/v1/a", status=204)
    assert client.json("DELETE", "/v1/a") is None
    responses.get(f"{BASE}/v1/b", body="<html>proxy</html>", status=200)
    with pytest.raises(InvalidRequestError, match=r"^\[test 200\] answer is not JSON$") as caught:
        client.json("GET", "/v1/b")
    assert (caught.value.status, caught.value.message) == (200, "answer is not JSON")
    assert isinstance(caught.value.__cause__, ValueError)


# -- the shared parse_error ------------------------------------------------------------------------
@responses.activate
@pytest.mark.parametrize("body, message, code", [
    ({"message": "bad field", "code": 17}, "bad field", "17"),
    ({"error": "no such thing"}, "no such thing", None),
    ({"message": "", "error": "fallback"}, "fallback", None),
    ({"code": 0}, "HTTP 400", "0"),
    (["not", "an", "object"], "HTTP 400", None),
    ({"message": f"number {PHONE} is blocked"}, "number …5678 is blocked", None),
    ({"message": "x" * 400}, "x" * 300, None),
])
def test_default_parse_error_reads_message_error_and_code(client, body, message, code):
    responses.post(f"{BASE}/v1/a", json=body, status=400)
    with pytest.raises(InvalidRequestError) as caught:
        client.request("POST", "/v1/a")
    assert (caught.value.message, caught.value.code, caught.value.status) == (message, code, 400)
    assert caught.value.provider == "test"


@responses.activate
def test_default_parse_error_of_a_non_json_body_names_the_status(client):
    responses.post(f"{BASE}/v1/a", body="Bad Gateway", status=502,
                   headers={"x-line-request-id": "line-7", "Retry-After": "30"})
    with pytest.raises(ServerError, match=r"^\[test 502\] HTTP 502$") as caught:
        client.request("POST", "/v1/a")
    assert (caught.value.request_id, caught.value.retry_after, caught.value.code) == ("line-7", 30.0, None)


@pytest.mark.parametrize("headers, request_id", [
    ({"X-Request-Id": "abc"}, "abc"),
    ({"x-line-request-id": "line-1"}, "line-1"),
    ({"X-Request-Id": "abc", "x-line-request-id": "line-1"}, "abc"),
    ({}, None),
    (None, None),
])
def test_error_takes_the_request_id_from_either_header(headers, request_id):
    error = Client(BASE).error(401, "denied", headers=headers)
    assert type(error) is AuthenticationError
    assert (error.request_id, error.provider, error.status, error.retry_after) == (request_id, "test", 401, None)


def test_error_without_a_status_is_a_plain_provider_error_with_numbers_masked():
    error = Client(BASE).error(None, f"phone {PHONE}", code="E1", headers={"Retry-After": "3"})
    assert type(error) is ProviderError
    assert (str(error), error.retry_after) == ("[test E1] phone …5678", 3.0)
    assert type(Client(BASE).error(500, "x", cls=RateLimitError)) is RateLimitError


# -- log lines -------------------------------------------------------------------------------------
@responses.activate
def test_log_lines_name_the_path_without_query_or_numbers(client, caplog, sleeps):
    responses.get(f"{BASE}/v1/users/{PHONE}", status=503)
    responses.get(f"{BASE}/v1/users/{PHONE}", json={})
    with caplog.at_level(logging.INFO, logger="integrations.http"):
        client.request("GET", f"/v1/users/{PHONE}?token=secret-token&next=/x?y=1")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert all(PHONE not in line and "secret-token" not in line and "?" not in line for line in lines)
    assert lines[0].startswith("test GET /v1/users/…5678 -> 503 in ") and lines[0].endswith(" ms")
    assert lines[1].startswith("test GET /v1/users/…5678 -> 200 in ") and lines[1].endswith(" ms (attempt 2)")


def test_where_keeps_only_the_path():
    client = Client(BASE)
    assert client._where(f"/v1/a/{PHONE}?user=x?y") == "/v1/a/…5678"
    assert client._where("/v1/a token?x=1") == "/v1/a token"
