"""MOPH Alert (หมอพร้อม) client: push LINE messages to patients by citizen ID.

Seed 000 + provider notes. Where they disagree this follows the notes:
- paths: the seed's table says ``/api/v2/send-message/...`` while its section 3
  drops ``v2`` and calls upload-message ``/api/send-message/send-message``;
  the v2 table paths are the defaults and every path is configurable;
- send-now: the parameter table of section 3.5 (API Send Now) names the field
  ``message``, its example body ``messages``; the example wins by default and
  MOPH_SEND_NOW_MESSAGES_KEY switches to the table's spelling;
- upload-message: the seed types ``message`` as a string, but it is a list of
  LINE message objects (as its own example shows).

The JWT from MOPH Account Center lives 24 h. It is cached in Redis for every
web and worker process, refreshed before ``exp`` by one process at a time
(redis-py's ``Lock``), and refreshed once more if a send answers 401.

``send-now`` and ``upload-message`` push to patients and carry no idempotency
key: when such a request got no answer after it may have reached MOPH (a read
timeout, a dropped connection), ``MophDeliveryUnknown`` says so and nothing is
repeated. Only a request that surely never left (connect failure) is retried.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
from typing import Any, Iterable, Sequence

import requests
from redis.exceptions import LockError

from bot.appointments import is_valid_cid
from bot.privacy import mask
from integrations.errors import (
    AuthenticationError,
    ProviderConnectionError,
    ProviderError,
    RateLimitError,
    ServerError,
    outcome_unknown,
)
from integrations.http import DEFAULT_TIMEOUT, ErrorEnvelope, HttpClient

log = logging.getLogger(__name__)

#: Seen from MOPH (public integrations) with a 200: "too many requests".
RATE_LIMIT_TEXT = "มีการร้องขอบ่อยเกินไป"
#: Used when the JWT carries no readable ``exp``: one hour short of the documented 24 h.
FALLBACK_TOKEN_SECONDS = 23 * 3600
#: Refresh this long before ``exp`` so that a token never expires mid-request.
REFRESH_MARGIN_SECONDS = 600
#: A cached token is kept at least this long, so clock skew cannot cause a refresh storm.
MIN_CACHE_SECONDS = 30
#: LINE (and so MOPH Alert) takes at most 5 messages per push.
MAX_MESSAGES = 5

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_CID_LIKE = re.compile(r"\d{13}")
# Keys whose text is taken as the token even when it is not JWT-shaped.
_TOKEN_KEYS = ("access_token", "token", "jwt", "id_token")


class MophTokenError(AuthenticationError):
    """The token call answered without a usable token (wrong user, hash or hospital code)."""


class TokenRefreshBusy(ProviderConnectionError):
    """Another process held the refresh lock too long; retry the job later."""


class MophDeliveryUnknown(ProviderConnectionError):
    """A push got no answer after it may have reached MOPH: the patient may have it already.

    Not retryable: a repeat could push twice. Someone checks หมอพร้อม instead.
    """

    retryable = False


class MophAlertClient(HttpClient):
    """Sends LINE messages through MOPH Alert to patients identified by CID."""

    provider = "moph"

    def __init__(self, base_url: str, *, token_url: str, user: str, password_hash: str,
                 hospital_code: str, redis, send_now_path: str = "/api/v2/send-message/send-now",
                 upload_data_path: str = "/api/v2/send-message/upload-data",
                 upload_data_json_path: str = "/api/v2/send-message/upload-data-json",
                 upload_message_path: str = "/api/v2/send-message/upload-message",
                 send_now_messages_key: str = "messages",
                 session: requests.Session | None = None, timeout=DEFAULT_TIMEOUT,
                 max_retries: int = 2, backoff: float = 0.25, sleep=time.sleep, clock=time.time,
                 lock_seconds: float = 30.0, lock_wait_seconds: float = 10.0,
                 lock_poll_seconds: float = 0.1):
        super().__init__(base_url, session=session, timeout=timeout, max_retries=max_retries,
                         backoff=backoff, sleep=sleep)
        self.token_url = token_url
        self._user = user
        self._password_hash = password_hash
        self.hospital_code = hospital_code
        self.redis = redis
        self.send_now_path = send_now_path
        self.upload_data_path = upload_data_path
        self.upload_data_json_path = upload_data_json_path
        self.upload_message_path = upload_message_path
        if send_now_messages_key not in ("messages", "message"):
            raise ValueError("send_now_messages_key must be 'messages' or 'message'")
        self.send_now_messages_key = send_now_messages_key
        self._clock = clock
        self.lock_seconds = lock_seconds
        self.lock_wait_seconds = lock_wait_seconds
        self.lock_poll_seconds = lock_poll_seconds
        # Keys name the account by a hash: no user name or hospital code in Redis key listings.
        account = hashlib.sha256(f"{token_url}|{user}|{hospital_code}".encode()).hexdigest()[:16]
        self.token_key = f"moph:token:{account}"
        self.lock_key = f"moph:token-lock:{account}"

    @classmethod
    def from_settings(cls, settings, redis, **kwargs) -> "MophAlertClient":
        """Build from ``Settings``; refuses when MOPH credentials are missing."""
        settings.require("moph")
        return cls(settings.moph_alert_base_url, token_url=settings.moph_token_url,
                   user=settings.moph_user, password_hash=settings.moph_password_hash.get_secret_value(),
                   hospital_code=settings.moph_hospital_code, redis=redis,
                   send_now_path=settings.moph_send_now_path,
                   upload_data_path=settings.moph_upload_data_path,
                   upload_data_json_path=settings.moph_upload_data_json_path,
                   upload_message_path=settings.moph_upload_message_path,
                   send_now_messages_key=settings.moph_send_now_messages_key, **kwargs)

    def __repr__(self) -> str:
        return f"MophAlertClient({self.base_url!r}, hospital_code={self.hospital_code!r})"

    # -- sending -----------------------------------------------------------
    def send_now(self, cids: Sequence[str], messages: Sequence[dict]) -> dict:
        """Push ``messages`` to every CID at once (``{"datas": [...], "messages": [...]}``)."""
        body = {"datas": _checked_cids(cids), self.send_now_messages_key: _checked_messages(messages)}
        # Not idempotent: a repeat after a lost answer would push twice (MophDeliveryUnknown).
        return self._call("POST", self.send_now_path, json=body, idempotent=False)

    def upload_data_json(self, cids: Sequence[str]) -> str:
        """Upload a CID list as JSON (``{"datas": [...]}``); return MOPH's ``file_id``."""
        body = self._call("POST", self.upload_data_json_path, json={"datas": _checked_cids(cids)},
                          idempotent=True)  # a repeat only leaves an unused file behind
        return self._file_id(body)

    def upload_data_csv(self, csv_bytes: bytes) -> str:
        """Upload a CSV of CIDs as multipart field ``data_file``; return MOPH's ``file_id``."""
        files = {"data_file": ("cids.csv", csv_bytes, "text/csv")}
        body = self._call("POST", self.upload_data_path, files=files, idempotent=True)
        return self._file_id(body)

    def upload_message(self, file_id: str, messages: Sequence[dict]) -> dict:
        """Send ``messages`` to an uploaded CID file (delivered 3-10 minutes later)."""
        if not file_id:
            raise ValueError("file_id is required")
        # Body key ``message`` (a list), per the provider notes.
        body = {"file_id": file_id, "message": _checked_messages(messages)}
        return self._call("POST", self.upload_message_path, json=body, idempotent=False)

    def _file_id(self, body: dict) -> str:
        file_id = body.get("file_id") if isinstance(body, dict) else None
        if not file_id:
            raise ServerError("upload answer carried no file_id", provider=self.provider)
        return str(file_id)

    def _call(self, method: str, path: str, **kwargs) -> dict:
        """Send with the cached token; on an auth failure refresh once and retry once."""
        token = self.access_token()
        try:
            return self._send(method, path, token, **kwargs)
        except AuthenticationError:
            log.info("moph %s answered 401; refreshing the token and retrying once", path)
            self._forget(token)
            return self._send(method, path, self.access_token(), **kwargs)

    def _send(self, method: str, path: str, token: str, **kwargs) -> dict:
        try:
            response = self.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
        except ProviderError as exc:
            if kwargs.get("idempotent") or isinstance(exc, AuthenticationError) or not outcome_unknown(exc):
                raise
            raise MophDeliveryUnknown(f"{path}: {exc.status or 'no answer'} after the request may have reached MOPH",
                                      provider=self.provider, status=exc.status) from None
        body = _json_or_none(response)
        self._raise_for_body(response, body)
        return body if isinstance(body, dict) else {}

    # -- errors ------------------------------------------------------------
    def error_envelope(self, body, response: requests.Response) -> ErrorEnvelope:
        """``{message, message_code}``: the body's code is the more specific one, unless it claims
        success on an HTTP error; the Thai "too many requests" text is a rate limit whatever the code.
        ``code`` is MOPH's own ``message_code`` (None: a bare HTTP error, which ``outcome_unknown``
        treats as "maybe sent")."""
        code = _message_code(body)
        message = _body_message(body, response)
        return ErrorEnvelope(message=message, code=None if code is None else str(code),
                             status=code if code is not None and code >= 400 else None,
                             cls=RateLimitError if RATE_LIMIT_TEXT in message else None)

    def _raise_for_body(self, response: requests.Response, body: Any) -> None:
        """A 200 may still be a failure: ``message_code`` >= 400, or the Thai rate-limit text."""
        envelope = self.error_envelope(body, response)
        if envelope.status is not None or envelope.cls is RateLimitError:
            raise self.error(envelope.status or 429, envelope.message, code=envelope.code,
                             headers=response.headers, cls=envelope.cls)

    # -- token -------------------------------------------------------------
    def access_token(self) -> str:
        """The shared JWT: from Redis, or fetched by the one process that holds the refresh lock."""
        token = self._cached()
        if token:
            return token
        lock = self.redis.lock(self.lock_key, timeout=self.lock_seconds, sleep=self.lock_poll_seconds,
                               blocking_timeout=self.lock_wait_seconds)
        if not lock.acquire():
            token = self._cached()  # the holder may have finished just as we gave up
            if token:
                return token
            raise TokenRefreshBusy("another process is still refreshing the MOPH token", provider=self.provider)
        try:
            # Whoever held the lock while we waited has refreshed already.
            return self._cached() or self._refresh()
        finally:
            try:
                lock.release()
            except LockError:  # held past ``lock_seconds``: it expired, and may be someone else's now
                log.warning("moph token lock expired before the refresh ended")

    def _cached(self) -> str | None:
        value = self.redis.get(self.token_key)
        if isinstance(value, bytes):
            value = value.decode()
        return value or None

    def _forget(self, token: str) -> None:
        """Drop the rejected token, unless another process has already replaced it."""
        if self._cached() == token:
            self.redis.delete(self.token_key)

    def _refresh(self) -> str:
        params = {"Action": "get_moph_access_token", "user": self._user,
                  "password_hash": self._password_hash, "hospital_code": self.hospital_code}
        try:
            response = self.request("GET", self.token_url, params=params, headers={"Accept": "*/*"})
        except ProviderError as exc:
            # The underlying requests error names the URL *with* its query string
            # (the password hash); drop the chain so it cannot reach a traceback log.
            exc.__cause__ = exc.__context__ = None
            exc.__suppress_context__ = True
            raise exc
        body = _json_or_none(response)
        self._raise_for_body(response, body)
        token = _find_token(body if body is not None else response.text)
        if not token:
            raise MophTokenError("token answer held no token", provider=self.provider,
                                 status=response.status_code)
        now = self._clock()
        expires = _jwt_exp(token) or now + FALLBACK_TOKEN_SECONDS
        ttl = max(MIN_CACHE_SECONDS, int(expires - now - REFRESH_MARGIN_SECONDS))
        self.redis.set(self.token_key, token, ex=ttl)
        log.info("moph token refreshed; cached for %d s", ttl)
        return token


# -- helpers ---------------------------------------------------------------

def _checked_cids(cids: Iterable[str]) -> list[str]:
    cids = list(cids)
    if not cids:
        raise ValueError("at least one CID is required")
    bad = [c for c in cids if not is_valid_cid(c)]
    if bad:
        raise ValueError(f"{len(bad)} invalid CID(s), e.g. {mask(bad[0])}")
    return cids


def _checked_messages(messages: Sequence[dict]) -> list[dict]:
    messages = list(messages)
    if not 1 <= len(messages) <= MAX_MESSAGES:
        raise ValueError(f"between 1 and {MAX_MESSAGES} messages are required")
    return messages


def _json_or_none(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _message_code(body: Any) -> int | None:
    if not isinstance(body, dict):
        return None
    try:
        return int(body.get("message_code"))
    except (TypeError, ValueError):
        return None


def _body_message(body: Any, response: requests.Response) -> str:
    """The provider's message, safe to log: CIDs masked, tokens removed, shortened."""
    if isinstance(body, dict):
        text = str(body.get("message") or body.get("error") or "")
    else:
        text = response.text if response.headers.get("Content-Type", "").startswith("text/") else ""
    text = _CID_LIKE.sub(lambda m: mask(m.group()), _JWT.sub("[token]", text))
    return text[:300] or f"HTTP {response.status_code}"


def _find_token(body: Any) -> str | None:
    """The JWT in a bare-text body, a JSON string, or a JSON object (e.g. ``{"token": ...}``).

    The seed shows a bare JWT; some deployments wrap it in JSON under a key that
    varies, so known keys are tried first (also for a non-JWT opaque token), then
    any JWT-shaped value anywhere in the object.
    """
    if isinstance(body, str):
        match = _JWT.search(body)
        return match.group() if match else None
    if isinstance(body, dict):
        for key in _TOKEN_KEYS:
            value = body.get(key)
            if isinstance(value, str) and value.strip() and not any(c.isspace() for c in value.strip()):
                return value.strip()
            if isinstance(value, dict):
                found = _find_token(value)
                if found:
                    return found
        for value in body.values():
            if isinstance(value, (str, dict, list)):
                found = _find_token(value)
                if found:
                    return found
    if isinstance(body, list):
        for value in body:
            found = _find_token(value)
            if found:
                return found
    return None


def _jwt_exp(token: str) -> float | None:
    """``exp`` from the JWT payload (base64url JSON); no signature check, it only schedules refreshes."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None
