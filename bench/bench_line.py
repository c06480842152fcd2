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

from workers.embedded_redis import EmbeddedRedis  # noqa: E402

SECRET = "be7c4" + "0" * 27  # made up, in LINE's forms (32 hex; a long token)
TOKEN = "bench.access.token.made.up." + "B" * 145
GUNICORN = ["--workers", "2", "--worker-class", "gevent", "--worker-connections", "1000", "--timeout", "30"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def signed_bodies(count: int, users: int = 200, secret: str = SECRET,
                  texts: tuple[str, ...] = ("เปิดกี่โมงคะ",)) -> list[tuple[bytes, str]]:
    """``count`` signed webhook bodies of one text event each, the texts taken in turn."""
    bodies = []
    for n in range(count):
        event = {
            "type": "message", "mode": "active", "timestamp": int(time.time() * 1000) + n,
            "webhookEventId": "01" + uuid.uuid4().hex[:24].upper(),
            "deliveryContext": {"isRedelivery": False},
            "source": {"type": "user", "userId": f"U{n % users:032x}"},
            "replyToken": uuid.uuid4().hex,
            "message": {"type": "text", "id": str(n), "text": texts[n % len(texts)], "quoteToken": "q"},
        }
        body = json.dumps({"destination": "U" + "0" * 32, "events": [event]}).encode()
        signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
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


def post_all(port: int, bodies, connections: int, path: str = "/callback") -> tuple[float, list[float], int]:
    """Send every body over ``connections`` keep-alive connections; return (seconds, latencies, errors).
    ``path`` "/healthz" sends GETs instead (the same server's ceiling)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    chunks = [bodies[i::connections] for i in range(connections)]

    def run(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = []
        for body, signature in chunk:
            started = time.perf_counter()
            if path == "/healthz":
                conn.request("GET", path)
            else:
                conn.request("POST", path, body=body,
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


def run_worker_until_empty(env, connection, queues: str | None = None, processes: int = 1,
                           prefixes: tuple[str, ...] = ("",)) -> float:
    """Run ``processes`` worker processes (on ``queues``, all by default) until the queues are
    empty; return the seconds from the first job's start to the last job's end on the line
    queues of the hospitals whose ``prefixes`` are given (the processes' own start-up is not
    throughput)."""
    command = [sys.executable, "-m", "workers", "--burst", *(["--queues", queues] if queues else [])]
    procs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(processes)]
    for proc in procs:
        if proc.wait(600) != 0:
            raise RuntimeError(f"worker exited with {proc.returncode}")
    jobs = finished_line_jobs(connection, prefixes)
    return (max(j.ended_at for j in jobs) - min(j.started_at for j in jobs)).total_seconds()


def finished_line_jobs(connection, prefixes: tuple[str, ...] = ("",)) -> list:
    """The finished jobs of the line queues of the hospitals whose ``prefixes`` are given."""
    from rq.job import Job
    from rq.registry import FinishedJobRegistry
    from rq.serializers import JSONSerializer

    from workers.queues import LINE_QUEUE, get_queue

    ids = [job_id for prefix in prefixes
           for job_id in FinishedJobRegistry(queue=get_queue(connection, LINE_QUEUE, prefix=prefix)).get_job_ids()]
    return [j for j in Job.fetch_many(ids, connection=connection, serializer=JSONSerializer) if j is not None]


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per full-load run (3 runs)")
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument("--events", type=int, default=1500, help="events for the worker run")
    args = parser.parse_args()

    import redis

    with tempfile.TemporaryDirectory() as var:
        embedded = EmbeddedRedis(var)
        embedded.ensure()
        try:
            env = {**os.environ, "REDIS_URL": embedded.url, "LINE_CHANNEL_SECRET": SECRET,
                   "LINE_CHANNEL_ACCESS_TOKEN": TOKEN, "LOG_LEVEL": "WARNING",
                   "PYTHONPATH": str(ROOT)}
            connection = redis.Redis.from_url(embedded.url)
            print(f"machine: {os.cpu_count()} cores; gunicorn {' '.join(GUNICORN)}")

            # --- 1. ingest ----------------------------------------------------
            # Throughput runs alternate between the two servers, three each, and the
            # median is reported: on two cores one run alone swings by ±20%.
            paced_count = int(200 * args.paced_seconds)
            specs = {"bare Flask": "bench.bare_app:app", "/callback": "wsgi:app"}
            results = {name: dict(rps=[], lat=[]) for name in specs}
            servers = {}
            try:
                for name, spec in specs.items():
                    servers[name] = Server(spec, env).__enter__()
                    # Warm-up at the measured concurrency: thread pools, Redis connections, imports.
                    post_all(servers[name].port, signed_bodies(1000), 16)
                for _ in range(3):
                    for name, server in servers.items():
                        seconds, lat, errors = post_all(server.port, signed_bodies(args.requests), 16)
                        results[name]["rps"].append(args.requests / seconds)
                        results[name]["lat"].extend(lat)
                        results[name]["errors"] = results[name].get("errors", 0) + errors
                for name, server in servers.items():
                    paced_lat, paced_errors = paced(server.port, signed_bodies(paced_count), 200.0)
                    results[name].update(paced_p50=pct(paced_lat, .5), paced_p99=pct(paced_lat, .99))
                    results[name]["errors"] += paced_errors
            finally:
                for server in servers.values():
                    server.__exit__(None, None, None)
            print("\ningest (median of 3)           req/s   p50 ms   p99 ms  | at 200 req/s: p50 ms  p99 ms  errors")
            for name, r in results.items():
                print(f"  {name:<24} {median(r['rps']):>8.0f} {pct(r['lat'], .5):>8.1f} {pct(r['lat'], .99):>8.1f}  |"
                      f"          {r['paced_p50']:>8.1f} {r['paced_p99']:>7.1f} {r['errors']:>7}"
                      f"   (runs: {', '.join(f'{x:.0f}' for x in r['rps'])})")
            ratio = median(results["/callback"]["rps"]) / median(results["bare Flask"]["rps"])
            print(f"  /callback throughput = {ratio:.0%} of the bare endpoint (target >= 50%); "
                  f"p99 at 200 req/s = {results['/callback']['paced_p99']:.1f} ms (target <= 25 ms)")

            # --- 2. worker ----------------------------------------------------
            connection.flushdb()
            stub = ThreadingHTTPServer(("127.0.0.1", 0), LineStub)
            threading.Thread(target=stub.serve_forever, daemon=True).start()
            base = f"http://127.0.0.1:{stub.server_address[1]}"
            worker_env = {**env, "LINE_API_BASE_URL": base, "LINE_DATA_API_BASE_URL": base}

            from workers.line.inbox import accept_events
            from workers.queues import LINE_QUEUE, enqueue
            runs = {}
            # Bursts: 200 patients, several messages each (one drain job takes a user's backlog);
            # worst case: every event from a different patient (a job per event).
            for label, users in (("200 patients, bursts", 200), ("1 event per patient", args.events)):
                connection.flushdb()
                LineStub.count = 0
                for body, _ in signed_bodies(args.events, users=users):
                    accept_events(connection, json.loads(body)["events"])
                seconds = run_worker_until_empty(worker_env, connection)
                runs[label] = (LineStub.count, seconds)

            connection.flushdb()
            for _ in range(args.events):
                enqueue(connection, "bench.bench_line.noop", queue=LINE_QUEUE, description="noop")
            noop_seconds = run_worker_until_empty(worker_env, connection)
            stub.shutdown()

            noop_eps = args.events / noop_seconds
            print("\nworker (one process, first job start to last job end)   events/s")
            for label, (answered, seconds) in runs.items():
                eps = answered / seconds
                print(f"  answered text events, {label:<22} {eps:>6.0f}   ({answered}/{args.events} answered; "
                      f"{eps / noop_eps:.0%} of RQ's no-op ceiling; target >= 150: {'met' if eps >= 150 else 'NOT met'})")
            print(f"  baseline: no-op RQ jobs                         {noop_eps:>6.0f}")
        finally:
            embedded.stop()


if __name__ == "__main__":
    main()
