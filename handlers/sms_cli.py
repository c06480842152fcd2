"""Staff commands for the SMS provider: ``flask sms credit`` prints the configured provider's balance.

    flask --app wsgi sms credit

SMS_PROVIDER picks the provider (SEPSMS ``GET /message/credit/balance``, ThaiBulkSMS
``GET /credit``). The balance is also recorded, so ``/readyz`` shows it when it is under
SMS_LOW_CREDIT_THRESHOLD.
"""

from __future__ import annotations

from flask.cli import AppGroup

from handlers.cli_output import CliError, echo, not_configured
from handlers.services import get_services, hospital_option
from integrations.errors import ProviderError

sms_cli = hospital_option(AppGroup("sms", help="The SMS provider used for OTP (SEPSMS or ThaiBulkSMS)."))

#: What reading the balance needs: the credentials only (no sender name).
_CREDIT_NEEDS = {"sepsms": ["sepsms_api_key"], "thaibulksms": ["thaibulksms_api_key", "thaibulksms_api_secret"]}


@sms_cli.command("credit")
def credit() -> None:
    """Print the remaining SMS credit of SMS_PROVIDER."""
    services = get_services()
    settings = services.settings
    provider = settings.sms_provider
    missing = [name.upper() for name in _CREDIT_NEEDS[provider] if getattr(settings, name) is None]
    if missing:
        raise not_configured(f"{provider} is not configured: set {', '.join(missing)}")
    try:
        if provider == "sepsms":
            balance = services.sepsms.credit_balance()
        else:
            balance = services.thaibulksms.credit()
    except ProviderError as exc:
        raise CliError(f"{provider} did not tell the balance: {exc}") from None
    echo(f"{provider} credit: {balance}")
    threshold = settings.sms_low_credit_threshold
    if threshold and balance < threshold:
        echo(f"warning: under SMS_LOW_CREDIT_THRESHOLD ({threshold}): top up", err=True)
