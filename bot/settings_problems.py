"""How bad settings are reported: each ``Problem`` (the setting, what is wrong, a right value) in one
block, a process stopped by them exiting 2. Apart from ``bot.settings`` so that the fields and their
checks read without the reporting around them; ``bot.settings`` re-exports every name here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo


@dataclass(frozen=True)
class Problem:
    """One thing to fix before the service can start: the setting (in capitals, as in the environment),
    what is wrong with it, and a right value (empty when ``what`` already says what to set).
    ``environment``: the setting's form is right but what it points at is not there (a Redis down)."""

    name: str
    what: str
    example: str = ""
    environment: bool = False

    def line(self) -> str:
        example = f" (for example {self.name}={self.example})" if self.example else ""
        return f"  {self.name}: {self.what}{example}"


def problems_block(problems: list[Problem]) -> str:
    """The one message a process stops with: a title, then one line per problem. Never a value of a
    setting (secrets among them), only names, what is wrong and examples."""
    if all(problem.environment for problem in problems):
        title = "Cannot start: what the settings point at does not answer (settings: the environment or .env):"
    else:
        title = (f"Invalid settings: {len(problems)} to fix, in the environment or .env (every setting is "
                 "described in .env.example):")
    return "\n".join([title, *(problem.line() for problem in problems)])


class SettingsError(RuntimeError):
    """Raised at start-up with every malformed setting listed, one per line (``problems``)."""

    def __init__(self, problems: list[Problem] | str):
        self.problems = [] if isinstance(problems, str) else list(problems)
        super().__init__(problems if isinstance(problems, str) else problems_block(self.problems))


class NotConfigured(SettingsError):
    """A feature was used whose settings are not all set (``Settings.require``); names them."""


#: The exit status of a process stopped by its settings (or a Redis it cannot reach at start-up).
SETTINGS_EXIT = 2


def exit_with(problems: list[Problem]):
    """Print the one block on stderr and end the process with ``SETTINGS_EXIT``."""
    print(problems_block(problems), file=sys.stderr, flush=True)
    raise SystemExit(SETTINGS_EXIT)


def field_example(field: FieldInfo) -> str:
    """A right value of a field: its first example, else its default (as the environment spells it)."""
    value = field.examples[0] if field.examples else field.default
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def is_secret(field: FieldInfo) -> bool:
    """A ``SecretStr`` field (alone or in a union): its value is never repeated in a problem."""
    return SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ()))


#: Friendlier words than pydantic's for the errors any typed setting can have.
_PLAIN_WORDS = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false (1/0, yes/no, on/off)",
    "string_pattern_mismatch": "does not have the expected form",
}


def problems_of(error: ValidationError, fields: dict[str, FieldInfo]) -> list[Problem]:
    """Every error of a ``Settings`` validation as problems (``fields``: its ``model_fields``)."""
    return [problem for err in error.errors() for problem in _problems_of(err, fields)]


def _problems_of(err, fields: dict[str, FieldInfo]) -> list[Problem]:
    """A pydantic error as problems: a field's error names that field; a model check (``loc`` empty)
    gives lines of its own, each starting with the setting it names."""
    message = err["msg"].removeprefix("Value error, ")
    if err["loc"]:
        name = str(err["loc"][0])
        what = _PLAIN_WORDS.get(err["type"], message)
        if err["type"] in _PLAIN_WORDS and err["type"] != "string_pattern_mismatch":
            secret = name in fields and is_secret(fields[name])
            what = what if secret else f"{what} (not {str(err.get('input'))[:40]!r})"
        return [Problem(name.upper(), what, field_example(fields[name]))]
    problems = []
    for line in filter(None, (line.strip() for line in message.split("\n"))):
        name, _, what = line.partition(": ")
        field = name.lower()
        if what and field in fields:
            problems.append(Problem(name, what, "" if field == "sandbox" else field_example(fields[field])))
        else:
            problems.append(Problem("settings", line))
    return problems
