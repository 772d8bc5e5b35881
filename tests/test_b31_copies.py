"""A marked-up copy's list of issues says what the copy holds (a file that could not be read gets the list alone:
it promised "các trang sau", pages that are not there) and numbers its pages as every other sheet does."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
from typer.testing import CliRunner

from ctstat.cli.commands import app
from ctstat.model.layout import RESULT_SHEET

from .conftest import SAMPLES

FAULTY = SAMPLES / "faulty"


def _footers(book: Path) -> list[str]:
    with zipfile.ZipFile(book) as z:
        sheets = sorted(n for n in z.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))
        return [m for n in sheets for m in re.findall(r"<oddFooter>(.*?)</oddFooter>", z.read(n).decode())]


def test_a_copy_says_what_it_holds_and_numbers_its_pages_like_the_form(tmp_path: Path) -> None:
    files = [FAULTY / "09-tep-hong.xlsx", FAULTY / "04-tro-giup-vuot.xlsx"]
    out = CliRunner().invoke(app, ["validate", *map(str, files), "--annotate", str(tmp_path)])
    assert out.exit_code == 1, out.output
    broken, read = (tmp_path / f"{f.name}.kiem-tra.xlsx" for f in files)
    alone = openpyxl.load_workbook(broken)
    assert alone.sheetnames == [RESULT_SHEET]
    assert alone[RESULT_SHEET]["A3"].value.endswith("bản này chỉ có danh sách lỗi.")
    whole = openpyxl.load_workbook(read)
    assert len(whole.sheetnames) > 1
    assert whole[RESULT_SHEET]["A3"].value.endswith("trong các trang sau.")
    footers = _footers(read)
    assert len(footers) == len(whole.sheetnames) and len(set(footers)) == 1, footers  # one page numbering
    assert _footers(broken) == footers[:1]
