"""pandas loaded without pyarrow by the command lines that need no history (check/engine.py): the same answers,
and a history that refuses to load in such a process instead of misbehaving."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WARDS = ROOT / "samples" / "wards" / "2025-H1-hoang-mai"
FAULTY = ROOT / "samples" / "faulty"

#: run the command line in this process, then say whether pyarrow was loaded; `preload` imports it first
_CLI = """
import sys
{preload}
from ctstat.cli.commands import main
sys.argv = ['ctstat', *{argv!r}]
code = None
try:
    main()
except SystemExit as exc:
    code = exc.code
print('PYARROW', 'pyarrow' in sys.modules, code, file=sys.stderr)
"""


def _cli(argv: list[str], cwd: Path, arrow_first: bool = False) -> tuple[str, str]:
    code = _CLI.format(argv=argv, preload="import pyarrow" if arrow_first else "")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd)
    return out.stdout, out.stderr.strip().splitlines()[-1]


def test_validate_needs_no_pyarrow_and_says_the_same(tmp_path: Path) -> None:
    argv = ["validate", str(WARDS), str(FAULTY), "--json", "--period", "2025-H1"]
    report, loaded = _cli(argv, tmp_path)
    assert loaded == "PYARROW False 1"
    same, loaded_too = _cli(argv, tmp_path, arrow_first=True)
    assert loaded_too == "PYARROW True 1"
    assert report == same
    assert '"valid": false' in report and report.count('"code": ') >= 12  # the faulty samples' issues, all said


WARDS_ALL = ROOT / "samples" / "wards"
_GENERATED = ["--generated-at", "2025-07-15T08:00:00"]


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["rollup", str(WARDS), "--period", "2025-H1", "--out", "{out}", *_GENERATED], 0),
        # a partial rollup of the district with faulty files among its wards'
        (
            [
                "rollup",
                str(WARDS),
                str(FAULTY),
                "--period",
                "2025-H1",
                "--unit",
                "008",
                "--allow-partial",
                "--out",
                "{out}",
                *_GENERATED,
            ],
            0,
        ),
        # the year 2025 of a new province (plan/reform_year.py, pandas' busiest user)
        (
            [
                "rollup",
                str(WARDS_ALL),
                "--period",
                "2025",
                "--units",
                "2025-07-01",
                "--unit",
                "12",
                "--allow-partial",
                "--out",
                "{out}",
                *_GENERATED,
            ],
            0,
        ),
        (["validate", str(FAULTY), "--annotate", "{out}", "--period", "2025-H1"], 1),
    ],
    ids=["rollup", "partial-with-faulty", "year-2025", "annotate"],
)
def test_without_history_no_pyarrow_and_the_same_bytes(argv: list[str], code: int, tmp_path: Path) -> None:
    """Each output a command writes, and what it prints, the same with pandas loaded without pyarrow (the command
    line's way) and with it (pyarrow imported first)."""
    outs = []
    out = tmp_path / "out"  # the same folder each time: a manifest names it
    for arrow_first in (False, True):
        line = [a.replace("{out}", str(out)) for a in argv]
        printed, loaded = _cli(line, tmp_path, arrow_first)
        assert loaded == f"PYARROW {arrow_first} {code}"
        outs.append((printed, {p.name: p.read_bytes() for p in sorted(out.iterdir())}))
        shutil.rmtree(out)
    assert outs[0] == outs[1]
    assert any(name.endswith(".xlsx") for name in outs[0][1])


def test_commands_run_in_turn_in_one_process_never_hide_pyarrow(tmp_path: Path) -> None:
    """Only a process that runs one command line (the console script) loads pandas without pyarrow: commands run
    in turn by an embedding process (a test's CliRunner), a history wanted by a later one, all succeed."""
    history = _empty_history(tmp_path)
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from ctstat.cli.commands import app\n"
        f"first = CliRunner().invoke(app, ['validate', {str(WARDS)!r}])\n"
        f"then = CliRunner().invoke(app, ['validate', {str(WARDS)!r}, '--history', {str(history)!r}])\n"
        "print(first.exit_code, then.exit_code, 'pyarrow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.stdout.strip() == "0 0 True", out.stderr[-2000:]


def test_validate_with_a_history_loads_pyarrow(tmp_path: Path) -> None:
    history = _empty_history(tmp_path)
    out, loaded = _cli(["validate", str(WARDS), "--history", str(history)], tmp_path)
    assert loaded == "PYARROW True 0"
    assert "14 hợp lệ" in out


def test_the_history_refuses_a_pandas_loaded_without_pyarrow() -> None:
    code = (
        "from ctstat.check import engine\n"
        "engine.without_arrow(); engine.load()\n"
        "import sys, pandas\n"
        "assert 'pyarrow' not in sys.modules\n"
        "import pyarrow\n"  # hidden from pandas only while it loaded: importable again afterwards
        "try:\n"
        "    import ctstat.job.history\n"
        "except RuntimeError as exc:\n"
        "    print('refused', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith("refused ctstat.job.history: pandas was loaded without pyarrow"), out.stderr[-2000:]


@pytest.mark.parametrize("first", ["pandas", "pyarrow"])
def test_nothing_is_hidden_once_pandas_or_pyarrow_is_loaded(first: str) -> None:
    code = (
        f"import {first}\n"
        "from ctstat.check import engine\n"
        "engine.without_arrow(); engine.load()\n"
        "import sys\n"
        "import ctstat.job.history\n"  # the history loads: pandas knows pyarrow
        "print('pyarrow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "True", out.stderr[-2000:]


def _empty_history(tmp_path: Path) -> Path:
    """A history with nothing loaded yet (its manifest and no file): a folder without one is refused."""
    history = tmp_path / "history"
    history.mkdir()
    (history / "manifest.json").write_text('{"format": 1, "files": {}, "sources": {}}', encoding="utf-8")
    return history
