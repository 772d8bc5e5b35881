"""The library entry points the CLI calls: write a form, validate files or folders, roll them up."""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from ctstat.rollup import Completeness

from ctstat.atomic import atomic_write
from ctstat.catalogue import Catalogue, load_catalogue
from ctstat.cells import FileCheck
from ctstat.errors import UsageError
from ctstat.form import FormHeader, write_form
from ctstat.inputs import find_files, read_all
from ctstat.layout import form_layout
from ctstat.messages import make_issue
from ctstat.period import Period, parse_period, vintage_for
from ctstat.report import FileReport, Report
from ctstat.units import LEVEL_VI, Hierarchy, Unit, load_units, slug
from ctstat.workbook import Submission, sha256_of

_WORKER_CATALOGUE: Catalogue | None = None


def _init_worker(catalogue_dir: str) -> None:
    global _WORKER_CATALOGUE
    _WORKER_CATALOGUE = load_catalogue(catalogue_dir)


def validate_paths(
    paths: Iterable[str | Path],
    catalogue: Catalogue | None = None,
    period: str | Period | None = None,
    units: str | None = None,
    jobs: int = 1,
    progress: object = None,
) -> Report:
    """Validate every workbook in `paths`. Raises UsageError when there is nothing to validate."""
    return validate_files(paths, catalogue, period, units, jobs, progress)[0]


def validate_files(
    paths: Iterable[str | Path],
    catalogue: Catalogue | None = None,
    period: str | Period | None = None,
    units: str | None = None,
    jobs: int = 1,
    progress: object = None,
    exclude: Path | None = None,
) -> tuple[Report, list[Submission]]:
    """`validate_paths`, also returning what was read of each file (for marked-up copies); marked-up copies in
    `exclude` (the folder they go to, which may be one being read) are not read back."""
    catalogue = catalogue or load_catalogue()
    per = parse_period(period) if period is not None else None
    files = find_files(paths)
    if exclude is not None:
        from ctstat.annotate import SUFFIX

        skip = exclude.resolve()
        files = [f for f in files if not (f.name.endswith(SUFFIX) and f.resolve().is_relative_to(skip))]
    if not files:
        raise UsageError("no workbook (.xlsx, .xlsm, .xls, .ods) found to validate")
    subs: list[Submission] = []
    chunks: queue.Queue[list[Submission] | None] = queue.Queue()
    # a thread loads pandas and pandera, then judges parts of the batch while the workers read the rest
    failure: list[BaseException] = []
    judge = threading.Thread(target=_judge_ahead, args=(catalogue, chunks, failure), daemon=True)
    done = 0
    for sub in read_all(files, catalogue, jobs, FileCheck(catalogue, per, units)):
        if not subs:
            judge.start()
        subs.append(sub)
        if len(subs) - done >= _AHEAD:
            chunks.put(subs[done:])
            done = len(subs)
        if callable(progress):
            progress()
    chunks.put(None)
    if subs:
        judge.join()
    if failure:
        raise failure[0]  # a bug in the judging thread is ctstat's bug: exit 3, not a silent re-run
    from ctstat.validate import validate_submissions

    return validate_submissions(subs, catalogue, per, units), subs


_AHEAD = 2048  #: files judged together ahead of the end of reading


def _judge_ahead(
    catalogue: Catalogue, chunks: queue.Queue[list[Submission] | None], failure: list[BaseException]
) -> None:
    try:
        from ctstat.validate import judge_ahead, warm_up

        warm_up(catalogue)
        while (chunk := chunks.get()) is not None:
            judge_ahead(chunk, catalogue)
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread
        failure.append(exc)


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
    per = parse_period(period)
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
    per = parse_period(period)
    vintage = vintage_for(per, units)
    codes = [u.code for u in resolve_area(unit, vintage)]
    Path(out).mkdir(parents=True, exist_ok=True)
    chunks = [codes[i :: max(jobs, 1) * 4] for i in range(max(jobs, 1) * 4)] if jobs > 1 else [codes]
    args = [(catalogue.path, vintage, str(per), str(out), seed, c) for c in chunks if c]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            return sum(pool.map(_synth_chunk, args))
    return sum(_synth_chunk(a) for a in args)


# --- rollup ---------------------------------------------------------------------------------------------------


@dataclass
class RollupResult:
    """What a rollup did: its inputs' validation, completeness, the workbooks written, and a manifest."""

    report: Report
    unit: Unit
    period: Period
    vintage: str
    completeness: Completeness
    outputs: list[Path] = field(default_factory=list)
    partial: bool = False
    refused: bool = False
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.refused


def _received(path: str, received_at: Mapping[str, datetime] | None) -> datetime:
    if received_at and path in received_at:
        return received_at[path]
    return datetime.fromtimestamp(Path(path).stat().st_mtime)


def _infer_target(h: Hierarchy, codes: Iterable[str]) -> Unit:
    chains = []
    for code in codes:
        u = h.get(code)
        if u is not None:
            chains.append(h.ancestors(u))
    if not chains:
        raise UsageError("no input names a commune of this period's unit list: give --unit")
    common = [a for a in chains[0] if all(any(a.code == b.code and a.level == b.level for b in c) for c in chains)]
    if not common:
        raise UsageError("the inputs belong to several provinces: give --unit")
    return common[0]


@dataclass
class RollupInputs:
    """What a rollup starts from: the validated inputs, each ward's cells, and who claims each ward."""

    report: Report
    values_of: dict[str, pd.Series] = field(default_factory=dict)  #: ward -> cells (valid wards only)
    #: ward -> [(path, its report or None when it came inside a rollup workbook, status)]
    claims: dict[str, list[tuple[str, FileReport | None, str]]] = field(default_factory=dict)
    inputs: list[tuple[FileReport, str]] = field(default_factory=list)  #: (report, "ward" | "rollup")


def collect_inputs(
    paths: Iterable[str | Path], catalogue: Catalogue, period: Period, units: str | None = None, jobs: int = 1
) -> RollupInputs:
    """Read and validate ward files, and read district rollup workbooks, for a rollup."""
    import pandas as pd

    from ctstat.validate import validate_batch

    vintage = vintage_for(period, units)
    files = find_files(paths)
    if not files:
        raise UsageError("no workbook (.xlsx, .xlsm, .xls, .ods) found to roll up")
    read = list(read_all(files, catalogue, jobs))
    rollup_subs = [s for s in read if s.format == "rollup"]
    subs = [s for s in read if s.format != "rollup"]
    report, frame = validate_batch(subs, catalogue, period, units)
    got = RollupInputs(report)
    for i, rep in enumerate(report.files):
        if rep.unit:
            got.claims.setdefault(rep.unit, []).append((rep.path, rep, "valid" if rep.valid else "invalid"))
            if rep.valid and i in frame.index:
                got.values_of[rep.unit] = pd.Series(frame.loc[i].to_numpy(dtype=float), index=frame.columns)
    got.inputs = [(rep, "ward") for rep in report.files]
    keys = form_layout(catalogue).keys
    from ctstat.contain import contained_map

    # district workbooks are read like ward files: in a contained worker, a fault being an issue of that file
    tables = contained_map(_read_rollup, [s.path for s in rollup_subs], _rollup_unread, jobs=1)
    for sub, (ok, fields, table) in zip(rollup_subs, tables, strict=True):
        rep = FileReport(path=sub.path, sha256=sub.sha256)
        if not ok:
            rep.issues.append(make_issue(str(fields), path=rep.path, detail=str(table)))
            report.files.append(rep)
            got.inputs.append((rep, "rollup"))
            continue
        problems = []
        if not str(fields.get("Kỳ báo cáo", "")).startswith(str(period) + " "):
            problems.append(f"kỳ {fields.get('Kỳ báo cáo')}, cần {period}")
        if fields.get("Danh mục đơn vị hành chính") != vintage:
            problems.append(f"danh mục {fields.get('Danh mục đơn vị hành chính')}, cần {vintage}")
        if fields.get("Phiên bản danh mục chỉ tiêu") != catalogue.version:
            problems.append(f"danh mục chỉ tiêu {fields.get('Phiên bản danh mục chỉ tiêu')}, cần {catalogue.version}")
        if "level" not in table.columns or (table["level"] != "commune").any():
            problems.append("chỉ dùng được tệp tổng hợp có số liệu từng xã (cấp huyện, hoặc cấp tỉnh từ 1/7/2025)")
        rep.unit = str(fields.get("Đơn vị tổng hợp", "")).split(" ")[0] or None
        rep.period = str(period)
        rep.vintage = vintage
        if problems:
            rep.issues.append(make_issue("rollup-mismatch", path=rep.path, detail="; ".join(problems)))
        else:
            for _, row in table.iterrows():
                if row["status"] == "missing":
                    continue
                got.claims.setdefault(row["unit_code"], []).append((rep.path, None, row["status"]))
                if row["status"] == "valid":
                    got.values_of[row["unit_code"]] = row[keys].astype(float)
        report.files.append(rep)
        got.inputs.append((rep, "rollup"))
    return got


def _read_rollup(path: str) -> tuple[bool, Any, Any]:
    """In a worker: (True, cover fields, data table) of a rollup workbook, or (False, code, detail)."""
    from ctstat.writer import read_rollup_data

    try:
        fields, table = read_rollup_data(path)
    except Exception as exc:  # a workbook that says it is a rollup but lacks its sheets or columns
        return (
            False,
            "rollup-mismatch",
            f"không đọc được dữ liệu tổng hợp / unreadable rollup data: {type(exc).__name__}",
        )
    return True, fields, table


def _rollup_unread(path: str, code: str, detail: str) -> tuple[bool, Any, Any]:
    return False, code, detail


def rollup_paths(
    paths: Iterable[str | Path],
    period: str | Period,
    out: str | Path,
    unit: str | None = None,
    units: str | None = None,
    allow_partial: bool = False,
    deadline: date | None = None,
    generated_at: datetime | None = None,
    catalogue: Catalogue | None = None,
    jobs: int = 1,
    received_at: Mapping[str, datetime] | None = None,
) -> RollupResult:
    """Validate ward submissions (and/or district rollup workbooks) and write the district and province
    workbooks of `unit` (inferred when None). Refuses (result.refused) when an expected commune is missing,
    invalid or duplicated, unless `allow_partial`."""
    catalogue = catalogue or load_catalogue()
    per = parse_period(period)
    collected = collect_inputs(paths, catalogue, per, units, jobs)
    return rollup_collected(
        collected, per, out, unit, units, allow_partial, deadline, generated_at, catalogue, jobs, received_at
    )


def rollup_collected(
    collected: RollupInputs,
    per: Period,
    out: str | Path,
    unit: str | None = None,
    units: str | None = None,
    allow_partial: bool = False,
    deadline: date | None = None,
    generated_at: datetime | None = None,
    catalogue: Catalogue | None = None,
    jobs: int = 1,
    received_at: Mapping[str, datetime] | None = None,
) -> RollupResult:
    """The rollup proper, from inputs already validated (by `collect_inputs`, or from the ledger)."""
    import numpy as np
    import pandas as pd

    from ctstat import rollup as ru
    from ctstat.writer import InputFile, RollupSheetData

    catalogue = catalogue or load_catalogue()
    vintage = vintage_for(per, units)
    h = load_units(vintage)
    report, values_of, claims, inputs = collected.report, collected.values_of, collected.claims, collected.inputs
    national = unit is not None and unit.strip().upper() == "VN"
    if national:
        target: Unit | None = Unit(vintage, "country", "VN", "Toàn quốc", "quốc gia", None)
    else:
        target = _find_unit(h, unit) if unit else _infer_target(h, claims)
    if target is None or target.level == "commune":
        raise UsageError(f"--unit {unit} is not a district or province in the unit list {vintage}")
    expected = h.all("commune") if national else h.communes_under(target)
    expected_codes = {u.code for u in expected}
    for code, cl in claims.items():
        if code in expected_codes:
            sources = {p for p, r, _ in cl if r is None}
            if sources and any(r is not None for _, r, _ in cl):
                for _, r, _ in cl:
                    if r is not None:
                        r.issues.append(make_issue("mixed-inputs", path=r.path, unit=code, detail=", ".join(sources)))
        else:
            for _, r, _ in cl:
                if r is not None:
                    r.issues.append(make_issue("outside-unit", path=r.path, unit=code, detail=h.path(target)))

    def parent_label(u: Unit) -> str:
        p = h.parent(u)
        return f"{p.code} {p.name}" if p else ""

    statuses: list[ru.UnitStatus] = []
    for u in expected:
        cl = claims.get(u.code, [])
        late = deadline is not None and any(
            r is not None and _received(p, received_at).date() > deadline for p, r, _ in cl
        )
        files_ = tuple(p for p, _, _ in cl)
        if not cl:
            statuses.append(ru.UnitStatus(u.code, u.name, parent_label(u), "missing", problem="Chưa nộp báo cáo"))
        elif len(cl) > 1:
            statuses.append(
                ru.UnitStatus(
                    u.code,
                    u.name,
                    parent_label(u),
                    "duplicate",
                    late,
                    files_,
                    f"{len(cl)} tệp cho cùng đơn vị: giữ lại một tệp",
                )
            )
        else:
            source, claim, status = cl[0]
            problem = ""
            if claim is not None:
                problem = claim.problem_vi()
            elif claim is None and status != "valid":
                problem = f"không hợp lệ trong tệp tổng hợp {Path(source).name}"
            statuses.append(ru.UnitStatus(u.code, u.name, parent_label(u), status, late, files_, problem))
    completeness = ru.Completeness(statuses)
    partial = not completeness.complete
    result = RollupResult(report, target, per, vintage, completeness, partial=partial)
    valid_codes = [s.code for s in statuses if s.status == "valid"]
    if partial and not allow_partial:
        result.refused = True
        result.manifest = _manifest(result, catalogue, [], inputs, valid_codes, {}, generated_at)
        return result

    keys = form_layout(catalogue).keys
    wards = pd.DataFrame([values_of[c] for c in valid_codes], index=pd.Index(valid_codes), columns=keys)
    when = generated_at or datetime.combine(per.end, datetime.min.time())
    used = set(valid_codes)
    input_rows = [
        InputFile(
            rep.path,
            rep.sha256 or "",
            kind,
            rep.unit or "",
            rep.period or "",
            catalogue.template_version if kind == "ward" else "",
            rep.errors,
            rep.warnings,
            (rep.unit in used) if kind == "ward" else not rep.issues,
        )
        for rep, kind in inputs
    ]
    out_dir = Path(out)
    level_vi = {"district": "cấp huyện", "province": "cấp tỉnh"}
    status_of = {s.code: s for s in statuses}
    inputs_of: dict[str, list[InputFile]] = {}
    for f in input_rows:
        inputs_of.setdefault(f.unit if f.kind == "ward" else "*", []).append(f)
    # every level at once (batch first): wards, their districts, their provinces, and each level's indicators
    tables: dict[str, pd.DataFrame] = {"commune": wards}
    n_of: dict[str, pd.Series] = {"commune": pd.Series(1, index=wards.index)}
    for level in ("district", "province") if h.has_districts else ("province",):
        parent_of = {w: next(a.code for a in h.ancestors(h.get(w)) if a.level == level) for w in wards.index}  # type: ignore[arg-type]
        tables[level] = ru.sum_by(wards, parent_of)
        n_of[level] = pd.Series(parent_of).value_counts()
    parts = {level: ru.indicator_parts(catalogue, table, n_of[level]) for level, table in tables.items()}
    # one frame per level, columns (indicator, value/numerator/denominator) in catalogue order: one reindex a sheet
    flat = {
        level: pd.concat({ind: f[["value", "numerator", "denominator"]] for ind, f in p.items()}, axis=1)
        for level, p in parts.items()
    }

    def sheet_data(area: Unit, children: list[Unit]) -> RollupSheetData:
        communes = [c.code for c in h.communes_under(area)]
        child_codes = [c.code for c in children]
        child_level = children[0].level if children else "commune"
        child_values = tables[child_level].reindex(child_codes).dropna(how="all")
        totals = tables[area.level].reindex([area.code]).iloc[0]
        mine = [status_of[c] for c in communes]
        indicators = pd.concat(
            [flat[area.level].reindex([area.code]), flat[child_level].reindex(child_codes)]
        ).to_numpy(dtype=float)
        return RollupSheetData(
            unit=area,
            parent=h.parent(area),
            level_vi=level_vi[area.level],
            period=per,
            vintage=vintage,
            children=children,
            totals=totals,
            child_values=child_values,
            indicators=indicators,
            ward_values=wards.reindex([c for c in communes if c in wards.index]),
            statuses=mine,
            inputs=inputs_of.get("*", []) + [f for c in communes for f in inputs_of.get(c, [])],
            partial=any(s.status != "valid" for s in mine),
            generated_at=when,
        )

    areas: list[tuple[Unit, list[Unit]]] = []
    provinces = h.all("province") if national else [target] if target.level == "province" else []
    for prov in provinces:
        if h.has_districts:  # three tiers: a workbook per district, then the province over its districts
            districts = [d for d in h.children(prov) if h.children(d)]  # island districts have no commune
            areas += [(d, h.children(d)) for d in districts]
            areas.append((prov, districts))
        else:
            areas.append((prov, h.children(prov)))
    if target.level == "district":
        areas.append((target, expected))
    jobs_ = [(out_dir / f"{per}_{a.code}_{slug(a.name)}.xlsx", sheet_data(a, ch)) for a, ch in areas]
    outputs = list(_write_all(jobs_, catalogue, jobs))
    result.outputs = outputs
    totals_all = wards.sum() if valid_codes else pd.Series(np.nan, index=keys)
    table = totals_all.to_frame(target.code).T
    top = ru.indicator_parts(catalogue, table, pd.Series({target.code: len(valid_codes)}))
    result.manifest = _manifest(result, catalogue, outputs, inputs, valid_codes, top, when)
    write_json_atomic(out_dir / f"{per}_{target.code}_manifest.json", result.manifest)
    return result


def _write_one(args: tuple[Path, Any]) -> Path:
    from ctstat.writer import write_rollup

    assert _WORKER_CATALOGUE is not None
    return write_rollup(args[0], _WORKER_CATALOGUE, args[1])


def _write_all(tasks: list[tuple[Path, Any]], catalogue: Catalogue, jobs: int) -> Iterator[Path]:
    """Write the workbooks, in `jobs` processes when there are many."""
    from ctstat.writer import write_rollup

    if jobs <= 1 or len(tasks) < 4:
        for path, data in tasks:
            yield write_rollup(path, catalogue, data)
        return
    with ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(catalogue.path,)) as pool:
        yield from pool.map(_write_one, tasks, chunksize=max(1, len(tasks) // (jobs * 8)))


def write_json_atomic(path: Path, doc: Mapping[str, Any]) -> None:
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, ensure_ascii=False, indent=2)
        fh.write("\n")


def _manifest(
    result: RollupResult,
    catalogue: Catalogue,
    outputs: list[Path],
    inputs: list[tuple[FileReport, str]],
    valid_codes: list[str],
    top: Mapping[str, pd.DataFrame],
    when: datetime | None,
) -> dict[str, Any]:
    import pandas as pd

    from ctstat import __version__
    from ctstat import rollup as ru

    used = set(valid_codes)

    def num(v: Any) -> Any:
        if v is None or pd.isna(v):
            return None
        f = float(v)
        return int(f) if f.is_integer() else round(f, 6)

    by_parent = result.completeness.by_parent()
    return {
        "unit": result.unit.code,
        "unit_name": result.unit.name,
        "level": result.unit.level,
        "period": str(result.period),
        "vintage": result.vintage,
        "catalogue_version": catalogue.version,
        "template_version": catalogue.template_version,
        "ctstat_version": __version__,
        "generated_at": when.isoformat() if when else None,
        "complete": result.completeness.complete,
        "partial": result.partial,
        "refused": result.refused,
        "outputs": [{"path": str(p), "sha256": sha256_of(p.read_bytes())} for p in outputs],
        "inputs": [
            {
                "path": rep.path,
                "sha256": rep.sha256,
                "kind": kind,
                "unit": rep.unit,
                "period": rep.period,
                "valid": rep.valid,
                "errors": rep.errors,
                "warnings": rep.warnings,
                "used": kind == "rollup" and rep.valid or rep.unit in used,
            }
            for rep, kind in inputs
        ],
        "completeness": {parent: ru.Completeness.count(rows) for parent, rows in by_parent.items()},
        "chase_list": [s.to_dict() for s in result.completeness.chase_list()],
        "totals": {ind_id: num(frame["value"].iloc[0]) for ind_id, frame in top.items()},
    }
