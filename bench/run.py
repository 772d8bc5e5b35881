"""Benchmark the scheduled job (`ctstat run`) against `ctstat validate` on the same inbox.

Usage: python bench/run.py N [--jobs J]   (N ward files; 10035 = the whole pre-reform country)
Prints: validate; the first run over the inbox (every file read, validated, recorded); a run with nothing new
(reads no file); a run after 1% of the files were touched (same bytes: read and hashed, not re-validated) and after
1% got new content. Targets (2 cores, issue #26): first run within 1.2x of validate; a no-change run reads
nothing and takes <= 2 s. With --repeat N, validate and the first run are alternated N times (medians printed),
each with its CPU time (the command and its workers: steadier than the wall on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import country, measure  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--unit", default="01", help="the unit the job rolls up (every file is still taken in)")
    ap.add_argument("--repeat", type=int, default=1, help="validate and the first run, alternated, this many times")
    args = ap.parse_args()
    inbox = country(args.n)
    files = sorted(inbox.rglob("*.xlsx"))
    out = Path(tempfile.mkdtemp(prefix="ctstat-bench-run-"))
    job = ["--period", "2025-H1", "--unit", args.unit, "--inbox", str(inbox), "--out", str(out / "job")]
    job += ["--jobs", str(args.jobs), "--units", "2025-06-30", "--json"]
    ctstat = [sys.executable, "-m", "ctstat"]
    try:
        walls: dict[str, list[float]] = {"validate": [], "run": []}
        cpus: dict[str, list[float]] = {"validate": [], "run": []}
        for _ in range(args.repeat):
            shutil.rmtree(out / "job", ignore_errors=True)
            for name, argv in (
                ("validate", [*ctstat, "validate", str(inbox), "--json", "--jobs", str(args.jobs)]),
                ("run", [*ctstat, "run", *job]),
            ):
                before = _cpu()
                wall, rss, code, text = measure(argv)
                walls[name].append(wall)
                cpus[name].append(_cpu() - before)
                if name == "validate":
                    rss_v = rss
                else:
                    rss_r, taken = rss, len(json.loads(text)["validated"]) if text else 0
        validate, first = median(walls["validate"]), median(walls["run"])
        same, _, _, text = measure([*ctstat, "run", *job])
        again = len(json.loads(text)["validated"]) if text else -1
        touched = files[::100]
        for p in touched:
            p.touch()
        touch, _, _, _ = measure([*ctstat, "run", *job])
        print(f"files:                      {len(files)}")
        print(f"ctstat validate:            {validate:.1f} s (peak RSS {rss_v:.0f} MB)")
        print(f"ctstat run, first:          {first:.1f} s, {taken} files recorded, exit {code}")
        print(f"  ratio to validate:        {first / validate:.2f}   (target <= 1.2)")
        if args.repeat > 1:
            print(f"  walls (alternated):       validate {_s(walls['validate'])}; run {_s(walls['run'])}")
        cpu_v, cpu_r = median(cpus["validate"]), median(cpus["run"])
        print(f"  CPU, with the workers:    validate {cpu_v:.1f} s, run {cpu_r:.1f} s (ratio {cpu_r / cpu_v:.2f})")
        print(f"ctstat run, nothing new:    {same:.1f} s, {again} files read")
        print(f"ctstat run, 1% touched:     {touch:.1f} s ({len(touched)} files read and hashed, none re-validated)")
        print(f"peak RSS (largest process): {max(rss_v, rss_r):.0f} MB")
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _cpu() -> float:
    """User and system CPU seconds of the finished children (a command and the workers it waited for)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _s(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values) + " s"


if __name__ == "__main__":
    main()
