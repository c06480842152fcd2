"""Request bodies are read whole before Flask: capped (413 also when chunked) and against a deadline (408).

What the real server does with a slow or chunked body is in tests/faults/test_slow_clients.py; here the
Flask app gets what gunicorn gives it for a chunked body: no Content-Length, ``wsgi.input_terminated``.
"""

from __future__ import annotations

import io
import json

import gevent

from handlers.request_body import ReadBodyFirst
from tests.support import sign, text_event

CHUNKED = {"wsgi.input_terminated": True}


def post_chunked(client, body: bytes):
    return client.post("/callback", input_stream=io.BytesIO(body), environ_overrides=CHUNKED,
                       headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked",
                                "X-Line-Signature": sign(body)})


def test_a_chunked_body_over_the_limit_is_413_not_cut_and_400(client, redis, settings):
    body = json.dumps({"events": [], "pad": "x" * settings.max_webhook_bytes}).encode()
    response = post_chunked(client, body)
    assert response.status_code == 413 and "error" in response.get_json()
    assert client.get("/healthz").status_code == 200


def test_a_chunked_body_under_the_limit_is_read_whole(client, redis):
    body = json.dumps({"destination": "U" + "0" * 32, "events": [text_event("เปิดกี่โมง")]}).encode()
    response = post_chunked(client, body)
    assert response.status_code == 200 and response.get_json()["queued"] == 1


def test_a_body_ending_before_its_content_length_is_400(client, redis):
    response = client.post("/callback", data=b'{"events": []}', environ_overrides={"CONTENT_LENGTH": "500"},
                           headers={"Content-Type": "application/json", "X-Line-Signature": sign(b"x")})
    assert response.status_code == 400 and "Content-Length" in response.get_json()["error"]


class Trickle(io.RawIOBase):
    """A client's body arriving one byte every 0.1 s (a cooperative wait, as under the gevent worker)."""

    def read(self, size=-1):
        gevent.sleep(0.1)
        return b" "


def test_a_body_trickling_past_the_deadline_is_408_and_the_app_never_runs():
    ran = []

    def app(environ, start_response):
        ran.append(True)
        start_response("200 OK", [])
        return [b""]

    middleware = ReadBodyFirst(app, max_bytes=100_000, seconds=0.5)
    statuses = []
    environ = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "100000", "wsgi.input": Trickle()}
    body = b"".join(middleware(environ, lambda status, headers: statuses.append(status)))
    assert statuses == ["408 Request Timeout"] and not ran
    assert "within 0.5 s" in json.loads(body)["error"]
