"""What a process checks before it starts: the settings, then whether their Redis answers.

Every Procfile process (the web's gunicorn master in ``gunicorn.conf.py``, the workers in
``workers/__main__.py``) and ``./dev serve`` (``python -m workers.start_up``, once, before the
processes) stop here with ONE block on stderr, every problem a line, and exit status 2; never with
a traceback, and never after ten seconds of retries against a Redis that is not there.

A Redis that does not answer is a problem of the environment, not of the setting's form: its line
says so. The embedded Redis (no ``REDIS_URL``) is not checked: the process starts it itself.
"""

from __future__ import annotations

import sys

import redis
from redis.sentinel import Sentinel

from bot.settings import Problem, Settings, SettingsError, example_of, exit_with, load_settings

#: Seconds to wait for a Redis or a Sentinel to accept the connection and answer PING.
CONNECT_SECONDS = 3.0


#: The settings that say where Redis is: while one of them is malformed, Redis is not tried.
REDIS_FIELDS = {"redis_url", "redis_sentinels", "redis_sentinel_master", "var_dir"}


def start_up_problems(settings: Settings | None = None) -> tuple[Settings | None, list[Problem]]:
    """The settings (None if they are malformed) and every problem found, Redis's among them: with other
    settings malformed, Redis is still tried (with those set to their defaults), so that one round of
    fixes is enough."""
    if settings is not None:
        return settings, redis_problems(settings)
    try:
        settings = load_settings()
    except SettingsError as exc:
        problems = exc.problems or [Problem("settings", str(exc))]
        return None, problems + redis_problems_despite(problems)
    return settings, redis_problems(settings)


def redis_problems_despite(problems: list[Problem]) -> list[Problem]:
    """Redis's problems while other settings are malformed (those set to their defaults for the try)."""
    fields = Settings.model_fields
    named = {problem.name.lower() for problem in problems}
    if named & REDIS_FIELDS or not named <= set(fields):
        return []
    try:
        settings = load_settings(**{name: fields[name].default for name in named})
    except SettingsError:
        return []  # a problem of the whole (the sandbox's) that defaults do not undo
    return redis_problems(settings)


def settings_or_exit() -> Settings:
    """The settings of a process about to start, or the one block and exit status 2."""
    settings, problems = start_up_problems()
    if problems:
        exit_with(problems)
    return settings


def redis_problems(settings: Settings) -> list[Problem]:
    """Whether the Redis of these settings answers: REDIS_URL's server, or the Sentinels and the master
    they name. One plain line per problem (what was tried, what happened, what to do)."""
    if settings.redis_sentinels:
        return _sentinel_problems(settings)
    if not settings.redis_url:
        return []  # the embedded server, started by whoever needs it
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=CONNECT_SECONDS,
                                  socket_timeout=CONNECT_SECONDS, retry_on_timeout=False)
    try:
        client.ping()
    except redis.AuthenticationError:
        return [Problem("REDIS_URL", f"the Redis at {_where(settings.redis_url)} refused the user name or "
                        "password in REDIS_URL", "rediss://:PASSWORD@redis.example.com:6380/0", environment=True)]
    except (redis.RedisError, OSError) as exc:
        return [Problem("REDIS_URL", f"no Redis answers at {_where(settings.redis_url)} ({_reason(exc)}): the "
                        "setting's form is right, but that server is not running or not reachable from here. "
                        "Start it, or correct the host and port", example_of("redis_url"), environment=True)]
    finally:
        client.close()
    return []


def _sentinel_problems(settings: Settings) -> list[Problem]:
    sentinel = Sentinel(settings.sentinel_addresses(), socket_timeout=CONNECT_SECONDS,
                        socket_connect_timeout=CONNECT_SECONDS)
    answering = []
    for (host, port), client in zip(settings.sentinel_addresses(), sentinel.sentinels):
        try:
            client.ping()
            answering.append(f"{host}:{port}")
        except (redis.RedisError, OSError):
            pass
        finally:
            client.close()
    if not answering:
        return [Problem("REDIS_SENTINELS", f"no Sentinel answers at {settings.redis_sentinels} (refused or timed "
                        "out): they are not running or not reachable from here", example_of("redis_sentinels"),
                        environment=True)]
    try:
        sentinel.discover_master(settings.redis_sentinel_master)
    except (redis.RedisError, OSError):
        return [Problem("REDIS_SENTINEL_MASTER", f"the Sentinels at {', '.join(answering)} know no master named "
                        f"{settings.redis_sentinel_master!r}: use the name they monitor",
                        example_of("redis_sentinel_master"), environment=True)]
    return []


def _where(url: str) -> str:
    """Host and port (or socket path) of a Redis URL, without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname}:{parts.port or 6379}"


def _reason(exc: BaseException) -> str:
    text = str(exc).lower()
    for words, reason in (("refused", "connection refused"), ("timed out", "timed out"),
                          ("name or service not known", "unknown host"), ("no such file", "no such socket"),
                          ("temporary failure in name resolution", "unknown host")):
        if words in text:
            return reason
    return type(exc).__name__


def main() -> int:
    """``python -m workers.start_up``: check only (``./dev serve`` runs it before its processes)."""
    settings_or_exit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
