"""Filled forms written in the portal's kept workers (write/filling.py) are the forms ctstat writes anywhere."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from ctstat.model.catalogue import Catalogue
from ctstat.model.period import Period
from ctstat.model.units import load_units
from ctstat.write.filling import Fill, filling_pool, write_filled
from ctstat.write.form import FormHeader, write_form
from ctstat.write.synth import synth_values


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_workers_write_the_same_bytes_as_the_form_writer(catalogue: Catalogue, tmp_path: Path) -> None:
    h = load_units("2025-06-30")
    period = Period.parse("2025-H1")
    wards = h.all("commune")[:3]
    fills: list[Fill] = []
    for n, unit in enumerate(wards):
        values = synth_values(catalogue, unit, period, n)
        cover = {"report_date": datetime(2025, 7, 1), "preparer": f"Người lập {n}"}
        fills.append((str(tmp_path / f"pool-{n}.xlsx"), FormHeader.for_unit(h, unit, period), values, cover, None))
    pool = filling_pool(catalogue, 2)
    pool.start()
    try:
        sizes = write_filled(fills, catalogue, pool)
        again = write_filled(fills[:1], catalogue, pool)  # the workers stay for the next call
    finally:
        pool.close()
    assert pool.workers == []
    for (path, header, values, cover, _), size in zip(fills, sizes, strict=True):
        here = write_form(tmp_path / f"here-{Path(path).name}", catalogue, header, values, cover)
        assert Path(path).stat().st_size == size
        assert _sha(Path(path)) == _sha(here)
    assert again == sizes[:1]
    assert len({_sha(Path(f[0])) for f in fills}) == 3  # three wards' forms, each its own
