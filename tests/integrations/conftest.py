"""Provider clients against the providers' documented answers, stubbed at the HTTP boundary with
``responses`` (one set of stub helpers per provider: ``tests/moph_support.py``, ``tests/handoff_stubs.py``
for Oho and LiveDesk, ``tests/verification_support.py`` for the SMS providers), and a silent server
for what ``responses`` cannot show: a request that never gets an answer."""

import socket
import threading
import time

import pytest


@pytest.fixture
def silent_server():
    """A server that accepts connections and never answers (it hangs up after 3 s)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held, stop = [], threading.Event()

    def serve():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            held.append((connection, time.monotonic()))
        for connection, _ in held:
            connection.close()

    def hang_up_late():
        while not stop.wait(0.1):
            for connection, since in held.copy():  # serve() appends meanwhile
                if time.monotonic() - since > 3:
                    connection.close()

    threads = [threading.Thread(target=serve, daemon=True), threading.Thread(target=hang_up_late, daemon=True)]
    for thread in threads:
        thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    for thread in threads:
        thread.join()
    listener.close()
