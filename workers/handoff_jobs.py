"""Jobs of the human handoff: Oho switches, the LiveDesk mirror, pushes to the patient, timers.

Every job may run more than once (RQ retries, a killed worker): LINE pushes carry a
retry key and a "done" marker, LiveDesk posts are marked done per logical item, and
the Oho calls are idempotent (409 = already so; label merges write only on change).
A retryable provider failure raises (RQ retries with backoff, then the failed
registry); one that retrying cannot fix fails at once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from contextlib import contextmanager

from bot.handoff import (BANGKOK, agent_line_messages, closed_note, handoff_closed_message,
                         handoff_note, idle_deadline, known_from_oho, no_agent_message, parse_business_hours,
                         render_line_messages)
from bot.privacy import mask
from handlers.handoff import (HandoffStore, OutboxItemSetAside, enqueue_close, enqueue_drain_mirror,
                              mirror_outbox, patient_outbox, schedule_idle_check)
from handlers.verification import verified_phone
from integrations.errors import NotFoundError, ProviderError
from integrations.line import retry_key_for
from integrations.oho import OhoLimitError, line_contact
from workers.runtime import fail_without_retry, services

log = logging.getLogger(__name__)

HANDOFF_LABELS = ["handoff"]
URGENT_LABELS = ["handoff", "urgent"]
BOT_INFO_TTL = 24 * 3600
MAX_MEDIA_BYTES = 20 * 1024 * 1024   # larger files are announced, not uploaded
IDLE_SLACK_SECONDS = 5


@contextmanager
def _provider_errors():
    """Retryable failures propagate (RQ retries); the rest go straight to the failed registry."""
    try:
        yield
    except (OutboxItemSetAside, OhoLimitError) as exc:
        fail_without_retry(exc)
    except ProviderError as exc:
        if not exc.retryable:
            fail_without_retry(exc)
        raise


# -- jobs ------------------------------------------------------------------------------------

def drain_mirror(user: str) -> int:
    """Post the user's queued messages and notes to their LiveDesk conversation, in order."""
    s = services()
    with _provider_errors():
        mirror = LiveDeskMirror(s)
        return mirror_outbox(s.redis).drain(user, lambda item: mirror.post(user, item))


def drain_to_patient(user: str) -> int:
    """Push agents' queued replies to the patient on LINE, in order, each at most once."""
    s = services()
    with _provider_errors():
        return patient_outbox(s.redis).drain(user, lambda item: _push_agent_message(s, user, item))


def ensure_oho_contact(user: str) -> None:
    """Create the patient's Oho contact from LINE's bot info and profile (409: it exists)."""
    s = services()
    with _provider_errors():
        _ensure_oho_contact(s, user, oho_platform_id(s))


def request_agent(user: str, session: str) -> None:
    """Oho: the contact, request-agent, and the handoff (+ urgent) labels, merged with others'."""
    s = services()
    state = HandoffStore(s.redis).state(user)
    if state is None or state.session != session or s.settings.oho_api_key is None:
        return  # closed before we got here (or mirror-only): nothing to switch
    with _provider_errors():
        platform_id = oho_platform_id(s)
        _ensure_oho_contact(s, user, platform_id)
        if not s.oho.request_agent(platform_id, user):
            log.info("Oho chat of %s already with an agent", mask(user))
        s.oho.add_labels(platform_id, user, URGENT_LABELS if state.urgent else HANDOFF_LABELS)


def close_handoff(user: str, session: str, reason: str, notify: bool) -> None:
    """End a handoff: the bot answers again, the patient is told, Oho closes the chat and drops our labels."""
    s = services()
    store = HandoffStore(s.redis)
    state = store.state(user)
    if state is not None and state.session != session:
        log.info("handoff of %s was reopened; not closing the new one", mask(user))
        return
    store.close(user, session)
    with _provider_errors():
        if notify:
            message = handoff_closed_message(reason, s.knowledge.menu)
            _push_once(s, user, [message], f"closed:{session}", retry_key_for("handoff-closed", session))
            _mirror_bot(s, user, f"out:closed:{session}", [message])
        mirror_outbox(s.redis).append(user, f"closed-note:{session}", {"kind": "note", "text": closed_note(reason)})
        enqueue_drain_mirror(s.redis, user)
        if s.settings.oho_api_key is not None:
            platform_id = oho_platform_id(s)
            try:
                if not s.oho.close_chat(platform_id, user):
                    log.info("Oho chat of %s was not with an agent", mask(user))
            except NotFoundError:
                log.warning("Oho has no chat room for %s to close", mask(user))
            s.oho.remove_labels(platform_id, user, URGENT_LABELS)
    log.info("handoff of %s closed (%s)", mask(user), reason)


def check_no_agent(user: str, session: str) -> None:
    """If no agent has answered yet, tell the patient once that they are in the queue."""
    s = services()
    store = HandoffStore(s.redis)
    state = store.state(user)
    if state is None or state.session != session or state.agent_answered or state.no_agent_notice_sent:
        return
    hours = parse_business_hours(s.settings.business_hours)
    message = no_agent_message(dt.datetime.now(BANGKOK), hours)
    with _provider_errors():
        _push_once(s, user, [message], f"no-agent:{session}", retry_key_for("handoff-no-agent", session))
    store.update(user, session, no_agent_notice_sent=True)
    _mirror_bot(s, user, f"out:no-agent:{session}", [message])
    enqueue_drain_mirror(s.redis, user)


def check_idle(user: str, session: str) -> None:
    """Close a handoff with no message from either side for HANDOFF_IDLE_MINUTES, else look again later."""
    s = services()
    state = HandoffStore(s.redis).state(user)
    if state is None or state.session != session:
        return
    hours = parse_business_hours(s.settings.business_hours)
    # RQ's scheduler counts whole seconds, so a check can run a moment before its deadline.
    if time.time() < idle_deadline(state, hours, s.settings.handoff_idle_minutes) - IDLE_SLACK_SECONDS:
        schedule_idle_check(s.redis, user, state, hours, s.settings.handoff_idle_minutes)
        return
    enqueue_close(s.redis, user, session, "idle", notify=True)


# -- LiveDesk ---------------------------------------------------------------------------------

class LiveDeskMirror:
    """Posts one outbox item to the user's LiveDesk conversation (created once, recreated if gone)."""

    def __init__(self, s):
        self.s = s
        self.store = HandoffStore(s.redis)
        self.livedesk = s.livedesk
        self.inbox_id = int(s.settings.livedesk_inbox_id)

    def post(self, user: str, item: dict) -> None:
        done = f"posted:{item['item_id']}"
        if self.store.done(done):
            return  # posted before a crash or a failure of a later item
        conversation = self.conversation(user)
        try:
            message = self._send(user, conversation, item)
        except NotFoundError:
            log.info("LiveDesk conversation of %s is gone; opening a new one", mask(user))
            self.store.set_conversation(user, None)
            conversation = self.conversation(user)
            message = self._send(user, conversation, item)
        if message.get("status") == "failed":
            log.warning("LiveDesk marked message %s failed; asking it to retry", message.get("id"))
            self.livedesk.retry_message(conversation, int(message["id"]))
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
        profile = _line_profile(self.s, user)
        contact_id = self.livedesk.create_contact(
            self.inbox_id, str(profile.get("displayName") or f"LINE {mask(user)}")[:255],
            avatar_url=profile.get("pictureUrl") or None)
        self.store.set_livedesk_contact(user, contact_id)
        return contact_id

    def _send(self, user: str, conversation: int, item: dict) -> dict:
        kind = item.get("kind")
        if kind == "note":
            text = item.get("text") or self._note_text(user, item["note"])
            return self._remember(self.livedesk.send_message(conversation, text, private=True))
        if kind == "media":
            return self._send_media(user, conversation, item)
        text, direction = item["text"], item["direction"]
        # Between sending and learning the id, the webhook may already bring the echo back.
        self.store.mark_in_flight(conversation, text, True)
        try:
            return self._remember(self.livedesk.send_message(conversation, text, message_type=direction))
        finally:
            self.store.mark_in_flight(conversation, text, False)

    def _send_media(self, user: str, conversation: int, item: dict) -> dict:
        label = f"[{item.get('media')}]"
        try:
            data, content_type = self.s.line.message_content(item["message_id"])
        except NotFoundError:  # LINE keeps content for a limited time only
            return self._remember(self.livedesk.send_message(
                conversation, f"{label} (ไฟล์หมดอายุใน LINE แล้ว / no longer available)", message_type="incoming"))
        if len(data) > MAX_MEDIA_BYTES:
            return self._remember(self.livedesk.send_message(
                conversation, f"{label} (ไฟล์ใหญ่เกินไป ดูใน LINE OA Manager / too large)", message_type="incoming"))
        name = item.get("file_name") or f"{item.get('media')}-{item['message_id']}{_extension(content_type)}"
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
        phone = verified_phone(self.s.redis, user)
        known = {"เบอร์มือถือที่ยืนยันแล้ว (OTP)": phone} if phone else {}
        if self.s.settings.oho_api_key is None:
            return known
        try:
            contact = self.s.oho.get_contact(oho_platform_id(self.s), user)
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


# -- LINE -------------------------------------------------------------------------------------

def _push_agent_message(s, user: str, item: dict) -> None:
    store = HandoffStore(s.redis)
    message_id = str(item["message_id"])
    if store.was_posted(message_id) or store.in_flight(item.get("conversation_id"), item.get("content") or ""):
        return  # our own post after all: its id was not known yet when the webhook came
    messages = agent_line_messages(item.get("content"), item.get("attachments") or [])
    if messages:
        _push_once(s, user, messages, f"agent:{message_id}", retry_key_for("agent", message_id))
        store.add_transcript(user, "agent", render_line_messages(messages), time.time())


def _push_once(s, user: str, messages: list[dict], name: str, retry_key: str) -> None:
    """Push unless this logical message was pushed already (the retry key covers a crash in between)."""
    store = HandoffStore(s.redis)
    if store.done(f"pushed:{name}"):
        return
    s.line.push(user, messages, retry_key)
    store.claim(f"pushed:{name}")


def _mirror_bot(s, user: str, item_id: str, messages: list[dict]) -> None:
    text = render_line_messages(messages)
    if mirror_outbox(s.redis).append(user, item_id, {"kind": "text", "direction": "outgoing", "text": text}):
        HandoffStore(s.redis).add_transcript(user, "bot", text, time.time())


def _line_profile(s, user: str) -> dict:
    try:
        return s.line.profile(user)
    except ProviderError as exc:
        if exc.retryable:
            raise
        return {}  # blocked the account, or LINE will not say: a contact without a name still works


def bot_info(s) -> dict:
    """LINE's ``GET /v2/bot/info`` (the bot's user id, basic id and name), cached for a day."""
    cached = s.redis.get("line:bot-info")
    if cached:
        return json.loads(cached)
    info = s.line.bot_info()
    s.redis.set("line:bot-info", json.dumps(info), ex=BOT_INFO_TTL)
    return info


def oho_platform_id(s) -> str:
    """Oho's ``platform_id``: OHO_PLATFORM_ID, else the bot's LINE user id, read once and kept."""
    if s.settings.oho_platform_id:
        return s.settings.oho_platform_id
    cached = s.redis.get("oho:platform-id")
    if cached:
        return cached.decode()
    platform_id = str(bot_info(s)["userId"])
    s.redis.set("oho:platform-id", platform_id)
    return platform_id


def _ensure_oho_contact(s, user: str, platform_id: str) -> None:
    if s.redis.exists(f"oho:contact:{user}"):
        return
    info = {**bot_info(s), "userId": platform_id}
    if not s.oho.create_contact(line_contact(info, user, _line_profile(s, user))):
        log.info("Oho contact of %s already existed", mask(user))
    s.redis.set(f"oho:contact:{user}", 1)

