"""OhoClient against a stubbed Oho API: paths, headers, bodies, envelope errors, read-merge-write."""

import json

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError

from bot.settings import Settings
from integrations.errors import (
    AuthenticationError,
    NotFoundError,
    ProviderConnectionError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from integrations.oho import OhoClient, OhoLimitError, line_contact

BASE = "https://oho.test"
API_KEY = "oho-test-key-not-real"
BOT_ID = "U" + "b0" * 16          # made-up bot user id
USER_ID = "U" + "a1" * 16         # made-up patient LINE user id
CONTACT_URL = f"{BASE}/contact/line/{BOT_ID}/user/{USER_ID}"
CHAT_URL = f"{BASE}/chat/line/{BOT_ID}/user/{USER_ID}"
BOT_INFO = {"userId": BOT_ID, "basicId": "@000test", "displayName": "Test Hospital",
            "pictureUrl": "https://example.test/bot.png", "chatMode": "bot"}
PROFILE = {"displayName": "Somchai T.", "pictureUrl": "https://example.test/p.png"}


def envelope(status_code, message="", data=None, ok=None):
    body = {"ok": status_code < 400 if ok is None else ok, "status_code": status_code, "message": message}
    if data is not None:
        body["data"] = data
    return body


@pytest.fixture
def stub():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(sleeps):
    return OhoClient(API_KEY, platform_id=BOT_ID, base_url=BASE, sleep=sleeps.append)


def contact(**fields):
    return envelope(200, "ok", data={"display_name": "Somchai T.", **fields})


def sent_json(call):
    return json.loads(call.request.body)


def refused():
    return requests.ConnectionError(MaxRetryError(None, BASE, NewConnectionError(None, "refused")))


# -- requests as the seed documents them -------------------------------------------


def test_get_contact_sends_api_key_to_the_triple_path(stub, client):
    stub.get(CONTACT_URL, json=contact(tags=["vip"]))
    assert client.get_contact(None, USER_ID)["tags"] == ["vip"]
    request = stub.calls[0].request
    assert request.method == "GET"
    assert request.headers["x-oho-api-key"] == API_KEY


def test_create_contact_posts_the_social_profile_from_line_data(stub, client):
    stub.post(f"{BASE}/contact", json=envelope(201, "Created contact successfully"), status=201)
    assert client.create_contact(line_contact(BOT_INFO, USER_ID, PROFILE)) is True
    request = stub.calls[0].request
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["x-oho-api-key"] == API_KEY
    assert sent_json(stub.calls[0]) == {
        "social_profile": {"platform": "line", "id": USER_ID, "platform_id": BOT_ID,
                           "platform_name": "Test Hospital", "line_basic_id": "@000test"},
        "profile_picture_url": "https://example.test/p.png",
        "platform_display_name": "Somchai T.", "display_name": "Somchai T.", "first_name": "Somchai T.",
    }


@pytest.mark.parametrize("status", [409, 200])
def test_create_contact_that_already_exists_is_not_an_error(stub, client, status):
    stub.post(f"{BASE}/contact", json=envelope(409, "The contact already exists"), status=status)
    assert client.create_contact(line_contact(BOT_INFO, USER_ID, PROFILE)) is False


def test_update_contact_patches_only_the_given_fields(stub, client):
    stub.patch(CONTACT_URL, json=envelope(200, "Update contact successfully"))
    client.update_contact(BOT_ID, USER_ID, first_name="Somchai", phone="0812345678")
    assert stub.calls[0].request.method == "PATCH"
    assert sent_json(stub.calls[0]) == {"first_name": "Somchai", "phone": "0812345678"}


@pytest.mark.parametrize("action, call", [("request-agent", OhoClient.request_agent),
                                          ("close-chat", OhoClient.close_chat)])
def test_chat_switches_are_posts_and_409_means_already_there(stub, client, action, call):
    # close-chat is POST although the seed's curl says GET: only a POST is stubbed here.
    stub.post(f"{CHAT_URL}/{action}", json=envelope(200, "done"))
    stub.post(f"{CHAT_URL}/{action}", json=envelope(409, "Chat room cannot be changed"), status=409)
    assert call(client, BOT_ID, USER_ID) is True
    assert call(client, BOT_ID, USER_ID) is False
    assert [c.request.method for c in stub.calls] == ["POST", "POST"]
    assert stub.calls[0].request.headers["x-oho-api-key"] == API_KEY


def test_platform_id_defaults_to_the_configured_bot_and_is_required(stub):
    with pytest.raises(ValueError):
        OhoClient(API_KEY, base_url=BASE).request_agent(None, USER_ID)
    assert len(stub.calls) == 0


def test_from_settings_reads_key_base_url_and_platform_id(stub):
    settings = Settings(_env_file=None, oho_api_key="oho-settings-key", oho_base_url=BASE,
                        oho_platform_id=BOT_ID)
    stub.post(f"{CHAT_URL}/request-agent", json=envelope(200, "ok"))
    assert OhoClient.from_settings(settings).request_agent(None, USER_ID) is True
    assert stub.calls[0].request.headers["x-oho-api-key"] == "oho-settings-key"


# -- envelope and HTTP errors ----------------------------------------------------------


@pytest.mark.parametrize("status_code, error", [(404, NotFoundError), (401, AuthenticationError),
                                                (500, ServerError)])
def test_ok_false_on_http_200_is_an_error_typed_by_status_code(stub, client, status_code, error):
    stub.get(CONTACT_URL, json=envelope(status_code, "Not found contact"))
    with pytest.raises(error) as raised:
        client.get_contact(BOT_ID, USER_ID)
    assert raised.value.status == status_code
    assert raised.value.provider == "oho"


def test_404_on_chat_room_raises_not_found(stub, client):
    stub.post(f"{CHAT_URL}/request-agent", json=envelope(404, "Not found chat room"), status=404)
    with pytest.raises(NotFoundError, match="Not found chat room"):
        client.request_agent(BOT_ID, USER_ID)


def test_401_is_an_authentication_error_and_not_retried(stub, client):
    stub.get(CONTACT_URL, json=envelope(401, "You do not have valid permission"), status=401)
    with pytest.raises(AuthenticationError):
        client.get_contact(BOT_ID, USER_ID)
    assert len(stub.calls) == 1


def test_get_is_retried_on_5xx_then_raises(stub, client):
    stub.get(CONTACT_URL, json=envelope(503, "unavailable"), status=503)
    with pytest.raises(ServerError):
        client.get_contact(BOT_ID, USER_ID)
    assert len(stub.calls) == 3  # first try + max_retries=2


def test_patch_is_retried_on_5xx_because_it_sets_absolute_values(stub, client):
    stub.patch(CONTACT_URL, status=502, body="bad gateway")
    stub.patch(CONTACT_URL, json=envelope(200, "ok"))
    client.update_contact(BOT_ID, USER_ID, last_name="T.")
    assert len(stub.calls) == 2


def test_post_is_not_retried_on_5xx(stub, client):
    stub.post(f"{CHAT_URL}/request-agent", json=envelope(500, "oops"), status=500)
    with pytest.raises(ServerError):
        client.request_agent(BOT_ID, USER_ID)
    assert len(stub.calls) == 1


def test_post_is_retried_when_the_connection_was_refused(stub, client):
    stub.post(f"{CHAT_URL}/request-agent", body=refused())
    stub.post(f"{CHAT_URL}/request-agent", json=envelope(200, "ok"))
    assert client.request_agent(BOT_ID, USER_ID) is True
    assert len(stub.calls) == 2


def test_post_is_not_retried_after_a_read_timeout(stub, client):
    stub.post(f"{CHAT_URL}/close-chat", body=requests.ReadTimeout("slow"))
    with pytest.raises(ProviderConnectionError):
        client.close_chat(BOT_ID, USER_ID)
    assert len(stub.calls) == 1


def test_429_short_retry_after_is_slept_on_for_a_get(stub, client, sleeps):
    stub.get(CONTACT_URL, json=envelope(429, "slow down"), status=429, headers={"Retry-After": "2"})
    stub.get(CONTACT_URL, json=contact())
    client.get_contact(BOT_ID, USER_ID)
    assert sleeps == [2.0]


def test_429_on_post_raises_with_retry_after(stub, client):
    stub.post(f"{CHAT_URL}/request-agent", json=envelope(429, "slow down"), status=429,
              headers={"Retry-After": "30"})
    with pytest.raises(RateLimitError) as raised:
        client.request_agent(BOT_ID, USER_ID)
    assert raised.value.retry_after == 30.0
    assert len(stub.calls) == 1


# -- limits checked before sending -----------------------------------------------------


@pytest.mark.parametrize("fields", [
    {"tags": [f"t{i}" for i in range(21)]},
    {"labels": [f"l{i}" for i in range(11)]},
    {"first_name": "x" * 101},
    {"display_name": "x" * 1001},
    {"phone": "0" * 21},
    {"age": 100},
    {"gender": "other"},
    {"birth_date": "29/11/1998"},
    {"attributes": [{"display_name": "n" * 101, "value": {"text": "v"}}]},
    {"attributes": [{"display_name": "note", "value": {"text": "v" * 2001}}]},
    {"nickname": "unknown field"},
])
def test_update_breaking_a_limit_is_refused_before_sending(stub, client, fields):
    with pytest.raises(OhoLimitError):
        client.update_contact(BOT_ID, USER_ID, **fields)
    assert len(stub.calls) == 0


def test_create_breaking_a_limit_is_refused_before_sending(stub, client):
    too_long_id = line_contact(BOT_INFO, "U" + "a" * 40, PROFILE)
    missing_first_name = line_contact(BOT_INFO, USER_ID, PROFILE)
    del missing_first_name["first_name"]
    for body in (too_long_id, missing_first_name):
        with pytest.raises(OhoLimitError):
            client.create_contact(body)
    assert len(stub.calls) == 0


def test_limit_error_messages_do_not_quote_values(client):
    with pytest.raises(OhoLimitError) as raised:
        client.update_contact(BOT_ID, USER_ID, phone="0812345678" * 3)
    assert "0812345678" not in str(raised.value)


# -- read, merge, write back -----------------------------------------------------------


def test_add_tags_keeps_tags_others_set_in_order_without_duplicates(stub, client):
    stub.get(CONTACT_URL, json=contact(tags=["vip", "ward-3"], labels=["billing"]))
    stub.patch(CONTACT_URL, json=envelope(200, "ok"))
    assert client.add_tags(BOT_ID, USER_ID, ["handoff", "vip", "handoff"]) == ["vip", "ward-3", "handoff"]
    assert sent_json(stub.calls[1]) == {"tags": ["vip", "ward-3", "handoff"]}  # labels untouched


def test_remove_tags_removes_only_the_named_ones(stub, client):
    stub.get(CONTACT_URL, json=contact(tags=["vip", "handoff", "ward-3"]))
    stub.patch(CONTACT_URL, json=envelope(200, "ok"))
    client.remove_tags(BOT_ID, USER_ID, ["handoff"])
    assert sent_json(stub.calls[1]) == {"tags": ["vip", "ward-3"]}


@pytest.mark.parametrize("method, tags", [(OhoClient.add_tags, ["vip"]), (OhoClient.remove_tags, ["gone"])])
def test_no_write_when_nothing_changes(stub, client, method, tags):
    stub.get(CONTACT_URL, json=contact(tags=["vip"]))
    assert method(client, BOT_ID, USER_ID, tags) == ["vip"]
    assert [c.request.method for c in stub.calls] == ["GET"]


def test_add_tags_over_the_limit_raises_instead_of_dropping_others(stub, client):
    stub.get(CONTACT_URL, json=contact(tags=[f"other-{i}" for i in range(19)]))
    with pytest.raises(OhoLimitError, match="21 tags"):
        client.add_tags(BOT_ID, USER_ID, ["handoff", "after-hours"])
    assert [c.request.method for c in stub.calls] == ["GET"]


def test_add_labels_merges_and_enforces_ten(stub, client):
    stub.get(CONTACT_URL, json=contact(labels=["urgent"]))
    stub.patch(CONTACT_URL, json=envelope(200, "ok"))
    client.add_labels(BOT_ID, USER_ID, ["handoff"])
    assert sent_json(stub.calls[1]) == {"labels": ["urgent", "handoff"]}
    stub.get(CONTACT_URL, json=contact(labels=[f"l{i}" for i in range(10)]))
    with pytest.raises(OhoLimitError):
        client.add_labels(BOT_ID, USER_ID, ["handoff"])
    assert len(stub.calls) == 3


def test_remove_labels_keeps_the_rest(stub, client):
    stub.get(CONTACT_URL, json=contact(labels=["urgent", "handoff"]))
    stub.patch(CONTACT_URL, json=envelope(200, "ok"))
    client.remove_labels(BOT_ID, USER_ID, ["handoff"])
    assert sent_json(stub.calls[1]) == {"labels": ["urgent"]}


def test_set_attributes_updates_by_name_and_keeps_others(stub, client):
    stub.get(CONTACT_URL, json=contact(attributes=[
        {"display_name": "HN", "value": {"text": "000123"}},
        {"display_name": "handoff", "value": {"text": "closed"}}]))
    stub.patch(CONTACT_URL, json=envelope(200, "ok"))
    client.set_attributes(BOT_ID, USER_ID, {"handoff": "open", "channel": "LINE"})
    assert sent_json(stub.calls[1]) == {"attributes": [
        {"display_name": "HN", "value": {"text": "000123"}},
        {"display_name": "handoff", "value": {"text": "open"}},
        {"display_name": "channel", "value": {"text": "LINE"}}]}


def test_set_attributes_with_the_same_values_does_not_write(stub, client):
    stub.get(CONTACT_URL, json=contact(attributes=[{"display_name": "handoff", "value": {"text": "open"}}]))
    client.set_attributes(BOT_ID, USER_ID, {"handoff": "open"})
    assert [c.request.method for c in stub.calls] == ["GET"]


def test_set_attributes_checks_limits_before_reading(stub, client):
    with pytest.raises(OhoLimitError):
        client.set_attributes(BOT_ID, USER_ID, {"note": "x" * 2001})
    assert len(stub.calls) == 0


def test_unreadable_tags_are_not_overwritten(stub, client):
    stub.get(CONTACT_URL, json=contact(tags="vip,ward-3"))
    with pytest.raises(ProviderError):
        client.add_tags(BOT_ID, USER_ID, ["handoff"])
    assert [c.request.method for c in stub.calls] == ["GET"]


def test_merge_on_a_missing_contact_raises_not_found_without_writing(stub, client):
    stub.get(CONTACT_URL, json=envelope(404, "Not found contact"), status=404)
    with pytest.raises(NotFoundError):
        client.add_tags(BOT_ID, USER_ID, ["handoff"])
    assert len(stub.calls) == 1
