"""``.env.example`` names every setting the service reads, and nothing else, each described with an example."""

import re
from pathlib import Path

from bot.env_example import render
from bot.settings import RETIRED_SETTINGS, Settings, example_of

FILE = Path(__file__).resolve().parents[2] / ".env.example"


def test_the_file_names_every_setting_and_nothing_else():
    named = re.findall(r"^# ([A-Z][A-Z0-9_]*)=", FILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert sorted(named) == sorted(name.upper() for name in Settings.model_fields if name not in RETIRED_SETTINGS)
    assert len(named) == len(set(named))


def test_the_file_is_what_the_settings_say_today():
    assert FILE.read_text(encoding="utf-8") == render(), \
        "stale: run `python -m bot.env_example > .env.example` (after editing a field in bot/settings_fields.py " \
        "or bot/settings_providers.py)"


def test_every_setting_has_a_description_and_an_example():
    for name, field in Settings.model_fields.items():
        if name in RETIRED_SETTINGS:
            continue
        assert field.description and len(field.description) > 10, name
        assert example_of(name), name


def test_the_file_sets_nothing_when_copied_to_dotenv(tmp_path, monkeypatch):
    """Every line is a comment: a copied .env changes nothing until someone uncomments a line."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(FILE.read_text(encoding="utf-8"), encoding="utf-8")
    from bot.settings import load_settings

    assert load_settings().model_fields_set == set()
    assert all(not line.strip() or line.startswith("#") for line in FILE.read_text(encoding="utf-8").splitlines())
