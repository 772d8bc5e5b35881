"""A corpus of broken and hostile files, built at test time from the valid samples (no binary blobs).

`build(folder)` writes every case and returns {file name: the issue code it must get}; "" means the file must
validate clean. Each builder is a few lines that show what is wrong with the file.
"""

from __future__ import annotations

import os
import struct
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

from .conftest import ROOT, SAMPLES

GOOD_XLSX = SAMPLES / "wards" / "2025-H1-hoang-mai" / "00301-thanh-tri.xlsx"
GOOD_ODS = ROOT / "tests" / "data" / "00301-saved-by-libreoffice.ods"
GOOD_XLS = ROOT / "tests" / "data" / "00301-saved-by-libreoffice.xls"
BIEU1 = "xl/worksheets/sheet3.xml"  #: the sheet "Biểu 1" of the sample
SST = "xl/sharedStrings.xml"


def rezip(src: Path, dst: Path, changes: dict[str, Callable[[bytes], bytes]]) -> Path:
    """A copy of the zip `src` with some parts changed, deflated."""
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as b:
        for info in a.infolist():
            data = a.read(info.filename)
            b.writestr(info, changes[info.filename](data) if info.filename in changes else data)
    return dst


def in_sheet(extra: bytes) -> Callable[[bytes], bytes]:
    """Insert `extra` at the end of a sheet's data."""
    return lambda xml: xml.replace(b"</sheetData>", extra + b"</sheetData>", 1)


def cell(ref: str, value: bytes, attrs: bytes = b"") -> Callable[[bytes], bytes]:
    """Give the cell `ref` (a number cell of the sample) the raw XML value `value`."""

    def change(xml: bytes) -> bytes:
        start = xml.index(f'<c r="{ref}"'.encode())
        end = xml.index(b"</c>", start) + 4
        return xml[:start] + f'<c r="{ref}"'.encode() + attrs + b">" + value + b"</c>" + xml[end:]

    return change


def patch_declared_size(path: Path, member: str, size: int) -> None:
    """Make the central directory lie about a part's inflated size (the header says small, the data is big)."""
    data = bytearray(path.read_bytes())
    at = data.index(b"PK\x01\x02")  # the first central directory entry
    while True:
        n, m, k = struct.unpack_from("<HHH", data, at + 28)
        if data[at + 46 : at + 46 + n].decode() == member:
            struct.pack_into("<I", data, at + 24, size)
            break
        at += 46 + n + m + k
    path.write_bytes(bytes(data))


def move_sheet_last(name: bytes) -> Callable[[bytes], bytes]:
    """workbook.xml with the sheet `name` moved to the end of the tab order."""

    def change(xml: bytes) -> bytes:
        start = xml.index(b'<sheet name="' + name + b'"')
        end = xml.index(b"/>", start) + 2
        tag = xml[start:end]
        xml = xml[:start] + xml[end:]
        return xml.replace(b"</sheets>", tag + b"</sheets>", 1)

    return change


def _xlsx_cases(d: Path) -> dict[str, str]:
    g = GOOD_XLSX
    out: dict[str, str] = {}

    def case(name: str, code: str, changes: dict[str, Callable[[bytes], bytes]]) -> None:
        rezip(g, d / name, changes)
        out[name] = code

    case(
        "far-cell.xlsx",
        "data-outside-form",
        {BIEU1: in_sheet(b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')},
    )
    # a far reference the guard does not look for (not first in the tag): the reader's memory cap stops it
    case(
        "far-cell-hidden-ref.xlsx",
        "reader-crashed",
        {BIEU1: in_sheet(b'<row r="1048576"><c s="0" r="XFD1048576"><v>1</v></c></row>')},
    )
    case(
        "far-dimension.xlsx",
        "",
        {BIEU1: lambda x: x.replace(b'<dimension ref="A1:F19"/>', b'<dimension ref="A1:XFD1048576"/>')},
    )
    case("far-empty-cell.xlsx", "", {BIEU1: in_sheet(b'<row r="70000"><c r="IV70000" s="1"/></row>')})
    laughs = b'<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
    case("billion-laughs.xlsx", "xml-doctype", {SST: lambda x: laughs + x[x.index(b"<sst") :]})
    case(
        "string-count.xlsx",
        "damaged-archive",
        {SST: lambda x: x.replace(b"uniqueCount=", b'x="" uniqueCount="4000000000" y=', 1)},
    )
    # made to make a backtracking pattern run for minutes: a cell tag that never closes, a million times over
    case("backtrack.xlsx", "unreadable-workbook", {BIEU1: in_sheet(b'<c r="A1" ' * 200_000)})
    case("nan.xlsx", "not-a-number", {BIEU1: cell("E11", b"<v>NaN</v>")})
    case("infinite.xlsx", "not-a-number", {BIEU1: cell("E11", b"<v>inf</v>")})
    case("beyond-2-53.xlsx", "not-a-number", {BIEU1: cell("E11", b"<v>1e300</v>")})
    case(
        "control-chars.xlsx",
        "text-in-number",
        {BIEU1: cell("E11", b"<is><t>1\x1b[31m2\x07</t></is>", b' t="inlineStr"')},
    )
    case(
        "megabyte-text.xlsx",
        "text-in-number",
        {BIEU1: cell("E11", b"<is><t>" + b"9" * 1_000_000 + b"</t></is>", b' t="inlineStr"')},
    )
    case("non-bmp.xlsx", "text-in-number", {BIEU1: cell("E11", "<is><t>𝟙𝟚😀</t></is>".encode(), b' t="inlineStr"')})
    case(
        "merged-inputs.xlsx",
        "merged-cells",
        {BIEU1: lambda x: x.replace(b"</mergeCells>", b'<mergeCell ref="E11:F12"/></mergeCells>')},
    )
    case("reordered-sheets.xlsx", "", {"xl/workbook.xml": move_sheet_last("Biểu 1".encode())})
    case(
        "hidden-sheet.xlsx",
        "hidden-data",
        {"xl/workbook.xml": lambda x: x.replace(b'sheetId="3"', b'sheetId="3" state="hidden"', 1)},
    )
    with zipfile.ZipFile(d / "xlsb-renamed.xlsx", "w") as zf:  # an .xlsb saved under an .xlsx name
        zf.writestr("[Content_Types].xml", b"<Types/>")
        zf.writestr("xl/workbook.bin", b"\x83\x01\x00" * 64)
    out["xlsb-renamed.xlsx"] = "not-a-workbook"
    # the sheet inflates to 40 MB of spaces while the directory says 1 KB
    bomb = d / "lying-size.xlsx"
    rezip(g, bomb, {BIEU1: lambda x: x.replace(b"</sheetData>", b" " * 40_000_000 + b"</sheetData>")})
    patch_declared_size(bomb, BIEU1, 1024)
    out[bomb.name] = "unpacked-too-large"
    # a directory that names one part twice
    dup = d / "two-workbooks.xlsx"
    with zipfile.ZipFile(g) as a, zipfile.ZipFile(dup, "w") as b, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name: that is the point
        for info in a.infolist():
            b.writestr(info, a.read(info.filename))
        b.writestr("xl/workbook.xml", b"<workbook/>")
    out[dup.name] = "damaged-archive"
    (d / "truncated.xlsx").write_bytes(g.read_bytes()[: len(g.read_bytes()) // 2])
    out["truncated.xlsx"] = "unreadable-workbook"
    (d / "text.xlsx").write_text("hello\x1b[2J", encoding="utf-8")
    out["text.xlsx"] = "not-a-workbook"
    with open(d / "sparse-huge.xlsx", "wb") as fh:
        fh.truncate(25 * 1024 * 1024)
    out["sparse-huge.xlsx"] = "file-too-large"
    return out


def _ods_cases(d: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    enc = b'<manifest:file-entry manifest:full-path="content.xml"><manifest:encryption-data/></manifest:file-entry>'
    rezip(
        GOOD_ODS,
        d / "password.ods",
        {"META-INF/manifest.xml": lambda x: x.replace(b"</manifest:manifest>", enc + b"</manifest:manifest>")},
    )
    out["password.ods"] = "encrypted-workbook"
    flood = (
        b'<table:table-row table:number-rows-repeated="1000000"><table:table-cell office:value-type="float" '
        b'office:value="1" table:number-columns-repeated="16384"/></table:table-row>'
    )
    rezip(
        GOOD_ODS,
        d / "repeat-bomb.ods",
        {"content.xml": lambda x: x.replace(b"</table:table>", flood + b"</table:table>", 1)},
    )
    out["repeat-bomb.ods"] = "data-outside-form"
    empty = (
        b'<table:table-row table:number-rows-repeated="1048000">'
        b'<table:table-cell table:number-columns-repeated="16384"/></table:table-row>'
    )
    rezip(
        GOOD_ODS,
        d / "repeat-empty.ods",
        {"content.xml": lambda x: x.replace(b"</table:table>", empty + b"</table:table>", 1)},
    )
    out["repeat-empty.ods"] = ""
    return out


def _xls_cases(d: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    data = bytearray(GOOD_XLS.read_bytes())
    # the first RK record (a number, 0x027E, 10 bytes): move its cell to IV65536
    at = data.index(b"\x7e\x02\x0a\x00")
    struct.pack_into("<HH", data, at + 4, 65535, 255)
    (d / "far-cell.xls").write_bytes(bytes(data))
    out["far-cell.xls"] = "data-outside-form"
    data = bytearray(GOOD_XLS.read_bytes())
    at = data.index(b"\x00\x02\x0e\x00")  # the first DIMENSIONS record: declare 65536 x 256
    struct.pack_into("<IIHH", data, at + 4, 0, 65536, 0, 256)
    (d / "far-range.xls").write_bytes(bytes(data))
    out["far-range.xls"] = "data-outside-form"
    # a first row beyond the last: the reader's (last - first) wraps to a terabyte allocation and aborts
    data = bytearray(GOOD_XLS.read_bytes())
    struct.pack_into("<IIHH", data, at + 4, 0x00E70000, 14, 0, 6)
    (d / "reversed-range.xls").write_bytes(bytes(data))
    out["reversed-range.xls"] = "data-outside-form"
    return out


def _special_files(d: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    os.mkfifo(d / "fifo.xlsx")
    out["fifo.xlsx"] = "not-a-file"
    (d / "dev-zero.xlsx").symlink_to("/dev/zero")
    out["dev-zero.xlsx"] = "not-a-file"
    (d / "broken-link.xlsx").symlink_to(d / "nowhere.xlsx")
    out["broken-link.xlsx"] = "not-a-file"
    return out


#: files people send instead of the form, named as a workbook, and what ctstat must say each one is (in both
#: languages, from guard.KINDS)
OTHER_FILES: dict[str, tuple[bytes | Callable[[Path], None], str, str]] = {
    "bao-cao.xlsx": ("Mã,Tên,Số\n00301,Phường Thanh Trì,4721\n00304,Phường Vĩnh Hưng,85\n".encode(), "CSV", "CSV"),
    "excel-csv.xls": ("\ufeffMã;Tên;Số\r\n00301;Thanh Trì;12\r\n".encode(), "CSV", "CSV"),
    "utf16.xls": ("Mã\tTên\tSố\r\n00301\tThanh Trì\t12\r\n".encode("utf-16"), "Tab", "tab-separated"),
    "ghi-chu.xlsx": ("Số liệu của phường sẽ gửi sau.\n".encode(), "văn bản thuần", "plain text"),
    "ban-in.xlsx": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "PDF", "PDF"),
    "anh-chup.xlsx": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64), "ảnh", "picture"),
    "anh.png.xlsx": (b"\x89PNG\r\n\x1a\n" + bytes(64), "ảnh", "picture"),
    "iphone.xlsx": (b"\x00\x00\x00\x18ftypheic" + bytes(64), "ảnh", "picture"),
    "xuat-tu-phan-mem.xls": (b"<html><head><meta charset=utf-8></head><body><table><tr><td>1</td></tr></table>", "HTML",
                             "HTML"),
    "excel-2003.xml.xls": (b'<?xml version="1.0"?>\n<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet">'
                           b"</Workbook>", "Excel 2003", "Excel 2003"),
    "rong.xlsx": (b"", "rỗng", "empty"),
    "nen.rar.xlsx": (b"Rar!\x1a\x07\x01\x00" + bytes(32), "tệp nén", "archive"),
    "van-ban.docx.xlsx": (lambda p: _zip(p, {"word/document.xml": b"<w/>", "[Content_Types].xml": b"<x/>"}), "Word",
                          "Word"),
    "trinh-chieu.xlsx": (lambda p: _zip(p, {"ppt/presentation.xml": b"<p/>"}), "trình chiếu", "presentation"),
    "van-ban.odt.ods": (lambda p: _zip(p, {"mimetype": b"application/vnd.oasis.opendocument.text",
                                           "content.xml": b"<office:document-content/>"}), "Writer", "Writer"),
    "bieu-mau.zip.xlsx": (lambda p: _zip(p, {"00301.xlsx": GOOD_XLSX.read_bytes()}), "tệp nén", "archive"),
    "nhi-phan.xlsb.xlsx": (lambda p: _zip(p, {"xl/workbook.bin": b"\x00"}), ".xlsb", ".xlsb"),
    "van-ban-cu.doc.xls": (lambda p: _ole(p, "WordDocument"), "Word", "Word"),
}  # fmt: skip


def _zip(path: Path, parts: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in parts.items():
            zf.writestr(name, data)


def _ole(path: Path, stream: str) -> None:
    """An OLE container holding a `stream` instead of a workbook (a Word 97 document holds 'WordDocument'): the
    form's .xls as LibreOffice saves it, its 'Workbook' directory entry renamed."""
    data = bytearray(GOOD_XLS.read_bytes())
    at = data.find("Workbook\x00".encode("utf-16-le"))
    assert at > 0
    name = (stream + "\x00").encode("utf-16-le")
    data[at : at + 64] = name.ljust(64, b"\x00")
    data[at + 64 : at + 66] = struct.pack("<H", len(name))
    path.write_bytes(bytes(data))


def _other_files(d: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, (content, _, _) in OTHER_FILES.items():
        if callable(content):
            content(d / name)
        else:
            (d / name).write_bytes(content)
        out[name] = "not-a-workbook"
    return out


def build(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    cases = {**_xlsx_cases(folder), **_ods_cases(folder), **_xls_cases(folder), **_special_files(folder)}
    return {**cases, **_other_files(folder)}
