"""The note a running sandbox leaves in ``var/sandbox.json``, so that the staff commands find it.

``./dev serve`` in sandbox mode: gunicorn's master writes the note once it listens
(``gunicorn.conf.py``, ``when_ready``) and removes it when it exits cleanly. A ``flask …`` command
(``handlers/app.py``) reads it and talks to the sandbox's simulators and Redis without any variable
set, unless the environment or ``.env`` says otherwise: ``SANDBOX`` set either way, a real
credential, or a ``REDIS_URL`` other than the sandbox's. Real settings always win; the sandbox
refuses real credentials anyway (``bot.sandbox_settings.sandbox_problems``).

A killed sandbox leaves its note behind: a note whose process is gone, or whose URL does not answer
``/healthz`` as a sandbox within ``PROBE_SECONDS``, is stale and ignored (never deleted here: a
sandbox starting now may be writing it).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bot.settings import REAL_ACCOUNT_FIELDS, Settings, load_settings
from workers.embedded_redis import EmbeddedRedis

NOTE_NAME = "sandbox.json"
PROBE_SECONDS = 1.0
#: The sandbox is asked directly, never through an HTTP proxy of the environment.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class SandboxNote:
    url: str
    pid: int
    redis_url: str
    started: str
    path: Path
    hospitals: bool = False  # SANDBOX_HOSPITALS: a command then says which (--hospital a|b)


@dataclass(frozen=True)
class Found:
    """What a command found: a live ``note`` (or None), and ``why_not`` when it is not used."""

    note: SandboxNote | None = None
    why_not: str | None = None

    @property
    def used(self) -> bool:
        return self.note is not None and self.why_not is None


def note_path(var_dir: str | os.PathLike) -> Path:
    return Path(var_dir) / NOTE_NAME


def write_note(settings: Settings, pid: int) -> Path:
    """Write the note of the sandbox that ``settings`` run (in one rename: a reader never sees half)."""
    path = note_path(settings.var_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    note = {"url": settings.sandbox_url, "pid": pid,
            "redis_url": settings.redis_url or EmbeddedRedis(settings.var_dir).url,
            "hospitals": settings.sandbox_hospitals,
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".sandbox-", suffix=".json")
    with os.fdopen(handle, "w") as out:
        json.dump(note, out)
    os.replace(temporary, path)
    return path


def remove_note(var_dir: str | os.PathLike, pid: int) -> bool:
    """Remove the note if process ``pid`` wrote it (another sandbox may have written its own since)."""
    note = read_note(var_dir)
    if note is None or note.pid != pid:
        return False
    note.path.unlink(missing_ok=True)
    return True


def read_note(var_dir: str | os.PathLike) -> SandboxNote | None:
    """The note as written, or None (absent or unreadable)."""
    path = note_path(var_dir)
    try:
        raw = json.loads(path.read_text())
        return SandboxNote(str(raw["url"]).rstrip("/"), int(raw["pid"]), str(raw["redis_url"]),
                           str(raw.get("started", "")), path, raw.get("hospitals") is True)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def live_note(var_dir: str | os.PathLike) -> SandboxNote | None:
    """The note, if its sandbox is running: its process is there and its URL answers as a sandbox."""
    note = read_note(var_dir)
    if note is None or not _process_exists(note.pid) or not _answers_as_sandbox(note.url):
        return None
    return note


def with_sandbox(settings: Settings) -> tuple[Settings, Found]:
    """For a staff command: the running sandbox's settings when nothing set says otherwise, else
    ``settings`` as they are (with why a live note was not used)."""
    note = live_note(settings.var_dir)
    if note is None:
        return settings, Found()
    if why_not := _set_otherwise(settings, note):
        return settings, Found(note, why_not)
    return load_settings(sandbox=True, sandbox_url=note.url, redis_url=note.redis_url,
                         sandbox_hospitals=note.hospitals), Found(note)


def _set_otherwise(settings: Settings, note: SandboxNote) -> str | None:
    if "sandbox" in settings.model_fields_set:
        return "SANDBOX is set"
    real = [name.upper() for name in REAL_ACCOUNT_FIELDS if _given(getattr(settings, name))]
    if real:
        return f"real settings are set ({', '.join(real)})"
    if settings.redis_url and settings.redis_url != note.redis_url:
        return "REDIS_URL names another Redis"
    return None


def _given(value) -> bool:
    return (value.get_secret_value() if isinstance(value, SecretStr) else value) not in (None, "")


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    except (OSError, OverflowError):
        return False
    return True


def _answers_as_sandbox(url: str) -> bool:
    """``/healthz`` answers 200 with the sandbox's ``X-Sandbox`` header (not another server that took
    the port since)."""
    try:
        with _NO_PROXY.open(f"{url}/healthz", timeout=PROBE_SECONDS) as answer:
            return answer.status == 200 and answer.headers.get("X-Sandbox") is not None
    except (urllib.error.URLError, OSError, ValueError):
        return False
