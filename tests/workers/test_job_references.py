"""Jobs are enqueued by function reference, and every job function resolves by the name RQ stores."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from rq.utils import import_attribute

import workers

ROOT = Path(__file__).resolve().parents[2]
#: enqueueing function -> index of the job function among its positional arguments
ENQUEUERS = {"enqueue": 1, "enqueue_at": 2, "prepare": 0}


def _job_modules():
    for info in pkgutil.walk_packages(workers.__path__, "workers."):
        if info.name.endswith(".jobs"):
            yield importlib.import_module(info.name)


def _enqueue_calls():
    for path in sorted((ROOT / "workers").rglob("*.py")) + sorted((ROOT / "handlers").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                if name in ENQUEUERS and len(node.args) > ENQUEUERS[name]:
                    yield path.relative_to(ROOT), node.lineno, node.args[ENQUEUERS[name]]


def test_there_are_job_modules_and_enqueue_calls_to_check():
    assert len(list(_job_modules())) >= 4
    assert len(list(_enqueue_calls())) >= 10


@pytest.mark.parametrize("module", list(_job_modules()), ids=lambda m: m.__name__)
def test_every_job_function_resolves_by_its_rq_name(module):
    functions = [f for name, f in inspect.getmembers(module, inspect.isfunction)
                 if f.__module__ == module.__name__ and not name.startswith("_")]
    assert functions
    for function in functions:
        assert import_attribute(f"{function.__module__}.{function.__qualname__}") is function


def test_no_job_is_enqueued_by_a_string_name():
    by_string = [f"{path}:{line}" for path, line, arg in _enqueue_calls()
                 if isinstance(arg, (ast.Constant, ast.JoinedStr))]
    assert by_string == []


def test_every_enqueued_function_lives_in_a_jobs_module():
    """``x.y`` references only: each names a function of a ``workers.<feature>.jobs`` module."""
    job_names = {f"{m.__name__}.{n}" for m in _job_modules() for n, _ in inspect.getmembers(m, inspect.isfunction)}
    aliases = {"jobs", "appointment_jobs"}
    for path, line, arg in _enqueue_calls():
        if isinstance(arg, (ast.Name, ast.Starred)):  # pass-through parameters (the queue helpers themselves)
            continue
        assert isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name), f"{path}:{line}"
        assert arg.value.id in aliases, f"{path}:{line}: enqueues {ast.unparse(arg)}"
        assert any(name.endswith(f".jobs.{arg.attr}") for name in job_names), f"{path}:{line}: {ast.unparse(arg)}"
