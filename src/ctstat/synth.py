"""Synthetic, plausible, deterministic ward submissions (no real child data): samples, tests and benchmarks."""

from __future__ import annotations

import random
import re
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ctstat.atomic import atomic_write
from ctstat.catalogue import TOTAL, Catalogue
from ctstat.form import FormHeader, write_form
from ctstat.layout import cell_key
from ctstat.period import Period
from ctstat.units import Hierarchy, Unit, slug

SYNTHETIC_PREPARER = "Dữ liệu giả lập (synthetic)"


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth: fine for the small means used here
    limit, k, p = pow(2.718281828459045, -lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _binom(rng: random.Random, n: int, p: float) -> int:
    return sum(rng.random() < p for _ in range(int(n)))


def synth_values(catalogue: Catalogue, unit: Unit, period: Period, seed: int = 0) -> dict[str, Any]:
    """Input values of a plausible, internally consistent form for `unit` (formula cells are left out)."""
    rng = random.Random(f"{seed}:{unit.vintage}:{unit.code}:{period}")
    v: dict[str, Any] = {}
    dims = catalogue.dimensions
    sexes = [c.key for c in dims["sex"].categories]
    ages = [c.key for c in dims["age_group"].categories]
    scale = 2.6 if unit.vintage >= "2025-07-01" else 1.0  # post-reform communes are about 3x larger
    # Biểu 1: population by age x sex; children 7+
    shares = {"0-2": 0.18, "3-5": 0.19, "6-10": 0.32, "11-15": 0.31}
    base = rng.randint(900, 5200) * scale
    for a in ages:
        for s in sexes:
            v[cell_key("TE01", a, f"sex:{s}")] = int(
                base * shares[a] * (0.515 if s == "nam" else 0.485) * rng.uniform(0.92, 1.08)
            )
    for s in sexes:
        v[cell_key("TE02", TOTAL, f"sex:{s}")] = v[cell_key("TE01", "11-15", f"sex:{s}")] + int(
            0.8 * v[cell_key("TE01", "6-10", f"sex:{s}")]
        )
    # Biểu 2: special circumstances (overlapping groups), of whom assisted
    groups = [c.key for c in dims["special_group"].categories]
    lam = {"d": 6, "n": 2, "a": 1, "c": 1, "h": 1.5, "e": 0.7}
    for el, frac in (("HC01", None), ("HC02", 0.8)):
        for s in sexes:
            parts = []
            for g in groups:
                hc01 = v.get(cell_key("HC01", g, f"sex:{s}"), 0)
                n = _poisson(rng, lam.get(g, 0.3) * scale) if frac is None else _binom(rng, hc01, frac)
                v[cell_key(el, g, f"sex:{s}")] = n
                parts.append(n)
            if frac is None:
                total = max(max(parts), sum(parts) - _binom(rng, sum(parts), 0.15))
            else:
                cap = v[cell_key("HC01", TOTAL, f"sex:{s}")]
                total = min(cap, max(max(parts), sum(parts) - _binom(rng, sum(parts), 0.15)))
            v[cell_key(el, TOTAL, f"sex:{s}")] = total
    # Biểu 3: abused children, simulated one by one so that every breakdown agrees
    forms = [c.key for c in dims["abuse_form"].categories]
    settings = [c.key for c in dims["abuse_setting"].categories]
    weights = [5, 1, 3, 0.3, 0.5, 2, 0.5]
    children = []
    for _ in range(_poisson(rng, 1.4 * scale)):
        first = rng.choices(forms, weights)[0]
        fs = {first} | ({rng.choices(forms, weights)[0]} if rng.random() < 0.25 else set())
        children.append(
            (rng.choice(sexes), rng.choices(ages, [1, 2, 4, 5])[0], rng.choices(settings, [5, 2, 3, 2, 1])[0], fs)
        )
    for r in (TOTAL, *forms):
        group = [c for c in children if r == TOTAL or r in c[3]]
        for s in sexes:
            v[cell_key("XH01", r, f"sex:{s}")] = sum(c[0] == s for c in group)
        for a in ages:
            v[cell_key("XH01", r, f"age_group:{a}")] = sum(c[1] == a for c in group)
        for t in settings:
            v[cell_key("XH01", r, f"abuse_setting:{t}")] = sum(c[2] == t for c in group)
    ncases = len(children) - _binom(rng, max(len(children) - 1, 0), 0.2) if children else 0
    case_forms = [sorted(rng.choice(children)[3])[0] for _ in range(ncases)] if children else []
    for f in forms:
        v[cell_key("XH02", f, TOTAL)] = case_forms.count(f)
    for s in sexes:
        v[cell_key("XH03", TOTAL, f"sex:{s}")] = _binom(rng, v[cell_key("XH01", TOTAL, f"sex:{s}")], 0.85)
    # Biểu 4: administrative violations
    cases = _poisson(rng, 0.25 * scale)
    v[cell_key("VP01", TOTAL, TOTAL)] = cases
    people = cases + (_binom(rng, cases, 0.3) if cases else 0)
    orgs = _binom(rng, cases, 0.1)
    v[cell_key("VP02", "ca-nhan", TOTAL)] = people - orgs
    v[cell_key("VP02", "to-chuc", TOTAL)] = orgs
    v[cell_key("VP03", TOTAL, TOTAL)] = sum(rng.randint(4, 40) * 500_000 for _ in range(people))
    # Biểu 5: villages and facilities
    villages = int(rng.randint(6, 28) * scale)
    v[cell_key("VH01", TOTAL, TOTAL)] = villages
    v[cell_key("VH02", TOTAL, TOTAL)] = _binom(rng, villages, 0.55)
    v[cell_key("VH03", TOTAL, TOTAL)] = 1 if rng.random() < 0.7 else 0
    # Biểu 6: participation
    for s in sexes:
        v[cell_key("TG01", TOTAL, f"sex:{s}")] = _binom(rng, v[cell_key("TE02", TOTAL, f"sex:{s}")] // 10, 0.5)
        pop = sum(v[cell_key("TE01", a, f"sex:{s}")] for a in ages)
        v[cell_key("TG02", TOTAL, f"sex:{s}")] = int(pop * rng.uniform(0.2, 0.6))
    return v


def file_name(unit: Unit) -> str:
    words = re.sub(r"^(phường|xã|thị trấn|đặc khu)\s+", "", unit.name, flags=re.I)
    return f"{unit.code}-{slug(words)}.xlsx"


def write_ward(
    out_dir: Path,
    catalogue: Catalogue,
    h: Hierarchy,
    unit: Unit,
    period: Period,
    seed: int = 0,
    values: dict[str, Any] | None = None,
    cover: dict[str, Any] | None = None,
    name: str | None = None,
) -> Path:
    """Write one filled synthetic form (values from `synth_values` unless given)."""
    values = synth_values(catalogue, unit, period, seed) if values is None else values
    report_date = datetime.combine(period.end, datetime.min.time()) + timedelta(days=5 + int(unit.code) % 9)
    overrides = {"report_date": report_date, "preparer": SYNTHETIC_PREPARER, **(cover or {})}
    return write_form(
        out_dir / (name or file_name(unit)), catalogue, FormHeader.for_unit(h, unit, period), values, overrides
    )


# --- faults, for samples/faulty and tests --------------------------------------------------------------


def patch_zip(path: Path, member: str, change: Callable[[bytes], bytes]) -> None:
    """Rewrite one member of an xlsx (to make faults no spreadsheet program would write on purpose)."""
    with (
        atomic_write(path) as tmp,
        zipfile.ZipFile(path) as src,
        zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == member:
                data = change(data)
            dst.writestr(info, data)


def sheet_member(path: Path, sheet: str) -> str:
    with zipfile.ZipFile(path) as zf:
        book = zf.read("xl/workbook.xml").decode()
    names = re.findall(r'<sheet name="([^"]*)"', book)
    return f"xl/worksheets/sheet{names.index(sheet) + 1}.xml"


def drop_cached_value(path: Path, sheet: str, cell: str) -> None:
    """Remove the cached result of one formula cell, as a script-written workbook would have it."""
    pattern = re.compile(rf'(<c r="{cell}"[^>]*>)(<f>[^<]*</f>)<v>[^<]*</v>'.encode())
    patch_zip(path, sheet_member(path, sheet), lambda xml: pattern.sub(rb"\1\2", xml, count=1))


def remove_sheet(path: Path, sheet: str) -> None:
    pattern = re.compile(rf'<sheet name="{sheet}"[^>]*/>'.encode())
    patch_zip(path, "xl/workbook.xml", lambda xml: pattern.sub(b"", xml, count=1))


def corrupt(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def encrypt(path: Path, password: str = "matkhau") -> None:
    """Password-protect a workbook, as Excel's "Encrypt with Password" does.

    The only sample that is not byte-identical across runs: the encryption has random salts.
    """
    import io

    import msoffcrypto.format.ooxml as ooxml

    plain = io.BytesIO(path.read_bytes())
    out = io.BytesIO()
    ooxml.OOXMLFile(plain).encrypt(password, out)
    path.write_bytes(out.getvalue())
