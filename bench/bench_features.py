"""Benchmark: the LINE path with EVERY feature configured, against baselines from the same run.

    .venv/bin/python bench/bench_features.py [--requests 2000] [--events 1500] [--paced-seconds 20]

Oho, LiveDesk, SEPSMS and MOPH Alert point at one threaded stub server on loopback that
answers as their documents do (LINE too); the secrets are long enough for the settings.

Patients' messages are varied: the labelled corpus's phrasings (Thai, regional, romanised,
English; every topic, near-misses) that the bot answers itself, each new to the worker; one
repeated question is measured beside them as the old baseline.

1. Ingest: ``/callback`` (worker paused) vs ``/healthz`` of the same gunicorn, 16 connections.
2. Worker: one ``python -m workers --queues line`` process answering a backlog of varied
   messages, vs the same backlog of one repeated question, vs no-op jobs (RQ's ceiling);
   then 2 processes on the varied backlog.
   Also counted: Redis commands and round trips, and RQ enqueues, per answered event.
3. Latency: webhook -> LINE reply, paced at 40 events/s, with the Procfile's processes
   (web, worker, jobs, bulk) running; idle first, then while a 10,000-row MOPH push and a
   LiveDesk mirror backlog are worked off.
4. Many hospitals (``--hospitals N``): the worker phase's backlog spread over N registry
   hospitals (``HOSPITALS_DIR``, every feature configured in each), one process, vs the same
   backlog for one hospital without a registry and for a registry of one, in the same run:
   events/s per worker and the ratios (the goal: N hospitals within 10% of one); then the same
   counted in CPU per answered event, in process, which this 2-core machine's drift moves far less.

Each figure is printed beside its baseline and the ratio, and the slowest phase is named.
A benchmark, not a test: it prints, it does not assert.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_appointments import made_up_cid  # noqa: E402
from bench.bench_line import (  # noqa: E402
    GUNICORN, Server, finished_line_jobs, median, paced, pct, post_all, run_worker_until_empty, signed_bodies)
from workers.embedded_redis import EmbeddedRedis  # noqa: E402

SECRET = "be7cf" + "0" * 27  # made up, in LINE's forms (32 hex; a long token)
TOKEN = "bench.access.token.made.up." + "B" * 145
BOT_ID = "U" + "b0" * 16
EXP = base64.urlsafe_b64encode(json.dumps({"exp": 4_102_444_800}).encode()).decode().rstrip("=")
JWT = f"eyJhbGciOiJIUzI1NiJ9.{EXP}.c2ln"


class Providers(BaseHTTPRequestHandler):
    """LINE, Oho, LiveDesk, SEPSMS and MOPH Alert on one port, told apart by path; answers shaped as
    each provider's document shows. Replies are timed by reply token (for the latency phase)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    lock = threading.Lock()
    replies: dict[str, float] = {}
    calls: dict[str, int] = {}
    ids = iter(range(10_000, 10**9))

    def _answer(self, method: str) -> tuple[int, object]:
        path = self.path.split("?")[0]
        if path == "/v2/bot/message/reply":
            token = json.loads(self.body).get("replyToken")
            with Providers.lock:
                Providers.replies[token] = time.perf_counter()
            return 200, {}
        if path == "/v2/bot/info":
            return 200, {"userId": BOT_ID, "basicId": "@000bench", "displayName": "Bench", "chatMode": "bot",
                         "markAsReadMode": "auto"}
        if path.startswith("/v2/bot/profile/"):
            return 200, {"userId": path.rsplit("/", 1)[1], "displayName": "Bench Patient"}
        if path.startswith("/v2/"):
            return 200, {}
        if path.startswith(("/contact", "/chat")):  # Oho Chat developer API: the {ok, status_code} envelope
            if method == "GET":
                return 404, {"ok": False, "status_code": 404, "message": "Not found contact"}
            return 201, {"ok": True, "status_code": 201, "message": "Created contact successfully"}
        if path == "/api/v2/accounts/contacts":  # LiveDesk (Chatwoot API channel)
            return 200, {"payload": {"contact": {"id": next(Providers.ids)}}}
        if path == "/api/v2/accounts/conversations":
            return 200, {"id": next(Providers.ids), "inbox_id": 79, "status": "open"}
        if path.endswith("/messages"):
            if method == "GET":
                return 200, {"meta": {}, "payload": []}
            return 200, {"id": next(Providers.ids), "message_type": 0, "content": "", "private": False}
        if path == "/token":  # MOPH: a bare JWT
            return 200, JWT
        if path.startswith("/api/v2/send-message"):
            return 200, {"message_code": 200, "message": "success"}
        if path.startswith("/sepsms"):
            return 200, {"success": True, "data": {"credit": 10_000}}
        return 404, {"error": "not stubbed"}

    def _handle(self):
        self.body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, answer = self._answer(self.command)
        first = self.path.split("?")[0].strip("/").split("/")[0]
        with Providers.lock:
            Providers.calls[first] = Providers.calls.get(first, 0) + 1
        data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(answer, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = _handle

    def log_message(self, *args):
        pass


class StubServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # http.server's 5 refuses connections under a burst


def feature_env(redis_url: str, base: str) -> dict[str, str]:
    """Every feature configured, every provider at ``base``."""
    long = "bench-" + "x" * 40
    return {**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING", "REDIS_URL": redis_url,
            "LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
            "LINE_API_BASE_URL": base, "LINE_DATA_API_BASE_URL": base,
            "OHO_API_KEY": "bench-oho-key", "OHO_BASE_URL": base, "OHO_PLATFORM_ID": BOT_ID,
            "LIVEDESK_API_KEY": "bench-ld-key", "LIVEDESK_API_SECRET": "bench-ld-secret",
            "LIVEDESK_BASE_URL": base, "LIVEDESK_INBOX_ID": "79", "LIVEDESK_WEBHOOK_TOKEN": long,
            "BUSINESS_HOURS": "Mon-Sun 00:00-24:00",
            "SEPSMS_API_KEY": "sk_sep_bench-sms-key", "SEPSMS_ORIGIN": "HOSPITAL", "SEPSMS_BASE_URL": f"{base}/sepsms",
            "SEPSMS_WEBHOOK_SECRET": long, "OTP_SECRET": long,
            "MOPH_ALERT_BASE_URL": base, "MOPH_TOKEN_URL": f"{base}/token", "MOPH_USER": "bench",
            "MOPH_PASSWORD_HASH": "bench-hash", "MOPH_HOSPITAL_CODE": "10999", "APPOINTMENTS_API_TOKEN": long}


def profile_events(env: dict[str, str], connection, events: int, top: int = 12) -> str:
    """The line worker's per-event path in this process under cProfile, with every Redis round trip
    (a packed send), Redis command and RQ enqueue counted: what one answered event costs."""
    import cProfile
    import io
    import pstats

    from redis.connection import AbstractConnection as Connection
    from redis.connection import HiredisRespSerializer
    from rq import Queue

    from bot.settings import load_settings
    from workers import runtime
    from workers.__main__ import build_worker
    from workers.services import Services

    backlog(connection, events, users=events)
    saved = dict(os.environ)
    os.environ.update(env)
    counts = {"trips": 0, "commands": 0}
    callers: dict[str, int] = {}
    enqueued: dict[str, int] = {}
    serializer = HiredisRespSerializer  # the one redis-py uses with hiredis installed (a dependency)
    originals = Connection.send_packed_command, serializer.pack, Queue.enqueue_job, Queue.schedule_job

    ours = str(ROOT / "workers")

    def send(self, *a, **k):
        counts["trips"] += 1
        frame = sys._getframe(1)
        while frame and not frame.f_code.co_filename.startswith(ours):
            frame = frame.f_back
        where = f"{Path(frame.f_code.co_filename).relative_to(ROOT)}:{frame.f_code.co_name}" if frame else "rq"
        callers[where] = callers.get(where, 0) + 1
        return originals[0](self, *a, **k)

    def pack(self, *a, **k):
        counts["commands"] += 1
        return originals[1](self, *a, **k)

    def enqueue_job(self, job, *a, **k):
        enqueued[job.func_name.rsplit(".", 1)[-1]] = enqueued.get(job.func_name.rsplit(".", 1)[-1], 0) + 1
        return originals[2](self, job, *a, **k)

    def schedule_job(self, job, *a, **k):
        name = "at:" + job.func_name.rsplit(".", 1)[-1]
        enqueued[name] = enqueued.get(name, 0) + 1
        return originals[3](self, job, *a, **k)

    profiler = cProfile.Profile()
    try:
        services = Services(load_settings(_env_file=None), worker=True)
        runtime.install(services)
        services.dialog  # built on first use (the knowledge base): start-up, not per-event cost
        worker = build_worker(services, queue_names=("line",))
        Connection.send_packed_command, serializer.pack = send, pack
        Queue.enqueue_job, Queue.schedule_job = enqueue_job, schedule_job
        profiler.enable()
        worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
        profiler.disable()
    finally:
        (Connection.send_packed_command, serializer.pack, Queue.enqueue_job,
         Queue.schedule_job) = originals
        runtime.install(None)
        os.environ.clear()
        os.environ.update(saved)
    answered = max(len(Providers.replies), 1)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    table = out.getvalue()
    table = table[table.find("ncalls"):] if "ncalls" in table else table
    jobs = ", ".join(f"{name} {n / answered:.2f}" for name, n in sorted(enqueued.items(), key=lambda x: -x[1]))
    where = "\n".join(f"    {n / answered:5.2f}  {name}" for name, n in
                       sorted(callers.items(), key=lambda x: -x[1])[:20])
    return (f"{answered} events answered: {counts['trips'] / answered:.1f} Redis round trips, "
            f"{counts['commands'] / answered:.1f} Redis commands, {sum(enqueued.values()) / answered:.2f} "
            f"RQ enqueues per event ({jobs or 'none'})\n  round trips per event by the first caller in workers/:\n{where}\n  top functions by own time:\n{table}")


def profile_ingest(env: dict[str, str], requests: int = 1000, top: int = 15) -> str:
    """``/callback`` in this process (Flask's test client) under cProfile: where ingest time goes."""
    import cProfile
    import io
    import pstats

    from handlers.app import create_app

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        client = create_app().test_client()
        bodies = signed_bodies(requests, secret=SECRET, texts=MESSAGES)
        for body, signature in bodies[:50]:  # warm-up
            client.post("/callback", data=body, headers={"X-Line-Signature": signature})
        profiler = cProfile.Profile()
        profiler.enable()
        for body, signature in bodies[50:]:
            client.post("/callback", data=body, headers={"X-Line-Signature": signature})
        profiler.disable()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
    stats.print_stats(top)
    stats.print_callees("accept_events|_execute_command|callback")
    return out.getvalue()[out.getvalue().find("ncalls"):]


def patient_messages() -> tuple[str, ...]:
    """The corpus's phrasings that the bot answers by itself (no emergency, staff or verification flow,
    which would take the patient out of the bot's hands), in a fixed shuffled order."""
    import random

    from bot.dialog import Dialog
    from bot.evaluation import load_corpus
    from bot.knowledge import KnowledgeBase
    dialog = Dialog(KnowledgeBase.load())
    texts = [e.text for e in load_corpus(ROOT / "bot" / "data" / "eval" / "corpus")
             if dialog.on_text(e.text).intent not in ("emergency", "staff", "verify", "not_emergency")]
    random.Random(1669).shuffle(texts)
    return tuple(texts)


MESSAGES: tuple[str, ...] = ()


def backlog(connection, events: int, users: int, texts: tuple[str, ...] | None = None) -> None:
    from workers.line.inbox import accept_events
    connection.flushdb()
    Providers.replies.clear()
    for body, _ in signed_bodies(events, users=users, secret=SECRET, texts=texts or MESSAGES):
        accept_events(connection, json.loads(body)["events"])


def line_jobs_done(connection) -> int:
    return len(Providers.replies)


def start(name: str, command: list[str], env) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def workers_ready(connection, count: int, timeout: float = 60) -> None:
    """Wait until ``count`` workers have registered with RQ (they do once started up, the knowledge
    base loaded): start-up is not answer latency."""
    from rq import Worker
    deadline = time.monotonic() + timeout
    while Worker.count(connection=connection) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the workers did not start")
        time.sleep(0.1)


def latency_run(port: int, seconds: float, rate: float = 40.0) -> tuple[list[float], int]:
    """Paced webhooks; latency = LINE stub's reply time minus the scheduled send time."""
    bodies = signed_bodies(int(rate * seconds), users=400, secret=SECRET, texts=MESSAGES)
    tokens = [json.loads(body)["events"][0]["replyToken"] for body, _ in bodies]
    start_at = time.perf_counter() + 0.2  # paced() starts 0.2 s after it is called
    sent_at = {token: start_at + n / rate for n, token in enumerate(tokens)}
    _, errors = paced(port, bodies, rate, connections=4)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(t in Providers.replies for t in sent_at):
        time.sleep(0.1)
    latencies = [Providers.replies[t] - due for t, due in sent_at.items() if t in Providers.replies]
    return latencies, errors + len(sent_at) - len(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per full-load run (3 runs each)")
    parser.add_argument("--events", type=int, default=1500, help="events in the worker backlog")
    parser.add_argument("--paced-seconds", type=float, default=20.0)
    parser.add_argument("--rows", type=int, default=10_000, help="MOPH CSV rows pushed during the latency run")
    parser.add_argument("--mirror-items", type=int, default=3000, help="LiveDesk mirror backlog items")
    parser.add_argument("--profile", action="store_true", help="also profile the per-event path (cProfile)")
    parser.add_argument("--hospitals", type=int, default=0, help="also the worker phase over this many registry "
                        "hospitals (phase 4)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each setup in phase 4 (the median is compared)")
    parser.add_argument("--only", choices=("ingest", "worker", "latency", "hospitals", "profile", "profile-ingest"),
                        help="run one phase only")
    args = parser.parse_args()

    import redis

    global MESSAGES
    MESSAGES = patient_messages()
    stub = StubServer(("127.0.0.1", 0), Providers)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{stub.server_address[1]}"
    figures = {}
    with tempfile.TemporaryDirectory() as var:
        embedded = EmbeddedRedis(var)
        embedded.ensure()
        env = feature_env(embedded.url, base)
        connection = redis.Redis.from_url(embedded.url)
        try:
            print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
                  f"gunicorn {' '.join(GUNICORN)}; every feature configured")

            run = lambda phase: args.only in (None, phase)  # noqa: E731
            if args.only == "profile-ingest":
                print(profile_ingest(env))
            if run("ingest"):
                ingest_phase(args, env, connection, figures)
            if run("worker") or args.only == "profile":
                worker_phase(args, env, connection, figures)
            if run("latency"):
                latency_phase(args, env, connection, figures)
            if args.hospitals and run("hospitals"):
                hospitals_phase(args, env, connection, figures)
            if figures:
                worst = min(figures, key=figures.get)
                print(f"\nbottleneck: {worst} ({figures[worst]:.2f} of its goal; "
                      + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()) + ")")
        finally:
            connection.close()
            embedded.stop()
            stub.shutdown()


def ingest_phase(args, env, connection, figures) -> None:
    with Server("wsgi:app", env) as server:
        post_all(server.port, signed_bodies(500, secret=SECRET), 16)  # warm-up
        rps = {"/healthz": [], "/callback": []}
        for _ in range(3):
            for path in rps:
                connection.flushdb()
                seconds, _, errors = post_all(server.port, signed_bodies(args.requests, secret=SECRET),
                                              16, path=path)
                rps[path].append((args.requests - errors) / seconds)
    ingest = median(rps["/callback"]) / median(rps["/healthz"])
    figures["ingest"] = ingest / 0.5
    print(f"\n1. ingest, 16 connections (median of 3; load {os.getloadavg()[0]:.2f})        req/s")
    for path, runs in rps.items():
        print(f"  {path:<10} {median(runs):>8.0f}   (runs: {', '.join(f'{x:.0f}' for x in runs)})")
    print(f"  /callback = {ingest:.2f}x /healthz (goal >= 0.5x)")



def worker_phase(args, env, connection, figures) -> None:
    if args.profile or args.only == "profile":
        print(f"\nprofile of the line worker, in process (cProfile; every feature on; "
              f"load {os.getloadavg()[0]:.2f}):")
        print("  " + profile_events(env, connection, min(args.events, 500)))
        if args.only == "profile":
            return
    backlog(connection, args.events, users=args.events)
    seconds = run_worker_until_empty(env, connection, queues="line")
    answered = len(Providers.replies)
    eps = answered / seconds
    backlog(connection, args.events, users=args.events, texts=("เปิดกี่โมงคะ",))
    one_seconds = run_worker_until_empty(env, connection, queues="line")
    one_eps = len(Providers.replies) / one_seconds
    backlog(connection, args.events, users=args.events)
    seconds2 = run_worker_until_empty(env, connection, queues="line", processes=2)
    eps2 = len(Providers.replies) / seconds2
    connection.flushdb()
    from workers.queues import LINE_QUEUE, enqueue
    for _ in range(args.events):
        enqueue(connection, "bench.bench_line.noop", queue=LINE_QUEUE, description="noop")
    noop_eps = args.events / run_worker_until_empty(env, connection, queues="line")
    figures["worker"] = eps / 100
    print(f"\n2. worker, {args.events} events, one per patient (load {os.getloadavg()[0]:.2f})      events/s")
    print(f"  1 process, every feature on  {eps:>7.0f}   ({answered} answered, {len(set(MESSAGES))} different "
          f"messages; goal >= 100; {eps / noop_eps:.0%} of RQ's no-op ceiling)")
    print(f"  one repeated question        {one_eps:>7.0f}   (varied = {eps / one_eps:.2f}x)")
    print(f"  2 processes                  {eps2:>7.0f}   ({eps2 / eps:.2f}x one process)")
    print(f"  baseline: no-op RQ jobs      {noop_eps:>7.0f}")



def latency_phase(args, env, connection, figures) -> None:
    from workers.queues import queue_key
    connection.flushdb()
    procs = [start(n, c, env) for n, c in (
        ("worker", [sys.executable, "-m", "workers", "--queues", "line"]),
        ("jobs", [sys.executable, "-m", "workers", "--queues", "default"]),
        ("bulk", [sys.executable, "-m", "workers", "--queues", "bulk,default"]))]
    try:
        with Server("wsgi:app", env) as server:
            workers_ready(connection, len(procs))
            idle, idle_errors = latency_run(server.port, args.paced_seconds / 2)
            load_before = os.getloadavg()[0]
            queued = bulk_work(connection, args.rows, args.mirror_items)
            busy, busy_errors = latency_run(server.port, args.paced_seconds)
            left = sum(connection.llen(queue_key(q)) for q in ("bulk", "default"))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    figures["latency"] = 100 / max(pct(busy, .99), 1e-3)
    print(f"\n3. webhook -> LINE reply at 40 events/s, Procfile processes "
          f"(load {load_before:.2f} -> {os.getloadavg()[0]:.2f})      p50 ms   p99 ms  lost")
    print(f"  idle                               {pct(idle, .5):>8.1f} {pct(idle, .99):>8.1f} {idle_errors:>5}")
    print(f"  with {queued}                       {pct(busy, .5):>8.1f} {pct(busy, .99):>8.1f} {busy_errors:>5}")
    print(f"  p99 busy = {pct(busy, .99) / max(pct(idle, .99), 1e-3):.2f}x idle (goal <= 100 ms); "
          f"{left} bulk/default jobs still queued at the end")


def hospital_files(directory: Path, count: int, env: dict[str, str]) -> dict[str, str]:
    """``count`` registry hospitals (``h00.toml``, …) with every feature ``env`` configures, each with its own
    bot id and the values no two hospitals may share; secrets by reference. Returns what the processes'
    environment needs besides ``env``: ``HOSPITALS_DIR`` and the variables the references name."""
    from bot.hospitals import PROCESS_WIDE, UNIQUE
    from bot.settings import Settings, is_secret

    named = {"HOSPITALS_DIR": str(directory)}
    for n in range(count):
        hospital = f"h{n:02d}"
        lines = [f'line_bot_user_id = "U{n + 1:032x}"', f'oho_platform_id = "U{n + 1:032x}"']
        for key, value in sorted(env.items()):
            name, field = key.lower(), Settings.model_fields.get(key.lower())
            if field is None or name in PROCESS_WIDE or name == "oho_platform_id":
                continue
            if name in UNIQUE:  # a code, a token, a 32-hex secret: its last four characters made the hospital's
                value = value[:-4] + f"{n:04d}"
            if is_secret(field):
                named[f"{hospital.upper()}_{key}"] = value
                value = f"env:{hospital.upper()}_{key}"
            lines.append(f"{name} = {json.dumps(value)}")
        (directory / f"{hospital}.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return named


def spread_backlog(connection, events: int, prefixes: tuple[str, ...]) -> None:
    """``backlog`` (one event per patient), the patients spread over the hospitals of ``prefixes`` in turn
    (``("",)``: the one hospital of a deployment without a registry)."""
    from workers.line.inbox import accept_events
    connection.flushdb()
    Providers.replies.clear()
    for n, (body, _) in enumerate(signed_bodies(events, users=events, secret=SECRET, texts=MESSAGES)):
        prefix = prefixes[n % len(prefixes)]  # as the web takes it: with how far behind the others are
        accept_events(connection, json.loads(body)["events"], prefix=prefix,
                      other_prefixes=[other for other in prefixes if other != prefix])


def hospitals_phase(args, env, connection, figures) -> None:
    """One line worker on the same varied backlog: one hospital without a registry (today's deployment),
    a registry of one, and a registry of ``args.hospitals`` with the backlog spread over them; the three
    in turn, ``args.repeat`` times, each first in turn (on two cores one run alone swings by 20%), the
    medians compared."""
    rates: dict[str, list[float]] = {}
    jobs: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as one_dir, tempfile.TemporaryDirectory() as many_dir:
        runs = {"one hospital, no registry": (env, ("",)),
                "registry of 1": registry_run(env, Path(one_dir), 1),
                f"registry of {args.hospitals}": registry_run(env, Path(many_dir), args.hospitals)}
        order = list(runs.items())
        for rep in range(args.repeat):  # each setup first in turn: later runs in a row are not favoured
            for label, (run_env, prefixes) in order[rep % 3:] + order[:rep % 3]:
                spread_backlog(connection, args.events, prefixes)
                seconds = run_worker_until_empty(run_env, connection, queues="line", prefixes=prefixes)
                rates.setdefault(label, []).append(len(Providers.replies) / seconds)
                jobs[label] = len(finished_line_jobs(connection, prefixes))
    one, many = median(rates["one hospital, no registry"]), median(rates[f"registry of {args.hospitals}"])
    figures["hospitals"] = many / one / 0.9
    print(f"\n4. worker, {args.events} events, one per patient, one process, median of {args.repeat} "
          f"(load {os.getloadavg()[0]:.2f})      events/s per worker")
    for label, runs_of in rates.items():
        print(f"  {label:<28} {median(runs_of):>7.0f}   ({median(runs_of) / one:.2f}x one hospital; "
              f"{jobs[label]} drain jobs; runs: {', '.join(f'{x:.0f}' for x in runs_of)})")
    print(f"  {args.hospitals} hospitals = {many / one:.2f}x one hospital (goal >= 0.90), "
          f"{many / median(rates['registry of 1']):.2f}x a registry of one")
    hospitals_cpu(args, env, connection)


def hospitals_cpu(args, env, connection, rounds: int = 4) -> None:
    """The same comparison counted in CPU instead of wall-clock time (two cores swing a run's events/s by
    ±20%; CPU per event much less): one line worker in this process, its services built and warmed
    first (start-up is not per event), one hospital and a registry of ``args.hospitals`` in alternate
    rounds; the CPU of this process (worker and stub threads alike) per answered event."""
    import cProfile
    import pstats

    from bot.settings import load_settings
    from workers import runtime
    from workers.__main__ import build_worker
    from workers.hospitals import HospitalServices
    from workers.services import Services

    saved = dict(os.environ)
    with tempfile.TemporaryDirectory() as many_dir:
        many_env, prefixes = registry_run(env, Path(many_dir), args.hospitals)
        try:
            os.environ.update(env)
            one = Services(load_settings(_env_file=None), worker=True)
            os.environ.update(many_env)
            many = HospitalServices.from_settings(load_settings(_env_file=None), worker=True)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        for services in (one, *many.all()):
            services.dialog
        setups = [("one hospital, no registry", one, ("",)), (f"registry of {args.hospitals}", many, prefixes)]
        cpu: dict[str, list[float]] = {label: [] for label, _, _ in setups}
        profiles: dict[str, cProfile.Profile] = {}
        # round 0: each hospital's clients made on first use, not counted; with --profile one more, profiled
        for n in range(rounds + 1 + args.profile):
            for label, services, run_prefixes in (setups if n % 2 == 0 else setups[::-1]):
                runtime.install(services)
                spread_backlog(connection, args.events, run_prefixes)
                worker = build_worker(services, connection=connection, queue_names=("line",))
                profiler = None
                if n > rounds:
                    profiler = profiles[label] = cProfile.Profile()
                started = time.process_time()
                if profiler:
                    profiler.enable()
                worker.work(burst=True, logging_level="WARNING")
                if profiler:
                    profiler.disable()
                if 0 < n <= rounds:
                    cpu[label].append(1000 * (time.process_time() - started) / len(Providers.replies))
        runtime.install(None)
    one_ms, many_ms = (median(cpu[label]) for label, _, _ in setups)
    print(f"  CPU per answered event, in process, {rounds} alternate rounds: one hospital {one_ms:.2f} ms, "
          f"{args.hospitals} hospitals {many_ms:.2f} ms = {one_ms / many_ms:.2f}x the events per CPU second")
    if profiles:  # one more round of each, profiled (not counted above): where the registry's extra time goes
        (one_label, _, _), (many_label, _, _) = setups
        one_stats, many_stats = (pstats.Stats(profiles[label]).stats for label in (one_label, many_label))
        added = sorted(((stat[2] - one_stats.get(func, (0, 0, 0.0))[2], stat[1] - one_stats.get(func, (0, 0))[1],
                         func) for func, stat in many_stats.items()), reverse=True)
        print(f"\n  profiled round: own time {sum(s[2] for s in one_stats.values()):.2f} s ({one_label}), "
              f"{sum(s[2] for s in many_stats.values()):.2f} s ({many_label}); the most own time added "
              f"(seconds, calls added, function):")
        for seconds, calls, (file, line, name) in added[:25]:
            print(f"    {seconds:+.3f} {calls:+7d}  {Path(file).name}:{line}({name})")


def registry_run(env: dict[str, str], directory: Path, count: int) -> tuple[dict[str, str], tuple[str, ...]]:
    """The environment of a registry of ``count`` hospitals in ``directory``, and their prefixes."""
    return {**env, **hospital_files(directory, count, env)}, tuple(f"h:h{n:02d}:" for n in range(count))


def bulk_work(connection, rows: int, mirror_items: int) -> str:
    """Queue a ``rows``-row MOPH push (bulk queue) and a LiveDesk mirror backlog (default queue)."""
    import datetime as dt

    from bot.appointments import parse_appointment
    from workers.appointments.notices import AppointmentNotices
    from workers.handoff.mirror_drains import queue_staff_note
    from workers.queues import BULK_QUEUE

    day = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    good = [parse_appointment({"appointment_id": f"B-{n:06d}", "cid": made_up_cid(n), "date": day,
                               "time": "09:00", "clinic": "คลินิกอายุรกรรม", "status": "booked"})
            for n in range(rows)]
    notices = AppointmentNotices(connection, key=("bench-" + "x" * 40).encode(), reminder_schedule="1d@09:00",
                                 prefix="")
    notices.submit(good, queue=BULK_QUEUE)
    for n in range(mirror_items):
        queue_staff_note(connection, f"U{(n % 300) + 10_000:032x}", f"bench-note-{n}", "บันทึกทดสอบ")
    return f"{rows}-row MOPH push + {mirror_items} mirror items"


if __name__ == "__main__":
    main()
