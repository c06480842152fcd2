"""The hospitals one deployment serves: a directory of files an operator edits, one per hospital.

``hospitals/b.toml`` is hospital ``b``. Its keys are the per-hospital settings (the names of
``.env.example`` in lower case) plus ``line_bot_user_id``; secrets are given by reference only,
``env:NAME`` or ``file:/path``, so the directory can be shown, copied and reviewed. The process-wide
settings (Redis, logs, provider URLs) stay in the environment. Without ``HOSPITALS_DIR`` the
environment is the one implicit hospital, exactly as before (its keys, queues and routes unprefixed).

Each file is checked alone: its problems are one block under its name, and a broken file disables
that hospital only. ``Registry.refresh()`` re-reads what changed (by modification time), so adding,
changing or disabling a hospital needs no restart.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import ValidationError

from bot.settings import CoreFields, Problem, Settings, SettingsError, is_secret, problems_of

#: The one hospital of a deployment without a registry: today's keys, queues and routes, unprefixed.
IMPLICIT = "default"
HOSPITAL_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
LINE_USER_ID = re.compile(r"^U[0-9a-f]{32}$")

#: Settings the whole deployment shares: Redis, logs, the web process, and the providers' addresses.
PROCESS_WIDE = frozenset(CoreFields.model_fields) | {
    "line_api_base_url", "line_data_api_base_url", "line_timeout_seconds", "oho_base_url", "livedesk_base_url",
    "sepsms_base_url", "thaibulksms_base_url", "moph_alert_base_url", "moph_token_url", "moph_send_now_path",
    "moph_upload_data_path", "moph_upload_data_json_path", "moph_upload_message_path",
    "moph_send_now_messages_key", "hospitals_dir",
    # One key of every HMAC in Redis: a phone number has one digest in every hospital, so its OTP send
    # budget is counted across them (workers/verification/store.py).
    "otp_secret"}
#: Values two hospitals may not share: each names one hospital to a provider or to a caller.
UNIQUE = ("line_bot_user_id", "line_channel_secret", "line_channel_access_token", "moph_hospital_code",
          "livedesk_webhook_token", "livedesk_webhook_secret", "thaibulksms_webhook_token", "sepsms_webhook_secret",
          "appointments_api_token")


@dataclass(frozen=True)
class Hospital:
    """One hospital: its id, its settings (the process-wide ones included) and its LINE bot's user id
    (a LINE webhook's ``destination``; None for the implicit hospital, which does not check it)."""

    id: str
    settings: Settings
    bot_user_id: str | None = None

    @property
    def prefix(self) -> str:
        """What every Redis key and queue name of this hospital starts with."""
        return "" if self.id == IMPLICIT else f"h:{self.id}:"

    def unique_values(self) -> list[tuple[str, str]]:
        """(setting, value) of each ``UNIQUE`` value set; a token being rotated (``new,old``) gives both."""
        pairs = [("line_bot_user_id", self.bot_user_id)] if self.bot_user_id else []
        for name in UNIQUE:
            value = getattr(self.settings, name, None) if name != "line_bot_user_id" else None
            text = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            pairs += [(name, part.strip()) for part in str(text or "").split(",") if part.strip()]
        return pairs


class _FileSettings(Settings):
    """A hospital's settings: only what it is given (its file and the process-wide settings), never the
    environment's or ``.env``'s values, which belong to the implicit hospital."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **sources):
        return (init_settings,)


def read_hospital(path: Path, process: Settings) -> Hospital:
    """The hospital of one file; ``SettingsError`` lists every problem in it."""
    hospital_id = path.stem
    problems = [] if HOSPITAL_ID.match(hospital_id) and hospital_id != IMPLICIT else [Problem(
        "file name", f"{path.name}: a hospital's id is its file name: 1-32 of a-z, 0-9 and -, not "
                     f"{IMPLICIT!r}", "hospitals/hospital-b.toml")]
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError([*problems, Problem(path.name, f"cannot be read as TOML: {exc}")]) from None
    enabled = raw.pop("enabled", True)
    if enabled is False:
        raise Disabled(hospital_id)
    if enabled is not True:
        problems.append(Problem("enabled", "must be true or false (false: switched off, its webhooks answer 503)"))
    values, found = _values(raw)
    problems += found
    bot_user_id = values.pop("line_bot_user_id", None)
    if not isinstance(bot_user_id, str) or not LINE_USER_ID.match(bot_user_id):
        problems.append(Problem("LINE_BOT_USER_ID", "must be the bot's user id: U and 32 hexadecimal characters "
                                "(LINE Developers console > Basic settings > Your user ID)", "U" + "0" * 32))
    shared = {name: getattr(process, name) for name in PROCESS_WIDE if name in Settings.model_fields}
    try:
        settings = _FileSettings(**shared, **values)
    except ValidationError as exc:  # the same words as at start-up
        found = [replace(p, what=f"{p.what} (in the environment: every hospital's, not in this file)")
                 if p.name.lower() in PROCESS_WIDE else p for p in problems_of(exc, Settings.model_fields)]
        raise SettingsError(problems + found) from None
    if problems:
        raise SettingsError(problems)
    return Hospital(hospital_id, settings, bot_user_id)


def _values(raw: dict) -> tuple[dict, list[Problem]]:
    """The file's settings with secret references resolved, and what is wrong with them."""
    values, problems = {}, []
    for key, value in raw.items():
        name = key.lower()
        fieldinfo = Settings.model_fields.get(name)
        if name == "line_bot_user_id":
            values[name] = value
        elif fieldinfo is None:
            problems.append(Problem(key.upper(), "is not a setting (see .env.example for the names)"))
        elif name in PROCESS_WIDE:
            problems.append(Problem(key.upper(), "is shared by every hospital: set it in the environment, "
                                                 "not in a hospital's file"))
        elif is_secret(fieldinfo):
            secret, problem = _resolve(key.upper(), value)
            if problem:
                problems.append(problem)
            else:
                values[name] = secret
        else:
            values[name] = value
    return values, problems


def _resolve(name: str, reference) -> tuple[str | None, Problem | None]:
    """A secret from ``env:NAME`` or ``file:/path`` (never written in the file itself)."""
    how, _, where = str(reference).partition(":")
    if how == "env" and where:
        if os.environ.get(where, "").strip():
            return os.environ[where].strip(), None
        return None, Problem(name, f"refers to the environment variable {where}, which is not set")
    if how == "file" and where:
        try:
            return Path(where).read_text(encoding="utf-8").strip(), None
        except OSError as exc:
            return None, Problem(name, f"refers to the file {where}, which cannot be read ({exc.strerror})")
    return None, Problem(name, "a secret is given by reference, never written in the file: env:NAME or "
                               "file:/path", f"env:{name}")


@dataclass
class _Entry:
    stamp: tuple
    hospital: Hospital | None  # None: not served (broken, disabled, or refused for a duplicate)
    problems: list[Problem] = field(default_factory=list)
    disabled: bool = False
    read: Hospital | None = None  # as its file reads, before the duplicates are looked for


class Disabled(Exception):
    """The file says ``enabled = false``: the hospital is switched off, its file kept."""


class Registry:
    """The hospitals of one directory, re-read when a file changes (``refresh``); or, without a
    directory, the one implicit hospital of the process's settings."""

    def __init__(self, process: Settings, directory: str | Path | None = None):
        self.process = process
        self.directory = Path(directory) if directory else None
        self._entries: dict[str, _Entry] = {}
        if self.directory is None:
            self._entries[IMPLICIT] = _Entry((), Hospital(IMPLICIT, process))
        else:
            self.refresh()

    @property
    def implicit(self) -> bool:
        return self.directory is None

    def refresh(self) -> bool:
        """Re-read the files that changed, appeared or went; True if anything did."""
        if self.directory is None:
            return False
        try:  # the directory itself gone for a moment (a remount): keep the last good read
            if not self.directory.is_dir():
                return False
            paths = {path.stem: path for path in self.directory.glob("*.toml") if path.is_file()}
        except OSError:
            return False
        # Built aside and swapped in whole: a worker's maintenance thread reads ``hospitals()`` meanwhile.
        entries = {hid: entry for hid, entry in self._entries.items() if hid in paths}
        changed = [hid for hid in self._entries if hid not in paths]
        for hid, path in sorted(paths.items()):
            try:
                stat = path.stat()
            except OSError:
                continue
            stamp = (stat.st_mtime_ns, stat.st_size)
            entry = entries.get(hid)
            if entry is not None and entry.stamp == stamp:
                continue
            changed.append(hid)
            try:
                hospital = read_hospital(path, self.process)
                entries[hid] = _Entry(stamp, hospital, read=hospital)
            except SettingsError as exc:
                entries[hid] = _Entry(stamp, None, exc.problems)
            except Disabled:
                entries[hid] = _Entry(stamp, None, disabled=True)
        if changed:
            entries = _refuse_duplicates(entries)
        self._entries = entries
        return bool(changed)

    def get(self, hospital_id: str) -> Hospital | None:
        """The working hospital of that id (None: unknown, broken or refused)."""
        entry = self._entries.get(hospital_id)
        return entry.hospital if entry else None

    def known(self, hospital_id: str) -> bool:
        return hospital_id in self._entries

    def hospitals(self) -> list[Hospital]:
        return [e.hospital for _, e in sorted(self._entries.items()) if e.hospital is not None]

    def problems(self) -> dict[str, list[Problem]]:
        """Each broken hospital's problems, by id."""
        return {hid: e.problems for hid, e in sorted(self._entries.items()) if e.hospital is None and not e.disabled}

    def disabled(self) -> list[str]:
        """The hospitals switched off by their files (``enabled = false``)."""
        return [hid for hid, e in sorted(self._entries.items()) if e.disabled]

    def problems_report(self) -> str:
        """One block per broken hospital file, named as the operator finds it."""
        return "\n".join(f"{self.directory / hid}.toml: {len(found)} to fix\n" + "\n".join(p.line() for p in found)
                         for hid, found in self.problems().items())


def _refuse_duplicates(entries: dict[str, _Entry]) -> dict[str, _Entry]:
    # A value two files claim stays with the older file (then the id first in order): the hospital
    # already served keeps it when a copy arrives, and every process, started whenever, agrees.
    # Every file is looked at again, so a value whose other claimant went is served again.
    owners: dict[tuple[str, str], str] = {}
    decided = dict(entries)
    for hid in sorted((h for h, e in entries.items() if e.read is not None), key=lambda h: (entries[h].stamp, h)):
        entry = entries[hid]
        values = entry.read.unique_values()
        clash = sorted({(name, owners[(name, value)]) for name, value in values if (name, value) in owners})
        if clash:
            decided[hid] = replace(entry, hospital=None, problems=[
                Problem(name.upper(), f"is also in {other}.toml: each hospital has its own") for name, other in clash])
            continue
        decided[hid] = replace(entry, hospital=entry.read, problems=[])
        owners.update({(name, value): hid for name, value in values})
    return decided
