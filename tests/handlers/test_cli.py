"""The staff CLI: ``flask bot ask TEXT`` without LINE, Redis or credentials."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from bot.knowledge import DEFAULT_FILE
from bot.settings import load_settings
from handlers.bot_cli import bot_cli


def _runner(**settings):
    """A tiny app with the bot commands; no Redis and no LINE credentials set."""
    app = Flask(__name__)
    unset = {"bot_knowledge_file": None, "redis_url": None,
             "line_channel_secret": None, "line_channel_access_token": None}
    app.config["SETTINGS"] = load_settings(**{**unset, **settings})
    app.cli.add_command(bot_cli)
    return app.test_cli_runner()


def test_ask_prints_intent_score_and_reply_as_json():
    result = _runner().invoke(args=["bot", "ask", "โรงพยาบาลเปิดกี่โมงคะ"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["intent"] == "hours" and answer["score"] == 1.0
    assert answer["reply"][0]["type"] == "flex"
    assert "เวลาทำการ" in result.output  # Thai as text, not \\u escapes


def test_ask_joins_several_words():
    answer = json.loads(_runner().invoke(args=["bot", "ask", "visiting", "hours"]).output)
    assert answer["intent"] == "visiting"


def test_ask_answers_unknown_text_with_the_fallback():
    answer = json.loads(_runner().invoke(args=["bot", "ask", "asdfghjkl"]).output)
    assert answer["intent"] == "unknown" and answer["score"] == 0.0
    assert answer["reply"][0]["quickReply"]["items"]


def test_ask_uses_the_configured_knowledge_file(tmp_path):
    path = tmp_path / "our-hospital.yaml"
    path.write_text(DEFAULT_FILE.read_text(encoding="utf-8").replace("02-000-0000", "02-111-1111"),
                    encoding="utf-8")
    result = _runner(bot_knowledge_file=str(path)).invoke(args=["bot", "ask", "เบอร์โทร"])
    assert json.loads(result.output)["intent"] == "contact"
    assert "02-111-1111" in result.output and "02-000-0000" not in result.output


@pytest.mark.parametrize("content", ["topics: [", "topics: []"])
def test_ask_reports_a_broken_knowledge_file_by_name(tmp_path, content):
    path = tmp_path / "broken.yaml"
    path.write_text(content, encoding="utf-8")
    result = _runner(bot_knowledge_file=str(path)).invoke(args=["bot", "ask", "hello"])
    assert result.exit_code != 0
    assert "broken.yaml" in result.output
