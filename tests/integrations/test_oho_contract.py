"""Oho Chat developer API as documented: a picture URL on every created contact, no update that
erases what a read did not show, OhoLimitError permanent, contact vs chat platform ids.
Bodies are the document's own examples."""

from __future__ import annotations

import json
import logging

import pytest
import responses

from bot.settings import DEFAULT_AVATAR_URL, SettingsError, load_settings
from integrations.errors import ProviderError
from integrations.oho import OhoClient, OhoLimitError, line_contact

BASE = "https://oho.test"
# The document's example ids ("Social profile", the curl examples).
BOT_ID = "Uebef201e98cc729b62147a8ba3099d7c"
USER_ID = "U38e365dddca4292c9cb1d8cf012aac87"
CHANNEL_ID = "1234567890"  # made-up provider channel id
CONTACT_URL = f"{BASE}/contact/line/{BOT_ID}/user/{USER_ID}"
# The LINE bot info example quoted in "Social profile".
BOT_INFO = {"userId": BOT_ID, "basicId": "@1ohochat", "displayName": "Oho chat",
            "pictureUrl": "https://profile.line-scdn.net/0h6si80NdTaVxUQX3tDp4WC2gEZzEjb28ULHciaCRIZzsrJi1ZYCB1aHQSNjl5JisCPXUiO3kRNTgg",
            "chatMode": "bot", "markAsReadMode": "auto"}
CREATED = {"ok": True, "status_code": 201, "message": "Created contact successfully"}
EXISTS = {"ok": False, "status_code": 409, "message": "The contact already exists"}
UPDATED = {"ok": True, "status_code": 200, "message": "Update contact successfully"}
AGENT_REQUESTED = {"ok": True, "status_code": 200, "message": "Agent has been requested for the chat room"}
CHAT_CLOSED = {"ok": True, "status_code": 200, "message": "Chat room session has been closed"}


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def client(**kwargs) -> OhoClient:
    return OhoClient("oho-test-key-not-real", platform_id=BOT_ID, base_url=BASE, sleep=lambda s: None, **kwargs)


def found(**data) -> dict:
    return {"ok": True, "status_code": 200, "message": "ok", "data": data}


# -- create: profile_picture_url is required ("2.2 Create Contact") --------------------------------

def test_a_line_user_without_a_picture_gets_the_default_avatar(http):
    http.post(f"{BASE}/contact", json=CREATED, status=201)
    body = line_contact(BOT_INFO, USER_ID, {"displayName": "สมชาย"}, DEFAULT_AVATAR_URL)
    assert client().create_contact(body) is True
    sent = json.loads(http.calls[0].request.body)
    assert sent["profile_picture_url"] == DEFAULT_AVATAR_URL
    assert sent["social_profile"] == {"platform": "line", "id": USER_ID, "platform_id": BOT_ID,
                                      "platform_name": "Oho chat", "line_basic_id": "@1ohochat"}


def test_a_line_picture_wins_over_the_default():
    body = line_contact(BOT_INFO, USER_ID, {"displayName": "สมชาย", "pictureUrl": "https://p.test/1.jpg"},
                        DEFAULT_AVATAR_URL)
    assert body["profile_picture_url"] == "https://p.test/1.jpg"


def test_an_existing_contact_is_what_we_wanted(http):
    http.post(f"{BASE}/contact", json=EXISTS, status=409)
    assert client().create_contact(line_contact(BOT_INFO, USER_ID, {}, DEFAULT_AVATAR_URL)) is False


@pytest.mark.parametrize("default", [None, "", "  "])
def test_never_an_empty_picture_url(http, default):
    with pytest.raises(OhoLimitError, match="OHO_DEFAULT_AVATAR_URL"):
        line_contact(BOT_INFO, USER_ID, {"displayName": "สมชาย"}, default)
    body = line_contact(BOT_INFO, USER_ID, {}, DEFAULT_AVATAR_URL) | {"profile_picture_url": ""}
    with pytest.raises(OhoLimitError, match="profile_picture_url is required"):
        client().create_contact(body)
    assert len(http.calls) == 0


def test_the_default_avatar_setting():
    assert load_settings(_env_file=None).oho_default_avatar_url == DEFAULT_AVATAR_URL
    assert DEFAULT_AVATAR_URL.startswith("https://")
    assert load_settings(_env_file=None, oho_default_avatar_url="").oho_default_avatar_url == DEFAULT_AVATAR_URL
    assert load_settings(_env_file=None, oho_default_avatar_url="https://h.test/a.png").oho_default_avatar_url \
        == "https://h.test/a.png"
    with pytest.raises(SettingsError, match="OHO_DEFAULT_AVATAR_URL"):
        load_settings(_env_file=None, oho_default_avatar_url="http://h.test/a.png")


# -- update replaces tags / labels / attributes ("2.3 Update Contact") ------------------------------

@pytest.mark.parametrize("method, args, field", [
    (OhoClient.add_tags, (["verified"],), "tags"),
    (OhoClient.remove_tags, (["verified"],), "tags"),
    (OhoClient.add_labels, (["handoff"],), "labels"),
    (OhoClient.remove_labels, (["handoff"],), "labels"),
    (OhoClient.set_attributes, ({"verified_at": "2026-01-15"},), "attributes"),
])
def test_a_read_without_the_field_never_leads_to_a_write(http, caplog, method, args, field):
    shown = {"display_name": "สมชาย", "tags": ["vip"], "labels": ["billing"],
             "attributes": [{"display_name": "HN", "value": {"text": "000123"}}]}
    del shown[field]
    http.get(CONTACT_URL, json=found(**shown))
    http.patch(CONTACT_URL, json=UPDATED)
    with caplog.at_level(logging.WARNING, logger="integrations.oho"):
        assert method(client(), BOT_ID, USER_ID, *args) is None
    assert [c.request.method for c in http.calls] == ["GET"]
    assert any(f"shows no {field}" in r.getMessage() for r in caplog.records)
    assert USER_ID not in caplog.text


def test_a_read_showing_an_empty_list_is_written(http):
    http.get(CONTACT_URL, json=found(display_name="สมชาย", labels=[]))
    http.patch(CONTACT_URL, json=UPDATED)
    assert client().add_labels(BOT_ID, USER_ID, ["handoff"]) == ["handoff"]
    assert json.loads(http.calls[1].request.body) == {"labels": ["handoff"]}


@pytest.mark.parametrize("value", ["", {}])
def test_a_field_in_a_shape_we_cannot_read_is_not_rewritten(http, value):
    http.get(CONTACT_URL, json=found(display_name="สมชาย", tags=value, attributes=value))
    with pytest.raises(ProviderError):
        client().add_tags(BOT_ID, USER_ID, ["verified"])
    with pytest.raises(ProviderError):
        client().set_attributes(BOT_ID, USER_ID, {"verified_at": "2026-01-15"})
    assert {c.request.method for c in http.calls} == {"GET"}


def test_the_tag_and_label_limits_are_permanent_errors(http):
    http.get(CONTACT_URL, json=found(labels=[f"l{i}" for i in range(10)], tags=[f"t{i}" for i in range(20)]))
    for call in (lambda: client().add_labels(BOT_ID, USER_ID, ["handoff"]),
                 lambda: client().add_tags(BOT_ID, USER_ID, ["verified"])):
        with pytest.raises(OhoLimitError) as full:
            call()
        assert isinstance(full.value, ProviderError) and full.value.retryable is False
    assert {c.request.method for c in http.calls} == {"GET"}


# -- platform ids: contacts take the bot user id, chats also a channel id ---------------------------

def test_chat_endpoints_use_the_chat_platform_id_and_contacts_the_bot_id(http):
    http.post(f"{BASE}/chat/line/{CHANNEL_ID}/user/{USER_ID}/request-agent", json=AGENT_REQUESTED)
    http.post(f"{BASE}/chat/line/{CHANNEL_ID}/user/{USER_ID}/close-chat", json=CHAT_CLOSED)
    http.get(CONTACT_URL, json=found(labels=[]))
    oho = client(chat_platform_id=CHANNEL_ID)
    assert oho.request_agent(None, USER_ID) is True
    assert oho.close_chat(None, USER_ID) is True
    oho.get_contact(None, USER_ID)
    assert [c.request.url for c in http.calls] == [
        f"{BASE}/chat/line/{CHANNEL_ID}/user/{USER_ID}/request-agent",
        f"{BASE}/chat/line/{CHANNEL_ID}/user/{USER_ID}/close-chat", CONTACT_URL]


def test_without_a_chat_platform_id_chats_use_the_bot_id(http):
    http.post(f"{BASE}/chat/line/{BOT_ID}/user/{USER_ID}/request-agent", json=AGENT_REQUESTED)
    assert client().request_agent(None, USER_ID) is True


def test_the_settings_keep_the_two_ids_apart():
    settings = load_settings(_env_file=None, oho_api_key="k", oho_platform_id=BOT_ID,
                             oho_chat_platform_id=CHANNEL_ID)
    oho = OhoClient.from_settings(settings)
    assert (oho.platform_id, oho.chat_platform_id) == (BOT_ID, CHANNEL_ID)
    assert load_settings(_env_file=None, oho_chat_platform_id="").oho_chat_platform_id is None
    with pytest.raises(SettingsError, match="OHO_PLATFORM_ID") as wrong:
        load_settings(_env_file=None, oho_platform_id=CHANNEL_ID)  # a channel id where only the bot id works
    assert "OHO_CHAT_PLATFORM_ID" in str(wrong.value)
    with pytest.raises(SettingsError, match="OHO_CHAT_PLATFORM_ID"):
        load_settings(_env_file=None, oho_chat_platform_id="@1ohochat")
