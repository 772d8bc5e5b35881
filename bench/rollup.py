"""Benchmark `ctstat rollup` of the whole pre-reform country beside a bare python-calamine read of the inputs.

Usage: python bench/rollup.py [N] [--jobs J]   (default: all 10,035 communes -> 696 district + 63 province workbooks)
Prints seconds, the ratio to the bare read, peak memory and what was written. Targets (2 cores, issue
#26): ratio <= 3, peak RSS <= 2 GB.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BARE_READ, country, measure  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=None)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    folder = country(args.n)
    files = sum(1 for _ in folder.rglob("*.xlsx"))
    out = Path(tempfile.mkdtemp(prefix="ctstat-rollup-"))
    try:
        bare, bare_rss, _, _ = measure([sys.executable, "-c", BARE_READ, str(folder), str(args.jobs)])
        cmd = [
            sys.executable,
            "-m",
            "ctstat",
            "rollup",
            str(folder),
            "--period",
            "2025-H1",
            "--out",
            str(out),
            "--unit",
            "VN",
            "--allow-partial",
            "--json",
            "--jobs",
            str(args.jobs),
        ]
        wall, rss, code, stdout = measure(cmd)
        manifest = json.loads(stdout)
        workbooks = len(manifest["outputs"])
        print(f"ward files:           {files}")
        print(f"bare calamine read:   {bare:.1f} s ({args.jobs} processes)")
        print(f"ctstat rollup:        {wall:.1f} s (--jobs {args.jobs}), exit {code}, {workbooks} workbooks written")
        print(f"ratio to bare read:   {wall / bare:.2f}")
        print(f"peak RSS (largest):   {max(rss, bare_rss):.0f} MB")
        valid = sum(c["valid"] for c in manifest["completeness"].values())
        print(f"communes valid:       {valid} of {sum(c['expected'] for c in manifest['completeness'].values())}")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
