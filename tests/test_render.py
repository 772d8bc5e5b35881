"""What an official prints: the district, province and city workbooks and a marked-up copy, printed to PDF with
LibreOffice and their pages checked (scripts/render_check.py, also `make render`, which leaves the PNG pages to
look at): each sheet's title printed and each sheet starting with it, the signature block once per signed sheet,
both signatures on one page, the page counts within bounds, the marked-up copy's first page listing the issues
with the unit and period, every word printed whole inside the page's margins (no fragment of a title clipped at a
page's edge) and every Vietnamese letter precomposed (printed with Liberation Serif, not URW Nimbus Roman).

CI installs libreoffice-calc-nogui, poppler-utils and fonts-liberation2 (.ci/run); elsewhere the test is skipped
when they are missing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, require

HAVE = all(shutil.which(tool) for tool in ("soffice", "pdftotext", "pdftoppm", "fc-list")) and any(
    "Liberation Serif" in line
    for line in subprocess.run(["fc-list", ":", "family"], capture_output=True, text=True).stdout.splitlines()
)


@pytest.fixture(autouse=True)
def _tools() -> None:
    require(HAVE, "libreoffice-calc-nogui, poppler-utils and fonts-liberation2")


def test_printed_workbooks_are_legible_and_signed_once(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render_check.py"), "--city", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    for name in ("district", "province", "city", "partial district", "district with history"):
        assert any(line.startswith(f"{name}: ") and line.endswith(", ok") for line in lines), run.stdout
    assert any(line.startswith("marked-up copy: ") for line in lines) and "✗" not in run.stdout
    assert len(list((tmp_path / "pdf").glob("*.png"))) > 60  # the pages, printed
