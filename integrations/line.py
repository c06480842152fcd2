"""LINE Messaging API client: line-bot-sdk v3 underneath, our typed errors on top.

The SDK does the HTTP and the models; this class adds what every caller needs
and the SDK leaves open: a timeout on every call, SDK exceptions mapped to the
``integrations.errors`` tree, and the reply → push fallback with an
idempotent ``X-Line-Retry-Key``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any
from urllib.parse import quote

from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessagingApi,
    MessagingApiBlob,
    RichMenuRequest,
)
from requests.structures import CaseInsensitiveDict

from bot.privacy import mask, mask_numbers
from integrations import metrics
from integrations.errors import (
    InvalidRequestError,
    NotFoundError,
    ProviderConnectionError,
    ProviderError,
    error_class_for_status,
)
from integrations.http import retry_after_seconds

log = logging.getLogger(__name__)

#: Namespace for retry keys: the same event always yields the same key.
RETRY_KEY_NAMESPACE = uuid.UUID("5f0c6f3e-3b1e-4c55-9a53-0e6a1b1c9d2a")


#: Bytes read at a time from a content download (LINE's images, videos, files).
CONTENT_CHUNK = 64 * 1024


class ContentTooLarge(Exception):
    """A user's media is larger than the caller takes (said by ``Content-Length``, or counted while
    reading); no more of it was read than that."""

    def __init__(self, limit: int, declared: int | None = None):
        said = f"{declared} bytes declared" if declared is not None else "more bytes came"
        super().__init__(f"LINE content over {limit} bytes ({said})")
        self.limit = limit
        self.declared = declared


def retry_key_for(*parts: str, prefix: str = "") -> str:
    """A UUID that is the same for the same inputs, so a retried job pushes at most once. ``prefix``: the
    hospital's (``Hospital.prefix``; "" for the implicit one, whose keys stay as they were). Two hospitals'
    LiveDesk accounts both have a message #3005: LINE does not say a retry key is per channel, and the
    second hospital's push must not be taken for a repeat of the first's (409) and dropped."""
    return str(uuid.uuid5(RETRY_KEY_NAMESPACE, prefix + ":".join(parts)))


class LineClient:
    provider = "line"

    def __init__(self, access_token: str, *, base_url: str = "https://api.line.me",
                 data_base_url: str = "https://api-data.line.me", timeout: float = 10.0):
        self.timeout = timeout
        self._api = MessagingApi(ApiClient(self._configuration(access_token, base_url)))
        self._blob = MessagingApiBlob(ApiClient(self._configuration(access_token, data_base_url)))

    @staticmethod
    def _configuration(access_token: str, host: str) -> Configuration:
        config = Configuration(access_token=access_token, host=host.rstrip("/"))
        config.retries = 0  # failures are retried by the job queue, with backoff, not here
        return config

    @classmethod
    def from_settings(cls, settings) -> "LineClient":
        token = settings.line_channel_access_token
        if token is None:
            raise RuntimeError("LINE_CHANNEL_ACCESS_TOKEN is not set")
        return cls(token.get_secret_value(), base_url=settings.line_api_base_url,
                   data_base_url=settings.line_data_api_base_url, timeout=settings.line_timeout_seconds)

    # -- calls ----------------------------------------------------------------
    def reply(self, reply_token: str, messages: list[dict]) -> None:
        self._post("reply", "/v2/bot/message/reply", {"replyToken": reply_token, "messages": messages})

    def push(self, to: str, messages: list[dict], retry_key: str) -> None:
        """Push with ``X-Line-Retry-Key``. LINE answers 409 to a repeat of an accepted push: done."""
        try:
            self._post("push", "/v2/bot/message/push", {"to": to, "messages": messages},
                       headers={"X-Line-Retry-Key": retry_key})
        except ProviderError as exc:
            if exc.status == 409:
                log.info("line push to %s already accepted (retry key seen)", mask(to))
                return
            raise

    def show_loading(self, chat_id: str, seconds: int = 5) -> None:
        """LINE's typing animation in a 1:1 chat (5–60 s, a multiple of 5). Cosmetic: never raises."""
        seconds = max(5, min(60, (seconds + 4) // 5 * 5))
        try:
            self._post("loading", "/v2/bot/chat/loading/start", {"chatId": chat_id, "loadingSeconds": seconds})
        except ProviderError as exc:
            log.info("line loading animation not shown: %s", exc)

    def bot_info(self) -> dict[str, Any]:
        return self._call("bot_info", self._api.get_bot_info_with_http_info).data.to_dict()

    def profile(self, user_id: str) -> dict[str, Any]:
        return self._call("profile", self._api.get_profile_with_http_info, user_id).data.to_dict()

    def message_content(self, message_id: str, max_bytes: int) -> tuple[bytes, str]:
        """The bytes and content type of an image, video, audio or file a user sent, at most
        ``max_bytes`` of them: a ``Content-Length`` over that is refused before the body is read, and
        reading stops as soon as more came (``ContentTooLarge``), so a 300 MB video never sits in memory.

        Through the SDK's own transport (its pool, headers and errors) but not its method, which reads
        the whole body before returning (even with ``_preload_content=False``).
        """
        api = self._blob.api_client
        url = f"{api.configuration.host}/v2/bot/message/{quote(str(message_id), safe='')}/content"
        response = self._call("content", api.request, "GET", url, headers=dict(api.default_headers),
                              _preload_content=False)
        try:
            data = self._read_capped(response, max_bytes)
        except BaseException:
            response.close()  # the rest is unread: this connection cannot serve another request
            raise
        response.release_conn()
        # urllib3's headers: case-insensitive, so one look-up finds "content-type" too.
        return data, response.headers.get("Content-Type") or "application/octet-stream"

    def _read_capped(self, response, max_bytes: int) -> bytes:
        declared = (response.headers.get("Content-Length") or "").strip()
        if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
            raise ContentTooLarge(max_bytes, int(declared))
        data = bytearray()
        try:
            for chunk in response.stream(CONTENT_CHUNK):
                data += chunk
                if len(data) > max_bytes:
                    raise ContentTooLarge(max_bytes)
        except Exception as exc:
            if type(exc).__module__.startswith("urllib3"):  # a read timeout, a connection cut mid-body
                raise ProviderConnectionError(f"{type(exc).__name__} reading LINE content",
                                              provider=self.provider) from None
            raise
        return bytes(data)

    # -- rich menus (LINE Messaging API, "Rich menu") --------------------------------
    def create_rich_menu(self, menu: dict[str, Any]) -> str:
        """Create a rich menu (the SDK's model checks its shape first); returns its id."""
        request = RichMenuRequest.from_dict(menu)
        return self._call("richmenu_create", self._api.create_rich_menu_with_http_info, request).data.rich_menu_id

    def set_rich_menu_image(self, rich_menu_id: str, image: bytes, content_type: str) -> None:
        """Upload the menu's image (PNG or JPEG, exactly the menu's size, at most 1 MB)."""
        self._call("richmenu_image", self._blob.set_rich_menu_image_with_http_info, rich_menu_id, image,
                   _headers={"Content-Type": content_type})

    def set_default_rich_menu(self, rich_menu_id: str) -> None:
        """Show this menu to every user without a menu of their own (refused until it has an image)."""
        self._call("richmenu_default", self._api.set_default_rich_menu_with_http_info, rich_menu_id)

    def default_rich_menu_id(self) -> str | None:
        """The default menu's id; None when there is none (LINE answers 404)."""
        try:
            return self._call("richmenu_default_get", self._api.get_default_rich_menu_id_with_http_info).data.rich_menu_id
        except NotFoundError:
            return None

    def rich_menus(self) -> list[dict[str, Any]]:
        """Every rich menu of the channel (``richMenuId``, ``name``, ``chatBarText``, ``size``, ``areas``)."""
        answer = self._call("richmenu_list", self._api.get_rich_menu_list_with_http_info).data
        return [menu.to_dict() for menu in answer.richmenus or []]

    def delete_rich_menu(self, rich_menu_id: str) -> None:
        self._call("richmenu_delete", self._api.delete_rich_menu_with_http_info, rich_menu_id)

    # -- plumbing -------------------------------------------------------------
    def _post(self, name: str, path: str, body: dict, headers: dict | None = None) -> None:
        """POST a JSON body through the SDK's own transport (auth, host, errors), skipping its models.

        For sends only. Building the SDK's pydantic models from our message dicts
        and serialising them back cost ~4 ms per Flex answer (measured: the
        worker's largest cost); and once LINE has said 2xx the message is out, so
        an answer the SDK cannot parse must not become a failure and a resend.
        """
        api = self._api.api_client
        # The bearer token is among the SDK client's default headers; nothing else is needed.
        response = self._call(name, api.call_api, path, "POST",
                              header_params={"Content-Type": "application/json", "Accept": "application/json",
                                             **(headers or {})},
                              body=body, _preload_content=False)
        response.data  # read the body so the connection goes back to the pool

    def _call(self, name: str, method, *args, **kwargs):
        started = time.monotonic()
        try:
            answer = method(*args, _request_timeout=self.timeout, **kwargs)
            metrics.record_call(self.provider, name, getattr(answer, "status_code", 200), time.monotonic() - started)
            return answer
        except ApiException as exc:
            metrics.record_call(self.provider, name, exc.status or None, time.monotonic() - started)
            raise self._error(name, exc) from None
        except ValueError:
            metrics.record_call(self.provider, name, 200, time.monotonic() - started)
            # The SDK's models rejected LINE's answer; their message quotes it (names, pictures).
            raise ProviderError(f"LINE {name}: answer not understood", provider=self.provider) from None
        except Exception as exc:  # urllib3 connection and timeout errors
            if type(exc).__module__.startswith("urllib3"):
                metrics.record_call(self.provider, name, None, time.monotonic() - started)
                raise ProviderConnectionError(f"{type(exc).__name__} calling LINE {name}",
                                              provider=self.provider) from None
            raise

    def _error(self, name: str, exc: ApiException) -> ProviderError:
        message = ""
        try:
            message = str(json.loads(exc.body or b"{}").get("message", ""))
        except (ValueError, AttributeError):
            pass
        # Case-insensitive, as HTTP header names are: LINE may send "retry-after".
        headers = CaseInsensitiveDict(exc.headers or {})
        cls = error_class_for_status(exc.status or 500)
        if exc.status == 429 and "monthly limit" in message.lower():
            # Out of push quota for the month: retrying for 20 minutes cannot help.
            cls = InvalidRequestError
        return cls(mask_numbers(f"LINE {name}: {message or exc.reason}")[:300], provider=self.provider,
                   status=exc.status, retry_after=retry_after_seconds(headers),
                   request_id=headers.get("x-line-request-id"))


def token_refused(exc: ProviderError) -> bool:
    """LINE's 400 for a reply token that is used already or expired."""
    return exc.status == 400 and "reply token" in exc.message.lower()


def reply_token_problem(exc: ProviderError) -> bool:
    """Whether a failed reply is worth a push: the token is expired/used, or LINE failed on its side.

    A 400 about anything but the token means our messages are wrong: a push
    with the same messages would fail the same way.
    """
    if exc.status == 400:
        return "reply token" in exc.message.lower()
    return exc.retryable
