"""The sandbox's LINE screen is headed with the knowledge base's ``hospital: name:``, as the bot,
the notices, the SMS and the rich menu are (tests/workers/test_hospital_name.py)."""

from __future__ import annotations

import pytest

from bot.knowledge import DEFAULT_FILE
from tests.handlers.sandbox.conftest import _serve

OURS = "โรงพยาบาลบ้านนาทดลอง"


@pytest.fixture
def our_sandbox(redis_server, redis, tmp_path):
    knowledge = tmp_path / "ours.yaml"
    knowledge.write_text(DEFAULT_FILE.read_text(encoding="utf-8").replace(
        'name: "โรงพยาบาลตัวอย่าง"', f'name: "{OURS}"'), encoding="utf-8")
    yield from _serve(redis_server, redis, bot_knowledge_file=str(knowledge))


def test_the_line_screen_is_headed_with_the_knowledge_bases_name(our_sandbox):
    page = our_sandbox.get("/").text
    assert f"</span> {OURS}</div>" in page and "โรงพยาบาลตัวอย่าง" not in page
