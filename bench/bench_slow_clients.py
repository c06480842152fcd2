"""Benchmark: the web server under slow clients, each candidate beside the old gunicorn gthread, same run.

    .venv/bin/python bench/bench_slow_clients.py [--slow 50] [--seconds 8] [--rounds 3] [--only gunicorn,waitress]

The candidates of issue 24 (slow request bodies took the web tier down): waitress, gunicorn's
gevent worker (the Procfile's since), and uvicorn through gunicorn with a2wsgi in front of the app
(``bench/asgi_candidate.py``); the baseline is the Procfile's old gunicorn gthread, 2 x 4 threads.
A slow client (``tests/faults/slow_clients.py``) sends the headers of a 100 kB
``POST /callback`` and then one body byte every 0.5-2 s, or (slow headers) a request line and one
byte of a header every 0.5-2 s; when the server cuts it, it connects again, so ``--slow`` are held.

Every server runs at once; each round takes them in turn (the shared machine's speed drifts), and
the medians of the rounds are printed. Per server and round:

1. ingest: ``--requests`` signed webhooks to ``/callback`` over 16 keep-alive connections, as
   bench_line.py measures it, and the CPU time the server's processes spent per request;
2. idle: for ``--seconds``, 2 connections loop on ``GET /healthz`` and 2 on a signed
   ``POST /callback`` (5 s timeout): req/s, p50, p99 and failures per endpoint;
3. the same while ``--slow`` slow-body clients hold connections, then slow-header clients.

waitress, uvicorn-worker and a2wsgi are not the project's dependencies: ``pip install waitress
uvicorn-worker a2wsgi`` to measure them; a candidate whose package is missing is skipped.

A failed request (timeout, non-200) counts in the percentiles at the time it took. The app is the
real one (``wsgi:app``) on an embedded Redis, no worker running (ingest only). A benchmark, not a
test: it prints, it does not assert.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_line import SECRET, TOKEN, free_port, median, pct, post_all, signed_bodies  # noqa: E402
from tests.faults.slow_clients import SlowClients  # noqa: E402
from workers.embedded_redis import EmbeddedRedis  # noqa: E402

BIN = Path(sys.executable).parent
#: The module each candidate needs beyond the project's dependencies.
NEEDS = {"waitress 1x8": "waitress", "gunicorn uvicorn 2x4": "uvicorn_worker"}


def candidates(port: int) -> dict[str, list[str]]:
    bind = f"127.0.0.1:{port}"
    gunicorn = [str(BIN / "gunicorn"), "--bind", bind, "--workers", "2", "--timeout", "30"]
    return {
        # The Procfile before issue 24: a request thread per connection from its first byte on.
        "gthread 2x4 (before)": [*gunicorn, "--threads", "4", "wsgi:app"],
        # waitress reads each request whole in its event loop (asyncore), then a thread runs the app.
        # One process: waitress has no workers; 8 threads = the baseline's 2 x 4.
        "waitress 1x8": [str(BIN / "waitress-serve"), f"--listen={bind}", "--threads=8",
                         "--channel-timeout=10", "--connection-limit=1000", "wsgi:app"],
        # The Procfile's since: a greenlet per connection; headers within the keep-alive time (2 s),
        # the body within handlers/request_body.py's BODY_SECONDS.
        "gunicorn gevent 2x1000": [*gunicorn, "--worker-class", "gevent", "--worker-connections", "1000",
                                   "wsgi:app"],
        # uvicorn's event loop reads the body (bench/asgi_candidate.py), a2wsgi's 4 threads run the app.
        "gunicorn uvicorn 2x4": [*gunicorn, "--worker-class", "uvicorn_worker.UvicornWorker",
                                 "bench.asgi_candidate:app"],
    }


class Server:
    def __init__(self, command: list[str], env: dict[str, str], port: int, log: Path):
        self.port = port
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def wait_up(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)  # polling a starting server
        raise RuntimeError("server did not start")

    def cpu_seconds(self) -> float:
        """User + system CPU time of every process in the server's group (its workers too)."""
        total = 0
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == self.proc.pid:
                        fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                        total += int(fields[11]) + int(fields[12])
                except (OSError, ValueError):
                    pass
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, 15)
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        except ProcessLookupError:
            pass


def mixed_load(port: int, seconds: float, per_endpoint: int = 2, timeout: float = 5.0) -> dict[str, dict]:
    """``per_endpoint`` connections each looping on /healthz and on /callback for ``seconds``."""
    bodies = signed_bodies(4000)
    results = {path: {"lat": [], "ok": 0, "failed": 0} for path in ("/healthz", "/callback")}
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def run(path: str, worker: int):
        conn, n = None, worker
        while time.monotonic() < end:
            started = time.perf_counter()
            ok = False
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                if path == "/healthz":
                    conn.request("GET", path)
                else:
                    body, signature = bodies[n % len(bodies)]
                    n += per_endpoint
                    conn.request("POST", path, body=body,
                                 headers={"Content-Type": "application/json", "X-Line-Signature": signature})
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                conn.close()
                conn = None
            took = time.perf_counter() - started
            with lock:
                results[path]["lat"].append(took)
                results[path]["ok" if ok else "failed"] += 1

    threads = [threading.Thread(target=run, args=(path, i)) for path in results for i in range(per_endpoint)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return {path: {"rps": r["ok"] / elapsed, "p50": pct(r["lat"], .5), "p99": pct(r["lat"], .99), "failed": r["failed"]}
            for path, r in results.items()}


PHASES = ("idle", "slow bodies", "slow headers")
SLOW_PART = {"slow bodies": "body", "slow headers": "headers"}  # what SlowClients trickles
PATHS = ("/healthz", "/callback")


def measure(servers: dict[str, Server], args) -> dict[str, dict]:
    """Rounds that take each server in turn (the shared machine's speed drifts): medians per figure."""
    runs: dict[str, list[dict]] = {name: [] for name in servers}
    for server in servers.values():
        post_all(server.port, signed_bodies(1000), 16)  # warm-up: thread pools, Redis connections, imports
    for n in range(args.rounds):
        for name, server in servers.items():
            cpu = server.cpu_seconds()
            seconds, _, _ = post_all(server.port, signed_bodies(args.requests), 16)
            run = {"ingest": args.requests / seconds,
                   "cpu_ms": (server.cpu_seconds() - cpu) * 1000 / args.requests,
                   "idle": mixed_load(server.port, args.seconds)}
            for phase in PHASES[1:]:
                with SlowClients(server.port, args.slow, part=SLOW_PART[phase]) as slow:
                    time.sleep(2.5)  # every slow client has trickled a byte or more
                    run[phase] = mixed_load(server.port, args.seconds)
                run[phase]["cut"] = slow.answers
            runs[name].append(run)
        print(f"  round {n + 1} of {args.rounds} done", flush=True)
    return {name: _medians(r) for name, r in runs.items()}


def _medians(runs: list[dict]) -> dict:
    out = {"ingest": median([r["ingest"] for r in runs]), "ingest_runs": [r["ingest"] for r in runs],
           "cpu_ms": median([r["cpu_ms"] for r in runs])}
    for phase in PHASES:
        out[phase] = {path: {k: median([r[phase][path][k] for r in runs]) for k in ("rps", "p50", "p99")}
                      | {"failed": sum(r[phase][path]["failed"] for r in runs)} for path in PATHS}
        cut: dict[str, int] = {}
        for r in runs:
            for status, count in r[phase].get("cut", {}).items():
                cut[status] = cut.get(status, 0) + count
        out[phase]["cut"] = cut
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow", type=int, default=50, help="slow clients held open")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each mixed-load phase")
    parser.add_argument("--requests", type=int, default=2000, help="requests per ingest run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every server (medians reported)")
    parser.add_argument("--only", default="", help="comma-separated name prefixes (the baseline always runs)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as var:
        embedded = EmbeddedRedis(var)
        embedded.ensure()
        logs = Path(var) / "logs"
        logs.mkdir()
        servers: dict[str, Server] = {}
        try:
            names = list(candidates(0))
            wanted = [n for n in names[1:] if not args.only or any(n.startswith(p) for p in args.only.split(","))]
            missing = [n for n in wanted if n in NEEDS and importlib.util.find_spec(NEEDS[n]) is None]
            for name in missing:
                print(f"skipped {name}: pip install {NEEDS[name].replace('_', '-')} (see the docstring)")
            wanted = [n for n in wanted if n not in missing]
            print(f"machine: {os.cpu_count()} cores; {args.slow} slow clients; {args.seconds:.0f} s per phase; "
                  f"{args.rounds} rounds")
            for name in [names[0], *wanted]:
                env = {**os.environ, "REDIS_URL": embedded.url, "LINE_CHANNEL_SECRET": SECRET,
                       "LINE_CHANNEL_ACCESS_TOKEN": TOKEN, "LOG_LEVEL": "WARNING",
                       "PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(dir=var)}
                port = free_port()
                servers[name] = Server(candidates(port)[name], env, port, logs / f"{name.split()[0]}-{port}.log")
            for server in servers.values():
                server.wait_up()
            results = measure(servers, args)
        finally:
            for server in servers.values():
                server.stop()
            embedded.stop()
    report(results, args)


def report(results: dict, args) -> None:
    base_name, base = next(iter(results.items()))
    print(f"\ningest, as bench_line.py measures it ({args.requests} signed webhooks over 16 connections; "
          f"median of {args.rounds})")
    print(f"  {'server':<24} {'req/s':>6} {'ratio':>6}  {'CPU ms/req':>10} {'ratio':>6}   runs")
    for name, r in results.items():
        print(f"  {name:<24} {r['ingest']:>6.0f} {_ratio(r['ingest'], base['ingest']):>6}  {r['cpu_ms']:>10.2f} "
              f"{_ratio(r['cpu_ms'], base['cpu_ms']):>6}   {', '.join(f'{x:.0f}' for x in r['ingest_runs'])}")
    print(f"\n2 connections each on /healthz and a signed /callback for {args.seconds:.0f} s: idle, and while "
          f"{args.slow} slow clients hold connections\n(medians of {args.rounds} rounds; fail = timeouts (5 s) "
          "and non-200, summed; 'vs idle' = this phase's p99 / the server's idle p99)")
    print(f"  {'server':<24} {'phase':<13}|" + "".join(f"{path + ' req/s':>16} {'p50':>6} {'p99 ms':>7} "
                                                      f"{'fail':>4} {'vs idle':>7} |" for path in PATHS)
          + " slow clients cut")
    for name, r in results.items():
        for phase in PHASES:
            cells = "".join(f"{m['rps']:>16.0f} {m['p50']:>6.1f} {m['p99']:>7.1f} {m['failed']:>4} "
                            f"{_ratio(m['p99'], r['idle'][path]['p99']):>7} |"
                            for path in PATHS for m in [r[phase][path]])
            cut = "" if phase == "idle" else (r[phase]["cut"] or "none")
            print(f"  {name:<24} {phase:<13}|{cells} {cut}")
    print(f"\nreq/s with {args.slow} slow clients, ratio to {base_name}:")
    for name, r in list(results.items())[1:]:
        print(f"  {name:<24} " + "; ".join(
            f"{phase}: " + ", ".join(f"{path} {_ratio(r[phase][path]['rps'], base[phase][path]['rps'])}"
                                     for path in PATHS) for phase in PHASES[1:]))


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else ("-" if not a else "inf")


if __name__ == "__main__":
    main()
