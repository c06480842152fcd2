"""Typed errors raised by every provider client.

    ProviderError                      anything a provider call can raise
     ├── ProviderConnectionError       no answer: DNS, refused, timeout    (retryable)
     ├── ServerError                   5xx                                 (retryable)
     ├── RateLimitError                429 or a provider's "slow down"     (retryable, .retry_after)
     ├── AuthenticationError           401/403, bad key or scope
     ├── ConfigurationError            a setting the provider requires is unset: nothing was sent
     └── InvalidRequestError           other 4xx: our request is wrong
          ├── NotFoundError            404
          ├── ConflictError            409: already in that state / already done
          └── InsufficientCreditError  out of (SMS) credit

Providers add leaves for their own codes (e.g. insufficient SMS credit) under the
branch that matches whether a retry can help. Jobs look only at ``retryable``.
Messages never carry request bodies: they may hold patient data.
"""

from __future__ import annotations


class ProviderError(Exception):
    retryable = False

    def __init__(self, message: str, *, provider: str = "", status: int | None = None,
                 code: str | None = None, retry_after: float | None = None,
                 request_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [p for p in (self.provider, str(self.status) if self.status else "", self.code or "") if p]
        prefix = f"[{' '.join(parts)}] " if parts else ""
        return f"{prefix}{self.message}"


class ProviderConnectionError(ProviderError):
    retryable = True
    #: False only when the request surely never left (connect timeout, refused): then even
    #: a non-idempotent call (a push, a send) may be repeated without doubling it.
    may_have_reached = True


class ServerError(ProviderError):
    retryable = True


class RateLimitError(ProviderError):
    """Not now. ``retry_after`` is the number of seconds until the next slot (None: unknown)."""

    retryable = True


class AuthenticationError(ProviderError):
    pass


class ConfigurationError(ProviderError):
    """Raised before any request: the provider requires a value our settings lack (e.g. a sender
    name). No retry helps until someone sets it; ``/readyz`` lists the setting."""


class InvalidRequestError(ProviderError):
    pass


class NotFoundError(InvalidRequestError):
    pass


class ConflictError(InvalidRequestError):
    pass


class InsufficientCreditError(InvalidRequestError):
    """The account is out of credit (SMS): no retry helps until someone tops up."""


def error_class_for_status(status: int) -> type[ProviderError]:
    """The leaf that an HTTP status means when the provider says nothing more specific."""
    if status in (401, 403):
        return AuthenticationError
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ServerError
    return InvalidRequestError


#: Gateway answers: a proxy in front of the provider gave up, the provider itself may have acted.
GATEWAY_STATUSES = frozenset({502, 503, 504})


def outcome_unknown(exc: ProviderError) -> bool:
    """Whether a failed call that cannot be repeated safely (an SMS, a MOPH push) may still have
    been carried out upstream: no answer after the request went out, a gateway error, or a 5xx
    without the provider's own error body (its ``code``). Such a call is "uncertain": never
    repeated by itself."""
    if isinstance(exc, ProviderConnectionError):
        return exc.may_have_reached
    if exc.status in GATEWAY_STATUSES:
        return True
    if exc.status is not None and exc.status >= 500:
        return exc.code is None
    return exc.code is None and (exc.status is None or exc.status < 400)  # a 2xx we could not read
