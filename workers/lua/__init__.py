"""Every Lua script of the service, one ``<name>.lua`` file each in this directory, and the one way to run them.

Each file opens with a header: its KEYS, its ARGV, what it returns and why it must be atomic.
Constants (TTLs, lengths, field names) are passed as ARGV, never written into a script, so that a
script's text, and so its SHA, does not depend on the Python around it.

``run(client, name, keys, args)``:
- on a client, redis-py's ``Script``: EVALSHA, and on NOSCRIPT (a failover to a replica that has
  not cached the script, a ``SCRIPT FLUSH``, a restarted server) the script is loaded and run again;
- on a pipeline or transaction, EVAL with the script's text. redis-py's ``Script`` would make the
  pipeline ask ``SCRIPT EXISTS`` before each ``execute`` (one more round trip, on the webhook's and
  the turn's paths); EVAL carries the text, so it cannot meet NOSCRIPT, and the server caches it.
  The answer is then among the pipeline's results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

from redis.client import Pipeline
from redis.commands.core import Script

FOLDER = Path(__file__).resolve().parent

# Bytes: redis-py then needs no client for the digest, and one Script serves every connection.
SCRIPTS: dict[str, Script] = {path.stem: Script(None, path.read_bytes()) for path in sorted(FOLDER.glob("*.lua"))}


def run(client, name: str, keys: Sequence[Any] = (), args: Iterable[Any] = ()) -> Any:
    """Run the script ``name`` (``<name>.lua``) with ``keys`` and ``args`` on ``client`` (a Redis
    client, or a pipeline: then the answer comes with its results and None is returned here)."""
    script = SCRIPTS[name]
    keys, args = list(keys), list(args)
    if isinstance(client, Pipeline):
        client.eval(script.script, len(keys), *keys, *args)
        return None
    return script(keys=keys, args=args, client=client)
