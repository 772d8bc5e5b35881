"""Benchmark `ctstat serve`: W wards uploading at once, N uploads in all, against a warm server on this machine.

Usage: python bench/serve.py [--wards 50] [--uploads 500] [--faulty 0]
Prints median and p99 latency, uploads per second, and checks every upload is in the ledger exactly once. The
server is warm: it has judged one upload and seen every ward's token once (the cost of a token's first request, an
argon2 verification, is printed apart).
Targets (issue #26): median <= 150 ms; <= 300 ms with `--faulty 10`. The wards are synthetic communes of Hà Nội
(2025-H1); each sends its own valid form,
except that with `--faulty K` K of them send a faulty sample (samples/faulty/01-04, with the district's token):
those are kept aside with a marked-up copy, the costlier path.
"""

from __future__ import annotations

import argparse
import http.client
import os
import resource
import sqlite3
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ctstat, portal_job, serve  # noqa: E402

WORK = Path(os.environ.get("CTSTAT_BENCH", "/tmp/ctstat-bench")) / "serve"


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one part `file`, and its content type."""
    boundary = "ctstat-bench-" + os.urandom(8).hex()
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
    head += "Content-Type: application/octet-stream\r\n\r\n"
    return head.encode() + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def bare_read(files: list[Path]) -> float:
    """The median time of a bare python-calamine read of each form, every sheet, in this process: how fast the
    machine is today (figures of different days compare only with it beside them)."""
    import python_calamine as pc

    times = []
    for f in files:
        t = time.perf_counter()
        wb = pc.CalamineWorkbook.from_path(str(f))
        for name in wb.sheet_names:
            wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def server_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds used so far by the server's own process (all its threads) and by its reading workers (its
    children), from /proc: what an upload costs, a figure that holds also on a machine others are using."""
    tick = os.sysconf("SC_CLK_TCK")

    def used(p: str) -> tuple[int, float, float]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return -1, 0.0, 0.0
        # ppid; utime + stime; the same of its children that ended (workers replaced after RECYCLE files)
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick

    _, own, kids = used(str(pid))
    for p in os.listdir("/proc"):
        if p.isdigit():
            ppid, cpu, _ = used(p)
            if ppid == pid:
                kids += cpu
    return own, kids


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--wards", type=int, default=50)
    ap.add_argument("--uploads", type=int, default=500)
    ap.add_argument("--faulty", type=int, default=0, help="how many of the wards send a faulty file")
    args = ap.parse_args()
    wards_dir = WORK / "wards"
    if not any(wards_dir.glob("**/*.xlsx")):
        ctstat("synth", "--unit", "01", "--period", "2025-H1", "--out", str(wards_dir), "--jobs", "0")
    files = sorted(wards_dir.glob("**/*.xlsx"))[: args.wards]
    job, rows = portal_job(WORK, "uploads_per_minute = 1000\n")
    tokens = {r["unit"]: r["token"] for r in rows}
    server, port = serve(job)
    base = f"http://127.0.0.1:{port}"
    try:
        # warm: one upload first (argon2 of that token, the schemas)
        first = files[0]
        warm = httpx.post(
            base + "/api/v1/submissions",
            files={"file": (first.name, first.read_bytes())},
            headers={"Authorization": f"Bearer {tokens[first.name[:5]]}"},
            timeout=60,
        )
        assert warm.status_code == 200, warm.text
        # warm: each ward's token seen once (argon2 runs once per token and server process; a ward's token reading
        # the district's status is refused, 403, after the token is verified), timed on its own
        first_seen: list[float] = []
        for f in files:
            t = time.perf_counter()
            seen = httpx.get(base + "/api/v1/status", headers={"Authorization": f"Bearer {tokens[f.name[:5]]}"})
            first_seen.append(time.perf_counter() - t)
            assert seen.status_code == 403, seen.text
        latencies: list[float] = []
        codes: list[int] = []
        lock = threading.Lock()
        per_ward = args.uploads // len(files)

        faulty = sorted((ROOT / "samples" / "faulty").glob("0[1-4]-*.xlsx"))

        def ward(n: int, f: Path) -> None:
            # a light client: the request built once, sent over one kept connection with http.client (httpx in
            # 50 threads took most of a core itself, and its own waits counted as the server's latency)
            token = tokens[f.name[:5]]
            if n < args.faulty:  # a faulty file of one of the city's communes: the district's token may send it
                f, token = faulty[n % len(faulty)], tokens["01"]
            body, ctype = multipart(f.name, f.read_bytes())
            headers = {"Authorization": f"Bearer {token}", "Content-Type": ctype}
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            try:
                for _ in range(per_ward):
                    t = time.perf_counter()
                    conn.request("POST", "/api/v1/submissions", body=body, headers=headers)
                    r = conn.getresponse()
                    r.read()
                    with lock:
                        latencies.append(time.perf_counter() - t)
                        codes.append(r.status)
            finally:
                conn.close()

        threads = [threading.Thread(target=ward, args=(n, f)) for n, f in enumerate(files)]
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        srv0 = server_cpu(server.pid)
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        srv1 = server_cpu(server.pid)
        client_cpu = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
        # and one ward alone (the usual case: a district's wards send over days, not all in the same second)
        alone: list[float] = []
        f = files[0]
        with httpx.Client(base_url=base, timeout=120) as c:
            for _ in range(20):
                t = time.perf_counter()
                r = c.post(
                    "/api/v1/submissions",
                    files={"file": (f.name, f.read_bytes())},
                    headers={"Authorization": f"Bearer {tokens[f.name[:5]]}"},
                )
                alone.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
    finally:
        server.terminate()
        server.wait(30)
    db = sqlite3.connect(job / "out" / "ledger.sqlite")
    (uploads,) = db.execute("SELECT count(*) FROM uploads").fetchone()
    (rows,) = db.execute("SELECT count(*) FROM submissions").fetchone()
    (paths,) = db.execute("SELECT count(DISTINCT path) FROM submissions").fetchone()
    (linked,) = db.execute("SELECT count(DISTINCT submission_id) FROM uploads WHERE outcome='accepted'").fetchone()
    (kept,) = db.execute("SELECT count(*) FROM uploads WHERE outcome='invalid'").fetchone()
    kept_files = sum(
        1 for p in (job / "out" / "portal" / "kept").rglob("*.xlsx") if not p.name.endswith(".kiem-tra.xlsx")
    )
    in_inbox = sum(1 for _ in (job / "inbox").rglob("*.xlsx"))
    lat = sorted(latencies)
    n = len(lat)
    print(f"{len(files)} wards at once, {n} uploads (+1 warm-up) in {wall:.1f} s: {n / wall:.1f} uploads/s")
    # Little's law: W wards each waiting for its answer before sending again, at X uploads/s, wait W/X on average
    print(f"(at {len(files)} uploads in flight, a median of 200 ms needs about {len(files) / 0.2:.0f} uploads/s)")
    print(f"latency median {statistics.median(lat) * 1000:.0f} ms, p99 {lat[int(n * 0.99) - 1] * 1000:.0f} ms")
    print(f"status codes: {sorted(set(codes))}; all 200: {codes.count(200) == n}")
    print(f"the load generator itself (this process) used {client_cpu:.1f} s of CPU in those {wall:.1f} s")
    own, kids = (b - a for a, b in zip(srv0, srv1, strict=True))
    print(
        f"server CPU per upload: {own / n * 1000:.2f} ms in its own process (its threads share one core: the "
        f"ceiling is {n / own:.0f} uploads/s), {kids / n * 1000:.2f} ms in its reading workers"
    )
    print(f"one ward alone, 20 uploads one after another: median {statistics.median(alone) * 1000:.0f} ms")
    print(f"a token's first request (argon2, one at a time): median {statistics.median(first_seen) * 1000:.0f} ms")
    print(f"this machine today: a bare calamine read of one form takes {bare_read(files) * 1000:.1f} ms")
    sent_faulty = min(args.faulty, len(files)) * per_ward
    ok = uploads == n + 1 + len(alone) == rows + kept and rows == paths == linked == in_inbox
    ok = ok and kept == kept_files == sent_faulty
    print(
        f"ledger: {uploads} uploads, {rows} submissions, {paths} paths, {in_inbox} files in the inbox, "
        f"{kept} invalid uploads kept ({kept_files} files): {'each exactly once' if ok else 'MISMATCH'}"
    )


if __name__ == "__main__":
    main()
