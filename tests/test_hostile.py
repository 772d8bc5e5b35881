"""Hostile and broken files: each costs one located, documented issue and nothing else (no crash, hang, memory)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctstat.check.validate import validate_submissions
from ctstat.model.catalogue import Catalogue
from ctstat.model.errors import InternalError
from ctstat.model.messages import MESSAGES
from ctstat.pipeline import validate_paths
from ctstat.read import contain, guard
from ctstat.read.workbook import read_bytes

from . import hostile
from .conftest import ROOT, SAMPLES, require

CTSTAT = [sys.executable, "-m", "ctstat"]
#: a subprocess that runs argv and prints its exit code and the peak RSS (KiB) of its whole process tree
MEASURED = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("hostile")
    return folder, hostile.build(folder)


def _codes(report_file: dict[str, object]) -> list[str]:
    return [i["code"] for i in report_file["issues"] if i["code"] != "duplicate-unit"]  # type: ignore[attr-defined, index]


def test_every_case_gets_its_documented_code_alone(corpus: tuple[Path, dict[str, str]], catalogue: Catalogue) -> None:
    folder, expected = corpus
    assert len(expected) >= 30
    for name, code in expected.items():
        report = validate_paths([folder / name], catalogue)
        assert len(report.files) == 1
        got = [i.code for i in report.files[0].issues]
        if code:
            assert code in MESSAGES, code
            assert got and got[0] == code, (name, got)
            first = report.files[0].issues[0]
            assert first.message("vi") and first.message("en") and "{" not in first.message("vi"), name
        else:
            assert got == [], (name, got)


def test_cases_are_located_where_the_fault_is(corpus: tuple[Path, dict[str, str]], catalogue: Catalogue) -> None:
    folder, _ = corpus
    at = {
        "far-cell.xlsx": ("Biểu 1", "XFD1048576"),
        "far-cell.xls": ("Thông tin chung", "IV65536"),  # the first number record of the file is on the cover
        "merged-inputs.xlsx": ("Biểu 1", "E11"),
        "nan.xlsx": ("Biểu 1", "E11"),
        "control-chars.xlsx": ("Biểu 1", "E11"),
    }
    for name, (sheet, cell) in at.items():
        issue = validate_paths([folder / name], catalogue).files[0].issues[0]
        assert (issue.sheet, issue.cell) == (sheet, cell), name


def test_merged_input_cells_are_one_issue_not_blanks(corpus: tuple[Path, dict[str, str]], catalogue: Catalogue) -> None:
    issues = validate_paths([corpus[0] / "merged-inputs.xlsx"], catalogue).files[0].issues
    assert [(i.code, i.value) for i in issues] == [("merged-cells", "E11:F12")]


def test_values_from_a_file_are_quoted_printable_and_short(
    corpus: tuple[Path, dict[str, str]], catalogue: Catalogue
) -> None:
    folder, _ = corpus
    ctl = validate_paths([folder / "control-chars.xlsx"], catalogue).files[0].issues[0]
    assert "\x1b" not in ctl.message("vi") and "\x07" not in ctl.message("vi")
    assert "1\\x1b[31m2\\x07" in ctl.message("vi")
    big = validate_paths([folder / "megabyte-text.xlsx"], catalogue).files[0].issues[0]
    assert len(big.message("vi")) < 400 and "(1000000)" in big.message("vi")
    nan = validate_paths([folder / "nan.xlsx"], catalogue).files[0].issues[0]
    assert nan.value == "nan"


def _run_measured(argv: list[str], cwd: Path | None = None) -> tuple[int, float, float]:
    """(exit code, wall seconds, peak RSS in MB of the whole process tree) of a ctstat command."""
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", MEASURED, *argv], capture_output=True, text=True, cwd=cwd, check=True
    ).stdout.split()
    return int(out[0]), time.perf_counter() - t, int(out[1]) / 1024


def test_a_folder_of_hostile_and_valid_files_reports_every_file(tmp_path: Path) -> None:
    batch = tmp_path / "inbox"
    expected = hostile.build(batch)
    valid = [SAMPLES / "wards" / "2025-H1-hoang-mai" / n for n in ("00304-vinh-hung.xlsx", "00307-dinh-cong.xlsx")]
    for f in valid:
        shutil.copy(f, batch / f.name)
    code, wall, rss = _run_measured(
        [*CTSTAT, "validate", str(batch), "--jobs", "2", "--json", "--annotate", str(tmp_path / "marked")]
    )
    assert code == 1
    assert wall < 60 and rss < 1024, (wall, rss)  # bounds against a hang or a blow-up, not a speed target
    doc = json.loads(subprocess.run([*CTSTAT, "validate", str(batch), "--json"], capture_output=True, text=True).stdout)
    by_name = {Path(f["path"]).name: f for f in doc["files"]}
    assert set(by_name) == set(expected) | {f.name for f in valid}
    for name, want in expected.items():
        got = _codes(by_name[name])
        assert (got[:1] == [want]) if want else got == [], (name, got)
    assert all(by_name[f.name]["valid"] for f in valid)


def test_no_traceback_reaches_the_user(corpus: tuple[Path, dict[str, str]]) -> None:
    folder, _ = corpus
    run = subprocess.run([*CTSTAT, "validate", str(folder)], capture_output=True, text=True)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr and "panicked" not in run.stderr and "stack backtrace" not in run.stderr


def test_the_scheduled_job_records_every_hostile_file(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    expected = hostile.build(inbox)
    (tmp_path / "ctstat.toml").write_text(
        f'period = "2025-H1"\nunit = "008"\ninbox = "{inbox}"\nout = "{tmp_path / "out"}"\njobs = 2\n', encoding="utf-8"
    )
    code, wall, rss = _run_measured([*CTSTAT, "run", "--config", str(tmp_path / "ctstat.toml")])
    assert code == 1 and wall < 60 and rss < 1024, (code, wall, rss)
    status = subprocess.run(
        [*CTSTAT, "status", "--config", str(tmp_path / "ctstat.toml"), "--json"], capture_output=True, text=True
    )
    assert "Traceback" not in status.stderr
    import sqlite3

    db = next((tmp_path / "out").rglob("*.sqlite*"))
    with sqlite3.connect(db) as con:
        paths = {Path(p).name for (p,) in con.execute("SELECT path FROM submissions")}
    assert paths == set(expected)


# --- the guard's scans stay linear on adversarial input ---------------------------------------------------------


@pytest.mark.parametrize(
    "xml",
    [
        b'<c r="A1" ' * 2_000_000,  # start tags that never close
        b'<c r="A1"><f>' * 1_000_000,  # formulas that never close
        b"<f>" * 3_000_000,  # formulas outside any cell (each looks back for its cell's tag)
        b"<c " + b"r=" * 5_000_000,  # attributes that never end
        b"<mergeCell " * 900_000,
        b'<row r="1" hidden="1" ' * 1_000_000,
    ],
    ids=["open-tags", "open-formulas", "formulas-alone", "attributes", "merges", "rows"],
)
def test_sheet_scans_are_linear(xml: bytes) -> None:
    t = time.perf_counter()
    try:
        guard.scan_sheet(b"<worksheet><sheetData>" + xml + b"</sheetData></worksheet>", "Biểu 1")
    except guard.Refused:
        pass
    assert time.perf_counter() - t < 20  # a backtracking scan of these takes hours


# --- the second wall: worker processes ----------------------------------------------------------------------


def _work(arg: str) -> str:
    if arg == "abort":
        os.abort()
    if arg == "hang":
        time.sleep(600)
    if arg == "memory":
        bytearray(64 * 1024**3)
    if arg == "panic":
        raise _Panic("like pyo3's PanicException, a BaseException")
    if arg == "bug":
        raise ValueError("a bug")
    return arg.upper()


class _Panic(BaseException):
    pass


def _failed(arg: str, code: str, detail: str) -> str:
    return f"{code}:{arg}"


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_dying_or_stalled_worker_costs_one_file(jobs: int) -> None:
    args = ["a", "abort", "b", "hang", "c", "memory", "d", "panic", "e"]
    got = list(contain.contained_map(_work, args, _failed, jobs=jobs, timeout=2, memory_mb=512))
    assert got == [
        "A",
        "reader-crashed:abort",
        "B",
        "reader-timeout:hang",
        "C",
        "reader-crashed:memory",
        "D",
        "reader-crashed:panic",
        "E",
    ]


def _pid(arg: str) -> str:
    if arg == "abort":
        os.abort()
    return str(os.getpid())


def test_a_pool_keeps_its_workers_between_calls_and_replaces_a_dead_one() -> None:
    """The portal's reading workers: forked once, not once per batch; one that dies is replaced, as ever."""
    pool: contain.Pool[str] = contain.Pool(_pid, jobs=1)
    try:
        first = list(contain.contained_map(_pid, ["a", "b"], _failed, pool=pool))
        again = list(contain.contained_map(_pid, ["c"], _failed, pool=pool))
        assert len(set(first + again)) == 1 and first[0] != str(os.getpid())
        crashed = list(contain.contained_map(_pid, ["d", "abort", "e"], _failed, pool=pool))
        assert crashed[1] == "reader-crashed:abort" and crashed[0] == first[0] and crashed[2] != first[0]
        assert [w.proc.is_alive() for w in pool.workers] == [True]
    finally:
        pool.close()
    assert pool.workers == []


def test_a_worker_forked_under_the_job_lock_does_not_keep_it(tmp_path: Path) -> None:
    """A flock belongs to the open file, which a forked child shares: a kept worker started while a run held the
    lock must not hold it after the run (every later run and upload would be refused)."""
    from ctstat.job.run import job_lock

    pool: contain.Pool[str] = contain.Pool(_pid, jobs=1)
    try:
        with job_lock(tmp_path):
            list(contain.contained_map(_pid, ["a"], _failed, pool=pool))  # the worker is forked here
        assert pool.workers and pool.workers[0].proc.is_alive()
        with job_lock(tmp_path):  # free again, though the worker lives on
            pass
    finally:
        pool.close()


def _speaks(arg: str) -> str:
    import warnings

    warnings.warn(f"a warning while reading {arg}", stacklevel=1)  # printed to stderr, the first time
    print(arg, file=sys.stderr, flush=True)
    return arg.upper()


def test_a_worker_does_not_write_to_the_streams_it_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream's buffer lock is copied, held, into a child forked while another thread of the parent writes (a
    server's access log), and the child's first warning would wait on it for ever: a worker has streams of its
    own, so nothing it prints reaches the parent's stream objects."""
    r, w = os.pipe()
    stream = os.fdopen(w, "w")
    monkeypatch.setattr(sys, "stderr", stream)
    pool: contain.Pool[str] = contain.Pool(_speaks, jobs=1)
    try:
        pool.start()
        got = list(contain.contained_map(_speaks, ["a", "b"], _failed, timeout=10, pool=pool))
    finally:
        pool.close()
        stream.close()
    heard = b""
    while chunk := os.read(r, 1 << 16):  # every write end is closed now (the worker has ended)
        heard += chunk
    os.close(r)
    assert got == ["A", "B"]
    assert heard == b""


def test_kept_workers_end_with_their_parent(tmp_path: Path) -> None:
    """A server killed outright (SIGKILL, OOM killer) leaves no reading worker behind."""
    code = (
        "import os, sys\n"
        "from ctstat.read import contain\n"
        "from tests.test_hostile import _pid, _failed\n"
        "pool = contain.Pool(_pid, jobs=2)\n"
        "print(' '.join(contain.contained_map(_pid, ['a', 'b', 'c', 'd'], _failed, pool=pool)), flush=True)\n"
        "os._exit(0)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    pids = {int(p) for p in run.stdout.split()}
    assert pids, run.stderr

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"

    until = time.monotonic() + 10
    while any(map(alive, pids)) and time.monotonic() < until:
        time.sleep(0.2)
    assert not any(map(alive, pids))


def _disk_full(arg: str) -> str:
    import errno

    raise OSError(errno.ENOSPC, "No space left on device", f"/out/{arg}")


def test_a_full_disk_in_a_worker_is_the_same_error_in_the_parent() -> None:
    """A fault of the machine met in a worker (writing a marked-up copy on a full disk) is not a bug of ctstat: the
    parent gets the same OSError, which the command line reports as the machine's fault."""
    import errno

    with pytest.raises(OSError) as raised:
        list(contain.contained_map(_disk_full, ["a", "b"], _failed, jobs=1))
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == "/out/a"


def test_a_bug_in_a_worker_is_an_internal_error() -> None:
    with pytest.raises(InternalError) as exc:
        list(contain.contained_map(_work, ["a", "bug", "b"], _failed, jobs=1))
    assert exc.value.path == "bug" and "ValueError" in exc.value.detail


def test_internal_errors_exit_3_with_one_line(tmp_path: Path) -> None:
    code = (
        "import sys, ctstat.check.file_checks as c\n"
        "def boom(*a, **k): raise ZeroDivisionError('boom')\n"
        "c.clean_values = boom\n"
        "from ctstat.cli.commands import main\n"
        f"sys.argv = ['ctstat', 'validate', {str(SAMPLES / 'faulty' / '01-so-am.xlsx')!r}]\n"
        "main()\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr and "01-so-am.xlsx" in run.stderr and "ZeroDivisionError" in run.stderr
    debug = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "CTSTAT_DEBUG": "1"}
    )
    assert debug.returncode == 3 and "Traceback" in debug.stderr


def test_a_file_it_may_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"PK")

    def denied(*args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(guard.os, "open", denied)
    with pytest.raises(guard.Refused) as exc:
        guard.read_file(str(path))
    assert exc.value.code == "file-unreadable"


# --- other clients: a valid form saved by Gnumeric -------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xlsx", "ods", "xls"])
def test_a_form_saved_by_gnumeric_validates_clean(fmt: str, tmp_path: Path, catalogue: Catalogue) -> None:
    require(shutil.which("ssconvert") is not None, "ssconvert (Debian gnumeric)")
    out = tmp_path / f"00301-gnumeric.{fmt}"
    subprocess.run(["ssconvert", str(hostile.GOOD_XLSX), str(out)], check=True, capture_output=True, timeout=120)
    report = validate_paths([out], catalogue)
    assert report.issues == [], [i.code for i in report.issues]
    assert report.files[0].unit == "00301"


# --- properties: any mutation of a valid form's bytes gives a report -------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), flips=st.integers(1, 30))
def test_mutated_xml_always_gives_a_report(seed: int, flips: int, catalogue: Catalogue) -> None:
    rng = random.Random(seed)
    with zipfile.ZipFile(hostile.GOOD_XLSX) as zf:
        parts = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    name = rng.choice(sorted(n for n in parts if n.endswith(".xml")))
    xml = bytearray(parts[name])
    for _ in range(flips):
        xml[rng.randrange(len(xml))] = rng.choice(b'<>/="&x0 9\x00\xff')
    parts[name] = bytes(xml)
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, data in parts.items():
            zf.writestr(n, data)
    sub = read_bytes("x.xlsx", buf.getvalue(), catalogue)
    report = validate_submissions([sub], catalogue)
    assert len(report.files) == 1
    documented = set(MESSAGES) | {r.code for r in catalogue.rules}  # built-in codes and the catalogue's rules
    for issue in report.issues:
        assert issue.code in documented, issue


def test_root_has_no_binary_hostile_corpus(corpus: tuple[Path, dict[str, str]]) -> None:
    """The hostile files are built by tests/hostile.py when the tests run; none is kept in the repository."""
    folder, cases = corpus
    built = {
        hashlib.sha256(p.read_bytes()).hexdigest(): p.name
        for p in folder.iterdir()
        if p.is_file() and not p.is_symlink() and p.stat().st_size
    }
    assert len(built) >= len(cases) // 2  # the corpus is there to compare with
    skip = {".git", ".venv", "mutants", "out", ".hypothesis", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
    kept = [
        p
        for p in ROOT.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(ROOT).parts) and p.stat().st_size < 50 * 2**20
    ]
    assert kept and not any(p.name in cases for p in kept if p.parent != folder)
    found = {
        str(p.relative_to(ROOT)): built[h] for p in kept if (h := hashlib.sha256(p.read_bytes()).hexdigest()) in built
    }
    assert found == {}, found


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), flips=st.integers(1, 60), which=st.sampled_from(["xls", "ods"]))
def test_mutated_xls_and_ods_always_give_a_report(seed: int, flips: int, which: str, catalogue: Catalogue) -> None:
    rng = random.Random(seed)
    data = bytearray((hostile.GOOD_XLS if which == "xls" else hostile.GOOD_ODS).read_bytes())
    for _ in range(flips):
        data[rng.randrange(len(data))] = rng.randrange(256)
    sub = read_bytes(f"x.{which}", bytes(data), catalogue)
    assert len(validate_submissions([sub], catalogue).files) == 1


def test_a_district_workbook_without_its_data_sheet_is_an_issue(tmp_path: Path) -> None:
    wards = SAMPLES / "wards" / "2025-H1-hoang-mai"
    subprocess.run(
        [*CTSTAT, "rollup", str(wards), "--period", "2025-H1", "--out", str(tmp_path / "d")],
        check=True,
        capture_output=True,
    )
    (book,) = (tmp_path / "d").glob("*_008_*.xlsx")
    stripped = tmp_path / "stripped.xlsx"
    hostile.rezip(
        book,
        stripped,
        {"xl/workbook.xml": lambda x: re.sub(rb'<sheet name="D\xe1\xbb\xaf li\xe1\xbb\x87u"[^>]*/>', b"", x)},
    )
    run = subprocess.run(
        [
            *CTSTAT,
            "rollup",
            str(stripped),
            "--period",
            "2025-H1",
            "--out",
            str(tmp_path / "c"),
            "--unit",
            "01",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "Traceback" not in run.stderr
    doc = json.loads(run.stdout)
    assert [i["kind"] for i in doc["inputs"]] == ["rollup"] and doc["inputs"][0]["valid"] is False
    assert doc["inputs"][0]["errors"] == 1 and doc["refused"] is True
    # the issue itself: one error, saying which sheet is missing
    text = subprocess.run(
        [*CTSTAT, "rollup", str(stripped), "--period", "2025-H1", "--out", str(tmp_path / "e"), "--unit", "01"],
        capture_output=True,
        text=True,
        env={**os.environ, "CTSTAT_LANG": "en"},
    )
    (line,) = [x for x in text.stdout.splitlines() if "rollup-mismatch" in x]
    assert line.split()[0] == "Error" and "'Dữ liệu'" in line, text.stdout
    assert "(1 error, 0 warnings)" in text.stdout


# --- the formula scan finds what the one-regex-per-cell scan found ----------------------------------------------

#: the scan before it looked only at formula cells: one regex tried at every cell (kept here as the reference)
_OLD_CELLS = re.compile(
    rb'<c\sr="(?:((?:[A-Z]{3}|[D-Z][A-Z]|[A-Z]{0,2}[0-9]{4}|[A-Z]{1,2}0)[A-Z0-9]{0,8}+)'
    rb'|([A-Z]{1,2}[0-9]{1,3})"[^<>]{0,1024}+>\s{0,64}+<f[\s/>](?>[^<]{0,16384}+)(?:</f>)?\s{0,64}+'
    rb"(<v(?:\s[^<>]{0,64}+)?>[^<]{1,64}+)?)"
)


def _old_scan(xml: bytes) -> dict[str, bool] | tuple[str, str | None]:
    """Formulas found by the old scan (or the refusal's code and cell): cells outside the extent dropped first."""
    try:
        cells = _OLD_CELLS.findall(xml)
        if any(far for far, _, _ in cells):
            cells = _OLD_CELLS.findall(guard._within_extent(xml, "s"))
    except guard.Refused as exc:
        return exc.code, exc.cell
    return {ref.decode(): bool(v) for _, ref, v in cells if ref}


def _new_scan(xml: bytes) -> dict[str, bool] | tuple[str, str | None]:
    try:
        return guard.scan_sheet(b"<worksheet><sheetData>" + xml + b"</sheetData></worksheet>", "s")[1].formulas
    except guard.Refused as exc:
        return exc.code, exc.cell


_REFS = st.sampled_from(["A1", "B12", "CZ999", "DA1", "AAA1", "A1000", "A0", "A05", "Z9", "1234", "C3"])
_PIECES = st.one_of(
    _REFS.map(lambda r: f'<c r="{r}"><f>SUM(A1:A2)</f><v>3</v></c>'),
    _REFS.map(lambda r: f'<c r="{r}" s="2"><f>A1</f></c>'),
    _REFS.map(lambda r: f'<c r="{r}" t="s"><v>7</v></c>'),
    _REFS.map(lambda r: f'<c r="{r}">\n  <f t="shared" si="0"/>\n  <v></v></c>'),
    _REFS.map(lambda r: f'<c r="{r}"><f/><v t="x">1</v></c>'),
    st.sampled_from(["<f>", "<f>x</f>", "<c ", "<c>", "</c>", "<row r='1'>", "</row>", " ", "<v>1</v>", "<fx/>"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=30))
def test_the_formula_scan_finds_what_a_regex_per_cell_found(pieces: list[str]) -> None:
    body = "".join(pieces).encode()
    assert _new_scan(body) == _old_scan(body)
