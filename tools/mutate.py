"""``./dev mutate PATH…``: mutation testing (mutmut 3) of the given modules against the tests that cover them.

Each module is run on its own, in a fresh ``mutants/`` copy of the project, with mutmut's test
selection narrowed to the test files in ``TESTS`` below (mutmut then runs every mutant against
only those of them that reach the mutated function). Shared settings (what is copied, which
lines are accepted unmutated) are in ``[tool.mutmut]`` in pyproject.toml.

The run ends with one line per module::

    integrations/http.py: mutation score: 91% (203/222)

caught = killed + timeout; run = every mutant mutmut generated except the ones it skipped:
survived, suspicious (the tests neither passed nor failed cleanly), segfault and "no tests"
(no selected test reaches the function) all count as not caught.

Not part of CI: a few minutes per module on 2 cores.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

#: The tests that judge each module's mutants: the module's own tests and the flows that rest on it.
TESTS = {
    "workers/user_queue.py": ["tests/workers/test_user_queue.py", "tests/workers/test_inbox.py",
                              "tests/workers/test_delivery.py"],
    "workers/drain.py": ["tests/workers/test_user_queue.py", "tests/workers/test_inbox.py",
                         "tests/workers/test_delivery.py"],
    "integrations/http.py": ["tests/integrations/"],
    "integrations/line.py": ["tests/integrations/test_line_client.py", "tests/workers/test_line_answers.py",
                             "tests/workers/test_delivery.py"],
    "integrations/webhook_auth.py": ["tests/integrations/test_webhook_auth.py", "tests/integrations/test_sms_webhooks.py",
                                     "tests/handlers/test_livedesk_webhook.py",
                                     "tests/handlers/test_sms_webhook_endpoints.py",
                                     "tests/handlers/test_appointments_api.py"],
    # Pure state machines: their unit tests (the worker flows that drive them take minutes per mutant).
    "bot/verification.py": ["tests/bot/test_verification_dialog.py", "tests/bot/test_verification_rules.py",
                            "tests/bot/test_verification_messages.py"],
    "bot/handoff/state.py": ["tests/bot/test_handoff_state.py", "tests/bot/test_business_hours.py",
                             "tests/bot/test_handoff_texts.py"],
}
#: Other shares of the 2 cores (other test runs) are left alone: at most this many mutants at once.
CHILDREN = int(os.environ.get("MUTATE_CHILDREN", "2"))

CAUGHT = {"killed", "timeout"}
NOT_RUN = {"skipped", "not checked", "check was interrupted by user"}


def tests_for(module: str) -> list[str]:
    """The module's entry in TESTS, else its package's test folder (``integrations/x.py`` → ``tests/integrations/``)."""
    if module in TESTS:
        return [t for t in TESTS[module] if Path(t).exists()]
    return [f"tests/{Path(module).parts[0]}/"]


def run_one(module: str, tests: list[str]) -> None:
    """In a child process (mutmut keeps global state): mutate only ``module``, select only ``tests``."""
    from mutmut import configuration

    # mutmut 3 reads its settings from pyproject.toml only; narrow them for this module.
    configuration._config = dataclasses.replace(configuration.config(), only_mutate=[module],
                                                pytest_add_cli_args_test_selection=tests)
    from mutmut.__main__ import cli

    cli(["run", "--max-children", str(CHILDREN)])


def stop_left_over_servers(scratch: Path) -> None:
    """Stop the embedded Redis of every test session that was killed before its teardown."""
    from workers.embedded_redis import EmbeddedRedis

    for pidfile in scratch.glob("pytest-of-*/pytest-*/*/redis/redis.pid"):
        EmbeddedRedis(pidfile.parent.parent).stop(timeout=5)


def score(module: str) -> tuple[int, int, Counter]:
    from mutmut.stats import status_by_exit_code

    meta = json.loads(Path("mutants", module + ".meta").read_text())
    statuses = {name: status_by_exit_code[code] for name, code in meta["exit_code_by_key"].items()}
    counts = Counter(statuses.values())
    run = sum(n for status, n in counts.items() if status not in NOT_RUN)
    caught = sum(counts[s] for s in CAUGHT)
    survivors = sorted(name for name, status in statuses.items() if status not in CAUGHT | NOT_RUN)
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    for name in survivors:
        print(f"  not caught ({statuses[name]}): {name}")
        try:
            diff = get_diff_for_mutant(name, path=module)
        except Exception as exc:  # noqa: BLE001 (the listing matters more than one diff)
            diff = f"(no diff: {type(exc).__name__})"
        changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        print("\n".join(f"      {line}" for line in changed))
    return caught, run, counts


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "--one":
        run_one(argv[1], argv[2:])
        return 0
    if not argv:
        print("usage: ./dev mutate PATH.py… (e.g. integrations/http.py); known: " + " ".join(TESTS), file=sys.stderr)
        return 2
    missing = [m for m in argv if not (m.endswith(".py") and Path(m).is_file())]
    if missing:
        print("not a module of this project: " + " ".join(missing), file=sys.stderr)
        return 2
    lines = []
    for module in argv:
        tests = tests_for(module)
        print(f"== {module} against {' '.join(tests)}", flush=True)
        shutil.rmtree("mutants", ignore_errors=True)
        # The mutants' test sessions keep their temporary files (and embedded Redis servers) here,
        # so that the servers of sessions killed for a timeout can be stopped afterwards.
        scratch = Path("mutants", "tmp").resolve()
        scratch.mkdir(parents=True)
        try:
            done = subprocess.run([sys.executable, __file__, "--one", module, *tests], check=False,
                                  env={**os.environ, "TMPDIR": str(scratch)})
        finally:
            stop_left_over_servers(scratch)
        if not Path("mutants", module + ".meta").exists():
            lines.append(f"{module}: mutation score: failed (mutmut exited with {done.returncode})")
            continue
        caught, run, counts = score(module)
        print(f"  {module}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())), flush=True)
        percent = f"{100 * caught // run}%" if run else "n/a"  # rounded down: 84.5% is not 85%
        lines.append(f"{module}: mutation score: {percent} ({caught}/{run})")
    print()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
