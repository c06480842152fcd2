"""The HTTP base every provider client stands on.

One place decides timeouts, which failures are retried and how, how an HTTP
answer becomes a typed error, and what is logged. Clients subclass
``HttpClient``, set ``provider``, and override ``error_envelope`` to say how the
provider's error body looks.

Retries here are short and in-process (a blip on a keep-alive connection, a
429 with a small ``Retry-After``). Longer outages are the job queue's business:
the error propagates, RQ retries the job with backoff, and the last failure
lands in the failed registry.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Mapping

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from bot.privacy import mask_numbers
from integrations import metrics
from integrations.errors import (
    ProviderConnectionError,
    ProviderError,
    error_class_for_status,
)

log = logging.getLogger(__name__)


#: (connect, read) seconds. Every request has a timeout; none waits forever.
DEFAULT_TIMEOUT = (3.05, 15.0)
#: A Retry-After longer than this is not slept on in-process; the job retries later.
MAX_INLINE_RETRY_AFTER = 5.0
#: Methods that can be repeated without doubling an effect.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form), if any."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date: rare enough to let the job-level backoff decide


@dataclass(frozen=True)
class ErrorEnvelope:
    """A provider's error body, read: its message, its own error code, the status it claims when
    that overrides the HTTP one, and the error class its code means (None: by status)."""

    message: str | None = None
    code: str | None = None
    status: int | None = None
    cls: type[ProviderError] | None = None


class HttpClient:
    """A requests session bound to one provider's base URL."""

    provider = "http"

    def __init__(self, base_url: str, *, session: requests.Session | None = None,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT, max_retries: int = 2,
                 backoff: float = 0.25, sleep=time.sleep):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self._sleep = sleep
        self.session = session or self._new_session()

    @staticmethod
    def _new_session() -> requests.Session:
        session = requests.Session()
        # Retries are ours (below), not urllib3's, so that every attempt is typed and logged.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    # -- to override -------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {}

    def parse_error(self, response: requests.Response) -> ProviderError:
        """Turn a failed response into a typed error: the body decoded once, the provider's
        ``error_envelope`` read, the text shortened and masked (in ``error``)."""
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        envelope = self.error_envelope(body, response)
        message = (envelope.message or f"HTTP {response.status_code}")[:300]
        return self.error(envelope.status or response.status_code, message, code=envelope.code,
                          headers=response.headers, cls=envelope.cls)

    def error_envelope(self, body: Any, response: requests.Response) -> "ErrorEnvelope":
        """What the provider's error body says. Clients override this for their envelope; this
        default reads ``{message | error, code}``."""
        if not isinstance(body, dict):
            return ErrorEnvelope()
        code = body.get("code")
        return ErrorEnvelope(message=str(body.get("message") or body.get("error") or "") or None,
                             code=None if code is None else str(code))

    # -- shared ------------------------------------------------------------
    def error(self, status: int | None, message: str, *, code: str | None = None,
              headers: Mapping[str, str] | None = None,
              cls: type[ProviderError] | None = None) -> ProviderError:
        cls = cls or (error_class_for_status(status) if status else ProviderError)
        retry_after = retry_after_seconds(headers or {})
        request_id = (headers or {}).get("X-Request-Id") or (headers or {}).get("x-line-request-id")
        # Providers echo what they were sent (a phone number, a citizen ID): mask before it is raised.
        return cls(mask_numbers(message), provider=self.provider, status=status, code=code,
                   retry_after=retry_after, request_id=request_id)

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(self, method: str, path: str, *, json: Any = None, data: Any = None,
                files: Any = None, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None, idempotent: bool | None = None,
                ok_statuses: tuple[int, ...] = ()) -> requests.Response:
        """Send a request; return the response if 2xx (or in ``ok_statuses``), else raise.

        ``idempotent`` says whether a failed attempt may be repeated here. It
        defaults to the method's nature; a POST carrying an idempotency key can
        pass True.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        all_headers = {"Accept": "application/json", **self.auth_headers(), **(headers or {})}
        url = self.url(path)
        endpoint = metrics.endpoint_template(path)
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                response = self.session.request(method, url, json=json, data=data, files=files,
                                                params=params, headers=all_headers,
                                                timeout=self.timeout)
            except requests.RequestException as exc:
                metrics.record_call(self.provider, endpoint, None, time.monotonic() - started)
                reached = _may_have_reached(exc)
                error = ProviderConnectionError(f"{type(exc).__name__} calling {self._where(path)}",
                                                provider=self.provider)
                error.may_have_reached = reached
                if attempt <= self.max_retries and (idempotent or not reached):
                    self._log(method, path, None, started, attempt, note=type(exc).__name__)
                    self._sleep(self._delay(attempt, None))
                    continue
                # No chained cause: requests' messages quote the URL, query string and all.
                raise error from None

            metrics.record_call(self.provider, endpoint, response.status_code, time.monotonic() - started)
            self._log(method, path, response.status_code, started, attempt)
            if response.ok or response.status_code in ok_statuses:
                return response
            error = self.parse_error(response)
            if (error.retryable and idempotent and attempt <= self.max_retries
                    and (error.retry_after or 0) <= MAX_INLINE_RETRY_AFTER):
                self._sleep(self._delay(attempt, error.retry_after))
                continue
            raise error

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        # Exponential backoff with full jitter, so that many workers do not retry in step.
        return random.uniform(0, self.backoff * (2 ** (attempt - 1)))

    def _where(self, path: str) -> str:
        # Path only (query strings can hold credentials, e.g. MOPH's token call), with
        # LINE user ids and long digit runs (phones, citizen IDs) masked.
        return mask_numbers(path.split("?", 1)[0])

    def _log(self, method, path, status, started, attempt, note=""):
        log.info("%s %s %s -> %s in %.0f ms%s%s", self.provider, method, self._where(path),
                 status if status is not None else "no answer", (time.monotonic() - started) * 1000,
                 f" (attempt {attempt})" if attempt > 1 else "", f" {note}" if note else "")

    def json(self, method: str, path: str, **kwargs) -> Any:
        """``request`` and decode the JSON body (None for an empty body)."""
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise self.error(response.status_code, "answer is not JSON") from exc


def _may_have_reached(exc: requests.RequestException) -> bool:
    """False only when the request surely never left: a connect timeout or a refused connection.

    Such a failure may be repeated even for a POST without an idempotency key.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return not isinstance(reason, NewConnectionError)
    return True
