"""LiveDeskClient against a stubbed LiveDesk API: paths, Basic auth, bodies, multipart, typed errors."""

import json
from email.parser import BytesParser
from email.policy import default as email_policy

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError

from bot.settings import Settings
from integrations.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    ProviderConnectionError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from integrations.livedesk import LiveDeskClient

BASE = "https://livedesk.test"
# base64("ld-test-key:ld-test-secret"), written out so that a wrong encoding fails the test.
AUTHORIZATION = "Basic bGQtdGVzdC1rZXk6bGQtdGVzdC1zZWNyZXQ="
CONTACTS_URL = f"{BASE}/api/v2/accounts/contacts"
CONVERSATIONS_URL = f"{BASE}/api/v2/accounts/conversations"
MESSAGES_URL = f"{CONVERSATIONS_URL}/141/messages"
MESSAGE = {"id": 3030, "content": "test text", "inbox_id": 79, "conversation_id": 141,
           "message_type": 1, "content_type": "text", "status": "sent", "private": False}


@pytest.fixture
def stub():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def client():
    return LiveDeskClient("ld-test-key", "ld-test-secret", base_url=BASE, sleep=lambda s: None)


def sent_json(call):
    assert call.request.headers["Content-Type"] == "application/json"
    return json.loads(call.request.body)


def multipart_parts(request):
    raw = b"Content-Type: " + request.headers["Content-Type"].encode() + b"\r\n\r\n" + request.body
    message = BytesParser(policy=email_policy).parsebytes(raw)
    return [(part.get_param("name", header="content-disposition"), part.get_filename(),
             part.get_content_type(), part.get_payload(decode=True)) for part in message.iter_parts()]


# -- the three calls of an API channel ---------------------------------------------------


def test_create_contact_posts_inbox_and_fields_and_returns_payload_contact_id(stub, client):
    stub.post(CONTACTS_URL, json={"payload": {"contact": {"id": 512, "name": "Somchai T."},
                                              "contact_inbox": {"source_id": "src-1"}}})
    contact_id = client.create_contact(79, "Somchai T.", identifier="line:Ua1", phone_number="+66812345678")
    assert contact_id == 512
    call = stub.calls[0]
    assert call.request.headers["Authorization"] == AUTHORIZATION
    assert sent_json(call) == {"inbox_id": 79, "name": "Somchai T.", "identifier": "line:Ua1",
                               "phone_number": "+66812345678"}


def test_create_contact_refuses_a_local_phone_format_before_sending(stub, client):
    with pytest.raises(ValueError, match="E.164"):
        client.create_contact(79, "Somchai T.", phone_number="0812345678")
    assert len(stub.calls) == 0


def test_create_conversation_by_contact_id_returns_its_id(stub, client):
    stub.post(CONVERSATIONS_URL, json={"id": 141, "inbox_id": 79, "status": "open"})
    assert client.create_conversation(79, contact_id=512) == 141
    assert sent_json(stub.calls[0]) == {"inbox_id": 79, "contact_id": 512}
    assert stub.calls[0].request.headers["Authorization"] == AUTHORIZATION


def test_create_conversation_by_source_id(stub, client):
    stub.post(CONVERSATIONS_URL, json={"id": 142})
    assert client.create_conversation(79, source_id="src-1") == 142
    assert sent_json(stub.calls[0]) == {"inbox_id": 79, "source_id": "src-1"}


def test_create_conversation_needs_contact_or_source(stub, client):
    with pytest.raises(ValueError):
        client.create_conversation(79)
    assert len(stub.calls) == 0


def test_send_message_posts_the_seed_body_and_returns_the_message(stub, client):
    stub.post(MESSAGES_URL, json=MESSAGE)
    message = client.send_message(141, "test text", in_reply_to=29)
    assert message["id"] == 3030
    assert stub.calls[0].request.headers["Authorization"] == AUTHORIZATION
    assert sent_json(stub.calls[0]) == {"content": "test text", "message_type": "outgoing",
                                        "private": False, "content_attributes": {"in_reply_to": 29}}


def test_send_message_as_the_patient_is_incoming_and_private_notes_pass_through(stub, client):
    stub.post(MESSAGES_URL, json=MESSAGE)
    client.send_message(141, "test text", message_type="incoming")
    client.send_message(141, "note", private=True, content_attributes={"source": "bot"})
    assert sent_json(stub.calls[0]) == {"content": "test text", "message_type": "incoming", "private": False}
    assert sent_json(stub.calls[1]) == {"content": "note", "message_type": "outgoing", "private": True,
                                        "content_attributes": {"source": "bot"}}


def test_send_message_rejects_unknown_message_type(stub, client):
    with pytest.raises(ValueError):
        client.send_message(141, "x", message_type="template")
    assert len(stub.calls) == 0


def test_send_attachments_is_multipart_with_attachments_array(stub, client):
    stub.post(MESSAGES_URL, json={**MESSAGE, "id": 3031, "attachments": [{"id": 199}]})
    files = [("scan.jpg", b"\xff\xd8fake-jpeg", "image/jpeg"), ("lab.pdf", b"%PDF-fake", "application/pdf")]
    message = client.send_attachments(141, files, "two files", message_type="incoming")
    assert message["id"] == 3031
    request = stub.calls[0].request
    assert request.headers["Authorization"] == AUTHORIZATION
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    parts = multipart_parts(request)
    assert ("attachments[]", "scan.jpg", "image/jpeg", b"\xff\xd8fake-jpeg") in parts
    assert ("attachments[]", "lab.pdf", "application/pdf", b"%PDF-fake") in parts
    fields = {name: payload for name, filename, _, payload in parts if filename is None}
    assert fields == {"content": "two files".encode(), "message_type": b"incoming", "private": b"false"}


def test_send_attachments_needs_a_file(stub, client):
    with pytest.raises(ValueError):
        client.send_attachments(141, [])
    assert len(stub.calls) == 0


def test_retry_message_posts_to_the_retry_path(stub, client):
    stub.post(f"{MESSAGES_URL}/3030/retry", json={"id": 3030, "status": "sent"})
    assert client.retry_message(141, 3030)["status"] == "sent"
    assert stub.calls[0].request.method == "POST"
    assert stub.calls[0].request.headers["Authorization"] == AUTHORIZATION


def test_answer_without_an_id_is_an_error(stub, client):
    stub.post(MESSAGES_URL, json={"status": "sent"})
    with pytest.raises(ProviderError, match="no id"):
        client.send_message(141, "x")


def test_from_settings_uses_key_secret_and_base_url(stub):
    settings = Settings(_env_file=None, livedesk_api_key="ld-test-key", livedesk_api_secret="ld-test-secret",
                        livedesk_base_url=BASE)
    stub.post(f"{MESSAGES_URL}/1/retry", json={"id": 1})
    LiveDeskClient.from_settings(settings).retry_message(141, 1)
    assert stub.calls[0].request.headers["Authorization"] == AUTHORIZATION


# -- errors ------------------------------------------------------------------------------


def test_404_on_a_conversation_is_not_found(stub, client):
    stub.post(MESSAGES_URL, json={"error": "Resource could not be found"}, status=404)
    with pytest.raises(NotFoundError, match="Resource could not be found") as raised:
        client.send_message(141, "x")
    assert raised.value.provider == "livedesk"
    assert len(stub.calls) == 1


@pytest.mark.parametrize("status, body, error, text", [
    (401, {"errors": ["You need to sign in or sign up before continuing."]}, AuthenticationError,
     "You need to sign in or sign up before continuing."),
    (422, {"message": "Phone number should be in e164 format", "attributes": ["phone_number"]},
     InvalidRequestError, "Phone number should be in e164 format"),
    (400, {"code": 40001, "message": "invalid inbox"}, InvalidRequestError, "invalid inbox"),
    (502, "<html>bad gateway</html>", ServerError, "HTTP 502"),
])
def test_error_bodies_become_typed_errors(stub, client, status, body, error, text):
    if isinstance(body, str):
        stub.post(CONTACTS_URL, body=body, status=status)
    else:
        stub.post(CONTACTS_URL, json=body, status=status)
    with pytest.raises(error) as raised:
        client.create_contact(79, "Somchai T.")
    assert raised.value.message == text
    assert raised.value.status == status


def test_engagelab_code_is_kept(stub, client):
    stub.post(CONTACTS_URL, json={"code": 40001, "message": "invalid inbox"}, status=400)
    with pytest.raises(InvalidRequestError) as raised:
        client.create_contact(79, "Somchai T.")
    assert raised.value.code == "40001"


def test_5xx_on_a_message_post_is_not_retried(stub, client):
    stub.post(MESSAGES_URL, json={"error": "internal"}, status=500)
    with pytest.raises(ServerError):
        client.send_message(141, "x")
    assert len(stub.calls) == 1


def test_429_on_a_message_post_raises_with_retry_after(stub, client):
    stub.post(MESSAGES_URL, json={"error": "Too many requests"}, status=429, headers={"Retry-After": "7"})
    with pytest.raises(RateLimitError) as raised:
        client.send_message(141, "x")
    assert raised.value.retry_after == 7.0
    assert len(stub.calls) == 1


def test_refused_connection_is_retried_even_for_a_post(stub, client):
    refused = requests.ConnectionError(MaxRetryError(None, BASE, NewConnectionError(None, "refused")))
    stub.post(MESSAGES_URL, body=refused)
    stub.post(MESSAGES_URL, json=MESSAGE)
    assert client.send_message(141, "x")["id"] == 3030
    assert len(stub.calls) == 2


def test_read_timeout_on_a_post_is_not_retried(stub, client):
    stub.post(MESSAGES_URL, body=requests.ReadTimeout("slow"))
    with pytest.raises(ProviderConnectionError):
        client.send_message(141, "x")
    assert len(stub.calls) == 1
