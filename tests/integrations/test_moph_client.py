"""MOPH Alert client: shared JWT in Redis, refresh rules, request shapes, error mapping.

Against the real embedded Redis (``redis`` fixture): the refresh lock is redis-py's
``Lock``, whose release is a Lua script.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from urllib.parse import parse_qs, urlsplit

import pytest
import redis as redis_lib
import requests
import responses

from bot.settings import Settings, SettingsError
from integrations.errors import (
    AuthenticationError,
    InvalidRequestError,
    ProviderConnectionError,
    RateLimitError,
    ServerError,
)
from integrations.moph import (
    FALLBACK_TOKEN_SECONDS,
    MIN_CACHE_SECONDS,
    REFRESH_MARGIN_SECONDS,
    MophAlertClient,
    MophDeliveryUnknown,
    MophTokenError,
    TokenRefreshBusy,
)
from tests.moph_support import BASE, OK, SEND_NOW, TOKEN_URL, UPLOAD_CSV, UPLOAD_JSON, UPLOAD_MESSAGE, fake_jwt
from tests.support import wait_for

PASSWORD_HASH = "FAKEHASH0123456789ABCDEF"
NOW = float(int(time.time()))  # the clients' clock; fake_jwt() tokens expire a day after it
CIDS = ["1101700203450", "0100000000000"]  # made-up, checksum-valid
MESSAGES = [{"type": "text", "text": "ทดสอบ"}]


@pytest.fixture
def stub():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make_client(redis, **kwargs) -> MophAlertClient:
    args = dict(token_url=TOKEN_URL, user="moph-user", password_hash=PASSWORD_HASH,
                hospital_code="10999", redis=redis, sleep=lambda s: None, clock=lambda: NOW)
    args.update(kwargs)
    return MophAlertClient(BASE, **args)


def token_calls(stub):
    return [c for c in stub.calls if c.request.url.startswith(TOKEN_URL)]


def send_calls(stub, url=SEND_NOW):
    return [c for c in stub.calls if c.request.url == url]


def bearer(call) -> str:
    return call.request.headers["Authorization"]


# --- token ------------------------------------------------------------------

def test_token_request_shape(redis, stub):
    token = fake_jwt()
    stub.get(TOKEN_URL, body=token)
    stub.post(SEND_NOW, json=OK)
    make_client(redis).send_now(CIDS, MESSAGES)
    (call,) = token_calls(stub)
    assert call.request.method == "GET"
    assert parse_qs(urlsplit(call.request.url).query) == {
        "Action": ["get_moph_access_token"], "user": ["moph-user"],
        "password_hash": [PASSWORD_HASH], "hospital_code": ["10999"]}
    assert "Authorization" not in call.request.headers
    assert bearer(send_calls(stub)[0]) == f"Bearer {token}"


def test_token_fetched_once_for_many_sends_across_workers(redis, stub):
    token = fake_jwt()
    stub.get(TOKEN_URL, body=token)
    stub.post(SEND_NOW, json=OK)
    worker_a, worker_b = make_client(redis), make_client(redis)
    for client in (worker_a, worker_b, worker_a, worker_b, worker_a):
        client.send_now(CIDS, MESSAGES)
    assert len(token_calls(stub)) == 1
    assert [bearer(c) for c in send_calls(stub)] == [f"Bearer {token}"] * 5


@pytest.mark.parametrize("shape", ["bare", "bare-newline", "json-string", "access_token", "token",
                                   "nested", "seed-braces"])
def test_bare_and_json_token_bodies(redis, stub, shape):
    token = fake_jwt()
    body = {"bare": token, "bare-newline": f"\n{token}\n", "json-string": json.dumps(token),
            "access_token": json.dumps({"access_token": token, "expires_in": 86400}),
            "token": json.dumps({"message_code": 200, "token": token}),
            "nested": json.dumps({"message": "", "data": {"jwt": token}}),
            "seed-braces": "{ " + token + " }"}[shape]  # the seed prints the token inside braces
    stub.get(TOKEN_URL, body=body)
    assert make_client(redis).access_token() == token


def test_opaque_token_under_a_token_key(redis, stub):
    stub.get(TOKEN_URL, json={"access_token": "opaque-fake-token"})
    client = make_client(redis)
    assert client.access_token() == "opaque-fake-token"
    assert FALLBACK_TOKEN_SECONDS - REFRESH_MARGIN_SECONDS - 1 <= redis.ttl(client.token_key)


@pytest.mark.parametrize("body", ["", "Unauthorized", json.dumps({"result": "ok", "message_code": 200})])
def test_answer_without_a_token(redis, stub, body):
    stub.get(TOKEN_URL, body=body)
    with pytest.raises(MophTokenError):
        make_client(redis).access_token()


def test_token_call_rejected_in_a_200(redis, stub):
    stub.get(TOKEN_URL, json={"message": "user or password invalid", "message_code": 401})
    with pytest.raises(AuthenticationError):
        make_client(redis).send_now(CIDS, MESSAGES)
    assert send_calls(stub) == []


def test_cache_expires_before_the_jwt(redis, stub):
    stub.get(TOKEN_URL, body=fake_jwt(exp=NOW + 3600))
    client = make_client(redis)
    client.access_token()
    ttl = redis.ttl(client.token_key)
    assert 3600 - REFRESH_MARGIN_SECONDS - 2 <= ttl <= 3600 - REFRESH_MARGIN_SECONDS


def test_without_exp_the_token_is_kept_23_hours(redis, stub):
    stub.get(TOKEN_URL, body=fake_jwt(has_exp=False))
    client = make_client(redis)
    client.access_token()
    assert redis.ttl(client.token_key) == FALLBACK_TOKEN_SECONDS - REFRESH_MARGIN_SECONDS


def test_already_expired_token_is_cached_briefly(redis, stub):
    stub.get(TOKEN_URL, body=fake_jwt(exp=NOW - 60))
    client = make_client(redis)
    client.access_token()
    assert 0 < redis.ttl(client.token_key) <= MIN_CACHE_SECONDS


def test_refresh_after_the_cache_lapses(redis, stub):
    old, new = fake_jwt(exp=NOW + 3600, marker="old"), fake_jwt(marker="new")
    stub.get(TOKEN_URL, body=old)
    stub.get(TOKEN_URL, body=new)
    stub.post(SEND_NOW, json=OK)
    client = make_client(redis)
    client.send_now(CIDS, MESSAGES)
    redis.expire(client.token_key, 0)  # what Redis does itself once the TTL runs out
    client.send_now(CIDS, MESSAGES)
    assert len(token_calls(stub)) == 2
    assert [bearer(c) for c in send_calls(stub)] == [f"Bearer {old}", f"Bearer {new}"]


def test_a_waiter_takes_the_token_of_the_lock_holder(redis, redis_server, stub):
    # Another process holds the refresh lock: we wait for it, then take its token instead
    # of fetching a second one (and re-read the cache once the lock is ours).
    stub.get(TOKEN_URL, body=fake_jwt(marker="ours"))
    theirs = fake_jwt(marker="theirs")
    waiter = make_client(redis_lib.Redis.from_url(redis_server.url, client_name="moph-waiter"))
    holder = redis.lock(waiter.lock_key, timeout=30)
    assert holder.acquire(blocking=False)
    got = {}
    thread = threading.Thread(target=lambda: got.update(token=waiter.access_token()), daemon=True)
    thread.start()
    # The waiter missed the cache and now tries for the lock: its last command is the SET NX.
    wait_for(lambda: any(c.get("name") == "moph-waiter" and c.get("cmd") == "set"
                         for c in redis.client_list()), 5.0, what="the waiter blocked on the lock")
    redis.set(waiter.token_key, theirs, ex=600)
    holder.release()
    thread.join(10)
    assert not thread.is_alive()
    assert got["token"] == theirs
    assert token_calls(stub) == []
    assert redis.get(waiter.lock_key) is None


def test_gives_up_when_the_lock_is_never_released(redis, stub):
    stub.get(TOKEN_URL, body=fake_jwt())
    client = make_client(redis, lock_wait_seconds=0.3, lock_poll_seconds=0.05)
    assert redis.lock(client.lock_key, timeout=30).acquire(blocking=False)  # another process, hung
    with pytest.raises(TokenRefreshBusy) as caught:
        client.access_token()
    assert caught.value.retryable
    assert token_calls(stub) == []


def test_lock_is_released_after_a_refresh(redis, stub):
    stub.get(TOKEN_URL, body=fake_jwt())
    client = make_client(redis)
    client.access_token()
    assert redis.get(client.lock_key) is None


def test_a_lock_that_expired_during_the_refresh_is_left_to_its_new_owner(redis, stub, caplog):
    client = make_client(redis)
    token = fake_jwt()
    other = redis.lock(client.lock_key, timeout=30)

    def slow_token_endpoint(request):
        redis.delete(client.lock_key)  # what Redis does once lock_seconds have passed
        assert other.acquire(blocking=False)  # ... and another process takes the lock
        return 200, {}, token

    stub.add_callback(responses.GET, TOKEN_URL, callback=slow_token_endpoint)
    assert client.access_token() == token
    assert redis.get(client.lock_key) == other.local.token  # ours expired: theirs is untouched
    assert "lock expired" in caplog.text


# --- 401 handling -------------------------------------------------------------

def test_401_refreshes_once_and_retries_once(redis, stub):
    first, second = fake_jwt(marker="1"), fake_jwt(marker="2")
    stub.get(TOKEN_URL, body=first)
    stub.get(TOKEN_URL, body=second)
    stub.post(SEND_NOW, status=401, json={"message": "token expired", "message_code": 401})
    stub.post(SEND_NOW, json=OK)
    assert make_client(redis).send_now(CIDS, MESSAGES) == OK
    assert [c.request.method for c in stub.calls] == ["GET", "POST", "GET", "POST"]
    assert [bearer(c) for c in send_calls(stub)] == [f"Bearer {first}", f"Bearer {second}"]


def test_repeated_401_is_not_a_loop(redis, stub):
    stub.get(TOKEN_URL, body=fake_jwt())
    stub.post(SEND_NOW, status=401, json={"message": "unauthorized", "message_code": 401})
    with pytest.raises(AuthenticationError):
        make_client(redis).send_now(CIDS, MESSAGES)
    assert len(send_calls(stub)) == 2
    assert len(token_calls(stub)) == 2


def test_401_inside_a_200_also_refreshes(redis, stub):
    stub.get(TOKEN_URL, body=fake_jwt(marker="1"))
    stub.get(TOKEN_URL, body=fake_jwt(marker="2"))
    stub.post(SEND_NOW, json={"message": "invalid token", "message_code": 401})
    stub.post(SEND_NOW, json=OK)
    make_client(redis).send_now(CIDS, MESSAGES)
    assert len(token_calls(stub)) == 2 and len(send_calls(stub)) == 2


def test_a_token_replaced_by_another_worker_is_kept(redis, stub):
    rejected, fresh = fake_jwt(marker="rejected"), fake_jwt(marker="fresh")
    client = make_client(redis)
    redis.set(client.token_key, rejected, ex=600)

    def reject_then_accept(request):
        if request.headers["Authorization"] == f"Bearer {rejected}":
            redis.set(client.token_key, fresh, ex=600)  # another worker refreshed meanwhile
            return 401, {}, json.dumps({"message": "expired", "message_code": 401})
        return 200, {}, json.dumps(OK)

    stub.add_callback(responses.POST, SEND_NOW, callback=reject_then_accept)
    client.send_now(CIDS, MESSAGES)
    assert token_calls(stub) == []
    assert [bearer(c) for c in send_calls(stub)] == [f"Bearer {rejected}", f"Bearer {fresh}"]


# --- errors in a 200 -------------------------------------------------------------

@pytest.mark.parametrize("status, body, error", [
    (200, {"message": "bad request", "message_code": 400}, InvalidRequestError),
    (200, {"message": "slow down", "message_code": 429}, RateLimitError),
    (200, {"message": "มีการร้องขอบ่อยเกินไป", "message_code": 400}, RateLimitError),
    (200, {"message": "มีการร้องขอบ่อยเกินไป กรุณาลองใหม่"}, RateLimitError),
    (400, {"message": "มีการร้องขอบ่อยเกินไป"}, RateLimitError),
    (200, {"message": "internal", "message_code": "500"}, ServerError),
    (500, {"message": "internal", "message_code": 500}, ServerError),   # MOPH's own error body: retryable
    (502, {"message": "bad gateway"}, MophDeliveryUnknown),            # a gateway: MOPH may have pushed it
    (503, {"message": "", "message_code": 200}, MophDeliveryUnknown),
    (500, {"detail": "oops"}, MophDeliveryUnknown),                    # no MOPH error body: uncertain
    (422, {"message": "datas invalid", "message_code": 422}, InvalidRequestError),
])
def test_failures_are_typed(redis, stub, status, body, error):
    stub.get(TOKEN_URL, body=fake_jwt())
    stub.post(SEND_NOW, status=status, json=body)
    with pytest.raises(error) as caught:
        make_client(redis).send_now(CIDS, MESSAGES)
    assert caught.value.provider == "moph"
    assert type(caught.value) is error or issubclass(type(caught.value), error)
    assert len(send_calls(stub)) == 1  # a push is never repeated in-process


def test_error_messages_mask_cids_and_tokens(redis, stub):
    stub.get(TOKEN_URL, body=fake_jwt())
    stub.post(SEND_NOW, json={"message": f"cid {CIDS[0]} not registered, token {fake_jwt()}",
                              "message_code": 400})
    with pytest.raises(InvalidRequestError) as caught:
        make_client(redis).send_now(CIDS, MESSAGES)
    assert CIDS[0] not in str(caught.value) and fake_jwt() not in str(caught.value)
    assert "…3450" in str(caught.value)


# --- pushes are never repeated after a lost answer -------------------------------

@pytest.mark.parametrize("push", ["send_now", "upload_message"])
@pytest.mark.parametrize("lost", [requests.ReadTimeout("read timed out"),
                                  requests.ConnectionError("Connection aborted: RemoteDisconnected")])
def test_a_push_whose_answer_was_lost_is_not_repeated(redis, stub, push, lost):
    # The request reached MOPH (or may have): it may have pushed already.
    url = SEND_NOW if push == "send_now" else UPLOAD_MESSAGE
    stub.get(TOKEN_URL, body=fake_jwt())
    stub.post(url, body=lost)
    client = make_client(redis)
    with pytest.raises(MophDeliveryUnknown) as caught:
        client.send_now(CIDS, MESSAGES) if push == "send_now" else client.upload_message("F-1", MESSAGES)
    assert not caught.value.retryable  # a job must not push it again either
    assert len(send_calls(stub, url)) == 1


def test_a_push_that_never_left_is_retried(redis, stub):
    stub.get(TOKEN_URL, body=fake_jwt())
    stub.post(SEND_NOW, body=requests.ConnectTimeout("connect timed out"))
    with pytest.raises(ProviderConnectionError) as caught:
        make_client(redis).send_now(CIDS, MESSAGES)
    assert not isinstance(caught.value, MophDeliveryUnknown) and caught.value.retryable
    assert len(send_calls(stub)) == 3  # in-process retries (max_retries=2): nothing reached MOPH


def test_an_upload_whose_answer_was_lost_is_repeated(redis, stub):
    # upload-data-json only stores a list: a repeat leaves an unused file, never a second push.
    stub.get(TOKEN_URL, body=fake_jwt())
    stub.post(UPLOAD_JSON, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(ProviderConnectionError) as caught:
        make_client(redis).upload_data_json(CIDS)
    assert not isinstance(caught.value, MophDeliveryUnknown) and caught.value.retryable
    assert len(send_calls(stub, UPLOAD_JSON)) == 3


# --- request shapes ----------------------------------------------------------------

def test_send_now_shape(redis, stub):
    stub.get(TOKEN_URL, body=fake_jwt())
    stub.post(SEND_NOW, json=OK)
    make_client(redis).send_now(CIDS, MESSAGES)
    (call,) = send_calls(stub)
    assert call.request.method == "POST"
    assert call.request.headers["Content-Type"] == "application/json"
    assert json.loads(call.request.body) == {"datas": CIDS, "messages": MESSAGES}


def test_upload_data_json_shape(redis, stub):
    stub.get(TOKEN_URL, body=fake_jwt())
    stub.post(UPLOAD_JSON, json={"file_id": "F-77", "message": "", "message_code": 200})
    assert make_client(redis).upload_data_json(CIDS) == "F-77"
    (call,) = send_calls(stub, UPLOAD_JSON)
    assert json.loads(call.request.body) == {"datas": CIDS}
    assert bearer(call).startswith("Bearer ey")


def test_upload_data_csv_shape(redis, stub):
    stub.get(TOKEN_URL, body=fake_jwt())
    stub.post(UPLOAD_CSV, json={"file_id": "F-78", "message": "", "message_code": 200})
    csv_bytes = ("\n".join(CIDS) + "\n").encode()
    assert make_client(redis).upload_data_csv(csv_bytes) == "F-78"
    (call,) = send_calls(stub, UPLOAD_CSV)
    assert call.request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    body = call.request.body
    assert b'name="data_file"; filename="cids.csv"' in body and csv_bytes in body
    assert bearer(call).startswith("Bearer ey")


def test_upload_message_shape(redis, stub):
    stub.get(TOKEN_URL, body=fake_jwt())
    stub.post(UPLOAD_MESSAGE, json=OK)
    make_client(redis).upload_message("F-77", MESSAGES)
    (call,) = send_calls(stub, UPLOAD_MESSAGE)
    # Key "message" (a list), as the provider notes say.
    assert json.loads(call.request.body) == {"file_id": "F-77", "message": MESSAGES}


def test_upload_without_file_id_is_an_error(redis, stub):
    stub.get(TOKEN_URL, body=fake_jwt())
    stub.post(UPLOAD_JSON, json=OK)
    with pytest.raises(ServerError, match="file_id"):
        make_client(redis).upload_data_json(CIDS)


def test_paths_are_configurable(redis, stub):
    # The seed's section-3 spellings, for a deployment that uses them.
    stub.get(TOKEN_URL, body=fake_jwt())
    stub.post(f"{BASE}/api/send-message/send-now", json=OK)
    stub.post(f"{BASE}/api/send-message/send-message", json=OK)
    client = make_client(redis, send_now_path="/api/send-message/send-now",
                         upload_message_path="/api/send-message/send-message")
    client.send_now(CIDS, MESSAGES)
    client.upload_message("F-1", MESSAGES)
    assert [urlsplit(c.request.url).path for c in stub.calls if c.request.method == "POST"] == [
        "/api/send-message/send-now", "/api/send-message/send-message"]


@pytest.mark.parametrize("cids, messages", [
    ([], MESSAGES), (["1101700203451"], MESSAGES), ([1101700203450], MESSAGES),
    (CIDS, []), (CIDS, MESSAGES * 6),
])
def test_bad_input_is_refused_before_any_request(redis, stub, cids, messages):
    with pytest.raises(ValueError) as caught:
        make_client(redis).send_now(cids, messages)
    assert len(stub.calls) == 0
    assert "1101700203451" not in str(caught.value)


# --- secrets stay out of logs and errors -----------------------------------------

def test_logs_carry_no_token_hash_or_cid(redis, stub, caplog):
    token = fake_jwt()
    stub.get(TOKEN_URL, body=token)
    stub.post(SEND_NOW, status=401, json={"message": "expired", "message_code": 401})
    stub.post(SEND_NOW, json={"message": f"bad cid {CIDS[1]}", "message_code": 400})
    caplog.set_level(logging.DEBUG)
    with pytest.raises(InvalidRequestError):
        make_client(redis).send_now(CIDS, MESSAGES)
    assert caplog.records
    for secret in (token, PASSWORD_HASH, *CIDS):
        assert secret not in caplog.text


def test_connection_failure_on_token_call_hides_the_query(redis, stub):
    stub.get(TOKEN_URL, body=requests.ConnectionError(f"failed: {TOKEN_URL}?password_hash={PASSWORD_HASH}"))
    with pytest.raises(Exception) as caught:
        make_client(redis).access_token()
    rendered = "".join(traceback.format_exception(caught.value))
    assert caught.value.retryable
    assert PASSWORD_HASH not in rendered
    assert len(token_calls(stub)) == 3  # the GET is retried in-process (max_retries=2)


# --- settings -------------------------------------------------------------------

def test_from_settings(redis, stub):
    settings = Settings(_env_file=None, moph_alert_base_url=BASE, moph_token_url=TOKEN_URL,
                        moph_user="moph-user", moph_password_hash=PASSWORD_HASH, moph_hospital_code="10999",
                        otp_secret="otp-secret-for-tests-only-0123456789")
    client = MophAlertClient.from_settings(settings, redis, sleep=lambda s: None)
    stub.get(TOKEN_URL, body=fake_jwt())
    stub.post(SEND_NOW, json=OK)
    client.send_now(CIDS, MESSAGES)
    assert parse_qs(urlsplit(token_calls(stub)[0].request.url).query)["password_hash"] == [PASSWORD_HASH]
    assert PASSWORD_HASH not in repr(client)


def test_from_settings_refuses_missing_credentials(redis):
    settings = Settings(_env_file=None, moph_user="moph-user")
    with pytest.raises(SettingsError, match="MOPH_PASSWORD_HASH"):
        MophAlertClient.from_settings(settings, redis)
