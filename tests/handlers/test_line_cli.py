"""``flask line dead-events`` / ``replay`` against real Redis and a real RQ worker, and
``flask line richmenu install`` / ``show`` against the LINE stub server."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from bot.knowledge import hospital_name
from bot.richmenu import HEIGHT, NAME, WIDTH, rich_menu
from tests.support import text_event
from workers.line.dead_events import dead_events
from workers.line.inbox import line_inbox

USER = "U" + "f" * 32
OTHER = "U" + "c" * 32


@pytest.fixture
def cli(app):
    return app.test_cli_runner()


def refuse_messages(line_stub):
    line_stub.clear_all_handlers()
    for path in ("/v2/bot/message/reply", "/v2/bot/message/push"):
        line_stub.expect_request(path).respond_with_json({"message": "The request body has 1 error(s)"}, status=400)


def accept_messages(line_stub):
    line_stub.clear_all_handlers()
    for path in ("/v2/bot/message/reply", "/v2/bot/message/push"):
        line_stub.expect_request(path).respond_with_json({"sentMessages": []})


def set_aside(webhook, run_worker, line_stub, *events):
    refuse_messages(line_stub)
    webhook.post(list(events))
    run_worker()
    accept_messages(line_stub)


def test_dead_events_with_none(cli, redis):
    result = cli.invoke(args=["line", "dead-events"])
    assert result.exit_code == 0 and "no set-aside LINE events." in result.output


def test_dead_events_lists_when_whose_what_and_why_masked(cli, webhook, run_worker, line_stub, redis):
    event = text_event("ปวดท้องมาก", user=USER)
    set_aside(webhook, run_worker, line_stub, event)
    result = cli.invoke(args=["line", "dead-events"])
    assert result.exit_code == 0
    assert event["webhookEventId"] in result.output and "…ffff" in result.output and " text " in result.output
    assert "InvalidRequestError" in result.output and "request body has 1 error" in result.output
    assert USER not in result.output and "ปวดท้อง" not in result.output  # masked, no message text


def test_replay_puts_events_back_in_order_once_and_they_are_answered(cli, webhook, run_worker, line_stub, redis):
    first, second = text_event("เปิดกี่โมง", user=USER), text_event("ที่จอดรถ", user=USER)
    set_aside(webhook, run_worker, line_stub, first, second)
    assert [e.id for e in dead_events(redis)] == [second["webhookEventId"], first["webhookEventId"]]

    result = cli.invoke(args=["line", "replay", "--all"])
    assert result.exit_code == 0, result.output
    assert "2 event(s) of 1 user(s) back in their inboxes" in result.output and USER not in result.output
    assert [e["webhookEventId"] for e in line_inbox(redis).pending(USER)] == [first["webhookEventId"],
                                                                              second["webhookEventId"]]
    assert redis.llen("line:dead-events") == 0
    again = cli.invoke(args=["line", "replay", first["webhookEventId"]])
    assert again.exit_code == 1 and "not among the set-aside events" in again.output
    assert len(line_inbox(redis).pending(USER)) == 2  # queued once

    run_worker()
    pushes = [r.get_json() for r, _ in line_stub.log if r.path == "/v2/bot/message/push"]
    assert [p["to"] for p in pushes] == [USER, USER]  # the reply tokens were used up: pushed, in order
    assert line_inbox(redis).pending(USER) == [] and redis.llen("line:dead-events") == 0


def test_replay_by_id_leaves_the_others(cli, webhook, run_worker, line_stub, redis):
    mine, theirs = text_event("a", user=USER), text_event("b", user=OTHER)
    set_aside(webhook, run_worker, line_stub, mine, theirs)
    result = cli.invoke(args=["line", "replay", mine["webhookEventId"]])
    assert result.exit_code == 0 and "replayed" in result.output and "…ffff" in result.output
    assert [e.id for e in dead_events(redis)] == [theirs["webhookEventId"]]
    assert len(line_inbox(redis).pending(USER)) == 1 and line_inbox(redis).pending(OTHER) == []


def test_a_dead_item_is_replayed_once_even_from_two_terminals(webhook, run_worker, line_stub, redis):
    set_aside(webhook, run_worker, line_stub, text_event("a", user=USER))
    [event] = dead_events(redis)
    inbox = line_inbox(redis)
    assert inbox.dead.replay(event.dead, event.user, event.id) is True
    assert inbox.dead.replay(event.dead, event.user, event.id) is False
    assert len(inbox.pending(USER)) == 1


@pytest.mark.parametrize("args, message", [
    (["line", "replay"], "or --all"),
    (["line", "replay", "--all", "01XYZ"], "or --all"),
])
def test_replay_needs_ids_or_all(cli, redis, args, message):
    result = cli.invoke(args=args)
    assert result.exit_code == 2 and message in result.output


def test_replay_of_an_unknown_id_replays_nothing(cli, webhook, run_worker, line_stub, redis):
    event = text_event("a", user=USER)
    set_aside(webhook, run_worker, line_stub, event)
    result = cli.invoke(args=["line", "replay", event["webhookEventId"], "01NOSUCHEVENT"])
    assert result.exit_code == 1 and "01NOSUCHEVENT" in result.output and "nothing replayed" in result.output
    assert redis.llen("line:dead-events") == 1 and line_inbox(redis).pending(USER) == []


# -- the rich menu --------------------------------------------------------------------------------
OLD_OURS = {"richMenuId": "richmenu-old-ours", **rich_menu()}
THEIRS = {**rich_menu(), "richMenuId": "richmenu-theirs", "name": "campaign menu from OA Manager"}


def menu_stub(line_stub, menus, default="richmenu-theirs", *, image_status=200):
    line_stub.expect_request("/v2/bot/richmenu/list", method="GET").respond_with_json({"richmenus": menus})
    if default:
        line_stub.expect_request("/v2/bot/user/all/richmenu", method="GET").respond_with_json({"richMenuId": default})
    else:
        line_stub.expect_request("/v2/bot/user/all/richmenu", method="GET").respond_with_json(
            {"message": "no default richmenu"}, status=404)
    line_stub.expect_request("/v2/bot/richmenu", method="POST").respond_with_json({"richMenuId": "richmenu-new"})
    line_stub.expect_request("/v2/bot/richmenu/richmenu-new/content", method="POST").respond_with_json(
        {} if image_status == 200 else {"message": "image size is wrong"}, status=image_status)
    line_stub.expect_request("/v2/bot/user/all/richmenu/richmenu-new", method="POST").respond_with_json({})
    for menu_id in ("richmenu-old-ours", "richmenu-new"):
        line_stub.expect_request(f"/v2/bot/richmenu/{menu_id}", method="DELETE").respond_with_json({})


def calls(line_stub, method, path):
    return [r for r, _ in line_stub.log if r.method == method and r.path == path]


def test_richmenu_install_replaces_ours_and_leaves_others(cli, line_stub):
    from workers.line.richmenu import default_image

    menu_stub(line_stub, [OLD_OURS, THEIRS])
    result = cli.invoke(args=["line", "richmenu", "install"])
    assert result.exit_code == 0, result.output
    assert "installed rich menu richmenu-new as the default" in result.output
    assert "richmenu-old-ours" in result.output and "1 other menu(s) left" in result.output
    [created] = calls(line_stub, "POST", "/v2/bot/richmenu")
    body = created.get_json()
    assert body["size"] == {"width": 2500, "height": 1686}
    assert body["name"] == f"{NAME} · {hospital_name()}"  # whose menu it is, as OA Manager lists it
    actions = [area["action"] for area in body["areas"]]
    assert {"type": "uri", "label": "โทร 1669", "uri": "tel:1669"} in actions
    assert {a.get("data") for a in actions} >= {"action=handoff", "action=topic&id=verify",
                                                 "action=topic&id=appointment", "action=topic&id=location",
                                                 "action=topic&id=hours"}
    [upload] = calls(line_stub, "POST", "/v2/bot/richmenu/richmenu-new/content")
    assert upload.headers["Content-Type"] == "image/png" and upload.get_data() == default_image()
    assert len(calls(line_stub, "POST", "/v2/bot/user/all/richmenu/richmenu-new")) == 1
    assert [r.path for r, _ in line_stub.log if r.method == "DELETE"] == ["/v2/bot/richmenu/richmenu-old-ours"]


def test_the_shipped_image_follows_lines_rules():
    from workers.line.richmenu import check_image, default_image

    image = default_image()
    assert check_image(image) == "image/png" and len(image) <= 1024 * 1024
    assert Image.open(io.BytesIO(image)).size == (WIDTH, HEIGHT)


def test_richmenu_install_refuses_a_bad_image_before_calling_line(cli, line_stub, tmp_path):
    text = tmp_path / "menu.txt"
    text.write_text("not an image")
    small = tmp_path / "small.png"
    Image.new("RGB", (800, 270), "white").save(small)
    for path, message in ((text, "must be a PNG or a JPEG"), (small, "800x270; the menu needs exactly 2500x1686")):
        result = cli.invoke(args=["line", "richmenu", "install", "--image", str(path)])
        assert result.exit_code == 1 and message in result.output
    missing = cli.invoke(args=["line", "richmenu", "install", "--image", str(tmp_path / "nope.png")])
    assert missing.exit_code == 2
    assert line_stub.log == []


def test_a_refused_image_leaves_no_half_made_menu(cli, line_stub):
    menu_stub(line_stub, [OLD_OURS], default="richmenu-old-ours", image_status=400)
    result = cli.invoke(args=["line", "richmenu", "install"])
    assert result.exit_code == 1 and "LINE refused" in result.output
    assert [r.path for r, _ in line_stub.log if r.method == "DELETE"] == ["/v2/bot/richmenu/richmenu-new"]
    assert calls(line_stub, "POST", "/v2/bot/user/all/richmenu/richmenu-new") == []


def test_richmenu_show(cli, line_stub):
    menu_stub(line_stub, [OLD_OURS, THEIRS])
    result = cli.invoke(args=["line", "richmenu", "show"])
    assert result.exit_code == 0
    assert "richmenu-old-ours" in result.output and "ours" in result.output and "tel:1669" in result.output
    assert "richmenu-theirs" in result.output and "default" in result.output


def test_richmenu_show_with_none(cli, line_stub):
    menu_stub(line_stub, [], default=None)
    result = cli.invoke(args=["line", "richmenu", "show"])
    assert result.exit_code == 0 and "no rich menu installed" in result.output


def test_richmenu_needs_line_configured(redis_server, redis):
    from handlers.app import create_app
    from tests.conftest import make_settings
    from workers.services import Services

    settings = make_settings(redis_server, line_channel_access_token=None)
    cli = create_app(settings, services=Services(settings, redis_connection=redis)).test_cli_runner()
    result = cli.invoke(args=["line", "richmenu", "show"])
    assert result.exit_code == 1 and "LINE_CHANNEL_ACCESS_TOKEN" in result.output


def test_rich_menu_body_is_valid_for_the_sdk():
    from linebot.v3.messaging import RichMenuRequest

    assert RichMenuRequest.from_dict(rich_menu()).to_dict()["areas"] == json.loads(json.dumps(rich_menu()["areas"]))


def test_richmenu_install_names_a_knowledge_base_without_the_hospitals_name(redis_server, redis, line_stub, tmp_path):
    from handlers.app import create_app
    from tests.conftest import make_settings
    from workers.services import Services

    knowledge = tmp_path / "ours.yaml"
    knowledge.write_text("hospital: {phone: 02-000-0000}\ntopics: []\n", encoding="utf-8")
    settings = make_settings(redis_server, line_stub, bot_knowledge_file=str(knowledge))
    cli = create_app(settings, services=Services(settings, redis_connection=redis)).test_cli_runner()
    result = cli.invoke(args=["line", "richmenu", "install"])
    assert result.exit_code == 1 and "ours.yaml: hospital: name: missing" in result.output
    assert "Traceback" not in result.output and line_stub.log == []
