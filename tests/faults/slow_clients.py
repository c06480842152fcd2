"""Slow clients: a slow-body attack on the web process, as the review of issue 24 made it."""

from __future__ import annotations

import random
import select
import socket
import threading
import time

from tests.support import wait_for


class SlowClients:
    """``n`` connections that each send the headers of a 100 kB ``POST /callback`` and then one body byte
    every 0.5-2 s, from one thread (``part="headers"``: the request line, then one byte of a header
    that never ends). A connection the server answers or closes is opened again, so ``n`` are held
    all along; ``answers`` counts what the server said ("408", "closed", …) and ``held_for`` how long
    each cut connection had been open.
    """

    START = {"body": b"POST /callback HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\n"
                     b"X-Line-Signature: c2xvdw==\r\nContent-Length: 100000\r\n\r\n{",
             "headers": b"POST /callback HTTP/1.1\r\nHost: slow\r\nX-Slow: "}

    def __init__(self, port: int, n: int, part: str = "body"):
        self.port, self.n, self.start = port, n, self.START[part]
        self.connects = 0
        self.answers: dict[str, int] = {}
        self.held_for: list[float] = []
        self._opened: dict[socket.socket, float] = {}
        self._due: dict[socket.socket, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)

    def __enter__(self) -> SlowClients:
        self._thread.start()
        wait_for(lambda: self.connects >= self.n, 20, what=f"{self.n} slow connections open")
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            while len(self._due) < self.n and not self._stop.is_set():
                try:
                    self._open()
                except OSError:
                    break
            now = time.monotonic()
            wait = min(self._due.values(), default=now + 0.2) - now
            readable, _, _ = select.select(list(self._due), [], [], min(max(wait, 0.0), 0.2))
            for s in readable:
                self._cut(s)
            now = time.monotonic()
            for s, due in list(self._due.items()):
                if due <= now:
                    try:
                        s.send(b"a")
                        self._due[s] = now + random.uniform(0.5, 2)
                    except OSError:
                        self._cut(s)
        for s in list(self._due):
            self._close(s)

    def _open(self) -> None:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(self.start)
        self.connects += 1
        self._opened[s] = time.monotonic()
        self._due[s] = time.monotonic() + random.uniform(0.5, 2)

    def _cut(self, s: socket.socket) -> None:
        """The server answered or closed: note what it said and after how long."""
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "closed"
        self.answers[status] = self.answers.get(status, 0) + 1
        self.held_for.append(time.monotonic() - self._opened[s])
        self._close(s)

    def _close(self, s: socket.socket) -> None:
        self._due.pop(s, None)
        self._opened.pop(s, None)
        s.close()
