"""Shared fixtures: the shipped catalogue, a form factory that shows its input, a CLI runner of fixed width."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ctstat.job.config import JobConfig
from ctstat.model.catalogue import Catalogue, load_catalogue
from ctstat.model.period import Period
from ctstat.model.units import load_units
from ctstat.write.synth import synth_values, write_ward

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


def in_ci() -> bool:
    """The one rule for what CI means (CI runs `.ci/run` with CI=true): the variable CI set to a true value ("true",
    "1", "yes", "on", any case). Unset, empty, "0", "false", "no" or "off" is a developer's machine."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes", "on"}


def require(have: bool, what: str) -> None:
    """A test that needs tools outside Python: skipped where they are missing, a failure in CI (which installs
    them, so a missing one means .ci/run is wrong)."""
    if have:
        return
    if in_ci():
        pytest.fail(f"{what} must be installed in CI (.ci/run)")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue(ROOT / "indicators")


MakeForm = Callable[..., Path]


@pytest.fixture
def make_form(tmp_path: Path, catalogue: Catalogue) -> MakeForm:
    """make_form(unit="00301", period="2025-H1", changes={cell key: value}, cover={field: value}) -> path."""

    def make(
        unit: str = "00301",
        period: str = "2025-H1",
        changes: dict[str, Any] | None = None,
        cover: dict[str, Any] | None = None,
        name: str | None = None,
        seed: int = 0,
        vintage: str | None = None,
    ) -> Path:
        per = Period.parse(period)
        h = load_units(vintage or per.vintages()[-1])
        u = h.get(unit)
        assert u is not None, unit
        values = synth_values(catalogue, u, per, seed)
        values.update(changes or {})
        return write_ward(tmp_path, catalogue, h, u, per, seed, values=values, cover=cover, name=name)

    return make


@pytest.fixture
def cfg(tmp_path: Path) -> JobConfig:
    """A scheduled job for Quận Hoàng Mai (008), 2025-H1, with an empty inbox."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    return JobConfig(
        period=Period.parse("2025-H1"),
        unit="008",
        inbox=inbox,
        out=tmp_path / "out",
        deadline=date(2025, 7, 15),
        log=tmp_path / "out" / "ctstat.log",
        allow_partial=False,
    )


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich wraps to the terminal width; pin it so assertions see whole lines
    monkeypatch.setenv("COLUMNS", "3000")
    monkeypatch.delenv("CTSTAT_LANG", raising=False)


# Capabilities that let root ignore file modes: reading/searching anything, writing anything, chmod of anything.
ROOTS_BY_PASSES = "-dac_override,-dac_read_search,-fowner"


@functools.cache
def _bound_by_file_modes() -> tuple[list[str] | None, str]:
    """Find how to run this interpreter so that file modes bind it, wherever the checkout and the interpreter live.

    Root ignores file modes, so a test of a forbidden file or a read-only folder runs its program otherwise. First
    as root without the capabilities that bypass modes (it can still reach a checkout or an interpreter under its
    own 0700 home, as their owner), else as uid 65534; each way is tried: it must import ctstat from this checkout
    and be refused a file of mode 000. Returns the command prefix, or None with the reason of every way tried."""
    if os.geteuid() != 0:
        return [], ""
    if shutil.which("setpriv") is None:
        return None, "setpriv (util-linux) is not installed"
    ways = {
        "root without the capabilities that bypass file modes": ["setpriv", "--inh-caps=-all",
                                                                   f"--bounding-set={ROOTS_BY_PASSES}"],
        "uid 65534": ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
    }  # fmt: skip
    probe = (
        "import sys\n"
        "try:\n    import ctstat\nexcept ImportError as e:\n    sys.exit(f'cannot import ctstat ({e})')\n"
        "if not ctstat.__file__.startswith(sys.argv[1]):\n"
        "    sys.exit(f'imports ctstat from {ctstat.__file__}, not from {sys.argv[1]} (closed to it)')\n"
        "try:\n    open(sys.argv[2], 'rb')\nexcept PermissionError:\n    print('bound')\n"
        "else:\n    sys.exit('reads a file of mode 000')"
    )
    reasons = []
    folder = Path(tempfile.mkdtemp(prefix="ctstat-probe-"))
    try:
        folder.chmod(0o755)
        forbidden = folder / "forbidden"
        forbidden.write_bytes(b"")
        forbidden.chmod(0o000)
        package = str(Path(__import__("ctstat").__file__).parent)
        for name, prefix in ways.items():
            run = subprocess.run(
                [*prefix, sys.executable, "-c", probe, package, str(forbidden)],
                capture_output=True, text=True, cwd=folder, env={**os.environ, "HOME": str(folder)}, timeout=120,
            )  # fmt: skip
            if run.returncode == 0 and run.stdout.strip() == "bound":
                return prefix, ""
            said = (run.stderr.strip().splitlines() or [run.stdout.strip() or f"exit {run.returncode}"])[-1]
            reasons.append(f"as {name}: {said}")
    finally:
        shutil.rmtree(folder)
    return None, "; ".join(reasons)


def bound_by_file_modes() -> list[str]:
    """The command prefix that runs a program bound by file modes (see _bound_by_file_modes); skips the test when
    there is none, saying why. Run it in a folder every user may enter (not the checkout: it may be private)."""
    prefix, reason = _bound_by_file_modes()
    if prefix is None:
        pytest.skip(f"cannot run {sys.executable} bound by file modes with ctstat importable: {reason}")
    return prefix


def rename_sheet(path: Path, old: str, new: str) -> None:
    """Rename a sheet of an .xlsx in place (a marked-up copy read as a form once its result sheet is renamed)."""
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(old.encode(), new.encode())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
