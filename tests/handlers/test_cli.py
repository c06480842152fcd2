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


def test_ask_file_prints_one_json_result_per_line(tmp_path):
    questions = tmp_path / "questions.txt"
    questions.write_text("เปิดกี่โมงคะ\n\nsomeone collapsed\nasdfghjkl\n", encoding="utf-8")
    result = _runner().invoke(args=["bot", "ask", "--file", str(questions)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["text"], r["intent"]) for r in lines] == [
        ("เปิดกี่โมงคะ", "hours"), ("someone collapsed", "emergency"), ("asdfghjkl", "unknown")]
    assert "1669" in json.dumps(lines[1]["reply"], ensure_ascii=False)


def test_ask_reads_standard_input_with_file_dash():
    result = _runner().invoke(args=["bot", "ask", "--file", "-"], input="where can I park\n")
    assert json.loads(result.output)["intent"] == "parking"


@pytest.mark.parametrize("args", [["bot", "ask"], ["bot", "ask", "hello", "--file", "-"]])
def test_ask_needs_text_or_a_file_not_both(args):
    result = _runner().invoke(args=args, input="hi\n")
    assert result.exit_code == 2 and "either TEXT or --file" in result.output


def test_eval_passes_on_the_shipped_set_and_prints_per_topic_figures():
    result = _runner().invoke(args=["bot", "eval", str(DEFAULT_FILE.parent / "eval" / "heldout.yaml")])
    assert result.exit_code == 0, result.output
    assert "emergency" in result.output and "overall" in result.output
    assert result.output.rstrip().endswith("PASS")


def test_eval_fails_and_lists_every_miss_when_an_emergency_is_missed(tmp_path):
    examples = tmp_path / "examples.csv"
    examples.write_text("text,topic\nเปิดกี่โมง,hours\nเปิดกี่โมง,parking\nasdf,emergency\n", encoding="utf-8")
    result = _runner().invoke(args=["bot", "eval", str(examples), "--min-accuracy", "0"])
    assert result.exit_code == 1
    assert "[parking -> hours] เปิดกี่โมง" in result.output and "[emergency -> none] asdf" in result.output
    assert "parking -> hours: 1" in result.output  # the confusion between topics
    assert result.output.rstrip().endswith("FAIL")


def test_eval_fails_below_the_accuracy_threshold(tmp_path):
    examples = tmp_path / "examples.yaml"
    examples.write_text("parking: [เปิดกี่โมง]\nhours: [เปิดกี่โมง]\n", encoding="utf-8")
    assert _runner().invoke(args=["bot", "eval", str(examples)]).exit_code == 1
    assert _runner().invoke(args=["bot", "eval", str(examples), "--min-accuracy", "0.5"]).exit_code == 0


def test_eval_names_a_broken_examples_file(tmp_path):
    examples = tmp_path / "broken.yaml"
    examples.write_text("hours: [", encoding="utf-8")
    result = _runner().invoke(args=["bot", "eval", str(examples)])
    assert result.exit_code == 1 and "broken.yaml" in result.output and "Traceback" not in result.output
