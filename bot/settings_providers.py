"""The settings of the features' providers, as field groups of ``bot.settings.Settings``: handoff to staff
(Oho Chat and LiveDesk), SMS one-time codes (SEPSMS or ThaiBulkSMS), MOPH Alert appointment notices and the
HIS appointments API. Each group holds its fields and their checks; ``bot.settings`` re-exports the public
names here.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from bot.settings_fields import BASE_URL, RANDOM_EXAMPLE, plain

_LINE_USER_ID = re.compile(r"^U[0-9a-f]{32}$")
_LINE_CHANNEL_ID = re.compile(r"^\d{6,20}$")
#: SEPSMS REST API v2, "รับ API Key": "คีย์มีรูปแบบ sk_sep_" (keys have the form sk_sep_…).
_SEPSMS_KEY = re.compile(r"^sk_sep_[A-Za-z0-9_-]+$")
#: A neutral silhouette (Gravatar's "mystery person", no hash: nobody's picture), for Oho
#: contacts of LINE users without a profile picture.
DEFAULT_AVATAR_URL = "https://www.gravatar.com/avatar/?d=mp&s=256"
#: Settings that no longer exist: setting one stops start-up saying where its value lives now
#: (not in .env.example).
RETIRED_SETTINGS = ("hospital_name",)


class HandoffFields(BaseModel):
    """Handoff to staff: Oho Chat (contacts, chats) and LiveDesk (the agents' inbox)."""

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
        if not isinstance(value, str) or not BASE_URL.match(value) or not value.startswith("https://") \
                or len(value) > 2000:
            raise ValueError("must be an https URL of at most 2,000 characters (Oho's limit)")
        return value

    @field_validator("business_hours")
    @classmethod
    def _business_hours(cls, value: str) -> str:
        from bot.handoff.hours import parse_business_hours

        parse_business_hours(value)  # ValueError names the wrong day or time
        return value


class SmsFields(BaseModel):
    """SMS one-time codes (phone number verification): SEPSMS or ThaiBulkSMS, and their caps."""

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

    @field_validator("sepsms_api_key")
    @classmethod
    def _sepsms_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        key = plain(value).strip() if value is not None else ""
        if key and not _SEPSMS_KEY.match(key):
            raise ValueError("must be a SEPSMS API key: they start with sk_sep_ (letters, digits, _ and - only)")
        return SecretStr(key) if value is not None else None


class AppointmentFields(BaseModel):
    """MOPH Alert (หมอพร้อม) appointment notices, and the HIS appointments API."""

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

    @field_validator("reminder_schedule")
    @classmethod
    def _reminder_schedule(cls, value: str) -> str:
        from bot.appointments import parse_reminder_schedule

        parse_reminder_schedule(value)  # raises ValueError naming the bad item
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

