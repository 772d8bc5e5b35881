"""Benchmark the report typed on the page: W wards typing at once against a warm `ctstat serve` on this machine.

Usage: python bench/entry.py [--wards 20] [--rounds 3]
Each ward signs in, starts a draft, then, `rounds` times over, saves every Biểu in turn (a GET of the page, then the
POST that saves it: the POST is timed) and asks for a check ("Kiểm tra": the draft judged by the checks an uploaded
file gets, on what the reader would make of its form workbook, web/entry_check.py; timed). Prints the median and
p90 of saves and of checks (and the machine's load average: on a shared machine the figures move with it), and
checks that every ward's draft holds all it typed. Target (issue #25): median <= 200 ms for each.
The wards are communes of Hà Nội (2025-H1); what each types is its synthetic form (`synth_values`).
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import sqlite3
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import portal_job, serve  # noqa: E402

WORK = Path(os.environ.get("CTSTAT_BENCH", "/tmp/ctstat-bench")) / "entry"


def typed(unit: str, bump: int) -> dict[str, str]:
    from ctstat.model.catalogue import load_catalogue
    from ctstat.model.period import Period
    from ctstat.model.units import load_units
    from ctstat.write.synth import synth_values

    cat = load_catalogue()
    u = load_units("2025-06-30").get(unit)
    assert u is not None
    out = {}
    for key, v in synth_values(cat, u, Period.parse("2025-H1"), bump).items():
        out[key] = (
            (v if isinstance(v, str) else ("Có" if v else "Không"))
            if cat.elements[key.split("/")[0]].type == "yesno"
            else str(int(v))
        )
    return out


class Browser:
    """One ward's kept connection, with its session cookie."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookie = ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        text = r.read().decode()
        cookie = r.getheader("set-cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return r.status, r.getheader("location") or "", text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--wards", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from ctstat.model.catalogue import load_catalogue
    from ctstat.web.entry import sheet_inputs

    inputs = sheet_inputs(load_catalogue())
    job, rows = portal_job(WORK)
    wards = [(r["unit"], r["token"]) for r in rows[1 : 1 + args.wards]]
    server, port = serve(job)
    saves: list[float] = []
    checks: list[float] = []
    lock = threading.Lock()
    failures: list[str] = []
    values = {unit: [typed(unit, r) for r in range(args.rounds)] for unit, _ in wards}
    try:
        time.sleep(0.5)

        def ward(unit: str, token: str) -> None:
            b = Browser(port)
            try:
                status, _, _ = b.request("POST", "/dang-nhap", {"token": token})
                assert status == 303, status
                _, _, page = b.request("GET", "/xa/nhap")
                csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
                b.request("POST", "/xa/nhap/bat-dau", {"csrf": csrf, "version": "0", "tu": "trong"})
                for r in range(args.rounds):
                    for n, keys in enumerate(inputs.values(), 1):
                        _, _, page = b.request("GET", f"/xa/nhap/{n}")
                        version = re.search(r'name="version" value="([0-9]+)"', page).group(1)  # type: ignore[union-attr]
                        form = {"csrf": csrf, "version": version, "di": str(n)}
                        form.update({k: values[unit][r][k] for k in keys})
                        t = time.perf_counter()
                        status, _, _ = b.request("POST", f"/xa/nhap/{n}", form)
                        with lock:
                            saves.append(time.perf_counter() - t)
                        if status != 303:
                            failures.append(f"{unit} save {n}: {status}")
                    t = time.perf_counter()
                    status, _, _ = b.request("POST", "/xa/nhap/kiem-tra", {"csrf": csrf})
                    with lock:
                        checks.append(time.perf_counter() - t)
                    if status != 303:
                        failures.append(f"{unit} check: {status}")
            finally:
                b.conn.close()

        threads = [threading.Thread(target=ward, args=w) for w in wards]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(30)
    (ledger,) = (job / "out").glob("*.sqlite")
    db = sqlite3.connect(ledger)
    import json

    for unit, _ in wards:
        (cells,) = db.execute("SELECT cells FROM drafts WHERE unit=?", (unit,)).fetchone()
        if json.loads(cells) != values[unit][-1]:
            failures.append(f"{unit}: the draft does not hold what was typed last")

    def q(xs: list[float], p: float) -> float:
        return sorted(xs)[min(len(xs) - 1, int(p * len(xs)))] * 1000

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{len(wards)} wards typing at once, {args.rounds} rounds, {os.cpu_count()} cores, {wall:.1f} s in all")
    print(f"load average (1, 5, 15 min) at the end: {load}")
    print(
        f"save  (one Biểu): n={len(saves)} median {statistics.median(saves) * 1000:.0f} ms, p90 {q(saves, 0.9):.0f} ms"
    )
    med = statistics.median(checks) * 1000
    print(f"check (Kiểm tra): n={len(checks)} median {med:.0f} ms, p90 {q(checks, 0.9):.0f} ms")
    print("every draft holds what was typed" if not failures else "FAILURES:\n" + "\n".join(failures[:20]))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
