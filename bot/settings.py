"""Settings from the environment (and an optional ``.env``), typed and checked once at start-up.

Every problem is reported at once, in one ``SettingsError``: each a ``Problem`` (the setting, what is
wrong, a right value), printed as one block; a process stopped by them exits 2 (``settings_or_exit``;
``workers/start_up.py`` adds whether Redis answers). Each field has a description and an example, of
which ``.env.example`` is written (``python -m bot.env_example``). Secrets are
``SecretStr``: their repr is ``**********`` and they are read with
``.get_secret_value()`` only where a request is signed or sent.

Provider credentials are optional so that the service starts (and the staff
CLI works) before a hospital has filled them in; ``missing_for()`` names what a
feature still lacks, and the features refuse to run without it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.settings_problems import (  # noqa: F401 (re-exported: importers name them from bot.settings)
    SETTINGS_EXIT,
    NotConfigured,
    Problem,
    SettingsError,
    exit_with,
    field_example,
    is_secret,
    problems_block,
    problems_of,
)

_BASE_URL = re.compile(r"^https?://[^\s/]+(:\d+)?(/[^\s]*)?$")
_LINE_USER_ID = re.compile(r"^U[0-9a-f]{32}$")
_LINE_CHANNEL_ID = re.compile(r"^\d{6,20}$")
#: LINE's channel secret: 32 hexadecimal characters (provider notes). A long-lived channel access token is
#: a long opaque string (about 172 base64 characters; v2.1 tokens are JWT-like, with "." "-" "_"): a short
#: one, or one with spaces ("Bearer …", quotes), is a paste of something else.
_LINE_SECRET = re.compile(r"^[0-9a-fA-F]{32}$")
_LINE_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9+/=._-]+$")
LINE_TOKEN_MIN_LENGTH = 100
#: SEPSMS REST API v2, "รับ API Key": "คีย์มีรูปแบบ sk_sep_" (keys have the form sk_sep_…).
_SEPSMS_KEY = re.compile(r"^sk_sep_[A-Za-z0-9_-]+$")
REDIS_URL_EXAMPLE = "redis://localhost:6379/0"
#: A neutral silhouette (Gravatar's "mystery person", no hash: nobody's picture), for Oho
#: contacts of LINE users without a profile picture.
DEFAULT_AVATAR_URL = "https://www.gravatar.com/avatar/?d=mp&s=256"
#: Secrets a caller proves itself with. Each holds one value, or two separated by a comma while it
#: is rotated ("new,old"): both are accepted until the old one is removed.
ROTATING_SECRETS = ("livedesk_webhook_token", "livedesk_webhook_secret", "sepsms_webhook_secret",
                    "thaibulksms_webhook_token", "appointments_api_token")
MIN_SECRET_LENGTH = 32
#: The example of a secret the service only needs to be long and random.
RANDOM_EXAMPLE = "<32+ random characters: python -c 'import secrets; print(secrets.token_urlsafe(32))'>"


#: Settings that no longer exist: setting one stops start-up saying where its value lives now
#: (not in .env.example).
RETIRED_SETTINGS = ("hospital_name",)


class Settings(BaseSettings):
    """Every setting, read from the environment or ``.env`` (names in capitals there). Each field has a
    description and an example (its ``examples``, else its default): start-up errors and
    ``.env.example`` (written by ``python -m bot.env_example``) are made of them."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore", case_sensitive=False)

    # --- core -----------------------------------------------------------
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
    web_host: str | None = Field(
        None, description="The address the web process listens on: the Procfile binds ${WEB_HOST:-0.0.0.0}, and "
                          "gunicorn.conf.py sets it to what gunicorn really binds; unset elsewhere (a server of "
                          "its own: tests, flask run) = loopback", examples=["127.0.0.1"])
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token for GET /metrics (at least 32 characters); unset = 404",
        examples=[RANDOM_EXAMPLE])

    # --- LINE -----------------------------------------------------------
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

    # --- Oho Chat + LiveDesk (handoff) --------------------------------------
    oho_api_key: SecretStr | None = Field(None, description="Oho Chat developer API key (Oho generates it for you)",
                                          examples=["<the key Oho gave you>"])
    oho_base_url: str = Field("https://api.developer.oho.chat", description="Oho Chat developer API")
    # Oho Chat developer API, "2. Contact API": contact endpoints take the bot's user id only;
    # "3. Chat API": request-agent / close-chat also take the provider's channel id.
    oho_platform_id: str | None = Field(None, description="The bot's LINE user id (U…) for contacts; unset = read "
                                        "from LINE", examples=["U0123456789abcdef0123456789abcdef"])
    oho_chat_platform_id: str | None = Field(None, description="For chat endpoints: bot user id or channel id; "
                                             "unset = OHO_PLATFORM_ID", examples=["1234567890"])
    # Oho Chat developer API, "2.2 Create Contact": profile_picture_url is required, and LINE
    # has no pictureUrl for users without a picture.
    oho_default_avatar_url: str = Field(DEFAULT_AVATAR_URL, description="https URL sent as the picture of LINE "
                                        "users without one (Oho requires a picture)")
    livedesk_api_key: SecretStr | None = Field(None, description="LiveDesk API key (LiveDesk's API Key page)",
                                               examples=["<your LiveDesk API key>"])
    livedesk_api_secret: SecretStr | None = Field(None, description="LiveDesk API secret (same page)",
                                                  examples=["<your LiveDesk API secret>"])
    livedesk_base_url: str = Field("https://livedesk-api.engagelab.com", description="LiveDesk API")
    livedesk_inbox_id: int | None = Field(None, description="The id of the LiveDesk API inbox the conversations "
                                          "go to (a number)", examples=[79])
    livedesk_attachment_hosts: str | None = Field(
        None, description="Hosts (comma-separated) whose agent attachments are shown to patients; unset = "
                          "the host of LIVEDESK_BASE_URL only", examples=["files.example.com:443"])
    livedesk_webhook_token: SecretStr | None = Field(
        None, description="Secret path segment of the webhook URL to set in LiveDesk: "
                          "https://<host>/webhooks/livedesk/<token>; at least 32 characters ('new,old' while "
                          "rotating); unset = 404",
        examples=[RANDOM_EXAMPLE])
    livedesk_webhook_secret: SecretStr | None = Field(
        None, description="If set, a Chatwoot-style X-Chatwoot-Signature is required on LiveDesk webhooks (at "
                          "least 32 characters, 'new,old' while rotating)",
        examples=["<the webhook secret set in LiveDesk, 32+ characters>"])
    # Agents' messages pushed to patients, and LiveDesk's resolutions and first agent messages acted on, only
    # once read back from LiveDesk (Chatwoot's reads, which LiveDesk has: provider notes). on: always, what
    # cannot be read back is held; auto: the same, unless a conversation known to exist cannot be read either
    # (a LiveDesk without the reads): then unconfirmed for an hour; off: the webhook is trusted.
    livedesk_read_back: Literal["auto", "on", "off"] = Field(
        "on", description="on, auto or off: read back from LiveDesk what its webhook says before acting on it "
                          "(on: always; auto: unless this LiveDesk lacks the reads; off: trust the webhook)")
    livedesk_pushes_per_conversation_per_minute: int = Field(10, ge=1, description="Agent messages pushed to one "
                                                             "patient per minute; more are held and staff told")
    livedesk_pushes_per_minute: int = Field(120, ge=1, description="Agent messages pushed to all patients per "
                                            "minute; more are held and staff told")
    handoff_no_agent_minutes: int = Field(10, ge=1, le=24 * 60, description="Minutes without an agent before the "
                                          "patient is told they are still queued")
    handoff_idle_minutes: int = Field(60, ge=1, le=7 * 24 * 60, description="Minutes with no message from either "
                                      "side before a handoff is closed")
    business_hours: str = Field("Mon-Fri 08:00-16:00", description="When staff answer (Asia/Bangkok), e.g. "
                                "'Mon-Fri 08:00-16:00; Sat 08:00-12:00'")

    # --- SMS OTP ----------------------------------------------------------
    sms_provider: Literal["sepsms", "thaibulksms"] = Field("sepsms", description="sepsms or thaibulksms")
    sepsms_api_key: SecretStr | None = Field(
        None, description="SEPSMS API key with the otp:send, otp:verify and credit:read scopes: starts with sk_sep_",
        examples=["sk_sep_<the rest of your key>"])
    sepsms_base_url: str = Field("https://sepsms.com/api/v2", description="SEPSMS REST API v2")
    sepsms_origin: str | None = Field(None, description="Your approved SEPSMS sender name", examples=["HOSPITAL"])
    sepsms_webhook_secret: SecretStr | None = Field(
        None, description="Verifies SEPSMS delivery webhooks (at least 32 characters, 'new,old' while rotating); "
                          "unset = 503", examples=["<the signing secret from the SEPSMS dashboard>"])
    thaibulksms_api_key: SecretStr | None = Field(None, description="ThaiBulkSMS API key (Settings > SMS API)",
                                                  examples=["<your ThaiBulkSMS API key>"])
    thaibulksms_api_secret: SecretStr | None = Field(None, description="ThaiBulkSMS API secret",
                                                     examples=["<your ThaiBulkSMS API secret>"])
    thaibulksms_base_url: str = Field("https://api-v2.thaibulksms.com", description="ThaiBulkSMS API v2")
    thaibulksms_sender: str | None = Field(None, description="Your sender name, exactly as approved "
                                           "(case-sensitive)", examples=["HOSPITAL"])
    # ThaiBulkSMS API v2, "รายการ Request" (force): the credit type. The document names no
    # default; delivery reports reach the webhook only on corporate ("วิธีสร้าง API Key", Webhook URL).
    thaibulksms_force: Literal["standard", "corporate"] | None = Field(
        "corporate", description="Credit type, standard or corporate (empty: not sent); delivery reports arrive "
                                 "only with corporate")
    thaibulksms_webhook_token: SecretStr | None = Field(
        None, description="Secret path segment of the delivery-report URL (at least 32 characters, 'new,old' "
                          "while rotating); unset = 404",
        examples=[RANDOM_EXAMPLE])
    otp_ttl_seconds: int = Field(300, ge=60, le=600, description="Seconds an OTP code is valid (60-600)")  # SEPSMS's range
    otp_max_attempts: int = Field(5, ge=1, le=10, description="Wrong tries per code (1-10)")
    otp_resend_seconds: int = Field(60, ge=10, le=3600, description="Seconds before a new code may be sent")
    otp_secret: SecretStr | None = Field(None, description="Key of every HMAC in Redis (codes, phone numbers, "
                                         "appointment names), at least 32 characters; required once SMS or MOPH is "
                                         "configured",
                                         examples=[RANDOM_EXAMPLE])
    sms_low_credit_threshold: int = Field(500, ge=0, description="SMS credit under this shows in /readyz and is logged once; 0 = off")
    # Caps against SMS pumping (toll fraud), harassment of one number and guessing of codes.
    otp_sends_per_number_per_day: int = Field(6, ge=1, le=100, description="OTP SMS to one number per 24 h")
    otp_sends_per_user_per_day: int = Field(6, ge=1, le=100, description="OTP SMS for one LINE user per 24 h")
    otp_sends_per_hour: int = Field(60, ge=1, description="OTP SMS in all per hour (the whole service's budget)")
    otp_sends_per_day: int = Field(300, ge=1, description="OTP SMS in all per 24 h (the whole service's budget)")
    otp_wrong_codes_per_day: int = Field(10, ge=1, le=100, description="Wrong codes, across codes, per number "
                                         "and per LINE user in 24 h before checking and sending stop")

    # --- MOPH Alert (appointments) -------------------------------------------
    moph_alert_base_url: str = Field("https://morpromt2c.moph.go.th", description="MOPH Alert (production; UAT is "
                                     "https://pentestmohprompt2c.moph.go.th)")
    moph_token_url: str = Field("https://cvp1.moph.go.th/token", description="MOPH Account Center token endpoint")
    moph_user: str | None = Field(None, description="MOPH Account Center user with the MOPH_Alert_API role",
                                  examples=["<your MOPH Account Center user>"])
    moph_password_hash: SecretStr | None = Field(None, description="That user's password_hash for the token "
                                                 "request (a secret)", examples=["<the password hash>"])
    moph_hospital_code: str | None = Field(None, description="The hospital code (รหัสสถานพยาบาล) of that account",
                                           examples=["12345"])
    moph_send_now_path: str = Field("/api/v2/send-message/send-now", description="Path of send-now (the MOPH "
                                    "document disagrees with itself on paths: override if your host differs)")
    moph_upload_data_path: str = Field("/api/v2/send-message/upload-data", description="Path of upload-data")
    moph_upload_data_json_path: str = Field("/api/v2/send-message/upload-data-json",
                                            description="Path of upload-data-json")
    moph_upload_message_path: str = Field("/api/v2/send-message/upload-message",
                                          description="Path of upload-message")
    # MOPH Alert API document, 3.5 (API Send Now): the parameter table says "message", the
    # example body "messages". The example is the default.
    moph_send_now_messages_key: Literal["messages", "message"] = Field(
        "messages", description="send-now's body key, messages or message (the document's example says "
                                "messages, its table message)")
    appointments_api_token: SecretStr | None = Field(
        None, description="Bearer token the HIS sends to the appointments API (at least 32 characters, 'new,old' "
                          "while rotating); unset = 503",
        examples=[RANDOM_EXAMPLE])
    reminder_schedule: str = Field("1d@09:00", description="When reminders go: Nd@HH:MM (N days before, at that "
                                   "time, Bangkok), Nh, Nm, comma-separated; empty = none")
    # Retired (RETIRED_SETTINGS): the name is the knowledge base's ``hospital: name:``, read by the bot,
    # MOPH notices, OTP SMS and the rich menu; a value left here would be silently overruled by it.
    hospital_name: str | None = Field(None, exclude=True, description="Retired: the knowledge base's hospital: name:")
    hospital_color: str = Field("#0A7E5A", pattern=r"^#[0-9A-Fa-f]{6}$", description="Colour of the notices, "
                                "#RRGGBB")

    # --- retention (PDPA): how long Redis keeps what identifies a patient ----------------
    verified_phone_retention_days: int = Field(365, ge=1, le=5 * 365, description="Days the verified number of a "
                                               "LINE user is kept, from its last verification")
    bot_unanswered_days: int = Field(30, ge=0, le=365, description="Days the phrasings the bot could not "
                                     "answer are kept for `flask bot unanswered` (masked, no user id); 0 = "
                                     "not recorded")

    @field_validator(*ROTATING_SECRETS, mode="before")
    @classmethod
    def _empty_secret_is_unset(cls, value):
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(*ROTATING_SECRETS)
    @classmethod
    def _rotating_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = [part.strip() for part in value.get_secret_value().split(",")]
        if len(parts) > 2 or not all(parts):
            raise ValueError("one value, or two separated by a comma while rotating (new,old)")
        if any(len(part) < MIN_SECRET_LENGTH for part in parts):
            raise ValueError(f"each value must be at least {MIN_SECRET_LENGTH} characters "
                             "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        return SecretStr(",".join(parts))

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

    def attachment_hosts(self) -> list[str]:
        """The exact hosts (``host`` or ``host:port``, port 443 unless given) agents' attachments may
        come from: ``LIVEDESK_ATTACHMENT_HOSTS``, else the host and port of ``LIVEDESK_BASE_URL``."""
        from urllib.parse import urlsplit

        listed = [h.strip().lower() for h in (self.livedesk_attachment_hosts or "").split(",") if h.strip()]
        if listed:
            return listed
        base = urlsplit(self.livedesk_base_url)
        return [f"{base.hostname or ''}:{base.port}" if base.port else base.hostname or ""]

    @field_validator("livedesk_attachment_hosts")
    @classmethod
    def _attachment_hosts(cls, value: str | None) -> str | None:
        from bot.handoff.render import host_and_port

        bad = [h.strip() for h in (value or "").split(",") if h.strip() and host_and_port(h) is None]
        if bad:
            raise ValueError(f"each entry is host or host:port, e.g. files.example.com:443 (not {', '.join(bad)})")
        return value

    def secret_values(self, name: str) -> list[str]:
        """The accepted values of a rotating secret (empty: unset); see ``ROTATING_SECRETS``."""
        value = getattr(self, name)
        return [] if value is None else value.get_secret_value().split(",")

    @model_validator(mode="after")
    def _sandbox_only_simulates(self) -> Settings:
        from bot.sandbox_settings import sandbox_problems

        if problems := sandbox_problems(self):
            raise ValueError("\n  ".join(problems))
        return self

    @model_validator(mode="after")
    def _otp_secret_needed(self) -> "Settings":
        # Every HMAC in Redis is keyed with OTP_SECRET: derived from another secret, rotating that
        # one would silently re-key (and so forget) every budget and name.
        if is_set(self.otp_secret):
            if len(self.otp_secret.get_secret_value()) < MIN_SECRET_LENGTH:
                raise ValueError(f"OTP_SECRET: must be at least {MIN_SECRET_LENGTH} characters")
            return self
        needing = [feature for feature in ("sms", "moph") if not self.missing_for(feature)]
        if needing:
            raise ValueError(f"OTP_SECRET: must be set (at least {MIN_SECRET_LENGTH} characters) once "
                             f"{' and '.join(f.upper() for f in needing)} is configured")
        return self

    @field_validator("line_api_base_url", "line_data_api_base_url", "oho_base_url", "livedesk_base_url",
                     "sepsms_base_url", "thaibulksms_base_url", "moph_alert_base_url", "moph_token_url",
                     "sandbox_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not _BASE_URL.match(value):
            raise ValueError("must be an http(s) URL such as https://api.example.com")
        return value.rstrip("/")

    @field_validator("sepsms_origin", "thaibulksms_sender", "oho_platform_id", "oho_chat_platform_id",
                     "thaibulksms_force", "web_host", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("oho_platform_id")
    @classmethod
    def _oho_platform_id(cls, value: str | None) -> str | None:
        if value is not None and not _LINE_USER_ID.match(value):
            raise ValueError("must be the bot's LINE user id (U + 32 hex, userId of GET /v2/bot/info); "
                             "a channel id is accepted only in OHO_CHAT_PLATFORM_ID")
        return value

    @field_validator("oho_chat_platform_id")
    @classmethod
    def _oho_chat_platform_id(cls, value: str | None) -> str | None:
        if value is not None and not (_LINE_USER_ID.match(value) or _LINE_CHANNEL_ID.match(value)):
            raise ValueError("must be the bot's LINE user id (U + 32 hex) or the channel id (digits)")
        return value

    @field_validator("oho_default_avatar_url", mode="before")
    @classmethod
    def _avatar_url(cls, value):
        if value is None or (isinstance(value, str) and not value.strip()):
            return DEFAULT_AVATAR_URL  # empty = unset = the neutral default, never an empty URL
        if not isinstance(value, str) or not _BASE_URL.match(value) or not value.startswith("https://") \
                or len(value) > 2000:
            raise ValueError("must be an https URL of at most 2,000 characters (Oho's limit)")
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

    @field_validator("sepsms_api_key")
    @classmethod
    def _sepsms_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        key = plain(value).strip() if value is not None else ""
        if key and not _SEPSMS_KEY.match(key):
            raise ValueError("must be a SEPSMS API key: they start with sk_sep_ (letters, digits, _ and - only)")
        return SecretStr(key) if value is not None else None

    @field_validator("reminder_schedule")
    @classmethod
    def _reminder_schedule(cls, value: str) -> str:
        from bot.appointments import parse_reminder_schedule

        parse_reminder_schedule(value)  # raises ValueError naming the bad item
        return value

    @field_validator("business_hours")
    @classmethod
    def _business_hours(cls, value: str) -> str:
        from bot.handoff.hours import parse_business_hours

        parse_business_hours(value)  # ValueError names the wrong day or time
        return value

    @field_validator("hospital_name")
    @classmethod
    def _hospital_name(cls, value: str | None) -> None:
        if value and value.strip():
            raise ValueError("is no longer a setting: write the name under `hospital: name:` in the knowledge "
                             "base (bot/data/knowledge.yaml or your BOT_KNOWLEDGE_FILE), then remove HOSPITAL_NAME")
        return None

    @field_validator("moph_send_now_path", "moph_upload_data_path", "moph_upload_data_json_path",
                     "moph_upload_message_path")
    @classmethod
    def _moph_path(cls, value: str) -> str:
        if not value.startswith("/") or any(c.isspace() for c in value):
            raise ValueError("must be a path starting with /, e.g. /api/v2/send-message/send-now")
        return value

    def missing_for(self, feature: str) -> list[str]:
        """Names of the unset settings that ``feature`` needs (empty when it can run)."""
        needs = {
            "line": ["line_channel_secret", "line_channel_access_token"],
            "handoff": ["oho_api_key", "livedesk_api_key", "livedesk_api_secret",
                        "livedesk_inbox_id", "livedesk_webhook_token"],
            # SEPSMS REST API v2, "Endpoints หลัก": origin has no "?" in the /message/send and
            # /otp/send tables, unlike the optional fields: it is required.
            "sms": (["sepsms_api_key", "sepsms_origin"] if self.sms_provider == "sepsms" else
                    ["thaibulksms_api_key", "thaibulksms_api_secret", "thaibulksms_sender"]),
            "moph": ["moph_user", "moph_password_hash", "moph_hospital_code"],
            "appointments_api": ["appointments_api_token"],
            "oho": ["oho_api_key"],
            "livedesk_api": ["livedesk_api_key", "livedesk_api_secret"],
            "livedesk": ["livedesk_api_key", "livedesk_api_secret", "livedesk_inbox_id"],  # the mirror
            "sepsms": ["sepsms_api_key"],
            "thaibulksms": ["thaibulksms_api_key", "thaibulksms_api_secret"],
        }[feature]
        return [name.upper() for name in needs if not is_set(getattr(self, name))]

    def configured(self, feature: str) -> bool:
        """The one answer to "can ``feature`` run?" (an empty value counts as unset)."""
        return not self.missing_for(feature)

    def require(self, feature: str) -> None:
        """Raise ``NotConfigured`` naming what ``feature`` still needs."""
        if missing := self.missing_for(feature):
            raise NotConfigured(f"{feature} is not configured: set {', '.join(missing)}")

    def readiness_notes(self) -> list[str]:
        """What works only in part with these settings (shown by ``/readyz``; nothing is down)."""
        notes = []
        if self.sms_provider == "thaibulksms" and self.thaibulksms_force != "corporate":
            notes.append("THAIBULKSMS_FORCE is not corporate: ThaiBulkSMS sends delivery reports only for "
                         "corporate credit, so undelivered OTP SMS cannot be noticed")
        return notes


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


def load_settings(**overrides) -> Settings:
    """Read and check the settings; raise ``SettingsError`` listing every problem.

    With ``SANDBOX`` on, every provider is pointed at the simulators this server runs
    under ``/sandbox/...`` with made-up credentials (``sandbox_fill``); a real credential,
    a provider URL or a public address stops the start instead (``sandbox_problems``).
    """
    from bot.sandbox_settings import sandbox_fill

    settings = _checked(overrides)
    if not settings.sandbox:
        return settings
    return _checked({**overrides, **sandbox_fill(settings)})


def settings_or_exit(**overrides) -> Settings:
    """``load_settings`` for a process's entry point: a problem ends the process with the one block
    on stderr and exit status 2 (a usage error: nothing will work until someone edits the settings,
    so a supervisor's restarts cannot help), never with a traceback."""
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        exit_with(exc.problems or [Problem("settings", str(exc))])


def _checked(values: dict) -> Settings:
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise SettingsError(problems_of(exc, Settings.model_fields)) from None


def example_of(field: str) -> str:
    """A right value of ``field``: its first example, else its default (as the environment spells it)."""
    return field_example(Settings.model_fields[field])


#: Every secret setting: none may hold a real value in the sandbox (its page and simulators are for
#: trying the bot, and a real key there would be usable by whoever reaches them). MOPH_USER is not
#: secret but names the real MOPH account.
SECRET_FIELDS = tuple(name for name, field in Settings.model_fields.items()
                      if is_secret(field) and name != "sandbox_public_token")
REAL_ACCOUNT_FIELDS = (*SECRET_FIELDS, "moph_user")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1, localhost); any other name or address
    may be reached from elsewhere."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def bind_host(binds: list[str]) -> str:
    """Of gunicorn's ``--bind`` addresses, the host that matters: the first beyond loopback, if any.
    ``unix:…`` and ``fd://…`` are taken as they are (not loopback: a proxy may serve them anywhere)."""
    hosts = []
    for bind in binds:
        if bind.startswith("["):
            hosts.append(bind[1:].partition("]")[0])
        elif bind.startswith(("unix:", "fd://")) or bind.count(":") != 1:
            hosts.append(bind)
        else:
            hosts.append(bind.partition(":")[0])
    return next((host for host in hosts if not is_loopback(host)), hosts[0] if hosts else "0.0.0.0")


def plain(value) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)
