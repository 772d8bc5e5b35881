"""The library entry points the CLI calls: validate files or folders, write a form."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ctstat.catalogue import Catalogue, load_catalogue
from ctstat.errors import UsageError
from ctstat.form import FormHeader, write_form
from ctstat.period import Period, vintage_for
from ctstat.report import Report
from ctstat.units import LEVEL_VI, Hierarchy, Unit, load_units
from ctstat.validate import validate_submissions
from ctstat.workbook import EXTENSIONS, Submission, read_submission


def find_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, and workbooks under folders (recursively), in a stable order; lock files skipped."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(
                f
                for f in p.rglob("*")
                if f.suffix.lower() in EXTENSIONS and f.is_file() and not f.name.startswith(("~$", ".~lock", "."))
            )
        elif p.exists():
            out.append(p)
        else:
            raise UsageError(f"no such file or folder: {p}")
    return out


_WORKER_CATALOGUE: Catalogue | None = None


def _init_worker(catalogue_dir: str) -> None:
    global _WORKER_CATALOGUE
    _WORKER_CATALOGUE = load_catalogue(catalogue_dir)


def _read_in_worker(path: str) -> Submission:
    assert _WORKER_CATALOGUE is not None
    return read_submission(path, _WORKER_CATALOGUE)


def read_all(files: Sequence[Path], catalogue: Catalogue, jobs: int = 1) -> Iterator[Submission]:
    """Read files, in order, in `jobs` processes (1 = in this process)."""
    if jobs <= 1 or len(files) < 2 * jobs:
        for f in files:
            yield read_submission(f, catalogue)
        return
    with ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(catalogue.path,)) as pool:
        yield from pool.map(
            _read_in_worker, [str(f) for f in files], chunksize=max(1, min(64, len(files) // (jobs * 8)))
        )


def validate_paths(
    paths: Iterable[str | Path],
    catalogue: Catalogue | None = None,
    period: str | Period | None = None,
    units: str | None = None,
    jobs: int = 1,
    progress: object = None,
) -> Report:
    """Validate every workbook in `paths`. Raises UsageError when there is nothing to validate."""
    catalogue = catalogue or load_catalogue()
    per = Period.parse(period) if isinstance(period, str) else period
    files = find_files(paths)
    if not files:
        raise UsageError("no workbook (.xlsx, .xlsm, .xls, .ods) found to validate")
    subs = []
    for sub in read_all(files, catalogue, jobs):
        subs.append(sub)
        if callable(progress):
            progress()
    return validate_submissions(subs, catalogue, per, units)


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def make_template(
    unit_code: str,
    period: str,
    out: str | Path,
    catalogue: Catalogue | None = None,
    units: str | None = None,
) -> Path:
    """Write the blank form of one commune for one period."""
    catalogue = catalogue or load_catalogue()
    try:
        per = Period.parse(period)
    except ValueError:
        raise UsageError(f"period {period!r} is not valid: write 2025, 2025-H1 or 2025-H2") from None
    vintage = vintage_for(per, units)
    h = load_units(vintage)
    unit = h.get(unit_code.strip()) if len(unit_code.strip()) == 5 else None
    if unit is None:
        area = _find_unit(h, unit_code)
        if area is not None and area.level != "commune":
            first = h.communes_under(area)
            example = f": for example {first[0].code} ({first[0].name})" if first else ""
            raise UsageError(
                f"{unit_code} is a {LEVEL_VI[area.level]} ({area.name}) in list {vintage}; a form is for "
                f"one commune (xã/phường){example}"
            )
        raise UsageError(
            f"unit {unit_code} is not a commune in the administrative-unit list {vintage} "
            "(commune codes have 5 digits, e.g. 00301)"
        )
    return write_form(out, catalogue, FormHeader.for_unit(h, unit, per))


def _find_unit(h: Hierarchy, code: str) -> Unit | None:
    """A unit by its code as typed: the width says the level (2 province, 3 district, 5 commune)."""
    code = code.strip()
    level = {2: "province", 3: "district", 5: "commune"}.get(len(code))
    return h.get(code, level) if level and code.isdigit() else None  # type: ignore[arg-type]


def resolve_area(code: str, vintage: str) -> list[Unit]:
    """The communes under a commune, district or province code ('VN': the whole country)."""
    h = load_units(vintage)
    if code.strip().upper() == "VN":
        return h.all("commune")
    unit = _find_unit(h, code)
    if unit is None:
        raise UsageError(f"unit {code} is not in the administrative-unit list {vintage}")
    return h.communes_under(unit)


def _synth_chunk(args: tuple[str, str, str, str, int, list[str]]) -> int:
    catalogue_dir, vintage, period, out, seed, codes = args
    from ctstat.synth import write_ward

    cat = load_catalogue(catalogue_dir)
    h = load_units(vintage)
    per = Period.parse(period)
    for c in codes:
        unit = h.get(c)
        assert unit is not None
        write_ward(Path(out), cat, h, unit, per, seed)
    return len(codes)


def synth_forms(
    unit: str,
    period: str,
    out: str | Path,
    catalogue: Catalogue | None = None,
    units: str | None = None,
    seed: int = 0,
    jobs: int = 1,
) -> int:
    """Write synthetic filled forms for every commune under `unit`; returns how many."""
    catalogue = catalogue or load_catalogue()
    try:
        per = Period.parse(period)
    except ValueError:
        raise UsageError(f"period {period!r} is not valid: write 2025, 2025-H1 or 2025-H2") from None
    vintage = vintage_for(per, units)
    codes = [u.code for u in resolve_area(unit, vintage)]
    Path(out).mkdir(parents=True, exist_ok=True)
    chunks = [codes[i :: max(jobs, 1) * 4] for i in range(max(jobs, 1) * 4)] if jobs > 1 else [codes]
    args = [(catalogue.path, vintage, str(per), str(out), seed, c) for c in chunks if c]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            return sum(pool.map(_synth_chunk, args))
    return sum(_synth_chunk(a) for a in args)
