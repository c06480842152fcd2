"""Benchmark: LINE webhook ingest and worker answering, against baselines measured in the same run.

    .venv/bin/python bench/bench_line.py [--requests 3000] [--events 1500]

1. Ingest: the real app under gunicorn (the Procfile's settings) takes signed
   webhook bodies on /callback; the ceiling is a bare Flask endpoint on the same
   server settings. Printed: throughput at full load (16 connections), and
   p50/p99 latency at a paced 200 req/s, for both, with ratios.
2. Worker: one ``python -m workers`` process answers queued text events against
   a local LINE stub; the baseline is the same worker running no-op jobs (RQ's
   own ceiling on this machine). Printed: events/s and the ratio.

Everything runs on loopback with an embedded Redis in a temporary folder; the
load loops are bounded in count and time. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.embedded_redis import EmbeddedRedis  # noqa: E402

SECRET = "bench-channel-secret"
GUNICORN = ["--workers", "2", "--threads", "4", "--worker-class", "gthread", "--timeout", "30"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def signed_bodies(count: int, users: int = 200) -> list[tuple[bytes, str]]:
    bodies = []
    for n in range(count):
        event = {
            "type": "message", "mode": "active", "timestamp": 1_700_000_000_000 + n,
            "webhookEventId": "01" + uuid.uuid4().hex[:24].upper(),
            "deliveryContext": {"isRedelivery": False},
            "source": {"type": "user", "userId": f"U{n % users:032x}"},
            "replyToken": uuid.uuid4().hex,
            "message": {"type": "text", "id": str(n), "text": "เปิดกี่โมงคะ", "quoteToken": "q"},
        }
        body = json.dumps({"destination": "U" + "0" * 32, "events": [event]}).encode()
        signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        bodies.append((body, signature))
    return bodies


class Server:
    """gunicorn serving ``app_spec`` on a free loopback port, for the duration of a with-block."""

    def __init__(self, app_spec: str, env: dict[str, str]):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", app_spec, "--bind", f"127.0.0.1:{self.port}", *GUNICORN],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __enter__(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(15)


def post_all(port: int, bodies, connections: int) -> tuple[float, list[float], int]:
    """Send every body over ``connections`` keep-alive connections; return (seconds, latencies, errors)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    chunks = [bodies[i::connections] for i in range(connections)]

    def run(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = []
        for body, signature in chunk:
            started = time.perf_counter()
            conn.request("POST", "/callback", body=body,
                         headers={"Content-Type": "application/json", "X-Line-Signature": signature})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 200:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(c,)) for c in chunks]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies, errors[0]


def paced(port: int, bodies, rate: float, connections: int = 8) -> tuple[list[float], int]:
    """Open-loop load at ``rate`` req/s: each request is sent at its scheduled time."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = time.perf_counter() + 0.2

    def run(worker: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for n in range(worker, len(bodies), connections):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # pacing the load generator, not synchronising a test
            body, signature = bodies[n]
            conn.request("POST", "/callback", body=body,
                         headers={"Content-Type": "application/json", "X-Line-Signature": signature})
            response = conn.getresponse()
            response.read()
            # Latency from the scheduled time, so a stalled server is not hidden (coordinated omission).
            with lock:
                latencies.append(time.perf_counter() - due)
                errors[0] += response.status != 200

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


class LineStub(BaseHTTPRequestHandler):
    """Answers every LINE call with 200 {}; counts replies."""

    count = 0
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body in two writes stall ~40 ms on delayed ACKs

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with LineStub.lock:
            LineStub.count += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def noop() -> None:
    """The baseline job: RQ's own cost per job."""


def run_worker_until_empty(env) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "workers", "--burst"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="requests per full-load run")
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument("--events", type=int, default=1500, help="events for the worker run")
    args = parser.parse_args()

    import redis

    with tempfile.TemporaryDirectory() as var:
        embedded = EmbeddedRedis(var)
        embedded.ensure()
        try:
            env = {**os.environ, "REDIS_URL": embedded.url, "LINE_CHANNEL_SECRET": SECRET,
                   "LINE_CHANNEL_ACCESS_TOKEN": "bench-token", "LOG_LEVEL": "WARNING",
                   "PYTHONPATH": str(ROOT)}
            connection = redis.Redis.from_url(embedded.url)
            print(f"machine: {os.cpu_count()} cores; gunicorn {' '.join(GUNICORN)}")

            # --- 1. ingest ----------------------------------------------------
            paced_count = int(200 * args.paced_seconds)
            results = {}
            for name, spec in (("bare Flask", "bench.bare_app:app"), ("/callback", "wsgi:app")):
                connection.flushdb()
                with Server(spec, env) as server:
                    post_all(server.port, signed_bodies(200), 8)  # warm-up
                    seconds, lat, errors = post_all(server.port, signed_bodies(args.requests), 16)
                    paced_lat, paced_errors = paced(server.port, signed_bodies(paced_count), 200.0)
                results[name] = dict(rps=args.requests / seconds, p50=pct(lat, .5), p99=pct(lat, .99),
                                     paced_p50=pct(paced_lat, .5), paced_p99=pct(paced_lat, .99),
                                     errors=errors + paced_errors)
            print("\ningest                        req/s   p50 ms   p99 ms  | at 200 req/s: p50 ms  p99 ms  errors")
            for name, r in results.items():
                print(f"  {name:<24} {r['rps']:>8.0f} {r['p50']:>8.1f} {r['p99']:>8.1f}  |"
                      f"          {r['paced_p50']:>8.1f} {r['paced_p99']:>7.1f} {r['errors']:>7}")
            ratio = results["/callback"]["rps"] / results["bare Flask"]["rps"]
            print(f"  /callback throughput = {ratio:.0%} of the bare endpoint (target >= 50%); "
                  f"p99 at 200 req/s = {results['/callback']['paced_p99']:.1f} ms (target <= 25 ms)")

            # --- 2. worker ----------------------------------------------------
            connection.flushdb()
            stub = ThreadingHTTPServer(("127.0.0.1", 0), LineStub)
            threading.Thread(target=stub.serve_forever, daemon=True).start()
            base = f"http://127.0.0.1:{stub.server_address[1]}"
            worker_env = {**env, "LINE_API_BASE_URL": base, "LINE_DATA_API_BASE_URL": base}

            from workers.inbox import accept_events
            from workers.queues import LINE_QUEUE, enqueue
            for body, _ in signed_bodies(args.events):
                accept_events(connection, json.loads(body)["events"])
            events_seconds = run_worker_until_empty(worker_env)
            answered = LineStub.count

            connection.flushdb()
            for _ in range(args.events):
                enqueue(connection, "bench.bench_line.noop", queue=LINE_QUEUE, description="noop")
            noop_seconds = run_worker_until_empty(worker_env)
            stub.shutdown()

            eps = answered / events_seconds
            print("\nworker (one process, incl. ~1 s start-up)   events/s")
            print(f"  answered text events -> LINE stub   {eps:>8.0f}   ({answered}/{args.events} answered)")
            print(f"  baseline: no-op RQ jobs             {args.events / noop_seconds:>8.0f}")
            print(f"  answering = {eps / (args.events / noop_seconds):.0%} of RQ's no-op ceiling; "
                  f"target >= 150 events/s: {'met' if eps >= 150 else 'NOT met'}")
        finally:
            embedded.stop()


if __name__ == "__main__":
    main()
