"""OhoContacts: one way to name our bot in Oho (platform_id) and to create a patient's contact, for every feature."""

from __future__ import annotations

from tests.conftest import make_settings
from tests.handoff_stubs import (  # noqa: F401
    BOT_ID,
    OHO,
    OHO_KEY,
    USER,
    QuickServices,
    http,
    line_extra,
    oho,
    requests_to,
    services,
    settings,
)
from workers.oho_contacts import OhoContacts


def contacts_of(services) -> OhoContacts:
    """A new instance, as each job has (built as the composition root builds it)."""
    return OhoContacts(services.settings, services.redis, line=lambda: services.line, oho=lambda: services.oho,
                       prefix="")


def test_platform_id_is_read_from_line_once_and_kept(services, line_extra):
    assert contacts_of(services).platform_id() == BOT_ID
    assert contacts_of(services).platform_id() == BOT_ID  # another job, another instance: still kept
    assert len(requests_to(line_extra, "/v2/bot/info")) == 1


def test_oho_platform_id_setting_wins_without_asking_line(redis_server, redis, line_extra):
    settings = make_settings(redis_server, line_extra, oho_api_key=OHO_KEY, oho_base_url=OHO,
                             oho_platform_id="U" + "f" * 32)
    assert contacts_of(QuickServices(settings, redis_connection=redis)).platform_id() == "U" + "f" * 32
    assert requests_to(line_extra, "/v2/bot/info") == []


def test_the_contact_is_created_once_from_bot_info_and_profile(services, line_extra, oho):
    contacts = contacts_of(services)
    assert contacts.ensure(USER) is True
    assert contacts.ensure(USER) is False and contacts.known(USER)
    [created] = oho.calls("POST", "/contact")
    assert created["social_profile"] == {"platform": "line", "id": USER, "platform_id": BOT_ID,
                                         "platform_name": "Test Hospital", "line_basic_id": "@000test"}
    assert created["display_name"] == "Somchai T."
    # One bot-info call for both the platform id and the contact's page name.
    assert len(requests_to(line_extra, "/v2/bot/info")) == 1


def test_a_contact_oho_says_is_missing_is_created_again(services, line_extra, oho):
    contacts = contacts_of(services)
    contacts.ensure(USER)
    oho.contact = None  # deleted in Oho meanwhile
    assert contacts.ensure(USER) is False  # still known here: no call
    assert contacts.ensure(USER, missing=True) is True
    assert len(oho.calls("POST", "/contact")) == 2


def test_a_profile_line_will_not_give_still_makes_a_contact(services, line_stub, oho):
    from tests.handoff_stubs import BOT_INFO

    line_stub.expect_request("/v2/bot/info").respond_with_json(BOT_INFO)
    line_stub.expect_request(f"/v2/bot/profile/{USER}").respond_with_json({"message": "Not found"}, status=404)
    assert contacts_of(services).ensure(USER) is True
    [created] = oho.calls("POST", "/contact")
    assert created["display_name"] == "LINE user"
