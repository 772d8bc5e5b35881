"""Shared fixtures: the shipped catalogue, a form factory that shows its input, a CLI runner of fixed width."""

from __future__ import annotations

import os
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
