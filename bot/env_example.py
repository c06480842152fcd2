"""``python -m bot.env_example > .env.example``: every setting, grouped, with its description and an
example, all commented out (copy the file to ``.env`` and uncomment what you set).

Written from ``Settings`` itself (each field's description and example), so it cannot drift from
what the service reads: ``tests/bot/test_env_example.py`` fails when the committed file differs.
"""

from __future__ import annotations

import textwrap

from bot.settings import RETIRED_SETTINGS, Settings, example_of

HEADER = """\
# Settings of the hospital LINE bot: copy this file to .env (or set these in the environment; the
# environment wins) and uncomment what you set. Unset = the value shown after "default".
# Without LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN, ./dev serve starts the sandbox instead.
# A malformed value stops the start with one list of what to fix; `.venv/bin/flask --app wsgi doctor`
# checks the settings and calls every configured provider once.
# Written by `python -m bot.env_example > .env.example` from the settings' fields: edit them in
# bot/settings_fields.py (core, LINE, retention) or bot/settings_providers.py (handoff, SMS, MOPH).
"""

#: The first field of each group, and the group's heading.
GROUPS = {
    "redis_url": "Core: Redis, logs, the web process",
    "line_channel_secret": "LINE (the Messaging API channel, LINE Developers console) and the bot's knowledge",
    "oho_api_key": "Handoff to staff: Oho Chat and LiveDesk",
    "sms_provider": "SMS one-time codes (phone number verification): SEPSMS or ThaiBulkSMS",
    "moph_alert_base_url": "MOPH Alert (หมอพร้อม) appointment notices, and the HIS appointments API",
    "verified_phone_retention_days": "Retention (PDPA): how long what identifies a patient is kept",
}


def render() -> str:
    lines = [HEADER]
    for name, field in Settings.model_fields.items():
        if name in RETIRED_SETTINGS:
            continue
        if name in GROUPS:
            title = f"# --- {GROUPS[name]} "
            lines += ["", title + "-" * max(3, 100 - len(title)), ""]
        default = field.default
        shown = "" if default is None else example_of(name) if not field.examples else _plain(default)
        text = field.description.rstrip(".") + "." + (f" Default: {shown}." if shown else "")
        lines += textwrap.wrap(text, 100, initial_indent="# ", subsequent_indent="#   ")
        lines += [f"# {name.upper()}={example_of(name)}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _plain(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


if __name__ == "__main__":
    print(render(), end="")
