"""Jobs are enqueued by their names in ``workers.job_names``; every name resolves to its job function."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import grimp
import pytest
from rq.utils import import_attribute

import workers
from workers import job_names

ROOT = Path(__file__).resolve().parents[2]
#: enqueueing function -> index of the job's name among its positional arguments
ENQUEUERS = {"enqueue": 1, "enqueue_at": 2, "prepare": 0}
NAMES = {name: value for name, value in vars(job_names).items() if name.isupper()}


def _job_modules():
    for info in pkgutil.walk_packages(workers.__path__, "workers."):
        if info.name.endswith(".jobs"):
            yield importlib.import_module(info.name)


def _job_functions():
    for module in _job_modules():
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ == module.__name__ and not name.startswith("_"):
                yield function


def _enqueue_calls():
    for path in sorted((ROOT / "workers").rglob("*.py")) + sorted((ROOT / "handlers").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                if name in ENQUEUERS and len(node.args) > ENQUEUERS[name]:
                    yield path.relative_to(ROOT), node.lineno, node.args[ENQUEUERS[name]]


def test_there_are_names_job_modules_and_enqueue_calls_to_check():
    assert len(NAMES) >= 16 and len(list(_job_modules())) >= 4
    assert len(list(_enqueue_calls())) >= 10


@pytest.mark.parametrize("constant", sorted(NAMES))
def test_every_name_is_the_path_rq_stores_for_a_job_function(constant):
    """What RQ stores for a function reference (``module.qualname``): jobs queued by an older release run."""
    function = import_attribute(NAMES[constant])
    assert inspect.isfunction(function) and function.__module__.endswith(".jobs")
    assert f"{function.__module__}.{function.__qualname__}" == NAMES[constant]


def test_every_job_function_has_a_name():
    assert sorted(f"{f.__module__}.{f.__qualname__}" for f in _job_functions()) == sorted(NAMES.values())


def test_every_enqueue_names_its_job_from_the_module_of_names():
    """``job_names.X`` only: no function reference (an import of a jobs module) and no string typed inline."""
    for path, line, arg in _enqueue_calls():
        if isinstance(arg, (ast.Name, ast.Starred)):  # pass-through parameters (the queue helpers themselves)
            continue
        assert isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name), f"{path}:{line}"
        assert arg.value.id == "job_names" and arg.attr in NAMES, f"{path}:{line}: enqueues {ast.unparse(arg)}"


def test_no_module_imports_a_jobs_module():
    """Only a worker runs jobs (by name); an import of one from a store or service closes a cycle."""
    graph = grimp.build_graph("workers", "handlers", cache_dir=None)  # a stale cache could hide an import
    importers = {f"{importer} imports {module.__name__}" for module in _job_modules()
                 for importer in graph.find_modules_that_directly_import(module.__name__)}
    assert importers == set()
