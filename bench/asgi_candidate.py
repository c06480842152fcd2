"""The uvicorn candidate of bench_slow_clients.py: the Flask app behind a2wsgi, the body read first.

a2wsgi alone runs the app in a thread as soon as the headers are in, and that thread then
waits for each body chunk: a slow client ties it up as before. So the body is read here,
in the event loop, capped and against a deadline, and handed over whole.
"""

from __future__ import annotations

import asyncio
import json
import os

from a2wsgi import WSGIMiddleware

from handlers.request_body import BODY_SECONDS
from wsgi import app as flask_app

MAX_BYTES = int(os.environ.get("MAX_WEBHOOK_BYTES", "1000000"))
inner = WSGIMiddleware(flask_app, workers=4)  # as many threads per process as the Procfile's gthread


async def app(scope, receive, send):
    if scope["type"] != "http":
        return await inner(scope, receive, send)
    chunks, size, more = [], 0, True
    try:
        async with asyncio.timeout(BODY_SECONDS):
            while more and size <= MAX_BYTES:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                more = message.get("more_body", False)
    except TimeoutError:
        body = json.dumps({"error": "request body not received in time"}).encode()
        await send({"type": "http.response.start", "status": 408,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
        return
    whole = b"".join(chunks)
    given = False

    async def replay():
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": whole, "more_body": False}
        return await receive()

    await inner(scope, replay, send)
