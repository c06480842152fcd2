"""The README is for a hospital and stays short; what it and docs/ point at exists: every relative link
and anchor, every `flask …` command with its options, every `./dev …` subcommand."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
HOSPITALS_DOC = ROOT / "docs" / "hospitals.md"
EXAMPLE_HOSPITAL = ROOT / "docs" / "hospitals" / "example.toml"
DOCS = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
FLASK_BUILTINS = {"run", "shell", "routes"}


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation and symbols dropped, spaces to hyphens."""
    kept = "".join(c for c in heading.strip().lower()
                   if c in "-_ " or unicodedata.category(c)[0] not in "PS")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found, seen = set(), {}
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", path.read_text(encoding="utf-8")), re.MULTILINE):
        base = slug(heading)
        found.add(f"{base}-{seen[base]}" if base in seen else base)
        seen[base] = seen.get(base, 0) + 1
    return found


def code_of(path: Path) -> list[str]:
    """The README's code: fenced blocks line by line, and inline code spans."""
    text = path.read_text(encoding="utf-8")
    blocks = [line for block in FENCE.findall(text) for line in block.splitlines()[1:-1]]
    return blocks + CODE_SPAN.findall(FENCE.sub("", text))


def test_the_readme_is_short():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 200


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.name)
def test_every_relative_link_points_at_a_file_and_heading_that_exist(path):
    broken = []
    for target in LINK.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        name, _, anchor = target.partition("#")
        file = (path.parent / name).resolve() if name else path
        if not file.exists() or (anchor and (file.suffix != ".md" or anchor not in anchors(file))):
            broken.append(target)
    assert broken == []


def test_the_docs_keep_no_lab_notes():
    for path in (README, *DOCS):
        text = path.read_text(encoding="utf-8").lower()
        for phrase in ("this round", "this branch", "earlier rounds", "(issue"):
            assert phrase not in text, (path.name, phrase)


def unknown_flask_commands(app, path: Path) -> tuple[list[str], list[str]]:
    """The `flask …` commands ``path`` shows, and those of them that do not exist with those options. A
    group's option (``flask handoff --hospital ID list``) is followed by its value and the subcommand."""
    shown = [words for code in code_of(path)
             for words in re.findall(r"(?:^|[\s/])flask ([^`|;&]*)", code)]
    unknown = []
    for words in shown:
        command, tokens = app.cli, words.split()
        while isinstance(command, click.Group) and tokens:
            option = next((p for p in command.params if tokens[0] in p.opts), None)
            if command is not app.cli and option is not None:
                tokens = tokens[1 if option.is_flag else 2:]
                continue
            if not re.fullmatch(r"[a-z][a-z-]*", tokens[0]):
                break
            sub = command.get_command(None, tokens[0])
            if sub is None and command is app.cli and tokens[0] in FLASK_BUILTINS:
                break
            if sub is None:
                unknown.append(words)
                break
            command, tokens = sub, tokens[1:]
        if isinstance(command, click.Group) and command is not app.cli and not tokens:
            unknown.append(words)  # a group alone ("flask line") is not a command
        options = {o for p in command.params for o in p.opts} | {"--help"}
        unknown += [f"{words}: {t}" for t in tokens if t.startswith("--") and t not in options]
    return shown, unknown


def test_every_flask_command_the_readme_shows_exists_with_its_options(app):
    shown, unknown = unknown_flask_commands(app, README)
    assert len(shown) >= 15
    assert unknown == []


def test_every_flask_command_the_hospitals_page_shows_exists_with_its_options(app):
    shown, unknown = unknown_flask_commands(app, HOSPITALS_DOC)
    assert len(shown) >= 10
    assert unknown == []


def test_every_dev_subcommand_the_readme_shows_exists():
    script = (ROOT / "dev").read_text(encoding="utf-8")
    known = set(re.findall(r"^  ([a-z]+)\)$", script, re.MULTILINE))
    shown = {m for code in code_of(README) for m in re.findall(r"\./dev ([a-z]+)", code)}
    assert shown and shown <= known, shown - known



def made_up(setting: str) -> str:
    """A value of the right form for a secret setting, made up."""
    return {"line_channel_secret": "0123456789abcdef" * 2,
            "line_channel_access_token": "madeUpChannelAccessToken" + "x" * 160,
            "sepsms_api_key": "sk_sep_madeUpKey"}.get(setting, f"made-up-{setting}-" + "x" * 32)


def example_registry(tmp_path, monkeypatch, text: str):
    """A registry of the example hospital, its ``env:`` references set and its ``file:`` ones pointed at
    files, all with made-up values."""
    from bot.hospitals import Registry
    from bot.settings import Settings

    for key, value in tomllib.loads(text).items():
        how, _, where = str(value).partition(":")
        if how == "env" and where:
            monkeypatch.setenv(where, made_up(key.lower()))
        elif how == "file" and where:
            secret = tmp_path / key.lower()
            secret.write_text(made_up(key.lower()) + "\n", encoding="utf-8")
            text = text.replace(f'"file:{where}"', f'"file:{secret}"')
    directory = tmp_path / "hospitals"
    directory.mkdir()
    (directory / EXAMPLE_HOSPITAL.name).write_text(text, encoding="utf-8")
    # OTP_SECRET is the deployment's (the environment's), made up here too.
    return Registry(Settings(_env_file=None, redis_url="redis://localhost:6399/0", otp_secret=made_up("otp_secret")),
                    directory)


def test_the_example_hospital_file_is_the_one_the_docs_show():
    shown = re.findall(r"^```toml\n(.*?)^```", HOSPITALS_DOC.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    assert shown == [EXAMPLE_HOSPITAL.read_text(encoding="utf-8")]


@pytest.mark.parametrize("alternatives", [False, True], ids=["as-shipped", "commented-lines-too"])
def test_the_registry_reads_the_example_hospital_file(tmp_path, monkeypatch, alternatives):
    text = EXAMPLE_HOSPITAL.read_text(encoding="utf-8")
    if alternatives:  # the commented-out settings are right too, once uncommented
        text = re.sub(r"^# ([a-z_]+ = )", r"\1", text, flags=re.MULTILINE)
    registry = example_registry(tmp_path, monkeypatch, text)
    assert registry.problems() == {}
    (hospital,) = registry.hospitals()
    assert hospital.id == "example" and hospital.prefix == "h:example:"
    assert hospital.settings.line_channel_secret.get_secret_value() == made_up("line_channel_secret")
    assert hospital.settings.line_channel_access_token.get_secret_value() == made_up("line_channel_access_token")
    assert not hospital.settings.missing_for("line") and not hospital.settings.missing_for("sms")
    assert not hospital.settings.missing_for("moph") and not hospital.settings.missing_for("handoff")


def test_every_hospital_path_the_docs_show_is_a_route(app):
    from werkzeug.exceptions import HTTPException
    from werkzeug.routing import Map, Rule

    shown = set(re.findall(r"https://<host>(/h/<id>/[^`]+)`", HOSPITALS_DOC.read_text(encoding="utf-8")))
    assert len(shown) >= 6
    rules = Map([Rule(rule.rule.replace("<hospital>", "<id>"), endpoint=rule.endpoint)
                 for rule in app.url_map.iter_rules() if rule.rule.startswith("/h/<hospital>/")])
    adapter = rules.bind("localhost")
    unknown = []
    for path in shown:
        concrete = re.sub(r"<[^>]+>", "x", path)
        try:
            adapter.match(concrete, method="GET" if path.endswith(("readyz", "<notice_id>")) else "POST")
        except HTTPException:  # NotFound, MethodNotAllowed
            unknown.append(path)
    assert unknown == []
