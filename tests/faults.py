"""Fault injectors: they break a valid workbook the way a careless program, a phone app or a password would, for
the tests and for `samples/faulty` (`scripts/make_samples.py`). Not part of the package: ctstat never writes a
broken file."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

from ctstat.write.atomic import atomic_write


def patch_zip(path: Path, member: str, change: Callable[[bytes], bytes]) -> None:
    """Rewrite one member of an xlsx (to make faults no spreadsheet program would write on purpose)."""
    with (
        atomic_write(path) as tmp,
        zipfile.ZipFile(path) as src,
        zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == member:
                data = change(data)
            dst.writestr(info, data)


def sheet_member(path: Path, sheet: str) -> str:
    with zipfile.ZipFile(path) as zf:
        book = zf.read("xl/workbook.xml").decode()
    names = re.findall(r'<sheet name="([^"]*)"', book)
    return f"xl/worksheets/sheet{names.index(sheet) + 1}.xml"


def drop_cached_values(path: Path) -> None:
    """Remove the cached result of every formula, as a script or a phone app that does not calculate saves it."""
    with zipfile.ZipFile(path) as zf:
        members = [n for n in zf.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n)]
    for member in members:
        patch_zip(path, member, lambda xml: re.sub(rb"(<f>[^<]*</f>)<v>[^<]*</v>", rb"\1", xml))


def remove_sheet(path: Path, sheet: str) -> None:
    pattern = re.compile(rf'<sheet name="{sheet}"[^>]*/>'.encode())
    patch_zip(path, "xl/workbook.xml", lambda xml: pattern.sub(b"", xml, count=1))


def corrupt(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def encrypt(path: Path, password: str = "matkhau") -> None:
    """Password-protect a workbook, as Excel's "Encrypt with Password" does.

    The only sample that is not byte-identical across runs: the encryption has random salts.
    """
    import msoffcrypto.format.ooxml as ooxml  # a test dependency (reading encrypted files is read/)

    plain = io.BytesIO(path.read_bytes())
    out = io.BytesIO()
    ooxml.OOXMLFile(plain).encrypt(password, out)
    path.write_bytes(out.getvalue())
