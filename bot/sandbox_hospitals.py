"""The registry of the sandbox serving two hospitals (``SANDBOX_HOSPITALS``), written as an operator
writes one (``bot/hospitals.py``): a file per hospital, each secret in a file of its own beside them,
named by a ``file:`` reference. The hospitals are ``bot.sandbox_settings.SANDBOX_HOSPITALS``.

``load_settings`` writes it whenever it reads the sandbox's settings with ``SANDBOX_HOSPITALS`` on, so it
is there before any process of the sandbox reads the registry. A file is rewritten only when what it
should say changed: a rewritten hospital file makes every process build that hospital again.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from bot.hospitals import PROCESS_WIDE
from bot.sandbox_settings import SANDBOX_HOSPITALS, sandbox_registry_dir
from bot.settings import Problem, Settings, SettingsError, is_secret

DATA = Path(__file__).parent / "data"
HEADER = "# A made-up hospital of the sandbox (SANDBOX_HOSPITALS), written by bot/sandbox_hospitals.py: edits are lost."


def write_registry(settings: Settings) -> str:
    """Write the sandbox's hospitals under VAR_DIR (what changed only); their directory."""
    directory = Path(sandbox_registry_dir(settings))
    try:
        for hospital_id, values in SANDBOX_HOSPITALS.items():
            _write(directory / f"{hospital_id}.toml", hospital_file(directory, hospital_id, values))
    except OSError as exc:
        raise SettingsError([Problem("SANDBOX_HOSPITALS", f"cannot write the sandbox's hospitals in {directory} "
                                     f"({exc.strerror}): VAR_DIR must be a directory this user can write")]) from None
    return str(directory)


def hospital_file(directory: Path, hospital_id: str, values: dict) -> str:
    """The hospital's TOML; its secrets written beside it, each in its own file (read by this user only)."""
    lines = [HEADER]
    for name, value in values.items():
        field = Settings.model_fields.get(name)
        if name in PROCESS_WIDE:
            continue  # the deployment's (OTP_SECRET): in the environment, never in a hospital's file
        if name == "bot_knowledge_file":
            value = str(DATA / value)
        elif field is not None and is_secret(field):
            path = (directory / "secrets" / f"{hospital_id}.{name}").resolve()
            _write(path, str(value), private=True)
            value = f"file:{path}"
        lines.append(f"{name} = {json.dumps(value)}")  # a JSON string or number is TOML's too
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str, private: bool = False) -> None:
    """Write ``text`` to ``path`` unless it says that already, in one rename (a reader never sees half)."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".sandbox-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    if not private:
        os.chmod(temporary, 0o644)  # mkstemp makes 0600: a secret stays so, a hospital file is for reading
    os.replace(temporary, path)
