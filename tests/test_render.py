"""What an official prints: the district, province and city workbooks and a marked-up copy, printed to PDF with
LibreOffice and their pages checked (scripts/render_check.py, also `make render`, which leaves the PNG pages to
look at): each sheet's title printed and each sheet starting with it, the signature block once per signed sheet,
both signatures on one page, the page counts within bounds, the marked-up copy's first page listing the issues
with the unit and period.

CI installs libreoffice-calc-nogui and poppler-utils (.ci/run); elsewhere the test is skipped when they are
missing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, require

HAVE = all(shutil.which(tool) for tool in ("soffice", "pdftotext", "pdftoppm"))


@pytest.fixture(autouse=True)
def _tools() -> None:
    require(HAVE, "libreoffice-calc-nogui and poppler-utils")


def test_printed_workbooks_are_legible_and_signed_once(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render_check.py"), "--city", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    for name in ("district", "province", "city"):
        assert any(line.startswith(f"{name}: ") and line.endswith(", ok") for line in lines), run.stdout
    assert any(line.startswith("marked-up copy: ") for line in lines) and "✗" not in run.stdout
    assert len(list((tmp_path / "pdf").glob("*.png"))) > 60  # the pages, printed
