"""Shared by the benchmarks: synthetic country-sized inputs (cached) and measuring a child process."""

from __future__ import annotations

import csv
import http.client
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

CACHE = Path(os.environ.get("CTSTAT_BENCH_CACHE", "/tmp/ctstat-bench"))

#: every sheet of every file read by python-calamine in JOBS processes returning small results (argv: folder, jobs)
BARE_READ = """
import sys, python_calamine as pc
from multiprocessing import Pool
from pathlib import Path

def rows(p):
    wb = pc.CalamineWorkbook.from_path(p)
    return sum(len(wb.get_sheet_by_name(n).to_python(skip_empty_area=False)) for n in wb.sheet_names)

if __name__ == "__main__":
    files = sorted(str(p) for p in Path(sys.argv[1]).rglob("*.xlsx"))
    jobs = int(sys.argv[2])
    if jobs <= 1:
        print(sum(map(rows, files)))
    else:
        with Pool(jobs) as pool:
            print(sum(pool.imap(rows, files, chunksize=64)))
"""


def _write_chunk(args: tuple[str, str, str, int, list[str]]) -> int:
    from ctstat.model.catalogue import load_catalogue
    from ctstat.model.keys import TOTAL, cell_key
    from ctstat.model.period import Period
    from ctstat.model.units import load_units
    from ctstat.write.synth import synth_values, write_ward

    vintage, period, out, seed, codes = args
    cat = load_catalogue()
    h = load_units(vintage)
    per = Period.parse(period)
    faults = [
        (cell_key("TE01", "0-2", "sex:nam"), -3),
        (cell_key("TE01", "3-5", "sex:nu"), "1.158"),
        (cell_key("VP01", TOTAL, TOTAL), None),
        (cell_key("VH02", TOTAL, TOTAL), 999),
    ]
    for code in codes:
        unit = h.get(code)
        assert unit is not None
        values = synth_values(cat, unit, per, seed)
        if int(code) % 20 == 7:  # about 5% faulty
            key, value = faults[int(code) % len(faults)]
            values[key] = value
        write_ward(Path(out) / (unit.parent_code or "_"), cat, h, unit, per, seed, values=values)
    return len(codes)


def country(n: int | None, vintage: str = "2025-06-30", period: str = "2025-H1", jobs: int = 2) -> Path:
    """The first `n` communes of the country (all if None) as filled forms, ~5% with one fault; cached."""
    from ctstat.model.units import load_units

    codes = [u.code for u in load_units(vintage).all("commune")]
    codes = codes[:n] if n else codes
    out = CACHE / f"{vintage}-{period}-{len(codes)}"
    done = out / ".complete"
    if done.exists():
        return out
    print(f"generating {len(codes)} synthetic ward files in {out} ...", file=sys.stderr)
    t = time.perf_counter()
    chunks = [codes[i :: jobs * 8] for i in range(jobs * 8)]
    with ProcessPoolExecutor(jobs) as pool:
        list(pool.map(_write_chunk, [(vintage, period, str(out), 0, c) for c in chunks if c]))
    done.write_text("ok\n")
    print(f"  generated in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return out


def paired(bare: list[str], tool: list[str], repeat: int) -> tuple[float, float, float, int, str]:
    """Run the bare read and the tool alternately `repeat` times (the machine's speed drifts between runs); return
    (median bare seconds, median tool seconds, peak RSS MB, the tool's exit code, its last stdout)."""
    bare_s, tool_s, _, peak, code, out = paired_cpu(bare, tool, repeat)
    return bare_s, tool_s, peak, code, out


def paired_cpu(bare: list[str], tool: list[str], repeat: int) -> tuple[float, float, float, float, int, str]:
    """`paired`, also returning the median ratio of CPU time (user + system, of each command and the processes it
    waited for), a figure that holds on a busy machine, where wall time does not: (median bare seconds, median
    tool seconds, median CPU ratio, peak RSS MB, exit code, last stdout)."""
    import resource
    import statistics

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    bares, tools, ratios, peak, code, out = [], [], [], 0.0, 0, ""
    for _ in range(repeat):
        start = cpu()
        wall, rss, _, _ = measure(bare)
        bare_cpu, start = cpu() - start, cpu()
        bares.append(wall)
        peak = max(peak, rss)
        wall, rss, code, out = measure(tool)
        ratios.append((cpu() - start) / bare_cpu)
        tools.append(wall)
        peak = max(peak, rss)
    return statistics.median(bares), statistics.median(tools), statistics.median(ratios), peak, code, out


def measure(argv: list[str]) -> tuple[float, float, int, str]:
    """Run a command; return (wall seconds, peak RSS MB of the process tree's largest member, exit code, stdout)."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out, _ = proc.communicate()
    wall = time.perf_counter() - t
    import resource

    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, peak, proc.returncode, out


def ctstat(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "ctstat", *args], check=True, stdout=subprocess.DEVNULL)


def portal_job(work: Path, extra: str = "") -> tuple[Path, list[dict[str, str]]]:
    """A new Hà Nội 2025-H1 job under `work` for `ctstat serve` (`extra`: more ctstat.toml lines), and the rows of
    the token list `ctstat tokens` gave it."""
    job = work / f"job-{int(time.time())}"
    (job / "inbox").mkdir(parents=True)
    (job / "ctstat.toml").write_text(
        f'period = "2025-H1"\nunit = "01"\ninbox = "inbox"\nout = "out"\njobs = 2\n{extra}', encoding="utf-8"
    )
    ctstat("tokens", "--config", str(job / "ctstat.toml"), "--out", str(job / "tokens.csv"))
    return job, list(csv.DictReader((job / "tokens.csv").open(encoding="utf-8-sig")))


def serve(job: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`ctstat serve` for `job` on a free port, once it answers /healthz: the server and its port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    argv = [sys.executable, "-m", "ctstat", "serve", "--config", str(job / "ctstat.toml"), "--port", str(port)]
    server = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server, port
        except OSError:
            pass
        time.sleep(0.1)
    server.terminate()
    raise RuntimeError(f"ctstat serve did not answer on port {port}")
