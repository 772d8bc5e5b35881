"""Benchmark what a person waits for when ctstat starts: `ctstat validate one.xlsx` and `ctstat --help`, each a new
process, against the floors under them (a bare python-calamine read of the same file in a new process; Python
importing pandas and pandera, which the checks need).

Usage: python bench/start.py [--repeat 7]
Prints the median wall time of each. Targets (issue #26): one file <= 0.5 s, --help <= 0.2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import country  # noqa: E402

BARE_ONE = "import sys, python_calamine as pc\nwb = pc.CalamineWorkbook.from_path(sys.argv[1])\n" + (
    "print(sum(len(wb.get_sheet_by_name(n).to_python(skip_empty_area=False)) for n in wb.sheet_names))"
)


def median_wall(argv: list[str], repeat: int) -> float:
    walls = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        walls.append(time.perf_counter() - t)
    return statistics.median(walls)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    one = str(sorted(country(20).rglob("*.xlsx"))[0])
    py = sys.executable
    rows = [
        ("ctstat validate one.xlsx", [py, "-m", "ctstat", "validate", one], "<= 0.5 s"),
        ("ctstat --help", [py, "-m", "ctstat", "--help"], "<= 0.2 s"),
        ("floor: bare read of the file", [py, "-c", BARE_ONE, one], ""),
        ("floor: python -c 'import pandas'", [py, "-c", "import pandas"], ""),
        ("floor: import pandas, pandera", [py, "-c", "import pandas, pandera.pandas"], ""),
        ("floor: python -c pass", [py, "-c", "pass"], ""),
    ]
    median_wall(rows[0][1], 1)  # the file and the modules in the page cache
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores)")
    for label, argv, target in rows:
        print(f"{label:36s} {median_wall(argv, args.repeat):6.3f} s  {target}  (median of {args.repeat})")


if __name__ == "__main__":
    main()
