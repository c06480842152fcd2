"""The README is for a hospital and stays short; what it and docs/ point at exists: every relative link
and anchor, every `flask …` command with its options, every `./dev …` subcommand."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
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


def test_every_dev_subcommand_the_readme_shows_exists():
    script = (ROOT / "dev").read_text(encoding="utf-8")
    known = set(re.findall(r"^  ([a-z]+)\)$", script, re.MULTILINE))
    shown = {m for code in code_of(README) for m in re.findall(r"\./dev ([a-z]+)", code)}
    assert shown and shown <= known, shown - known
