"""``flask hospitals check`` and ``flask hospitals adopt``: what a provincial office's IT team runs."""

from __future__ import annotations

from handlers.app import create_app
from tests.conftest import make_settings
from tests.handlers.test_hospital_routes import BOTS, SECRETS, post_line, registry  # noqa: F401  (fixture)
from tests.support import text_event, wait_for


def run(app, *args):
    return app.test_cli_runner().invoke(args=["hospitals", *args])


def test_check_names_each_hospital_and_every_problem_of_a_broken_file(redis_server, line_stub, registry):
    (registry / "b.toml").write_text('line_channel_secret = "written-in-the-file"\nfavourite_colour = "green"\n')
    result = run(create_app(make_settings(redis_server, line_stub, hospitals_dir=str(registry))), "check")
    assert result.exit_code == 1
    assert result.output.startswith("ok    a  (bot ")
    assert f"{registry}/b.toml:" in result.output and "FAVOURITE_COLOUR" in result.output
    assert "LINE_BOT_USER_ID" in result.output and "written-in-the-file" not in result.output


def test_check_reads_each_hospitals_knowledge_base(redis_server, line_stub, registry, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("intents: [this is: not: a knowledge base\n")
    (registry / "b.toml").write_text((registry / "b.toml").read_text() + f'bot_knowledge_file = "{broken}"\n')
    result = run(create_app(make_settings(redis_server, line_stub)), "check", str(registry))
    assert result.exit_code == 1
    assert "ok    a" in result.output and "fix   b  its knowledge base cannot be read" in result.output


def test_a_hospital_switched_off_answers_503_and_says_so(redis_server, redis, line_stub, registry):
    client = create_app(make_settings(redis_server, line_stub, hospitals_dir=str(registry))).test_client()
    (registry / "b.toml").write_text("enabled = false\n" + (registry / "b.toml").read_text())
    wait_for(lambda: client.get("/readyz").get_json()["hospitals"]["b"] == {"status": "disabled"},
             timeout=15, what="b switched off")
    answer = post_line(client, "b", [text_event("hi")], secret=SECRETS["b"], destination=BOTS["b"])
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert post_line(client, "a", [text_event("hi")], secret=SECRETS["a"], destination=BOTS["a"]).status_code == 200
    result = run(create_app(make_settings(redis_server, line_stub)), "check", str(registry))
    assert result.exit_code == 0 and "off   b" in result.output


def test_adopt_refuses_what_is_not_a_hospital_id_and_moves_the_one_hospital(redis_server, redis, line_stub):
    app = create_app(make_settings(redis_server, line_stub))
    refused = run(app, "adopt", "Not_An_Id")
    assert refused.exit_code != 0 and "a hospital id is 1-32 of a-z" in refused.stderr
    redis.set("verify:phone:U" + "1" * 32, "{}")
    moved = run(app, "adopt", "north")
    assert moved.exit_code == 0 and "moved 1 keys" in moved.output
    assert redis.exists("h:north:verify:phone:U" + "1" * 32) and not redis.exists("verify:phone:U" + "1" * 32)
    again = run(app, "adopt", "north")
    assert again.exit_code != 0 and "already has data" in again.stderr
