"""Benchmark `ctstat rollup` of the whole pre-reform country beside a bare python-calamine read of the inputs.

Usage: python bench/rollup.py [N] [--jobs J] [--year]   (default: all 10,035 communes -> 691 district + 63 province
workbooks; --year: the year 2025 of the whole country by the new communes, from the 10,035 old communes' 2025-H1
forms and the 3,321 new communes' 2025-H2 forms, `--period 2025 --units 2025-07-01`; N limits the 2025-H1 forms
only)
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
    ap.add_argument("--year", action="store_true", help="the year 2025 by the new communes (both lists' forms)")
    args = ap.parse_args()
    folders = [country(args.n)] + ([country(None, "2025-07-01", "2025-H2")] if args.year else [])
    files = sum(1 for folder in folders for _ in folder.rglob("*.xlsx"))
    out = Path(tempfile.mkdtemp(prefix="ctstat-rollup-"))
    try:
        bare, bare_rss = 0.0, 0.0
        for folder in folders:
            seconds, rss_one, _, _ = measure([sys.executable, "-c", BARE_READ, str(folder), str(args.jobs)])
            bare, bare_rss = bare + seconds, max(bare_rss, rss_one)
        period = ["--period", "2025", "--units", "2025-07-01"] if args.year else ["--period", "2025-H1"]
        cmd = [
            sys.executable,
            "-m",
            "ctstat",
            "rollup",
            *map(str, folders),
            *period,
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
