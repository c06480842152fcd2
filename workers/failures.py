"""What a failed job leaves behind: its exception's type and a masked message, never a traceback's
locals, the job's arguments or a message that may quote a patient.

RQ keeps a failed job's exception text (the failure result, for ``failure_ttl``: 14 days, ``workers/queues.py``)
and logs it with the job's arguments. ``python -m workers`` runs ``Worker`` (``workers/__main__.py``),
which routes both through ``failure_text``: our provider errors are written to be log-safe (and
are masked once more); any other exception (a ``ValueError`` quoting the text it could not read, a
``KeyError`` naming a phone number) is stored and logged by its type alone. The stack is logged
(file and line, no values), so a bug can still be found.
"""

from __future__ import annotations

import traceback

from bot.privacy import mask_numbers
from integrations.errors import ProviderError
from workers.user_queue import ItemMustWait, ItemsSetAside

#: Exceptions whose messages we write ourselves, with ids masked.
SAFE_MESSAGES = (ProviderError, ItemsSetAside, ItemMustWait)


def failure_text(exc: BaseException | None) -> str:
    """``Type: masked message`` for our own errors, ``Type`` (and a note) for any other."""
    if exc is None:
        return "unknown failure"
    name = type(exc).__name__
    if isinstance(exc, SAFE_MESSAGES):
        return f"{name}: {mask_numbers(str(exc))[:500]}"
    return f"{name} (message withheld: it may quote patient data)"


def stack_of(exc: BaseException | None) -> str:
    """Where it failed: file, line and function of each frame, no source lines and no values."""
    if exc is None or exc.__traceback__ is None:
        return ""
    frames = traceback.extract_tb(exc.__traceback__)
    return "\n".join(f'  File "{f.filename}", line {f.lineno}, in {f.name}' for f in frames)
