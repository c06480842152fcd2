"""LineClient against a local LINE stand-in (line-bot-sdk speaks urllib3): what is sent, the reply → push
fallback, LINE's errors as typed errors, and a timeout on every call."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid

import pytest
from werkzeug import Response

from integrations.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    ProviderConnectionError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from integrations.line import (
    RETRY_KEY_NAMESPACE,
    ContentTooLarge,
    LineClient,
    reply_token_problem,
    retry_key_for,
    token_refused,
)
from tests.conftest import make_settings
from tests.support import ACCESS_TOKEN as TOKEN  # a made-up token in LINE's form, as the settings want

USER = "U" + "e" * 32
MESSAGES = [{"type": "text", "text": "สวัสดีค่ะ"}]
REPLY, PUSH, LOADING = "/v2/bot/message/reply", "/v2/bot/message/push", "/v2/bot/chat/loading/start"


@pytest.fixture
def line(httpserver):
    return LineClient(TOKEN, base_url=httpserver.url_for("/"), data_base_url=httpserver.url_for("/"), timeout=5)


def answer(httpserver, path, status, body=None, headers=None):
    payload = json.dumps(body if body is not None else {}).encode()
    httpserver.expect_request(path, method="POST").respond_with_response(
        Response(payload, status=status, headers=headers or {}, content_type="application/json"))


def sent(httpserver, path):
    return [request for request, _ in httpserver.log if request.path == path]


# -- retry keys ------------------------------------------------------------------------------------
def test_retry_keys_are_the_same_uuid_for_the_same_parts():
    assert retry_key_for("a", "b") == retry_key_for("a", "b") == str(uuid.uuid5(RETRY_KEY_NAMESPACE, "a:b"))
    assert retry_key_for("a", "b") != retry_key_for("a:b", "") and retry_key_for("ab") != retry_key_for("a", "b")
    assert str(RETRY_KEY_NAMESPACE) == "5f0c6f3e-3b1e-4c55-9a53-0e6a1b1c9d2a"  # changing it would repeat pushes


def test_each_hospitals_retry_keys_are_its_own_and_the_implicit_hospitals_are_todays():
    # Two LiveDesk accounts both have a message #3005: hospital B's push of it is not a repeat of A's.
    assert retry_key_for("agent", "3005", prefix="h:a:") != retry_key_for("agent", "3005", prefix="h:b:")
    assert retry_key_for("agent", "3005", prefix="") == str(uuid.uuid5(RETRY_KEY_NAMESPACE, "agent:3005"))


# -- settings --------------------------------------------------------------------------------------
def test_from_settings_uses_the_token_hosts_and_timeout(redis_server, httpserver):
    settings = make_settings(redis_server, httpserver, line_timeout_seconds=7)
    client = LineClient.from_settings(settings)
    assert client.timeout == 7
    answer(httpserver, REPLY, 200)
    client.reply("r1", MESSAGES)
    assert sent(httpserver, REPLY)[0].headers["Authorization"] == f"Bearer {TOKEN}"
    config = client._api.api_client.configuration
    assert (config.host, config.retries) == (httpserver.url_for("/").rstrip("/"), 0)
    other = LineClient.from_settings(make_settings(redis_server, line_data_api_base_url="http://data.test/"))
    assert other._blob.api_client.configuration.host == "http://data.test"


def test_from_settings_without_a_token_says_which_setting(redis_server):
    settings = make_settings(redis_server, line_channel_access_token=None)
    with pytest.raises(RuntimeError, match=r"^LINE_CHANNEL_ACCESS_TOKEN is not set$"):
        LineClient.from_settings(settings)


def test_the_default_timeout_and_hosts():
    client = LineClient(TOKEN)
    assert client.timeout == 10.0
    assert client._api.api_client.configuration.host == "https://api.line.me"
    assert client._blob.api_client.configuration.host == "https://api-data.line.me"


# -- what is sent ----------------------------------------------------------------------------------
def test_reply_and_push_send_json_with_the_token_and_the_retry_key(line, httpserver):
    answer(httpserver, REPLY, 200, {"sentMessages": []})
    answer(httpserver, PUSH, 200, {"sentMessages": []})
    line.reply("token-1", MESSAGES)
    line.push(USER, MESSAGES, retry_key="key-1")
    reply, push = sent(httpserver, REPLY)[0], sent(httpserver, PUSH)[0]
    assert reply.get_json() == {"replyToken": "token-1", "messages": MESSAGES}
    assert push.get_json() == {"to": USER, "messages": MESSAGES}
    for request in (reply, push):
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["Accept"] == "application/json"
    assert push.headers["X-Line-Retry-Key"] == "key-1"
    assert "X-Line-Retry-Key" not in reply.headers


def test_a_repeated_push_that_line_already_accepted_is_done(line, httpserver, caplog):
    answer(httpserver, PUSH, 409, {"message": "The retry key is already accepted"})
    with caplog.at_level(logging.INFO, logger="integrations.line"):
        assert line.push(USER, MESSAGES, retry_key="key-1") is None
    assert USER not in caplog.text


def test_another_push_failure_is_raised(line, httpserver):
    answer(httpserver, PUSH, 400, {"message": "The property, 'to', in the request body is invalid"})
    with pytest.raises(InvalidRequestError, match=r"^\[line 400\] LINE push: The property, 'to', in the request"):
        line.push(USER, MESSAGES, retry_key="key-1")


# -- which reply failures a push may follow (workers/line/events.py decides with these) ---------------
def test_a_good_reply_token_is_replied_to(line, httpserver):
    answer(httpserver, REPLY, 200)
    line.reply("r1", MESSAGES)
    assert sent(httpserver, REPLY)[0].get_json() == {"replyToken": "r1", "messages": MESSAGES}
    assert "X-Line-Retry-Key" not in sent(httpserver, REPLY)[0].headers  # reply refuses the key


@pytest.mark.parametrize("status, body, push_may_follow, refused", [
    (400, {"message": "Invalid reply token"}, True, True),
    (500, {"message": "internal"}, True, False),
    (429, {"message": "Too many requests"}, True, False),
    (400, {"message": "The request body has 1 error(s)"}, False, False),  # our messages: a push fails too
])
def test_reply_failures_are_classified(line, httpserver, status, body, push_may_follow, refused):
    answer(httpserver, REPLY, status, body)
    with pytest.raises(ProviderError) as caught:
        line.reply("r1", MESSAGES)
    assert reply_token_problem(caught.value) is push_may_follow
    assert token_refused(caught.value) is refused


# -- the loading animation -------------------------------------------------------------------------
@pytest.mark.parametrize("asked, sent_seconds", [(0, 5), (1, 5), (5, 5), (6, 10), (59, 60), (60, 60), (61, 60)])
def test_loading_seconds_are_a_multiple_of_five_from_5_to_60(line, httpserver, asked, sent_seconds):
    answer(httpserver, LOADING, 202)
    line.show_loading(USER, asked)
    assert sent(httpserver, LOADING)[0].get_json() == {"chatId": USER, "loadingSeconds": sent_seconds}


def test_loading_defaults_to_five_seconds_and_never_raises(line, httpserver):
    answer(httpserver, LOADING, 500, {"message": "down"})
    assert line.show_loading(USER) is None
    assert sent(httpserver, LOADING)[0].get_json()["loadingSeconds"] == 5


# -- LINE's errors -------------------------------------------------------------------------------
def test_errors_carry_status_request_id_and_retry_after_whatever_the_header_case(line, httpserver):
    answer(httpserver, PUSH, 429, {"message": "Too many requests"},
           headers={"x-line-request-id": "req-123", "retry-after": "7"})
    with pytest.raises(RateLimitError, match=r"^\[line 429\] LINE push: Too many requests$") as caught:
        line.push(USER, MESSAGES, retry_key="k")
    assert (caught.value.status, caught.value.request_id, caught.value.retry_after) == (429, "req-123", 7.0)
    assert caught.value.provider == "line"


def test_the_monthly_push_limit_is_not_worth_retrying(line, httpserver):
    answer(httpserver, PUSH, 429, {"message": "You have reached your monthly limit."})
    with pytest.raises(InvalidRequestError) as caught:
        line.push(USER, MESSAGES, retry_key="k")
    assert type(caught.value) is InvalidRequestError and caught.value.status == 429


@pytest.mark.parametrize("status, body, cls, message", [
    (401, b'{"message": "Authentication failed"}', AuthenticationError, "LINE push: Authentication failed"),
    (409, b"{}", ConflictError, "LINE push: CONFLICT"),
    (503, b"<html>unavailable</html>", ServerError, "LINE push: SERVICE UNAVAILABLE"),
    (500, b'["a list"]', ServerError, "LINE push: INTERNAL SERVER ERROR"),
    (None, None, ServerError, "LINE push: no status"),
    (400, json.dumps({"message": "user 0812345678 " + "x" * 400}).encode(), InvalidRequestError,
     ("LINE push: user …5678 " + "x" * 400)[:300]),
])
def test_error_messages_come_from_the_body_or_the_reason_masked_and_short(line, status, body, cls, message):
    from linebot.v3.messaging import ApiException

    exc = ApiException(status=status, reason=message.split(": ", 1)[1] if b"message" not in (body or b"") else "Bad")
    exc.body = body
    exc.headers = None
    error = line._error("push", exc)
    assert type(error) is cls
    assert (error.message, error.status, error.retry_after, error.request_id) == (message, status, None, None)
    assert len(error.message) <= 300


def test_an_answer_the_sdk_cannot_read_is_not_quoted(line, httpserver):
    httpserver.expect_request(f"/v2/bot/profile/{USER}").respond_with_json({"displayName": ["Somchai"]})
    with pytest.raises(ProviderError, match=r"^\[line\] LINE profile: answer not understood$") as caught:
        line.profile(USER)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_failure_of_our_own_is_not_dressed_as_a_provider_error(line, httpserver):
    with pytest.raises(AttributeError):
        line.reply("r1", [{"type": "text", "text": object()}])  # the SDK cannot serialise it: our bug, nothing sent
    assert sent(httpserver, REPLY) == []


def test_profile_bot_info_and_content(line, httpserver):
    httpserver.expect_request(f"/v2/bot/profile/{USER}").respond_with_json(
        {"displayName": "Somchai", "userId": USER, "language": "th"})
    httpserver.expect_request("/v2/bot/info").respond_with_json(
        {"userId": "U" + "0" * 32, "basicId": "@000test", "displayName": "Hospital", "chatMode": "bot",
         "markAsReadMode": "auto"})
    httpserver.expect_request("/v2/bot/message/m1/content").respond_with_data(b"\x89PNG", content_type="image/png")
    assert line.profile(USER)["displayName"] == "Somchai"
    assert line.bot_info()["basicId"] == "@000test"
    assert line.message_content("m1", max_bytes=4) == (b"\x89PNG", "image/png")
    untyped = Response(b"raw")
    del untyped.headers["Content-Type"]
    httpserver.expect_request("/v2/bot/message/m2/content").respond_with_response(untyped)
    assert line.message_content("m2", max_bytes=100) == (b"raw", "application/octet-stream")


def test_errors_name_the_call(line, httpserver):
    httpserver.expect_request("/v2/bot/info").respond_with_json({"message": "down"}, status=500)
    httpserver.expect_request("/v2/bot/message/m1/content").respond_with_json({"message": "gone"}, status=404)
    with pytest.raises(ServerError, match=r"^\[line 500\] LINE bot_info: down$"):
        line.bot_info()
    with pytest.raises(ProviderError, match=r"^\[line 404\] LINE content: gone$"):
        line.message_content("m1", max_bytes=100)


# -- media: streamed, with a byte cap ---------------------------------------------------------------------
class MediaServer:
    """LINE's content endpoint serving an endless file (a raw socket: it counts what it could send), with
    or without a ``Content-Length``. ``sent``: the body bytes the socket took before the client hung up."""

    def __init__(self, declared: int | None):
        self.declared = declared
        self.sent = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.settimeout(10)
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(4096)
            length = f"Content-Length: {self.declared}\r\n" if self.declared is not None else ""
            connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\n{length}Connection: close\r\n\r\n"
                               .encode())
            chunk = b"\0" * 65536
            try:
                while self.declared is None or self.sent < self.declared:
                    connection.sendall(chunk)
                    self.sent += len(chunk)
            except OSError:
                pass  # the client hung up

    def close(self) -> None:
        self.listener.close()
        self.thread.join(10)


@pytest.fixture
def media_server(request):
    server = MediaServer(request.param)
    yield server
    server.close()


@pytest.mark.parametrize("media_server", [300 * 1024 * 1024], indirect=True)
def test_media_over_its_content_length_is_refused_before_the_body_is_read(media_server):
    """A 300 MB video was downloaded whole before the 20 MB check (the worker went from 174 to 486 MB)."""
    line = LineClient(TOKEN, base_url=media_server.url, data_base_url=media_server.url, timeout=5)
    started = time.monotonic()
    with pytest.raises(ContentTooLarge) as caught:
        line.message_content("m1", max_bytes=20 * 1024 * 1024)
    assert caught.value.declared == 300 * 1024 * 1024
    assert time.monotonic() - started < 3
    media_server.close()
    assert media_server.sent < 20 * 1024 * 1024  # what sat in socket buffers, unread


@pytest.mark.parametrize("media_server", [None], indirect=True)
def test_media_without_a_length_is_cut_off_at_the_cap(media_server):
    line = LineClient(TOKEN, base_url=media_server.url, data_base_url=media_server.url, timeout=5)
    with pytest.raises(ContentTooLarge) as caught:
        line.message_content("m1", max_bytes=1024 * 1024)
    assert caught.value.declared is None
    media_server.close()
    assert media_server.sent < 16 * 1024 * 1024  # the cap, a chunk and the socket buffers: not the endless rest


# -- no answer -------------------------------------------------------------------------------------
def test_every_call_has_a_timeout(silent_server):
    line = LineClient(TOKEN, base_url=silent_server, data_base_url=silent_server, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(ProviderConnectionError, match=r"^\[line\] ReadTimeoutError calling LINE reply$") as caught:
        line.reply("r1", MESSAGES)
    assert time.monotonic() - started < 2  # the 0.3 s timeout, not the server hanging up at 3 s
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(ProviderConnectionError, match=r"^\[line\] MaxRetryError calling LINE profile$"):
        line.profile(USER)
    assert time.monotonic() - started < 4


def test_a_refused_connection_is_a_connection_error():
    line = LineClient(TOKEN, base_url="http://127.0.0.1:9", timeout=1)
    with pytest.raises(ProviderConnectionError, match=r"^\[line\] MaxRetryError calling LINE push$"):
        line.push(USER, MESSAGES, retry_key="k")
