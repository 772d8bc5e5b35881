"""Benchmark `ctstat validate` against a bare python-calamine read of the same files.

Usage: python bench/validate.py N [--jobs J]   (N ward files; 10035 = the whole pre-reform country)
Prints files/s, the ratio to the bare read at the same parallelism, and peak memory. Targets (2 cores, issue
#26): ratio <= 1.5 at 20, 2,000 and 10,035 files; peak RSS <= 2 GB.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BARE_READ, country, paired_cpu  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each, alternated; medians are printed")
    args = ap.parse_args()
    folder = country(args.n)
    files = sum(1 for _ in folder.rglob("*.xlsx"))
    bare_cmd = [sys.executable, "-c", BARE_READ, str(folder), str(args.jobs)]
    cmd = [sys.executable, "-m", "ctstat", "validate", str(folder), "--json", "--jobs", str(args.jobs)]
    bare, wall, cpu_ratio, rss, code, out = paired_cpu(bare_cmd, cmd, args.repeat)
    summary = json.loads(out)["summary"]
    print(f"files:                {files}")
    print(f"bare calamine read:   {bare:.1f} s ({files / bare:.0f} files/s, {args.jobs} processes)")
    print(f"ctstat validate:      {wall:.1f} s ({files / wall:.0f} files/s, --jobs {args.jobs}), exit {code}")
    print(f"ratio to bare read:   {wall / bare:.2f}   (CPU: {cpu_ratio:.2f})")
    print(f"peak RSS (largest):   {rss:.0f} MB   (medians of {args.repeat} alternated runs)")
    print(f"found: {summary['invalid']} invalid files, {summary['errors']} errors, {summary['warnings']} warnings")


if __name__ == "__main__":
    main()
