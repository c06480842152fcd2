"""Mirroring into LiveDesk: ``LiveDeskMirror`` posts one outbox item to the patient's LiveDesk
conversation, creating the contact and conversation on first use (and again if deleted there).

Only the drain job (``HandoffService.drain_mirror``) calls it, and
``Mirrored`` / ``bot_line`` are the shape of what the feature and the service queue for it.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from bot.handoff.render import handoff_note, known_from_oho, render_line_messages, safe_file_name
from bot.privacy import mask
from integrations.errors import NotFoundError, ProviderError
from integrations.livedesk import LiveDeskMessageFailed
from workers.handoff.store import HandoffStore
from workers.oho_contacts import OhoContacts
from workers.verification.store import verified_phone

log = logging.getLogger(__name__)

MAX_MEDIA_BYTES = 20 * 1024 * 1024   # larger files are announced, not uploaded


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

    def __init__(self, services, store: HandoffStore, contacts: OhoContacts):
        self.services = services
        self.store = store
        self.contacts = contacts
        self.livedesk = services.livedesk
        self.inbox_id = int(services.settings.livedesk_inbox_id)

    def post(self, user: str, item: dict) -> None:
        done = f"posted:{item['item_id']}"
        if self.store.done(done):
            return  # posted before a crash or a failure of a later item
        conversation = self.conversation(user)
        try:
            try:
                self._send(user, conversation, item)
            except NotFoundError:
                log.info("LiveDesk conversation of %s is gone; opening a new one", mask(user))
                self.store.set_conversation(user, None)
                conversation = self.conversation(user)
                self._send(user, conversation, item)
        except LiveDeskMessageFailed as failed:  # made but not delivered: retry it, never post it twice
            self._remember(failed.answer)
            log.warning("LiveDesk marked message %s failed (%s); asking it to retry", failed.message_id,
                        failed.external_error)
            try:
                self.livedesk.retry_message(failed.conversation_id, failed.message_id)
            except LiveDeskMessageFailed as again:
                log.warning("LiveDesk retry of message %s failed too (%s)", again.message_id, again.external_error)
        self.store.claim(done)

    def conversation(self, user: str) -> int:
        contact_id, conversation_id = self.store.livedesk_ids(user)
        if conversation_id is not None:
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
        kind = item.get("kind")
        if kind == "note":
            text = item.get("text") or self._note_text(user, item["note"])
            return self._remember(self.livedesk.send_message(conversation, text, private=True,
                                                             in_reply_to=item.get("in_reply_to")))
        if kind == "media":
            return self._send_media(conversation, item)
        text, direction = item["text"], item["direction"]
        if direction != "outgoing":  # only our outgoing posts can pass for an agent's reply
            return self._remember(self.livedesk.send_message(conversation, text, message_type=direction))
        # Between sending and learning the id, the webhook may already bring the echo back. The marker
        # is cleared only once the id is known: after a timeout LiveDesk may still have made the
        # message, and its echo must not reach the patient as an agent's reply (it expires instead).
        self.store.mark_in_flight(conversation, text)
        message = self._remember(self.livedesk.send_message(conversation, text, message_type=direction))
        self.store.clear_in_flight(conversation, text)
        return message

    def _send_media(self, conversation: int, item: dict) -> dict:
        label = f"[{item.get('media')}]"
        try:
            data, content_type = self.services.line.message_content(item["message_id"])
        except NotFoundError:  # LINE keeps content for a limited time only
            return self._remember(self.livedesk.send_message(
                conversation, f"{label} (ไฟล์หมดอายุใน LINE แล้ว / no longer available)", message_type="incoming"))
        if len(data) > MAX_MEDIA_BYTES:
            return self._remember(self.livedesk.send_message(
                conversation, f"{label} (ไฟล์ใหญ่เกินไป ดูใน LINE OA Manager / too large)", message_type="incoming"))
        name = safe_file_name(item.get("file_name"),
                              f"{item.get('media')}-{item['message_id']}{_extension(content_type)}")
        return self._remember(self.livedesk.send_attachments(
            conversation, [(name, data, content_type)], message_type="incoming"))

    def _remember(self, message: dict) -> dict:
        self.store.remember_posted(message["id"])
        return message

    def _note_text(self, user: str, note: dict) -> str:
        return handoff_note(note["reason"], opened_at=float(note["opened_at"]), urgent=bool(note["urgent"]),
                            transcript=note.get("transcript") or [], known=self._known(user))

    def _known(self, user: str) -> dict[str, str]:
        """What the bot knows of the patient, for the note: the number verified by SMS OTP, and
        Oho's contact (tags, attributes). The note goes out without Oho's part if Oho fails."""
        phone = verified_phone(self.services.redis, user)
        known = {"เบอร์มือถือที่ยืนยันแล้ว (OTP)": phone} if phone else {}
        if not self.services.settings.configured("oho"):
            return known
        try:
            contact = self.services.oho.get_contact(self.contacts.platform_id(), user)
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
