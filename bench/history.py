"""Benchmark the history at national scale: every commune of the pre-reform list × every count cell × 20 periods.

Usage: python bench/history.py [N] [--periods P]   (default: all 10,035 communes, 20 half-years 2015-H2..2025-H1)
Builds the history one period at a time as it grows in use (`History.add`), then asks one unit's history (median
of 20 units, in ms) and compares the last period with the rest at every level (`compare_period`, in s: from the
period's summary, the first time making it, and from every earlier period's cells), and times the summaries
`ctstat history add` prepares. Prints the
figures and the history's size on disk; peak memory of the process. Nothing is asserted: record the figures in the
README when they change.

       python bench/history.py --validate N [--repeat R]   (N synthetic ward forms of 2025-H1, cached as for
bench/validate.py) times `ctstat validate` with and without `--history` on the same files, alternated R times in
the same run, and prints them side by side: wall and CPU (user + sys of the process and its reading workers),
medians, and their ratios (the machine is shared: the ratios are the figures, the CPU one the steadier). The
history holds the six earlier H1s of the same communes, each cell drawn around the form's own value (Poisson), as a
quiet history would be.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ctstat.job.compare import compare_period, kinds_of
from ctstat.job.history import COLUMNS, History, Source
from ctstat.job.history_summary import prepare
from ctstat.model.catalogue import load_catalogue
from ctstat.model.layout import form_layout
from ctstat.model.period import Period
from ctstat.model.units import load_units

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import country  # noqa: E402


def periods(n: int) -> list[str]:
    out, year, half = [], 2025, 1
    while len(out) < n:
        out.append(f"{year}-H{half}")
        year, half = (year, 1) if half == 2 else (year - 1, 2)
    return out[::-1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=None)
    ap.add_argument("--periods", type=int, default=20)
    ap.add_argument("--validate", type=int, default=None, help="N forms: validate with and without --history")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.validate:
        with_history(args.validate, args.repeat)
        return
    catalogue = load_catalogue()
    keys = np.array(form_layout(catalogue).keys)
    communes = np.array([u.code for u in load_units("2025-06-30").all("commune")][: args.n])
    rng = np.random.default_rng(24)
    means = rng.gamma(0.6, 8.0, size=(len(communes), len(keys)))  # mostly small counts, some large
    labels = periods(args.periods)
    folder = Path(tempfile.mkdtemp(prefix="ctstat-history-"))
    try:
        run(folder, catalogue, keys, communes, means, labels, rng)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(folder, catalogue, keys, communes, means, labels, rng) -> None:  # type: ignore[no-untyped-def]
    h = History(folder / "h")
    started, cpu = time.perf_counter(), time.process_time()
    for label in labels:
        values = rng.poisson(means).ravel().astype(float)
        frame = pd.DataFrame(
            {
                "unit": np.repeat(communes, len(keys)),
                "vintage": "2025-06-30",
                "period": label,
                "cell": np.tile(keys, len(communes)),
                "value": values,
                "source": f"bench-{label}",
            }
        )[COLUMNS]
        h.add(frame, [Source(f"bench-{label}", "table", label)])
    load, load_cpu = time.perf_counter() - started, time.process_time() - cpu
    rows = len(communes) * len(keys) * len(labels)
    size = sum(f.stat().st_size for f in (folder / "h" / "cells").glob("*.parquet"))
    times = []
    for unit in rng.choice(communes, size=min(20, len(communes)), replace=False):
        t = time.perf_counter()
        got = h.unit(str(unit))
        times.append((time.perf_counter() - t) * 1000)
        assert len(got) == len(keys) * len(labels)
    t = time.perf_counter()
    found = compare_period(h, catalogue, Period.parse(labels[-1]), "2025-06-30")  # makes the period's summary
    first = time.perf_counter() - t
    t, cpu = time.perf_counter(), time.process_time()
    found = compare_period(h, catalogue, Period.parse(labels[-1]), "2025-06-30")  # reads it
    whole, whole_cpu = time.perf_counter() - t, time.process_time() - cpu
    t = time.perf_counter()
    prepare(h, kinds_of(catalogue))  # what `ctstat history add` does after a load
    ready = time.perf_counter() - t
    t = time.perf_counter()
    full = compare_period(h, catalogue, Period.parse(labels[-1]), "2025-06-30", full=True)
    slow = time.perf_counter() - t
    assert len(full.flagged) == len(found.flagged)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"history: {len(communes):,} communes × {len(keys)} cells × {len(labels)} periods = {rows:,} values")
    print(f"load, one period at a time: {load:.1f} s, CPU {load_cpu:.1f} s ({size / 1e6:.0f} MB of Parquet)")
    print(f"one unit's history: median {statistics.median(times):.1f} ms (max {max(times):.1f} ms)")
    print(
        f"whole period compared ({labels[-1]}, every level): {whole:.1f} s, CPU {whole_cpu:.1f} s; "
        f"checked {found.checked:,} cells, "
        f"flagged {len(found.flagged):,}"
    )
    print(
        f"  the first time, making the period's summary: {first:.1f} s; from every earlier period's cells: {slow:.1f} s"
    )
    print(f"summaries of the next H1 and H2 (after each `history add`): {ready:.1f} s")
    print(f"peak memory: {peak:.0f} MB")


def with_history(n: int, repeat: int) -> None:
    """`validate` against `validate --history` on the same `n` forms, alternated, in one run."""
    from ctstat.pipeline import validate_files

    folder = country(n)
    catalogue = load_catalogue()
    keys = np.array(form_layout(catalogue).keys)
    report, subs = validate_files([folder], catalogue, jobs=2)
    forms = [(r.unit, s.checked[1]) for r, s in zip(report.files, subs, strict=False) if r.valid and s.checked]
    rng = np.random.default_rng(24)
    base = Path(tempfile.mkdtemp(prefix="ctstat-history-validate-"))
    try:
        h = History(base / "h")
        for year in range(2019, 2025):
            values = np.concatenate([np.nan_to_num(np.asarray(v, dtype=float)) for _, v in forms])
            frame = pd.DataFrame(
                {
                    "unit": np.repeat([u for u, _ in forms], len(keys)),
                    "vintage": "2025-06-30",
                    "period": f"{year}-H1",
                    "cell": np.tile(keys, len(forms)),
                    "value": rng.poisson(values).astype(float),
                    "source": f"bench-{year}",
                }
            )[COLUMNS]
            h.add(frame, [Source(f"bench-{year}", "table", str(year))])
        t = time.perf_counter()
        prepare(h, kinds_of(catalogue))  # as `ctstat history add` does after a load
        print(f"summary of the next periods made in {time.perf_counter() - t:.1f} s")
        cmd = [sys.executable, "-m", "ctstat", "validate", str(folder), "--json", "--jobs", "2"]
        runs = side_by_side(cmd, [*cmd, "--history", str(base / "h")], repeat)
        checked = subprocess.run(  # the counts, once
            [*cmd, "--history", str(base / "h")], capture_output=True, text=True, check=False
        ).stdout
        import json

        doc = json.loads(checked).get("history", [{}])[0]
        print(f"files: {len(subs):,} ({len(forms):,} valid); history: 6 earlier H1s of the same communes")
        print(f"{'':20}{'wall':>10}{'CPU (user+sys)':>18}   (medians of {repeat}, alternated)")
        for name, (wall, cpu) in runs.items():
            print(f"{name:20}{wall:>8.1f} s{cpu:>16.1f} s")
        (pw, pc), (hw, hc) = runs.values()
        print(f"{'ratio':20}{hw / pw:>10.2f}{hc / pc:>18.2f}   (target 1.10)")
        counts = f"checked {doc.get('checked', 0):,} cells, flagged {doc.get('flagged', 0):,}"
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"validate --history: {counts}; peak RSS {peak:.0f} MB")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def side_by_side(plain: list[str], hist: list[str], repeat: int) -> dict[str, tuple[float, float]]:
    """`plain` and `hist` run alternately `repeat` times: each one's median wall and CPU seconds (user + sys of
    the process and its reading workers; the CPU is the steadier figure on a shared machine)."""
    got: dict[str, list[tuple[float, float]]] = {"validate": [], "validate --history": []}
    for _ in range(repeat):
        for name, argv in zip(got, (plain, hist), strict=True):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            got[name].append((time.perf_counter() - t, cpu))
    return {n: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r)) for n, r in got.items()}


if __name__ == "__main__":
    main()
