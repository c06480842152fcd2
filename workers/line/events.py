"""What the bot does with one LINE webhook event (run by a worker, never in the request).

The event is parsed once (``bot.turn.Turn``); the knowledge base proposes an answer; then each
``ConversationFeature`` in turn (handoff, verification, …) may answer instead or keep the bot
silent; what is finally sent goes through ``LineClient`` (the SDK), and every feature then sees
the turn and what was sent (to mirror it, to count unknowns, …).

Answered at most once: LINE's 2xx is recorded (``line:answered:<event>``) before anything
else happens, and a retried turn that finds the record runs only what follows the send. A
reply token is used at most once: the first attempt claims it in Redis, and any later attempt
pushes with a retry key derived from the event (LINE drops a repeated push). The one window
left is a crash between LINE's 2xx and that record; and a reply whose answer never came
(a timeout) is followed by a push, which LINE cannot match to the reply: never silent wins
over never twice there (README, "Delivery guarantees").
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import redis

from bot.dialog import Dialog, Reply
from bot.intents import Intent
from bot.privacy import mask
from bot.turn import Turn
from bot.verification import VerificationState
from integrations.errors import ProviderError
from integrations.line import LineClient, reply_token_problem, retry_key_for, token_refused
from integrations.metrics import ANSWER_SECONDS, ANSWERS, TOPIC_ANSWERS

log = logging.getLogger(__name__)

REPLY_CLAIM_TTL = 24 * 3600
#: How long after its first use a refused reply token surely means "used", not "expired".
REPLY_TOKEN_FRESH = 40
ANSWERED_TTL = 7 * 24 * 3600   # as long as an event can be retried or redelivered


@dataclass
class TurnReads:
    """What a feature read for one turn that a later one needs too (one Redis read, not two)."""

    #: The patient's verification state before this turn (the handoff feature reads it first, to
    #: hide a number or a code from LiveDesk; the verification feature then moves the patient on).
    verification: VerificationState | None = None
    #: Whether this turn's text is hidden from LiveDesk (decided in on_turn, used in after_send).
    redacted: bool | None = None


class ConversationFeature(Protocol):
    def on_turn(self, turn: Turn, proposed: Reply | None, reads: TurnReads) -> Reply | None:
        """The reply to send instead of ``proposed`` (the knowledge base's answer; one with no
        messages = stay silent), or None to leave the turn to the next feature and finally the
        knowledge base."""

    def after_send(self, turn: Turn, proposed: Reply | None, sent: Reply | None, reads: TurnReads) -> None:
        """Called for every turn after sending (``sent`` None or empty when nothing was sent)."""


class LineEventHandler:
    def __init__(self, dialog: Dialog, line: LineClient, connection: redis.Redis,
                 features: Sequence[ConversationFeature] = (), clock: Callable[[], float] = time.time, *,
                 prefix: str):
        """``prefix``: the hospital's (its markers of answered events and used reply tokens)."""
        self.dialog = dialog
        self.line = line
        self.redis = connection
        self.features = list(features)
        self.clock = clock
        self.prefix = prefix

    def handle(self, event: dict) -> Reply | None:
        """Answer one queued event; return what was sent (None when nothing is)."""
        return self.answer_turn(Turn.parse(event))

    def answer_turn(self, turn: Turn) -> Reply | None:
        """Answer one turn; return what was sent (None when nothing is)."""
        proposed, reads = self.proposal(turn), TurnReads()
        try:
            reply = self._feature_reply(turn, proposed, reads)
        except Exception:
            if proposed is not None and proposed.intent == Intent.EMERGENCY \
                    and not self._answered_quietly(turn.event_id):
                # Whatever broke (a feature, a bug), the 1669 answer goes out now, recorded as the
                # answer: the retry that follows re-runs the features and sends nothing again.
                self.send(turn, proposed)
            raise
        sent = reply if reply is not None and reply.messages else None
        if sent is not None:
            answered, first_use = self._answered_or_claim(turn.event_id, turn.reply_token)
            if not answered:
                self.send(turn, sent, first_use=first_use)
        for feature in self.features:
            feature.after_send(turn, proposed, sent, reads)
        return sent

    def _feature_reply(self, turn: Turn, proposed: Reply | None, reads: TurnReads) -> Reply | None:
        for feature in self.features:
            override = feature.on_turn(turn, proposed, reads)
            if override is not None:
                return override
        return proposed

    def proposal(self, turn: Turn) -> Reply | None:
        """The knowledge base's answer (None: nothing to say)."""
        if turn.kind == "text":
            return self.dialog.on_text(turn.text or "")
        if turn.event_type == "message":
            return self.dialog.on_other_message(turn.kind)
        if turn.kind == "postback":
            return self.dialog.on_postback(turn.postback or "")
        if turn.kind == "follow":
            return self.dialog.on_follow()
        log.debug("no answer for LINE event type %r", turn.kind)  # unfollow, join, read receipts…
        return None

    def send(self, turn: Turn, reply: Reply, *, first_use: bool | None = None) -> str:
        """Reply with the event's token if it is ours to use, else push with the event's retry key;
        record what LINE accepted before anything else. ``first_use``: the token's claim was
        taken already (``_answered_or_claim``), and whether this attempt got it."""
        eid, to = turn.event_id, turn.chat
        how = self._reply(turn.reply_token, eid, to, reply.messages, first_use)
        if how is None:
            self.line.push(to, reply.messages, retry_key_for("answer", eid, prefix=self.prefix))
            how = "push"
        self.redis.set(_answered_key(eid, self.prefix), how, ex=ANSWERED_TTL)  # first thing after LINE's 2xx
        ANSWERS.labels(how).inc()
        TOPIC_ANSWERS.labels(self.dialog.topic_label(reply.intent)).inc()
        if turn.received_at is not None:
            ANSWER_SECONDS.observe(max(0.0, time.time() - turn.received_at))
        log.info("answered %s of %s with %s (%s)", turn.event_type, mask(to), reply.intent, how)
        return how

    def _reply(self, token: str | None, eid: str, to: str | None, messages: list[dict],
               first_use: bool | None = None) -> str | None:
        """Use the reply token at most once; "reply" when LINE took it, None when a push must follow.

        The token is claimed before its use. A later attempt that finds the claim but no word of
        what LINE answered belongs to an attempt that died mid-call (a worker killed): it offers the
        same token again, and LINE's "invalid reply token" then means the first reply was accepted
        (tokens are single-use), so nothing more is sent. Past ``REPLY_TOKEN_FRESH`` that answer
        could mean an expired token as well, and the push follows: never silent wins there.
        """
        if not token:
            return None
        claim, failed = _claim_key(eid, self.prefix), _reply_failed_key(eid, self.prefix)
        now = self.clock()
        if first_use is None:
            first_use = self.redis.set(claim, now, nx=True, ex=REPLY_CLAIM_TTL)
        if not first_use:
            claimed_at = float(self.redis.get(claim) or 0)
            if self.redis.exists(failed) or now - claimed_at > REPLY_TOKEN_FRESH:
                return None
        try:
            self.line.reply(token, messages)
            return "reply"
        except ProviderError as exc:
            if not first_use and token_refused(exc):
                log.warning("reply of %s: the attempt that used the token died; LINE had taken it", mask(to))
                return "reply (earlier attempt)"
            self.redis.set(failed, 1, ex=REPLY_CLAIM_TTL)
            if not reply_token_problem(exc) or not to:
                raise
            log.info("line reply refused (%s); pushing instead", exc.status or "no answer")
            return None

    def _answered_or_claim(self, event_id: str, token: str | None) -> tuple[bool, bool | None]:
        """Whether LINE accepted an answer to this event already and, for a reply token, whether
        this attempt claimed it first (as ``_reply`` would), in one round trip. A claim taken for
        an event that turns out answered changes nothing: nothing is sent for it again."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.exists(_answered_key(event_id, self.prefix))
        if token:
            pipe.set(_claim_key(event_id, self.prefix), self.clock(), nx=True, ex=REPLY_CLAIM_TTL)
        found = pipe.execute()
        return bool(found[0]), (bool(found[1]) if token else None)

    def answered(self, event_id: str) -> bool:
        """Whether LINE accepted an answer to this event already (a retried or redelivered turn)."""
        return bool(self.redis.exists(_answered_key(event_id, self.prefix)))

    def _answered_quietly(self, event_id: str) -> bool:
        try:
            return self.answered(event_id)
        except Exception:  # Redis may be what broke: then the 1669 answer goes out regardless
            return False


def _answered_key(event_id: str, prefix: str) -> str:
    return f"{prefix}line:answered:{event_id}"


def _claim_key(event_id: str, prefix: str) -> str:
    return f"{prefix}line:reply-claimed:{event_id}"


def _reply_failed_key(event_id: str, prefix: str) -> str:
    return f"{prefix}line:reply-failed:{event_id}"
