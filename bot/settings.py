"""Settings from the environment (and an optional ``.env``), typed and checked once at start-up.

Every problem is reported at once, in one ``SettingsError``. Secrets are
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

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_BASE_URL = re.compile(r"^https?://[^\s/]+(:\d+)?(/[^\s]*)?$")
_LINE_USER_ID = re.compile(r"^U[0-9a-f]{32}$")
_LINE_CHANNEL_ID = re.compile(r"^\d{6,20}$")
#: A neutral silhouette (Gravatar's "mystery person", no hash: nobody's picture), for Oho
#: contacts of LINE users without a profile picture.
DEFAULT_AVATAR_URL = "https://www.gravatar.com/avatar/?d=mp&s=256"
#: Secrets a caller proves itself with. Each holds one value, or two separated by a comma while it
#: is rotated ("new,old"): both are accepted until the old one is removed.
ROTATING_SECRETS = ("livedesk_webhook_token", "livedesk_webhook_secret", "sepsms_webhook_secret",
                    "thaibulksms_webhook_token", "appointments_api_token")
MIN_SECRET_LENGTH = 32


#: Settings that no longer exist: setting one stops start-up saying where its value lives now
#: (not in .env.example).
RETIRED_SETTINGS = ("hospital_name",)


class SettingsError(RuntimeError):
    """Raised at start-up with every malformed setting listed, one per line."""


class NotConfigured(SettingsError):
    """A feature was used whose settings are not all set (``Settings.require``); names them."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore", case_sensitive=False)

    # --- core -----------------------------------------------------------
    redis_url: str | None = Field(None, description="Redis for queues and state; unset = embedded server under var/")
    var_dir: str = Field("var", description="Where the embedded Redis keeps its data and socket")
    redis_sentinels: str | None = Field(
        None, description="Redis Sentinel addresses, 'host:port,host:port' (high availability; replaces REDIS_URL's "
                          "host: the master is asked of the sentinels)")
    redis_sentinel_master: str = Field("mymaster", description="The master's name the sentinels monitor")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_webhook_bytes: int = Field(1_000_000, ge=1_000, description="Largest webhook body accepted")
    sandbox: bool = Field(False, description="Simulate every provider on this server (handlers/sandbox); never in production")
    sandbox_url: str = Field("http://127.0.0.1:8000", description="This server as its own processes reach it, in sandbox mode")
    sandbox_public_token: SecretStr | None = Field(
        None, description="Lets the sandbox listen beyond loopback: its page then needs this token (at least 32 "
                          "characters), given once as ?token=; unset = loopback only")
    web_host: str | None = Field(
        None, description="The address the web process listens on: the Procfile binds ${WEB_HOST:-0.0.0.0}, and "
                          "gunicorn.conf.py sets it to what gunicorn really binds; unset elsewhere (a server of "
                          "its own: tests, flask run) = loopback")
    metrics_token: SecretStr | None = Field(None, description="Bearer token for GET /metrics (at least 32 "
                                            "characters); unset = 404")

    # --- LINE -----------------------------------------------------------
    line_channel_secret: SecretStr | None = None
    line_channel_access_token: SecretStr | None = None
    line_api_base_url: str = "https://api.line.me"
    line_data_api_base_url: str = "https://api-data.line.me"
    line_timeout_seconds: float = Field(10.0, gt=0, le=60)
    bot_knowledge_file: str | None = Field(None, description="Knowledge base YAML; unset = the shipped default")
    bot_lexicon_file: str | None = Field(None, description="The hospital's own words (regional, romanised, "
                                         "misspellings) read over the shipped lexicon; unset = the shipped one")
    bot_languages_file: str | None = Field(None, description="Answers and emergency phrases for Myanmar, Khmer and "
                                           "Lao script; unset = the shipped file")

    # --- Oho Chat + LiveDesk (handoff) --------------------------------------
    oho_api_key: SecretStr | None = None
    oho_base_url: str = "https://api.developer.oho.chat"
    # Oho Chat developer API, "2. Contact API": contact endpoints take the bot's user id only;
    # "3. Chat API": request-agent / close-chat also take the provider's channel id.
    oho_platform_id: str | None = Field(None, description="The bot's LINE user id (U…) for contacts; unset = read from LINE")
    oho_chat_platform_id: str | None = Field(None, description="For chat endpoints: bot user id or channel id; unset = OHO_PLATFORM_ID")
    # Oho Chat developer API, "2.2 Create Contact": profile_picture_url is required, and LINE
    # has no pictureUrl for users without a picture.
    oho_default_avatar_url: str = Field(DEFAULT_AVATAR_URL, description="https URL sent as the picture of LINE users without one")
    livedesk_api_key: SecretStr | None = None
    livedesk_api_secret: SecretStr | None = None
    livedesk_base_url: str = "https://livedesk-api.engagelab.com"
    livedesk_inbox_id: int | None = None
    livedesk_attachment_hosts: str | None = Field(
        None, description="Hosts (comma-separated) whose agent attachments are shown to patients; unset = "
                          "the host of LIVEDESK_BASE_URL only")
    livedesk_webhook_token: SecretStr | None = None
    livedesk_webhook_secret: SecretStr | None = None
    # Agents' messages pushed to patients, and LiveDesk's resolutions and first agent messages acted on, only
    # once read back from LiveDesk (Chatwoot's reads, which LiveDesk has: provider notes). on: always, what
    # cannot be read back is held; auto: the same, unless a conversation known to exist cannot be read either
    # (a LiveDesk without the reads): then unconfirmed for an hour; off: the webhook is trusted.
    livedesk_read_back: Literal["auto", "on", "off"] = "on"
    livedesk_pushes_per_conversation_per_minute: int = Field(10, ge=1, description="Agent messages pushed to one "
                                                             "patient per minute; more are held and staff told")
    livedesk_pushes_per_minute: int = Field(120, ge=1, description="Agent messages pushed to all patients per "
                                            "minute; more are held and staff told")
    handoff_no_agent_minutes: int = Field(10, ge=1, le=24 * 60)
    handoff_idle_minutes: int = Field(60, ge=1, le=7 * 24 * 60)
    business_hours: str = "Mon-Fri 08:00-16:00"

    # --- SMS OTP ----------------------------------------------------------
    sms_provider: Literal["sepsms", "thaibulksms"] = "sepsms"
    sepsms_api_key: SecretStr | None = None
    sepsms_base_url: str = "https://sepsms.com/api/v2"
    sepsms_origin: str | None = None
    sepsms_webhook_secret: SecretStr | None = None
    thaibulksms_api_key: SecretStr | None = None
    thaibulksms_api_secret: SecretStr | None = None
    thaibulksms_base_url: str = "https://api-v2.thaibulksms.com"
    thaibulksms_sender: str | None = None
    # ThaiBulkSMS API v2, "รายการ Request" (force): the credit type. The document names no
    # default; delivery reports reach the webhook only on corporate ("วิธีสร้าง API Key", Webhook URL).
    thaibulksms_force: Literal["standard", "corporate"] | None = "corporate"
    thaibulksms_webhook_token: SecretStr | None = None
    otp_ttl_seconds: int = Field(300, ge=60, le=600)  # SEPSMS accepts 60–600
    otp_max_attempts: int = Field(5, ge=1, le=10)
    otp_resend_seconds: int = Field(60, ge=10, le=3600)
    otp_secret: SecretStr | None = Field(None, description="Key of every HMAC in Redis (codes, phone numbers, "
                                         "appointment names); required once SMS or MOPH is configured")
    sms_low_credit_threshold: int = Field(500, ge=0, description="SMS credit under this shows in /readyz and is logged once; 0 = off")
    # Caps against SMS pumping (toll fraud), harassment of one number and guessing of codes.
    otp_sends_per_number_per_day: int = Field(6, ge=1, le=100, description="OTP SMS to one number per 24 h")
    otp_sends_per_user_per_day: int = Field(6, ge=1, le=100, description="OTP SMS for one LINE user per 24 h")
    otp_sends_per_hour: int = Field(60, ge=1, description="OTP SMS in all per hour (the whole service's budget)")
    otp_sends_per_day: int = Field(300, ge=1, description="OTP SMS in all per 24 h (the whole service's budget)")
    otp_wrong_codes_per_day: int = Field(10, ge=1, le=100, description="Wrong codes, across codes, per number "
                                         "and per LINE user in 24 h before checking and sending stop")

    # --- MOPH Alert (appointments) -------------------------------------------
    moph_alert_base_url: str = "https://morpromt2c.moph.go.th"
    moph_token_url: str = "https://cvp1.moph.go.th/token"
    moph_user: str | None = None
    moph_password_hash: SecretStr | None = None
    moph_hospital_code: str | None = None
    moph_send_now_path: str = "/api/v2/send-message/send-now"
    moph_upload_data_path: str = "/api/v2/send-message/upload-data"
    moph_upload_data_json_path: str = "/api/v2/send-message/upload-data-json"
    moph_upload_message_path: str = "/api/v2/send-message/upload-message"
    # MOPH Alert API document, 3.5 (API Send Now): the parameter table says "message", the
    # example body "messages". The example is the default.
    moph_send_now_messages_key: Literal["messages", "message"] = "messages"
    appointments_api_token: SecretStr | None = None
    reminder_schedule: str = "1d@09:00"
    # Retired (RETIRED_SETTINGS): the name is the knowledge base's ``hospital: name:``, read by the bot,
    # MOPH notices, OTP SMS and the rich menu; a value left here would be silently overruled by it.
    hospital_name: str | None = Field(None, exclude=True, description="Retired: the knowledge base's hospital: name:")
    hospital_color: str = Field("#0A7E5A", pattern=r"^#[0-9A-Fa-f]{6}$")

    # --- retention (PDPA): how long Redis keeps what identifies a patient ----------------
    verified_phone_retention_days: int = Field(365, ge=1, le=5 * 365, description="The verified number of a "
                                               "LINE user, from its last verification")
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
        if problems := sandbox_problems(self):
            raise ValueError("\n  ".join(problems))
        return self

    @model_validator(mode="after")
    def _otp_secret_needed(self) -> "Settings":
        # Every HMAC in Redis is keyed with OTP_SECRET: derived from another secret, rotating that
        # one would silently re-key (and so forget) every budget and name.
        if _is_set(self.otp_secret):
            if len(self.otp_secret.get_secret_value()) < MIN_SECRET_LENGTH:
                raise ValueError(f"OTP_SECRET must be at least {MIN_SECRET_LENGTH} characters")
            return self
        needing = [feature for feature in ("sms", "moph") if not self.missing_for(feature)]
        if needing:
            raise ValueError(f"OTP_SECRET must be set (at least {MIN_SECRET_LENGTH} characters) once "
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
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

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
        return [name.upper() for name in needs if not _is_set(getattr(self, name))]

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


def _is_set(value) -> bool:
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
    settings = _checked(overrides)
    if not settings.sandbox:
        return settings
    return _checked({**overrides, **sandbox_fill(settings)})


def settings_or_exit(**overrides) -> Settings:
    """``load_settings`` for a process's entry point: a problem ends the process with the one
    message on stderr (exit status 1), never with a traceback."""
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        raise SystemExit(str(exc)) from None


def _checked(values: dict) -> Settings:
    try:
        return Settings(**values)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]).upper() or "settings"
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"  {name}: {message}" if err["loc"] else f"  {message}")
        raise SettingsError("Invalid settings:\n" + "\n".join(lines)) from None


#: Where each simulator of ``handlers/sandbox`` listens, below SANDBOX_URL.
SANDBOX_PATHS = {
    "line": "/sandbox/line", "line_data": "/sandbox/line-data", "oho": "/sandbox/oho",
    "livedesk": "/sandbox/livedesk", "sepsms": "/sandbox/sepsms/api/v2", "thaibulksms": "/sandbox/thaibulksms",
    "moph": "/sandbox/moph", "moph_token": "/sandbox/moph-account/token",
}
#: Made-up credentials the simulators expect. Not secrets: the sandbox only ever talks to itself.
SANDBOX_CREDENTIALS = {
    "line_channel_secret": "sandbox-line-channel-secret",
    "line_channel_access_token": "sandbox-line-access-token",
    "oho_api_key": "sandbox-oho-api-key",
    "livedesk_api_key": "sandbox-livedesk-key", "livedesk_api_secret": "sandbox-livedesk-secret",
    "livedesk_inbox_id": 1, "livedesk_webhook_token": "sandbox-livedesk-hook-made-up-for-the-sandbox-only",
    "sepsms_api_key": "sk_sep_sandbox", "sepsms_origin": "SANDBOX", "sepsms_webhook_secret": "sandbox-sepsms-hook-made-up-for-the-sandbox-only",
    "thaibulksms_api_key": "sandbox-tbs-key", "thaibulksms_api_secret": "sandbox-tbs-secret",
    "thaibulksms_sender": "SANDBOX", "thaibulksms_webhook_token": "sandbox-tbs-hook-made-up-for-the-sandbox-only",
    "moph_user": "sandbox", "moph_password_hash": "SANDBOXHASH", "moph_hospital_code": "00000",
    "appointments_api_token": "sandbox-his-token-made-up-for-the-sandbox-only",
    "otp_secret": "sandbox-otp-secret-made-up-for-the-sandbox-only",
}


#: The provider URLs and where each points in the sandbox (below SANDBOX_URL).
SANDBOX_URLS = {
    "line_api_base_url": SANDBOX_PATHS["line"], "line_data_api_base_url": SANDBOX_PATHS["line_data"],
    "oho_base_url": SANDBOX_PATHS["oho"], "livedesk_base_url": SANDBOX_PATHS["livedesk"],
    "sepsms_base_url": SANDBOX_PATHS["sepsms"], "thaibulksms_base_url": SANDBOX_PATHS["thaibulksms"],
    "moph_alert_base_url": SANDBOX_PATHS["moph"], "moph_token_url": SANDBOX_PATHS["moph_token"],
}
#: Every secret setting: none may hold a real value in the sandbox (its page and simulators are for
#: trying the bot, and a real key there would be usable by whoever reaches them). MOPH_USER is not
#: secret but names the real MOPH account.
SECRET_FIELDS = tuple(name for name, field in Settings.model_fields.items() if SecretStr in (field.annotation,
                      *getattr(field.annotation, "__args__", ())) and name != "sandbox_public_token")
REAL_ACCOUNT_FIELDS = (*SECRET_FIELDS, "moph_user")


def sandbox_fill(settings: Settings) -> dict:
    """The settings that point every provider at its simulator on SANDBOX_URL, with made-up credentials."""
    fill = {name: value for name, value in SANDBOX_CREDENTIALS.items() if not _is_set(getattr(settings, name))}
    fill.update({name: settings.sandbox_url + path for name, path in SANDBOX_URLS.items()})
    if "business_hours" not in settings.model_fields_set:
        fill["business_hours"] = "Mon-Sun 00:00-24:00"  # staff "on duty" whenever someone tries it
    return fill


def sandbox_problems(settings: Settings) -> list[str]:
    """Why these settings must not run the sandbox: a real credential or provider URL (the sandbox
    would hand them to whoever reaches its page), or an address beyond this machine without
    ``SANDBOX_PUBLIC_TOKEN``. Empty when the sandbox is off or fine."""
    if not settings.sandbox:
        return []
    problems = []
    real = [name.upper() for name in REAL_ACCOUNT_FIELDS
            if _is_set(value := getattr(settings, name)) and _plain(value) != SANDBOX_CREDENTIALS.get(name)]
    if real:
        problems.append(f"SANDBOX: the sandbox simulates every provider and takes no real credential: unset "
                        f"{', '.join(real)}, or set SANDBOX=0 to run the real service")
    urls = [name.upper() for name, path in SANDBOX_URLS.items()
            if name in settings.model_fields_set and getattr(settings, name) != settings.sandbox_url + path]
    if urls:
        problems.append(f"SANDBOX: the sandbox talks to its own simulators only: unset {', '.join(urls)}, "
                        "or set SANDBOX=0 to run the real service")
    token = _plain(settings.sandbox_public_token) if _is_set(settings.sandbox_public_token) else None
    if token is not None and len(token) < MIN_SECRET_LENGTH:
        problems.append(f"SANDBOX_PUBLIC_TOKEN: must be at least {MIN_SECRET_LENGTH} characters "
                        "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    host = settings.web_host or "127.0.0.1"
    if token is None and not is_loopback(host):
        problems.append(f"SANDBOX: the web listens on {host}, beyond this machine: set WEB_HOST=127.0.0.1, or "
                        f"SANDBOX_PUBLIC_TOKEN (at least {MIN_SECRET_LENGTH} characters) that every visitor of "
                        "the sandbox page must then give")
    return problems


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


def _plain(value) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)
