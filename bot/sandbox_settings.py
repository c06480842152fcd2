"""The settings of the sandbox (``SANDBOX=1``): every provider pointed at the simulators this
server runs under ``/sandbox/...`` (``handlers/sandbox``), with made-up credentials, and what
stops a sandbox start (a real credential, a provider URL, a public address without a token).
Here, not in ``handlers/sandbox``: ``bot.settings`` reads it while loading, and bot/ imports
nothing above it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import MIN_SECRET_LENGTH, REAL_ACCOUNT_FIELDS, is_loopback, is_set, plain

if TYPE_CHECKING:
    from bot.settings import Settings

#: Where each simulator of ``handlers/sandbox`` listens, below SANDBOX_URL.
SANDBOX_PATHS = {
    "line": "/sandbox/line", "line_data": "/sandbox/line-data", "oho": "/sandbox/oho",
    "livedesk": "/sandbox/livedesk", "sepsms": "/sandbox/sepsms/api/v2", "thaibulksms": "/sandbox/thaibulksms",
    "moph": "/sandbox/moph", "moph_token": "/sandbox/moph-account/token",
}
#: The sandbox's LINE Official Account (``handlers/sandbox/people.py``): a webhook's ``destination``.
BOT_USER_ID = "U" + "0b" * 16
#: Made-up credentials the simulators expect. Not secrets: the sandbox only ever talks to itself.
SANDBOX_CREDENTIALS = {
    # In LINE's forms (32 hex; a long token), so that the sandbox passes the checks a real channel does.
    "line_channel_secret": "5a4db0c5" * 4,
    "line_channel_access_token": "sandbox.line.access.token.made.up.for.the.sandbox.only." + "0" * 64,
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

#: The hospitals of the sandbox serving a registry (``SANDBOX_HOSPITALS``; ``bot/sandbox_hospitals.py`` writes
#: their files). The first is the one-hospital sandbox's: its bot, its accounts, the shipped knowledge base,
#: staff on duty at any hour. The second has its own of everything a provider or a caller tells hospitals
#: apart by, its own knowledge base and hours; both serve the same patients (one LINE provider: one user id)
#: and their LiveDesk accounts number conversations alike: what would leak between them if anything could.
SANDBOX_HOSPITALS = {
    "a": {"line_bot_user_id": BOT_USER_ID, "business_hours": "Mon-Sun 00:00-24:00", **SANDBOX_CREDENTIALS},
    "b": {
        "line_bot_user_id": "U" + "0c" * 16, "business_hours": "Mon-Sat 07:00-15:00",
        "bot_knowledge_file": "sandbox_hospital_b.yaml",  # in bot/data
        "line_channel_secret": "6b5ec1d6" * 4,
        "line_channel_access_token": "sandbox.line.access.token.of.the.second.hospital.made.up." + "1" * 64,
        "oho_api_key": "sandbox-oho-api-key-b",
        "livedesk_api_key": "sandbox-livedesk-key-b", "livedesk_api_secret": "sandbox-livedesk-secret-b",
        "livedesk_inbox_id": 1,  # an inbox id is per LiveDesk account: the same number as the first's
        "livedesk_webhook_token": "sandbox-livedesk-hook-of-the-second-hospital-made-up",
        "sepsms_api_key": "sk_sep_sandbox_b", "sepsms_origin": "BANNA",
        "sepsms_webhook_secret": "sandbox-sepsms-hook-of-the-second-hospital-made-up",
        "thaibulksms_api_key": "sandbox-tbs-key-b", "thaibulksms_api_secret": "sandbox-tbs-secret-b",
        "thaibulksms_sender": "BANNA", "thaibulksms_webhook_token": "sandbox-tbs-hook-of-the-second-hospital-made-up",
        "moph_user": "sandbox-b", "moph_password_hash": "SANDBOXHASHB", "moph_hospital_code": "00001",
        "appointments_api_token": "sandbox-his-token-of-the-second-hospital-made-up",
    },
}
#: Every made-up value of a credential: only these pass the sandbox's guard.
MADE_UP = {name: {str(h[name]) for h in (SANDBOX_CREDENTIALS, *SANDBOX_HOSPITALS.values()) if name in h}
           for name in SANDBOX_CREDENTIALS}


#: The provider URLs and where each points in the sandbox (below SANDBOX_URL).
SANDBOX_URLS = {
    "line_api_base_url": SANDBOX_PATHS["line"], "line_data_api_base_url": SANDBOX_PATHS["line_data"],
    "oho_base_url": SANDBOX_PATHS["oho"], "livedesk_base_url": SANDBOX_PATHS["livedesk"],
    "sepsms_base_url": SANDBOX_PATHS["sepsms"], "thaibulksms_base_url": SANDBOX_PATHS["thaibulksms"],
    "moph_alert_base_url": SANDBOX_PATHS["moph"], "moph_token_url": SANDBOX_PATHS["moph_token"],
}


def sandbox_fill(settings: Settings) -> dict:
    """The settings that point every provider at its simulator on SANDBOX_URL, with made-up credentials."""
    fill = {name: value for name, value in SANDBOX_CREDENTIALS.items() if not is_set(getattr(settings, name))}
    fill.update({name: settings.sandbox_url + path for name, path in SANDBOX_URLS.items()})
    if "business_hours" not in settings.model_fields_set:
        fill["business_hours"] = "Mon-Sun 00:00-24:00"  # staff "on duty" whenever someone tries it
    if settings.sandbox_hospitals:
        from bot.sandbox_hospitals import write_registry

        fill["hospitals_dir"] = write_registry(settings)
    return fill


def sandbox_registry_dir(settings: Settings) -> str:
    """Where the sandbox serving two hospitals keeps its registry (``bot/sandbox_hospitals.py``)."""
    return str(Path(settings.var_dir) / "sandbox-hospitals")


def sandbox_problems(settings: Settings) -> list[str]:
    """Why these settings must not run the sandbox: a real credential or provider URL (the sandbox
    would hand them to whoever reaches its page), or an address beyond this machine without
    ``SANDBOX_PUBLIC_TOKEN``; or the sandbox's hospitals asked for without the sandbox. Empty when the
    sandbox is off or fine."""
    if not settings.sandbox:
        if settings.sandbox_hospitals:
            return [("SANDBOX_HOSPITALS: the sandbox's made-up hospitals need the sandbox: set SANDBOX=1 too "
                     "(./dev serve --hospitals sets both), or unset SANDBOX_HOSPITALS")]
        return []
    problems = []
    real = [name.upper() for name in REAL_ACCOUNT_FIELDS
            if is_set(value := getattr(settings, name)) and plain(value) not in MADE_UP.get(name, ())]
    if real:
        problems.append(f"SANDBOX: the sandbox simulates every provider and takes no real credential: unset "
                        f"{', '.join(real)}, or set SANDBOX=0 to run the real service")
    urls = [name.upper() for name, path in SANDBOX_URLS.items()
            if name in settings.model_fields_set and getattr(settings, name) != settings.sandbox_url + path]
    if urls:
        problems.append(f"SANDBOX: the sandbox talks to its own simulators only: unset {', '.join(urls)}, "
                        "or set SANDBOX=0 to run the real service")
    if "hospitals_dir" in settings.model_fields_set and not (
            settings.sandbox_hospitals and settings.hospitals_dir == sandbox_registry_dir(settings)):
        problems.append("SANDBOX: the sandbox serves only its own made-up hospitals: unset HOSPITALS_DIR "
                        "(SANDBOX_HOSPITALS=1, ./dev serve --hospitals, serves two), or set SANDBOX=0")
    token = plain(settings.sandbox_public_token) if is_set(settings.sandbox_public_token) else None
    if token is not None and len(token) < MIN_SECRET_LENGTH:
        problems.append(f"SANDBOX_PUBLIC_TOKEN: must be at least {MIN_SECRET_LENGTH} characters "
                        "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    host = settings.web_host or "127.0.0.1"
    if token is None and not is_loopback(host):
        problems.append(f"SANDBOX: the web listens on {host}, beyond this machine: set WEB_HOST=127.0.0.1, or "
                        f"SANDBOX_PUBLIC_TOKEN (at least {MIN_SECRET_LENGTH} characters) that every visitor of "
                        "the sandbox page must then give")
    return problems
