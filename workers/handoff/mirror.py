"""Mirroring into LiveDesk: ``LiveDeskMirror`` posts one outbox item to the patient's LiveDesk
conversation, creating the contact and conversation on first use (and again if deleted there).

A message LiveDesk makes but marks ``failed`` (EngageLab LiveDesk "ส่งข้อความ", "การตอบกลับเมื่อล้มเหลว")
is never posted again: its id is recorded for the item, the item fails (retried on the outbox's own
backoff, the patient's later items waiting behind it), and each later attempt calls ``/retry`` for
that id. After FAILED_RETRIES staff get one private note with LiveDesk's (masked) reason, and the
item is done.

Every post is preceded by an attempt marker for its item (workers/handoff/attempts.py): an attempt
whose answer was lost (a killed worker, a timeout) is read back and adopted by the next one, not
posted again, as far as ``LIVEDESK_READ_BACK`` allows.

Only the drain job (``HandoffService.drain_mirror``) calls it, and
``Mirrored`` / ``bot_line`` are the shape of what the feature and the service queue for it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable, NamedTuple

import redis as redis_lib

from bot.handoff.render import (
    failed_message_note,
    handoff_note,
    known_from_oho,
    render_line_messages,
    safe_file_name,
)
from bot.privacy import mask
from integrations.errors import InvalidRequestError, NotFoundError, ProviderError
from integrations.line import ContentTooLarge
from integrations.livedesk import LiveDeskMessageFailed
from integrations.metrics import LIVEDESK_FAILED
from workers.handoff.attempts import PostAttempts
from workers.handoff.store import FailedPost, HandoffStore
from workers.oho_contacts import OhoContacts
from workers.verification.store import verified_phone

if TYPE_CHECKING:
    from bot.settings import Settings
    from integrations.line import LineClient
    from integrations.livedesk import LiveDeskClient
    from integrations.oho import OhoClient

log = logging.getLogger(__name__)

MAX_MEDIA_BYTES = 20 * 1024 * 1024   # larger files are announced, not uploaded (nor downloaded whole)
# ``/retry`` calls for a message LiveDesk marked failed, on the outbox's backoff (5, 15, 30 s), before
# staff get a note and the patient's later messages go on: about a minute held, not the hours that
# MIRROR_ATTEMPTS allow an outage.
FAILED_RETRIES = 3


class Mirrored(NamedTuple):
    """One item for the patient's LiveDesk conversation; ``who`` set = also a transcript line."""

    item_id: str
    item: dict
    who: str | None = None
    transcript: str | None = None   # the transcript's text when not the item's own (media)


def bot_line(item_id: str, messages: list[dict]) -> Mirrored:
    return Mirrored(item_id, {"kind": "text", "direction": "outgoing", "text": render_line_messages(messages)},
                    "bot")


class LiveDeskMirror:
    """Posts one outbox item to the user's LiveDesk conversation (created once, recreated if gone)."""

    def __init__(self, settings: Settings, redis: redis_lib.Redis, store: HandoffStore, contacts: OhoContacts, *,
                 livedesk: LiveDeskClient, line: Callable[[], LineClient], oho: Callable[[], OhoClient]):
        """``line`` and ``oho`` give their clients, built on first use (most items need neither)."""
        self.settings = settings
        self.redis = redis
        self.store = store
        self.contacts = contacts
        self.livedesk = livedesk
        self.line = line
        self.oho = oho
        self.inbox_id = int(settings.livedesk_inbox_id)
        self.attempts = PostAttempts(store, self.livedesk, settings)

    def post(self, user: str, item: dict) -> None:
        """Post the item once. If LiveDesk made its message but marked it ``failed``, later attempts
        only ask LiveDesk to retry that message (on the item's backoff), then tell staff."""
        item_id = item["item_id"]
        done = f"posted:{item_id}"
        if self.store.done(done):
            return  # posted before a crash or a failure of a later item
        failed = self.store.failed_post(item_id)
        if failed is None:
            self._post_new(user, item)
        else:
            self._settle_failed(user, item, failed)
        with self.store.redis.pipeline() as pipe:
            self.store.claim(done, pipeline=pipe)
            self.store.forget_failed_post(item_id, pipeline=pipe)
            self.attempts.clear(item_id, pipeline=pipe)
            pipe.execute()

    def _post_new(self, user: str, item: dict) -> None:
        try:
            if made := self.attempts.made(user, item["item_id"]):
                self._adopt(*made)
                return
            conversation = self.conversation(user)
            try:
                self._send(user, conversation, item)
            except NotFoundError:
                log.info("LiveDesk conversation of %s is gone; opening a new one", mask(user))
                self.store.set_conversation(user, None)
                conversation = self.conversation(user)
                self._send(user, conversation, item)
        except LiveDeskMessageFailed as failed:
            # Made but not delivered: recorded before anything else, so that no later attempt posts
            # it again. Raised on: the outbox retries the item on its own backoff.
            self.store.record_failed_post(item["item_id"], failed.conversation_id, failed.message_id,
                                          failed.external_error)
            LIVEDESK_FAILED.labels("failed").inc()
            log.warning("LiveDesk marked message %s (conversation %s of %s) failed: %s; retrying it on the "
                        "item's backoff", failed.message_id, failed.conversation_id, mask(user), failed.external_error)
            raise

    def _adopt(self, conversation: int, message: dict) -> None:
        """LiveDesk's message of an attempt whose answer was lost, as if that answer had come."""
        self.store.remember_posted(message["id"])
        if failed := self.livedesk.failure(conversation, message):
            raise failed

    def _settle_failed(self, user: str, item: dict, failed: FailedPost) -> None:
        """Retry the failed message (raising while retries are left), or tell staff once they are used up.

        Bounded by FAILED_RETRIES, not by the outbox's attempts: the patient's later messages wait
        behind this one, and a reason such as a closed messaging window does not heal with time."""
        if failed.failures <= FAILED_RETRIES:
            try:
                self.livedesk.retry_message(failed.conversation_id, failed.message_id)
            except LiveDeskMessageFailed as again:
                failures = self.store.count_failed_post(item["item_id"], again.external_error)
                LIVEDESK_FAILED.labels("failed").inc()
                failed = failed._replace(external_error=again.external_error, failures=failures)
                if failures <= FAILED_RETRIES:
                    log.warning("LiveDesk retry of message %s of %s failed too (%d of %d): %s", failed.message_id,
                                mask(user), failures - 1, FAILED_RETRIES, again.external_error)
                    raise
            except NotFoundError:  # the message (or its conversation) is gone from LiveDesk
                log.warning("LiveDesk has no message %s of %s to retry", failed.message_id, mask(user))
                self._tell_staff(user, item, failed, under_it=False)
                return
            except InvalidRequestError as refused:  # "only failed messages can be retried": it went through
                log.info("LiveDesk message %s of %s is no longer failed (%s)", failed.message_id, mask(user), refused)
                return
            else:
                LIVEDESK_FAILED.labels("delivered").inc()
                log.info("LiveDesk delivered message %s of %s on retry", failed.message_id, mask(user))
                return
        self._tell_staff(user, item, failed)

    def _tell_staff(self, user: str, item: dict, failed: FailedPost, under_it: bool = True) -> None:
        """A private note (``under_it``: in reply to the failed message), once (its own done marker);
        a note that fails as well is logged and dropped, never retried or noted in turn."""
        name = f"failed-note:{item['item_id']}"
        done = f"posted:{name}"
        if self.store.done(done):
            return
        direction = "note" if item.get("kind") == "note" else item.get("direction") or "incoming"
        text = failed_message_note(failed.message_id, failed.external_error, direction,
                                   max(failed.failures - 1, 0))
        log.warning("LiveDesk message %s of %s given up after %d retries (%s); staff are told in a note",
                    failed.message_id, mask(user), max(failed.failures - 1, 0), failed.external_error)
        try:
            if made := self.attempts.made(user, name):
                self._adopt(*made)
            else:
                conversation = self.conversation(user)
                in_reply_to = failed.message_id if under_it and conversation == failed.conversation_id else None
                try:
                    self._note(name, conversation, text, in_reply_to)
                except NotFoundError:
                    self.store.set_conversation(user, None)
                    self._note(name, self.conversation(user), text)
        except LiveDeskMessageFailed as note_failed:
            self.store.remember_posted(note_failed.message_id)
            LIVEDESK_FAILED.labels("note_failed").inc()
            log.warning("LiveDesk marked the note about message %s of %s failed too (%s); dropped",
                        failed.message_id, mask(user), note_failed.external_error)
        else:
            LIVEDESK_FAILED.labels("given_up").inc()
        with self.store.redis.pipeline() as pipe:
            self.store.claim(done, pipeline=pipe)
            self.attempts.clear(name, pipeline=pipe)
            pipe.execute()

    def conversation(self, user: str) -> int:
        contact_id, conversation_id = self.store.livedesk_ids(user)
        if conversation_id is not None:
            self.store.keep_conversation(user, conversation_id)
            return conversation_id
        if contact_id is None:
            contact_id = self._create_contact(user)
        try:
            conversation_id = self.livedesk.create_conversation(self.inbox_id, contact_id=contact_id)
        except NotFoundError:  # the contact was deleted in LiveDesk
            conversation_id = self.livedesk.create_conversation(self.inbox_id, contact_id=self._create_contact(user))
        self.store.set_conversation(user, conversation_id)
        return conversation_id

    def _create_contact(self, user: str) -> int:
        profile = self.contacts.line_profile(user)
        contact_id = self.livedesk.create_contact(
            self.inbox_id, str(profile.get("displayName") or f"LINE {mask(user)}")[:255],
            avatar_url=profile.get("pictureUrl") or None)
        self.store.set_livedesk_contact(user, contact_id)
        return contact_id

    def _send(self, user: str, conversation: int, item: dict) -> dict:
        """Post the item, its attempt marker written first (the marker's name: the item id)."""
        kind, name = item.get("kind"), item["item_id"]
        if kind == "note":
            text = item.get("text") or self._note_text(user, item["note"])
            return self._note(name, conversation, text, item.get("in_reply_to"))
        if kind == "media":
            return self._send_media(name, conversation, item)
        text, direction = item["text"], item["direction"]
        self.attempts.mark(name, conversation, text, direction)
        if direction != "outgoing":  # only our outgoing posts can pass for an agent's reply
            return self._remember(conversation, self.livedesk.send_message(conversation, text, message_type=direction))
        # Between sending and learning the id, the webhook may already bring the echo back. The marker
        # is cleared only once the id is known: after a timeout LiveDesk may still have made the
        # message, and its echo must not reach the patient as an agent's reply (it expires instead).
        self.store.mark_in_flight(conversation, text)
        message = self._remember(conversation, self.livedesk.send_message(conversation, text, message_type=direction))
        self.store.clear_in_flight(conversation, text)
        return message

    def _note(self, name: str, conversation: int, text: str, in_reply_to: int | None = None) -> dict:
        self.attempts.mark(name, conversation, text, "outgoing", private=True)
        return self._remember(conversation,
                              self.livedesk.send_message(conversation, text, private=True, in_reply_to=in_reply_to))

    def _send_media(self, name: str, conversation: int, item: dict) -> dict:
        label = f"[{item.get('media')}]"
        try:
            data, content_type = self.line().message_content(item["message_id"], MAX_MEDIA_BYTES)
        except NotFoundError:  # LINE keeps content for a limited time only
            return self._incoming(name, conversation, f"{label} (ไฟล์หมดอายุใน LINE แล้ว / no longer available)")
        except ContentTooLarge:  # refused on its Content-Length, or cut off while reading
            return self._incoming(name, conversation, f"{label} (ไฟล์ใหญ่เกินไป ดูใน LINE OA Manager / too large)")
        file_name = safe_file_name(item.get("file_name"),
                                   f"{item.get('media')}-{item['message_id']}{_extension(content_type)}")
        self.attempts.mark(name, conversation, "", "incoming", attachments=True)
        return self._remember(conversation, self.livedesk.send_attachments(
            conversation, [(file_name, data, content_type)], message_type="incoming"))

    def _incoming(self, name: str, conversation: int, text: str) -> dict:
        self.attempts.mark(name, conversation, text, "incoming")
        return self._remember(conversation, self.livedesk.send_message(conversation, text, message_type="incoming"))

    def _remember(self, conversation: int, message: dict) -> dict:
        self.store.remember_posted(message["id"], conversation)
        return message

    def _note_text(self, user: str, note: dict) -> str:
        return handoff_note(note["reason"], opened_at=float(note["opened_at"]), urgent=bool(note["urgent"]),
                            transcript=note.get("transcript") or [], known=self._known(user))

    def _known(self, user: str) -> dict[str, str]:
        """What the bot knows of the patient, for the note: the number verified by SMS OTP, and
        Oho's contact (tags, attributes). The note goes out without Oho's part if Oho fails."""
        phone = verified_phone(self.redis, user, prefix=self.store.keys.prefix)
        known = {"เบอร์มือถือที่ยืนยันแล้ว (OTP)": phone} if phone else {}
        if not self.settings.configured("oho"):
            return known
        try:
            contact = self.oho().get_contact(self.contacts.platform_id(), user)
        except NotFoundError:
            return known
        except ProviderError as exc:
            log.warning("Oho contact of %s not read for the handoff note: %s", mask(user), exc)
            return {**known, "Oho": "อ่านข้อมูลไม่ได้ขณะนี้ / unavailable"}
        if phone and contact.get("phone") == phone:
            contact = {k: v for k, v in contact.items() if k != "phone"}
        return {**known, **known_from_oho(contact)}


def _extension(content_type: str) -> str:
    return {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "video/mp4": ".mp4",
            "audio/m4a": ".m4a", "audio/x-m4a": ".m4a", "application/pdf": ".pdf"}.get(content_type.split(";")[0], "")
