"""What the staff commands print: never a terminal control sequence.

The commands print text that comes from outside: a HIS's CSV rows and the problems found in them,
providers' error messages, notice errors, LINE rich menus, set-aside events' reasons. An ANSI escape
in such text would act on the staff member's terminal (clear it, rewrite a line, set the window
title, hide what follows), and a bidi control would reorder what is shown. ``printable`` takes them
out; the commands print through ``echo`` and fail with ``CliError``.
"""

from __future__ import annotations

import re
import unicodedata

import click

# ESC sequences: CSI (ESC [ … final), OSC and the other string commands (ESC ] … BEL or ST; also
# ESC P, X, ^, _), and two-character escapes; C1's single-byte CSI (U+009B) likewise.
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]?"
                     r"|\x1b[\]PX^_].*?(?:\x07|\x1b\\|$)"
                     r"|\x1b[ -~]?"
                     r"|\x9b[0-?]*[ -/]*[@-~]?", re.DOTALL)
#: Bidi controls: embeddings, overrides, isolates and marks (``U+202E`` reverses what follows).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_KEPT = frozenset("\n\t")


def printable(text: object) -> str:
    """``text`` without escape sequences, control characters (a newline and a tab stay) and bidi
    controls. Thai, emoji and joiners stay as they are."""
    cleaned = _ESCAPE.sub("", str(text))
    return "".join(ch for ch in cleaned if ch in _KEPT or (unicodedata.category(ch) != "Cc" and ch not in _BIDI))


def echo(message: object = "", *, err: bool = False, nl: bool = True) -> None:
    """``click.echo`` of ``printable(message)``."""
    click.echo(printable(message), err=err, nl=nl)


class CliError(click.ClickException):
    """``click.ClickException`` whose message is printed ``printable``."""

    def __init__(self, message: object):
        super().__init__(printable(message))


def not_configured(message: str) -> CliError:
    """``CliError`` for a command whose settings are missing: ``message`` names what to set; the
    sandbox is offered to whoever has nothing set yet (or told why the running one is not used)."""
    from flask import current_app

    found = current_app.extensions.get("sandbox_note")
    text = f"{message} (in .env or the environment)"
    if found is not None and found.note is not None and found.why_not:
        text += f"\nThe sandbox running at {found.note.url} is not used: {found.why_not}."
    elif not current_app.config["SETTINGS"].sandbox:
        text += ("\nTo try it without accounts: `./dev serve` starts the sandbox (every provider simulated) "
                 "and these commands then use it.")
    return CliError(text)
