"""Run mutmut's survivors again against the tests that pin their module, and print what is left.

mutmut runs each mutant with the tests it saw reach the mutated function, and it sees only what a test calls
while it runs: a module-scoped fixture (the three rollups of tests/test_levels.py, the portal of
tests/test_access.py) is not counted, so a mutant that only those fixtures reach is run with too few tests and
"survives". This script runs each survivor with the module's own tests (below) and prints the survivors left and
the figure per module (killed / total of the mutants mutmut ran).

    cp -r tests mutants/                        # the tests as they are now
    python scripts/mutation_recheck.py          # after `mutmut run ...`, from the project's folder
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"

#: the tests that pin each module (run with -x: the first failure kills the mutant)
TESTS = {
    "ctstat.plan.sums": ["tests/test_levels.py"],
    "ctstat.plan.plan": ["tests/test_levels.py"],
    "ctstat.read.guard": ["tests/test_guard_zip.py", "tests/test_levels.py"],
    "ctstat.web.app": ["tests/test_access.py"],
    "ctstat.web.tokens": ["tests/test_access.py", "tests/test_portal.py"],
    "ctstat.cli.commands": ["tests/test_contract.py"],
}


def results() -> dict[str, int | None]:
    """Every mutant mutmut ran or listed, with its exit code (None: not run)."""
    out: dict[str, int | None] = {}
    for meta in MUTANTS.glob("src/**/*.meta"):
        out.update(json.loads(meta.read_text(encoding="utf-8")).get("exit_code_by_key", {}))
    return out


def module_of(name: str) -> str:
    return name.rsplit(".", 1)[0]


def killed_by(name: str) -> bool:
    tests = TESTS[module_of(name)]
    env = {**os.environ, "MUTANT_UNDER_TEST": name, "PYTHONPATH": str(MUTANTS / "src")}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:warnings", *tests],
        cwd=MUTANTS,
        env=env,
        capture_output=True,
        text=True,
    )
    return run.returncode != 0


def main() -> int:
    # not counted: not run (None), no test reaches it (5, 33), skipped (34), interrupted (2)
    codes = {k: v for k, v in results().items() if v not in (None, 2, 5, 33, 34)}
    survivors = sorted(k for k, v in codes.items() if v in (0, 35))  # survived, or suspicious (35)
    with ThreadPoolExecutor(2) as pool:  # two pytest processes at a time
        left = [s for s, killed in zip(survivors, pool.map(killed_by, survivors), strict=True) if not killed]
    total, alive = Counter(map(module_of, codes)), Counter(map(module_of, left))
    for mod in sorted(total):
        print(f"{mod}: {total[mod] - alive[mod]} killed / {total[mod]}")
    for s in left:
        print("survived:", s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
