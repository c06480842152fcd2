"""The service's own settings, as field groups of ``bot.settings.Settings``: core (Redis, logs, the web
process), the LINE channel and the bot's knowledge, and retention (PDPA). Each group holds its fields and
their checks; the providers of the features are in ``bot.settings_providers``, and what spans groups (rotating
secrets, URLs, what a feature needs) in ``bot.settings``, which re-exports the public names here.
"""

from __future__ import annotations

import os

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator

BASE_URL = re.compile(r"^https?://[^\s/]+(:\d+)?(/[^\s]*)?$")
#: LINE's channel secret: 32 hexadecimal characters (provider notes). A long-lived channel access token is
#: a long opaque string (about 172 base64 characters; v2.1 tokens are JWT-like, with "." "-" "_"): a short
#: one, or one with spaces ("Bearer …", quotes), is a paste of something else.
_LINE_SECRET = re.compile(r"^[0-9a-fA-F]{32}$")
_LINE_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9+/=._-]+$")
LINE_TOKEN_MIN_LENGTH = 100
REDIS_URL_EXAMPLE = "redis://localhost:6379/0"
MIN_SECRET_LENGTH = 32
#: The example of a secret the service only needs to be long and random.
RANDOM_EXAMPLE = "<32+ random characters: python -c 'import secrets; print(secrets.token_urlsafe(32))'>"


class CoreFields(BaseModel):
    """Redis, logs, the web process and the sandbox."""

    redis_url: str | None = Field(
        None, description="Redis for queues and state: redis://host:port/db, rediss:// (TLS) or unix:///path; "
                          "unset = an embedded server under VAR_DIR", examples=["redis://localhost:6379/0"])
    var_dir: str = Field("var", description="Where the embedded Redis keeps its data and socket")
    redis_sentinels: str | None = Field(
        None, description="Redis Sentinel addresses, 'host:port,host:port' (high availability; replaces REDIS_URL's "
                          "host: the master is asked of the sentinels)",
        examples=["sentinel-1.example:26379,sentinel-2.example:26379"])
    redis_sentinel_master: str = Field("mymaster", description="The master's name the sentinels monitor")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="DEBUG, INFO, WARNING or ERROR")
    max_webhook_bytes: int = Field(1_000_000, ge=1_000, description="Largest request body accepted (bytes, at "
                                   "least 1000); larger ones get 413")
    sandbox: bool = Field(False, description="Simulate every provider on this server (handlers/sandbox); never in "
                          "production. ./dev serve turns it on when no LINE credentials are set")
    sandbox_url: str = Field("http://127.0.0.1:8000", description="This server as its own processes reach it, in "
                             "sandbox mode")
    sandbox_public_token: SecretStr | None = Field(
        None, description="Lets the sandbox listen beyond loopback: its page then needs this token (at least 32 "
                          "characters), given once as ?token=; unset = loopback only",
        examples=[RANDOM_EXAMPLE])
    sandbox_hospitals: bool = Field(False, description="The sandbox serving two made-up hospitals from a registry it "
                                    "writes under VAR_DIR (./dev serve --hospitals; docs/sandbox.md)")
    web_host: str | None = Field(
        None, description="The address the web process listens on: the Procfile binds ${WEB_HOST:-0.0.0.0}, and "
                          "gunicorn.conf.py sets it to what gunicorn really binds; unset elsewhere (a server of "
                          "its own: tests, flask run) = loopback", examples=["127.0.0.1"])
    hospitals_dir: str | None = Field(
        None, description="A directory of hospital files (one .toml per hospital: docs/hospitals.md) for a "
                          "deployment serving several hospitals; unset = one hospital, from these settings",
        examples=["hospitals"])
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token for GET /metrics (at least 32 characters); unset = 404",
        examples=[RANDOM_EXAMPLE])

    @field_validator("hospitals_dir")
    @classmethod
    def _a_directory(cls, value: str | None) -> str | None:
        # A mistyped path would serve no hospital at all, silently: every webhook a 404.
        if value is not None and not value.strip():
            return None
        if value is not None and not os.path.isdir(value):
            raise ValueError(f"{value!r} is not a directory (the hospitals' files: docs/hospitals.md)")
        return value

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _empty_token_is_unset(cls, value):
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("metrics_token")
    @classmethod
    def _long_token(cls, value: SecretStr | None) -> SecretStr | None:
        # The metrics name queues, backlogs and provider failures: a guessable token gives them away.
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters "
                             "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        return value

    @field_validator("redis_sentinels")
    @classmethod
    def _redis_sentinels(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        for address in value.split(","):
            host, _, port = address.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected 'host:port,host:port', got {address.strip()!r}")
        return value

    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """``REDIS_SENTINELS`` as (host, port) pairs (empty: no Sentinel)."""
        pairs = []
        for address in (self.redis_sentinels or "").split(","):
            if address.strip():
                host, _, port = address.strip().rpartition(":")
                pairs.append((host, int(port)))
        return pairs

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if problem := redis_url_problem(value):
            raise ValueError(problem)
        return value


class LineFields(BaseModel):
    """The LINE Messaging API channel, and the files of the bot's knowledge."""

    line_channel_secret: SecretStr | None = Field(
        None, description="The channel secret (LINE Developers console > your Messaging API channel > Basic "
                          "settings): 32 hexadecimal characters; checks that webhooks come from LINE",
        examples=["0123456789abcdef0123456789abcdef"])
    line_channel_access_token: SecretStr | None = Field(
        None, description="The long-lived channel access token (same console, Messaging API tab, 'Channel access "
                          "token (long-lived)' > Issue): about 170 characters; sends the bot's replies",
        examples=["<the long-lived token, about 170 characters of letters, digits, + / =>"])
    line_api_base_url: str = Field("https://api.line.me", description="LINE Messaging API")
    line_data_api_base_url: str = Field("https://api-data.line.me", description="LINE content API (images, files, "
                                        "rich menu images)")
    line_timeout_seconds: float = Field(10.0, gt=0, le=60, description="Seconds per LINE call (at most 60)")
    bot_knowledge_file: str | None = Field(None, description="Knowledge base YAML; unset = the shipped default",
                                           examples=["/etc/hospital-bot/knowledge.yaml"])
    bot_lexicon_file: str | None = Field(None, description="The hospital's own words (regional, romanised, "
                                         "misspellings) read over the shipped lexicon; unset = the shipped one",
                                         examples=["/etc/hospital-bot/lexicon.yaml"])
    bot_languages_file: str | None = Field(None, description="Answers and emergency phrases for Myanmar, Khmer and "
                                           "Lao script; unset = the shipped file",
                                           examples=["/etc/hospital-bot/languages.yaml"])

    @field_validator("line_channel_secret")
    @classmethod
    def _line_channel_secret(cls, value: SecretStr | None) -> SecretStr | None:
        secret = plain(value).strip() if value is not None else ""
        if secret and not _LINE_SECRET.match(secret):
            odd = " and characters other than 0-9, a-f" if re.search(r"[^0-9a-fA-F]", secret) else ""
            raise ValueError(f"must be 32 hexadecimal characters (0-9, a-f): the Channel secret on the Basic "
                             f"settings tab of the LINE Developers console; this one has {len(secret)} "
                             f"character{'s' if len(secret) != 1 else ''}{odd}")
        return SecretStr(secret) if value is not None else None

    @field_validator("line_channel_access_token")
    @classmethod
    def _line_channel_access_token(cls, value: SecretStr | None) -> SecretStr | None:
        token = plain(value).strip() if value is not None else ""
        if token and not _LINE_TOKEN_CHARS.match(token):
            raise ValueError("must be the channel access token alone: letters, digits and + / = . _ - only "
                             "(no spaces, quotes or 'Bearer ')")
        if token and len(token) < LINE_TOKEN_MIN_LENGTH:
            raise ValueError(f"must be the long-lived channel access token (Messaging API tab of the LINE "
                             f"Developers console), about 170 characters; this one has {len(token)}, "
                             f"fewer than {LINE_TOKEN_MIN_LENGTH}")
        return SecretStr(token) if value is not None else None


class RetentionFields(BaseModel):
    """Retention (PDPA): how long Redis keeps what identifies a patient."""

    verified_phone_retention_days: int = Field(365, ge=1, le=5 * 365, description="Days the verified number of a "
                                               "LINE user is kept, from its last verification")
    bot_unanswered_days: int = Field(30, ge=0, le=365, description="Days the phrasings the bot could not "
                                     "answer are kept for `flask bot unanswered` (masked, no user id); 0 = "
                                     "not recorded")


def redis_url_problem(url: str) -> str | None:
    """What is wrong with the form of a REDIS_URL (its scheme, host, port or database), or None. The
    URL itself is never repeated: it may hold a password."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in ("redis", "rediss", "unix"):
        return ("must start with redis://, rediss:// (TLS, e.g. rediss://:PASSWORD@redis.example.com:6380/0) "
                "or unix:// (e.g. unix:///path/redis.sock)")
    if scheme == "unix":
        return None if urlsplit(url).path else "unix:// needs the socket's path, e.g. unix:///path/redis.sock"
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return f"has no host after {scheme}://"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None and parts.netloc.rpartition("@")[2].count(":") == 1 or port == 0:
        port_text = parts.netloc.rpartition("@")[2].rpartition(":")[2]
        return f"the port {port_text[:12]!r} after host {host} is not a number from 1 to 65535"
    db = parts.path.strip("/")
    if db and not db.isdigit():
        return "the database after host and port must be a number, such as /0"
    return None


def is_set(value) -> bool:
    """An empty secret is no secret: ``LINE_CHANNEL_SECRET=`` must not verify signatures made with ""."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value not in (None, "")


def plain(value) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)
