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

from pydantic import SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The fields live in groups (bot/settings_fields.py, bot/settings_providers.py) and the reporting in
# bot/settings_problems.py; every public name stays importable from here, the one module importers name.
from bot.settings_fields import (  # noqa: F401 (re-exported)
    BASE_URL,
    LINE_TOKEN_MIN_LENGTH,
    MIN_SECRET_LENGTH,
    RANDOM_EXAMPLE,
    REDIS_URL_EXAMPLE,
    CoreFields,
    LineFields,
    RetentionFields,
    is_set,
    plain,
    redis_url_problem,
)
from bot.settings_problems import (  # noqa: F401 (re-exported)
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
from bot.settings_providers import (  # noqa: F401 (re-exported)
    DEFAULT_AVATAR_URL,
    RETIRED_SETTINGS,
    AppointmentFields,
    HandoffFields,
    SmsFields,
)

#: Secrets a caller proves itself with. Each holds one value, or two separated by a comma while it
#: is rotated ("new,old"): both are accepted until the old one is removed.
ROTATING_SECRETS = ("livedesk_webhook_token", "livedesk_webhook_secret", "sepsms_webhook_secret",
                    "thaibulksms_webhook_token", "appointments_api_token")


# pydantic lists the fields of the last base first: the groups are named backwards so that the fields
# (and .env.example, and the order problems are listed in) run core, LINE, handoff, SMS, MOPH, retention.
class Settings(RetentionFields, AppointmentFields, SmsFields, HandoffFields, LineFields, CoreFields,
               BaseSettings):
    """Every setting, read from the environment or ``.env`` (names in capitals there). Each field has a
    description and an example (its ``examples``, else its default): start-up errors and
    ``.env.example`` (written by ``python -m bot.env_example``) are made of them. The fields and their own
    checks are in the groups; here what spans groups."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore", case_sensitive=False)

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
        if not BASE_URL.match(value):
            raise ValueError("must be an http(s) URL such as https://api.example.com")
        return value.rstrip("/")

    @field_validator("sepsms_origin", "thaibulksms_sender", "oho_platform_id", "oho_chat_platform_id",
                     "thaibulksms_force", "web_host", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

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


