"""Every request body is read whole, capped and against a deadline, before Flask sees it.

Why: a client that sends its body one byte at a time must not hold the web process for
as long as it likes (the Procfile's gevent worker parks it in a greenlet, and this cuts
it off after ``BODY_SECONDS``: 408), and a chunked body (no ``Content-Length``) over
``MAX_WEBHOOK_BYTES`` must get the same 413 as a declared one. Werkzeug would otherwise
cut it at the limit and hand the app a truncated body (a 400 for a bad signature).

The body is then given to Flask with its real ``Content-Length``: one byte over the
limit, and Flask answers 413 through the usual JSON error handler.
"""

from __future__ import annotations

import io
import json
import logging

from gevent import Timeout
from werkzeug.wsgi import get_content_length

#: From the first body byte awaited to the last. Webhook senders are servers posting at
#: most MAX_WEBHOOK_BYTES (1 MB: 100 kB/s is enough); a trickling client is cut off here.
BODY_SECONDS = 10.0
_READ = 64 * 1024
log = logging.getLogger("access")


class ReadBodyFirst:
    """WSGI middleware: read the body (at most ``max_bytes`` + 1) within ``seconds``, then call ``app``."""

    def __init__(self, app, max_bytes: int, seconds: float = BODY_SECONDS):
        self.app = app
        self.max_bytes = max_bytes
        self.seconds = seconds

    def __call__(self, environ, start_response):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        length = get_content_length(environ)
        if not chunked and (not length or length > self.max_bytes):
            return self.app(environ, start_response)  # no body, or Flask answers 413 from the header
        want = self.max_bytes + 1 if chunked else length
        deadline = Timeout(self.seconds)
        try:
            with deadline:
                body = _read(environ["wsgi.input"], want)
        except Timeout as fired:
            if fired is not deadline:
                raise
            log.info("%s body not received within %g s: answered 408", environ.get("REQUEST_METHOD"), self.seconds)
            return _answer(start_response, "408 Request Timeout",
                           f"request body not received within {self.seconds:g} s")
        if not chunked and len(body) < length:
            return _answer(start_response, "400 Bad Request", "the body ended before its Content-Length")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ.pop("wsgi.input_terminated", None)
        return self.app(environ, start_response)


def _read(stream, want: int) -> bytes:
    """Up to ``want`` bytes; fewer when the client ended the body (or the connection) first."""
    parts, got = [], 0
    while got < want:
        part = stream.read(min(_READ, want - got))
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _answer(start_response, status: str, message: str):
    """The app's JSON error shape (``handlers/http_errors.py``), for answers given before Flask runs."""
    body = json.dumps({"error": message}).encode()
    start_response(status, [("Content-Type", "application/json"),
                                                  ("Content-Length", str(len(body)))])
    return [body]
