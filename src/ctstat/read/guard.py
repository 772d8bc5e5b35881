"""The wall before any parser: a file is judged by what it is and what it holds before a reader sees it.

A ward's file may be broken or malicious. Before python-calamine (native code that allocates from what a file
*declares*) sees anything, this module checks that the path is a regular readable file under the size limit,
that a zip's directory is sane, inflates each part it needs itself with a hard cap (never trusting the
header), refuses XML that declares a DOCTYPE or entities, and keeps every cell reference inside the form's
extent. The reader is then given a new, uncompressed package holding only the parts checked here, so nothing
unchecked reaches it. Every refusal is a `Refused` with an issue code (see messages.py); nothing here raises
anything else for a bad file.

Every scan of untrusted XML is a single pass with bounded, possessive quantifiers (linear in the input size).
"""

from __future__ import annotations

import html
import io
import os
import posixpath
import re
import stat
import struct
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

from isal import isal_zlib  # ISA-L: inflates twice as fast as zlib, the same output, the same cap

from ctstat.model.keys import parse_a1
from ctstat.model.report import Said

MAX_FILE_BYTES = 20 * 1024 * 1024  #: a form is ~30 KB; anything near this is not a form
MAX_MEMBERS = 2000  #: parts in a zip package (a form has ~20)
MAX_PART_BYTES = 32 * 1024 * 1024  #: one inflated part (a form's largest sheet is ~40 KB)
MAX_TOTAL_BYTES = 128 * 1024 * 1024  #: all the parts inflated for one file
MAX_ROWS = 999  #: the form's extent: rows 1..999 (a form sheet has < 100)
MAX_COLS = 104  #: columns A..CZ (a form sheet has < 30)
MAX_MERGES = 10_000
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP = b"PK\x03\x04"


#: what ISA-L raises for a damaged stream (its stubs type it as an instance)
_INFLATE_ERROR: type[Exception] = isal_zlib.error  # type: ignore[assignment]


class Refused(Exception):
    """A file (or one part of it) that must not reach a reader: the issue code and where it was seen."""

    def __init__(self, code: str, detail: str = "", sheet: str | None = None, cell: str | None = None) -> None:
        """`detail`: said in both languages (a `Said`), or the same in both (a name, a size, a part's path)."""
        super().__init__(code, detail)
        self.code, self.detail, self.sheet, self.cell = code, detail, sheet, cell


# --- the file itself ------------------------------------------------------------------------------------------

_KINDS = (
    (stat.S_ISDIR, Said("thư mục", "a folder")),
    (stat.S_ISFIFO, Said("đường ống FIFO", "a FIFO")),
    (stat.S_ISCHR, Said("thiết bị", "a device")),
    (stat.S_ISBLK, Said("thiết bị", "a device")),
    (stat.S_ISSOCK, "socket"),
)


def os_reason(exc: OSError) -> Said:
    """Why the system could not read a file, in both languages (never an exception's class name)."""
    import errno

    vi = {errno.EACCES: "không có quyền đọc", errno.EIO: "lỗi đọc đĩa", errno.ENOENT: "không tìm thấy tệp"}
    en = exc.strerror or "system error"
    return Said(vi.get(exc.errno or 0, f"lỗi hệ thống ({en})"), en)


def read_file(path: str, limit: int | None = None) -> bytes:
    """The bytes of a regular file (a symlink is judged by its target), at most `limit` of them.

    Opened without blocking and checked on the open descriptor, so a FIFO, a device or a file swapped in between
    a check and the read can never hang or flood the reader."""
    limit = MAX_FILE_BYTES if limit is None else limit
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise Refused("not-a-file", Said("không tìm thấy tệp (liên kết hỏng?)", "not found (broken link?)")) from None
    except PermissionError:
        raise Refused("file-unreadable", Said("không có quyền đọc", "permission denied")) from None
    except OSError as exc:
        raise Refused("file-unreadable", os_reason(exc)) from None
    try:
        st = os.fstat(fd)
        for test, kind in _KINDS:
            if test(st.st_mode):
                raise Refused("not-a-file", kind)
        if not stat.S_ISREG(st.st_mode):
            raise Refused("not-a-file", Said("không phải tệp thường", "not a regular file"))
        if st.st_size > limit:
            size, cap = f"{st.st_size / 2**20:.1f}", f"{limit / 2**20:.0f} MB"
            raise Refused("file-too-large", Said(f"{size.replace('.', ',')} MB > {cap}", f"{size} MB > {cap}"))
        chunks, n = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - n))
            if not chunk:
                break
            chunks.append(chunk)
            n += len(chunk)
            if n > limit:  # the file grew while being read
                raise Refused("file-too-large", f"> {limit / 2**20:.0f} MB")
        return b"".join(chunks)
    except OSError as exc:
        raise Refused("file-unreadable", os_reason(exc)) from None
    finally:
        os.close(fd)


# --- zip packages ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One entry of a zip's central directory, as declared (nothing here is trusted until inflated)."""

    flags: int
    method: int
    size: int  #: declared inflated size
    packed: int
    offset: int


class Package:
    """A zip package whose central directory was read and checked; parts are inflated on demand, each with a
    hard cap whatever its header declares."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.infos = _directory(data)
        declared = sum(p.size for p in self.infos.values())
        if declared > MAX_TOTAL_BYTES:  # only a first sign: what is inflated is capped as it is inflated
            raise Refused("unpacked-too-large", f"{declared / 2**20:.0f} MB")
        self.inflated = 0

    def has(self, name: str) -> bool:
        return name in self.infos

    def read(self, name: str, cap: int = MAX_PART_BYTES) -> bytes:
        """Inflate one part, never more than `cap` bytes (nor the file's total budget), whatever its header says."""
        info = self.infos[name]
        if info.flags & 0x1:
            raise Refused("encrypted-workbook")
        data, off = self.data, info.offset
        if off + 30 > len(data) or data[off : off + 4] != ZIP:
            raise Refused("unreadable-workbook", f"zip: {name[:80]}")
        name_len, extra_len = struct.unpack_from("<HH", data, off + 26)
        start = off + 30 + name_len + extra_len
        end = start + info.packed
        if end > len(data):
            raise Refused("unreadable-workbook", f"zip: {name[:80]}")
        cap = min(cap, MAX_TOTAL_BYTES - self.inflated)
        packed = memoryview(data)[start:end]
        try:
            if info.method == 0:
                out = bytes(packed[: cap + 1])
            elif info.method == 8:
                out = isal_zlib.decompressobj(-15).decompress(packed, cap + 1)
            else:
                raise Refused(
                    "unreadable-workbook",
                    Said(f"zip: nén kiểu {info.method}", f"zip: compression method {info.method}"),
                )
        except (zlib.error, _INFLATE_ERROR):
            raise Refused("unreadable-workbook", f"zip: {name[:80]}") from None
        if len(out) > cap:
            raise Refused("unpacked-too-large", f"{name[:80]} > {cap / 2**20:.0f} MB")
        self.inflated += len(out)
        return out


def _directory(data: bytes) -> dict[str, Part]:
    """The central directory, read from the end-of-directory record (no zip64: a form is never that large)."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if end < 0 or end + 22 > len(data):
        raise Refused("unreadable-workbook", Said("zip: không có mục lục", "zip: no central directory"))
    _, _, _, count, size, start, _ = struct.unpack_from("<HHHHIIH", data, end + 4)
    if count == 0xFFFF or start == 0xFFFFFFFF:
        raise Refused("unreadable-workbook", "zip64")
    if count > MAX_MEMBERS:
        raise Refused("damaged-archive", Said(f"{count} phần", f"{count} parts"))
    if start + size > end:
        raise Refused("unreadable-workbook", Said("zip: mục lục hỏng", "zip: damaged central directory"))
    parts: dict[str, Part] = {}
    pos = start
    for _ in range(count):
        if pos + 46 > end or data[pos : pos + 4] != b"PK\x01\x02":
            raise Refused("unreadable-workbook", Said("zip: mục lục hỏng", "zip: damaged central directory"))
        flags, method, _, _, _, packed, usize, n, m, k, _, _, _, offset = struct.unpack_from(
            "<HHHHIIIHHHHHII", data, pos + 8
        )
        raw = data[pos + 46 : pos + 46 + n]
        name = raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        if name in parts:
            raise Refused("damaged-archive", Said(f"hai phần cùng tên {name[:80]!r}", f"two parts named {name[:80]!r}"))
        parts[name] = Part(flags, method, usize, packed, offset)
        pos += 46 + n + m + k
    return parts


def check_xml(part: bytes, name: str, counts: bool = True) -> bytes:
    """Refuse XML that declares a DTD or entities, or is not UTF-8 (no writer of forms produces either), and with
    `counts`, any count attribute larger than the part could hold (a count made to make the reader allocate)."""
    head = part[:4]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        raise Refused("damaged-archive", Said(f"{name[:80]}: XML không phải UTF-8", f"{name[:80]}: XML not in UTF-8"))
    # a DTD can only stand in the prolog, before the first element; after it the XML is not well-formed
    first = _FIRST_ELEMENT.search(part)
    if b"<!DOCTYPE" in part[: first.start() if first else len(part)]:
        raise Refused("xml-doctype", name[:80])
    if counts:
        for m in _COUNT.finditer(part):
            if int(m.group(1)) > len(part) // 2 + 64:
                raise Refused("damaged-archive", f"{name[:80]}: {m.group(0).decode('ascii', 'replace')[:60]}")
    return part


_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
_COUNT = re.compile(rb'ount="([0-9]{1,30}+)"')  #: count=, uniqueCount=: a literal start keeps the scan fast


def store(parts: dict[str, bytes]) -> bytes:
    """A new zip holding exactly `parts`, uncompressed: what the reader is given instead of the original."""
    chunks: list[bytes] = []
    directory: list[bytes] = []
    off = 0
    for name, body in parts.items():
        raw = name.encode()
        crc = zlib.crc32(body)
        head = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0x800, 0, 0, 0x21, crc, len(body), len(body), len(raw), 0)
        chunks += (head, raw, body)
        directory.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0x800,
                0,
                0,
                0x21,
                crc,
                len(body),
                len(body),
                len(raw),
                0,
                0,
                0,
                0,
                0,
                off,
            )  # fmt: skip
            + raw
        )
        off += len(head) + len(raw) + len(body)
    cd = b"".join(directory)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(directory), len(directory), len(cd), off, 0)
    return b"".join(chunks) + cd + end


# --- cell references ------------------------------------------------------------------------------------------


def inside(row: int, col: int) -> bool:
    return 1 <= row <= MAX_ROWS and 1 <= col <= MAX_COLS


# --- xlsx -----------------------------------------------------------------------------------------------------

_SHEET_TAG = re.compile(rb"<(?:\w{1,32}:)?sheet\s([^<>]{0,4096}+)>")
_REL_TAG = re.compile(rb"<(?:\w{1,32}:)?Relationship\s([^<>]{0,4096}+)>")
_ATTR = re.compile(rb'([\w:]{1,64}+)\s{0,8}+=\s{0,8}+"([^"<>]{0,2048}+)"')
#: a cell whose reference lies outside the form's extent (columns past CZ, rows past 999, row 0). References are read
#: where every spreadsheet program writes them (first): a file that puts a far one elsewhere is stopped by the memory
#: cap of the reading process (contain.py), and its formulas are simply not seen.
_FAR_CELL = re.compile(rb'<c\sr="(?:[A-Z]{3}|[D-Z][A-Z]|[A-Z]{0,2}[0-9]{4}|[A-Z]{1,2}0)')
#: a cell holding a formula, matched where a `<f` was found: its reference (group 1), the formula, then its cached
#: value (group 2). Only formula cells are matched, so a sheet costs a search for `<f`, not a regex per cell.
_FORMULA_CELL = re.compile(
    rb'<c\sr="([A-Z]{1,2}[0-9]{1,3})"[^<>]{0,1024}+>\s{0,64}+<f[\s/>](?>[^<]{0,16384}+)(?:</f>)?\s{0,64}+'
    rb"(<v(?:\s[^<>]{0,64}+)?>[^<]{1,64}+)?"
)
_CELL_AT = re.compile(rb"<c\s([^<>]{0,1024}+)>")
_DIMENSION = re.compile(rb"<dimension\s[^<>]{0,256}+>")
_ROW_TAG = re.compile(rb"<row\s([^<>]{0,1024}+)>")
_MERGE = re.compile(rb"<mergeCell\s([^<>]{0,256}+)>")
_CELL_END = re.compile(rb"</c>|<c[\s>]|</row>")


def _attrs(raw: bytes) -> dict[str, str]:
    return {k.decode("utf-8", "replace"): _unescape(v) for k, v in _ATTR.findall(raw)}


def _unescape(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return html.unescape(text) if "&" in text else text


@dataclass
class SheetScan:
    """What calamine does not tell about a sheet: formulas (with or without a cached value), hidden rows, merges."""

    formulas: dict[str, bool] = field(default_factory=dict)  #: A1 -> has a cached value
    hidden_rows: list[int] = field(default_factory=list)
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)  #: (row1, col1, row2, col2)


@dataclass
class Checked:
    """A package fit for the reader: the stored zip and what the scans found."""

    payload: bytes
    sheet_names: list[str]
    hidden_sheets: set[str]
    scans: dict[str, SheetScan]


def check_xlsx(pkg: Package, wanted: set[str]) -> Checked:
    """Check the parts of an .xlsx/.xlsm the reader needs (workbook, relationships, strings, styles, the sheets
    named in `wanted`) and package them alone, uncompressed."""
    if not pkg.has("xl/workbook.xml"):
        raise Refused(*not_a_workbook(pkg=pkg))
    parts, sheets = _book_parts(pkg)
    names, hidden, scans = [], set(), {}
    for name, is_hidden, path in sheets:
        names.append(name)
        if is_hidden:
            hidden.add(name)
        if name in wanted and pkg.has(path) and path not in parts:
            xml = check_xml(pkg.read(path), path, counts=False)
            parts[path], scans[name] = scan_sheet(xml, name)
    return Checked(store(parts), names, hidden, scans)


def check_rollup(pkg: Package, wanted: set[str]) -> bytes:
    """The parts of a district/province workbook (written by ctstat) a city rollup reads, packaged alone.

    Its data sheet is wider than a form (a column per form cell), so it is not held to the form's extent: the
    zip caps, the XML checks and the reading worker's memory and time limits bound it, and its digest says
    whether anyone changed it since ctstat wrote it."""
    parts, sheets = _book_parts(pkg)
    for name, _, path in sheets:
        if name in wanted and pkg.has(path) and path not in parts:
            xml = check_xml(pkg.read(path), path, counts=False)
            dim = _DIMENSION.search(xml)  # optional; dropped so that the reader sizes the sheet by its cells
            parts[path] = xml[: dim.start()] + xml[dim.end() :] if dim else xml
    return store(parts)


def _book_parts(pkg: Package) -> tuple[dict[str, bytes], list[tuple[str, bool, str]]]:
    """The checked parts every reading of an .xlsx needs (content types, workbook, relationships, strings,
    styles) and (name, hidden, part) of each sheet."""
    parts: dict[str, bytes] = {}
    for name in ("[Content_Types].xml", "_rels/.rels"):  # the reader tells the format by these
        if pkg.has(name):
            parts[name] = check_xml(pkg.read(name, 1 << 20), name, counts=False)
    book = parts["xl/workbook.xml"] = check_xml(pkg.read("xl/workbook.xml", 1 << 20), "xl/workbook.xml", False)
    rels_name = "xl/_rels/workbook.xml.rels"
    rels = parts[rels_name] = check_xml(pkg.read(rels_name, 1 << 20), rels_name, False) if pkg.has(rels_name) else b""
    sheets, extra = _book_plan(book, rels)
    for path in extra:
        if pkg.has(path) and path not in parts:
            parts[path] = check_xml(pkg.read(path), path)
    return parts, sheets


@lru_cache(maxsize=64)
def _book_plan(book: bytes, rels: bytes) -> tuple[list[tuple[str, bool, str]], list[str]]:
    """(name, hidden, part) of every sheet, and the string and style parts, from workbook.xml and its
    relationships (cached: files made from one form share them)."""
    targets: dict[str, tuple[str, str]] = {}
    for m in _REL_TAG.finditer(rels):
        a = _attrs(m.group(1))
        target = a.get("Target", "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        targets[a.get("Id", "")] = (a.get("Type", "").rsplit("/", 1)[-1], path)
    sheets = []
    for m in _SHEET_TAG.finditer(book):
        a = _attrs(m.group(1))
        rid = next((v for k, v in a.items() if k.endswith(":id") or k == "id"), "")
        sheets.append((a.get("name", ""), a.get("state", "visible") != "visible", targets.get(rid, ("", ""))[1]))
    extra = [path for kind, path in targets.values() if kind in ("sharedStrings", "styles")]
    return sheets, extra


def scan_sheet(xml: bytes, sheet: str) -> tuple[bytes, SheetScan]:
    """One sheet's formulas, hidden rows and merges; refuses data outside the form's extent (and drops a declared
    dimension or empty cells beyond it, which would only make the reader allocate). Returns the sheet as the
    reader is to see it: up to its cells (what follows, validations and print settings, is not for reading)."""
    xml = _without_far_dimension(xml)
    scan = SheetScan()
    end = xml.find(b"</sheetData>")
    tail = b""
    if end >= 0:  # the reader is given the cells alone; merges are read here from what follows them
        tail = xml[end + 12 :]
        xml = xml[: end + 12] + b"</worksheet>"
    far = _FAR_CELL.search(xml) is not None
    if far:
        xml = _within_extent(xml, sheet)
    scan.formulas = _formulas(xml, far)
    if b'hidden="' in xml:
        for m in _ROW_TAG.finditer(xml):
            a = _attrs(m.group(1))
            if a.get("hidden") in ("1", "true") and a.get("r", "").isdigit():
                scan.hidden_rows.append(int(a["r"]))
    merges = tail or xml
    start = merges.find(b"<mergeCells")
    if start >= 0:
        stop = merges.find(b"</mergeCells>", start)
        scan.merges = _merges(merges[start : stop if stop > 0 else len(merges)], sheet)
    return xml, scan


_TAG_REACH = 1200  #: the farthest a formula cell's `<c` can stand before its `<f` (_FORMULA_CELL's bounds)


def _formulas(xml: bytes, far: bool = True) -> dict[str, bool]:
    """A1 -> has a cached value, of every cell holding a formula: each `<f` found is matched from the start of its
    cell's tag (the last `<c` before it); a cell whose reference is outside the extent is not one of them (`far`:
    the sheet may hold such references)."""
    out: dict[str, bool] = {}
    at = xml.find(b"<f")
    while at >= 0:
        start = xml.rfind(b"<c", max(0, at - _TAG_REACH), at)  # bounded: a run of `<f` stays linear
        m = _FORMULA_CELL.match(xml, start) if start >= 0 else None
        if m is not None and not (far and _FAR_CELL.match(xml, start)):
            out[m.group(1).decode()] = bool(m.group(2))
        at = xml.find(b"<f", at + 2)
    return out


@lru_cache(maxsize=256)
def _merges(section: bytes, sheet: str) -> list[tuple[int, int, int, int]]:
    """The merged ranges of a <mergeCells> section (cached: every file made from one form has the same one)."""
    if section.count(b"<mergeCell ") > MAX_MERGES:
        raise Refused("damaged-archive", f"{sheet}: mergeCell", sheet=sheet)
    out = []
    for m in _MERGE.finditer(section):
        ref = _attrs(m.group(1)).get("ref", "")
        first, _, last = ref.partition(":")
        a, b = parse_a1(first), parse_a1(last or first)
        if a and b:
            out.append((min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])))
    return out


def _without_far_dimension(xml: bytes) -> bytes:
    """A declared dimension beyond the extent is dropped (it is optional: the reader sizes a sheet by its cells)."""
    dim = _DIMENSION.search(xml)
    if dim:
        ref = _attrs(dim.group(0)[10:]).get("ref", "")
        corner = parse_a1(ref.rpartition(":")[2]) if ref else None
        if corner is None or not inside(*corner):
            return xml[: dim.start()] + xml[dim.end() :]
    return xml


def _within_extent(xml: bytes, sheet: str) -> bytes:
    # rare: references beyond the extent. Any with data is refused; empty (formatted) cells are dropped.
    kept, pos = [], 0
    for m in _CELL_AT.finditer(xml):
        ref = _attrs(m.group(1)).get("r", "")
        at = parse_a1(ref)
        if not ref or (at is not None and inside(*at)):
            continue
        if m.group(1).endswith(b"/"):
            kept.append(xml[pos : m.start()])
            pos = m.end()
            continue
        end = _CELL_END.search(xml, m.end())
        body = xml[m.end() : end.start() if end else len(xml)]
        if b"<v" in body or b"<is" in body or b"<f" in body or b"<t" in body:
            raise Refused("data-outside-form", sheet=sheet, cell=ref)
        kept.append(xml[pos : m.start()])
        pos = end.end() if end and end.group(0) == b"</c>" else m.end()
    kept.append(xml[pos:])
    xml = b"".join(kept)
    for m in _ROW_TAG.finditer(xml):
        r = _attrs(m.group(1)).get("r", "")
        if r.isdigit() and not 1 <= int(r) <= MAX_ROWS and b"<c" in xml[m.end() : m.end() + 64]:
            raise Refused("data-outside-form", Said(f"dòng {r}", f"row {r}"), sheet=sheet)
    return xml


# --- xls (BIFF8 in an OLE container) --------------------------------------------------------------------------

_BIFF_CELLS = {0x00FD, 0x0203, 0x027E, 0x0204, 0x0205, 0x0006, 0x00D6}  #: records holding one cell's value
_BIFF_MULTI = {0x00BD}  #: MULRK: several values on one row
_BIFF_EMPTY = {0x0201, 0x00BE}  #: BLANK, MULBLANK: formatting only


def check_xls(data: bytes, wanted: set[str]) -> dict[str, SheetScan]:
    """Walk the BIFF records of an .xls before the reader does: every cell and every declared range must lie
    inside the form's extent (the reader allocates each sheet's declared range up front), and the declared
    string count must fit the stream. Returns the merges and hidden rows of the sheets in `wanted`."""
    buf = _workbook_stream(data)
    names: dict[int, str] = {}
    scans: dict[str, SheetScan] = {}
    sheet: str | None = None
    pos, n = 0, len(buf)
    while pos + 4 <= n:
        kind, size = struct.unpack_from("<HH", buf, pos)
        body = pos + 4
        if body + size > n:
            break  # a truncated last record: the reader will say whether the rest is readable
        if kind == 0x0085 and size >= 8:  # BOUNDSHEET: where a sheet's records start, and its name
            offset, length, wide = struct.unpack_from("<IxxBB", buf, body)
            raw = buf[body + 8 : body + 8 + length * (2 if wide & 1 else 1)]
            names[offset] = raw.decode("utf-16-le" if wide & 1 else "latin-1", "replace")
        elif kind == 0x0809:  # BOF: a sheet starts here
            sheet = names.get(pos)
        elif not _within_limits(buf, kind, body, size, sheet) and sheet in wanted and sheet is not None:
            _scan_record(buf, kind, body, size, scans.setdefault(sheet, SheetScan()))
        pos = body + size
    return {name: scan for name, scan in scans.items() if scan.merges or scan.hidden_rows}


def _workbook_stream(data: bytes) -> bytes:
    """The Workbook stream of an OLE container, read no further than a part may inflate to."""
    import olefile

    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
        stream = next((s for s in ("Workbook", "Book") if ole.exists(s)), None)
        if stream is None:
            raise Refused(*not_a_workbook(ole=ole))
        if ole.get_size(stream) > MAX_PART_BYTES:
            raise Refused("unpacked-too-large", f"Workbook > {MAX_PART_BYTES / 2**20:.0f} MB")
        return bytes(ole.openstream(stream).read(MAX_PART_BYTES + 1))
    except Refused:
        raise
    except Exception:  # olefile raises many types on damaged containers
        raise Refused(
            "unreadable-workbook", Said("vỏ OLE của tệp .xls bị hỏng", "the .xls file's OLE container is damaged")
        ) from None


def _within_limits(buf: bytes, kind: int, body: int, size: int, sheet: str | None) -> bool:
    """Check one record against the form's extent and the stream's size (Refused when it breaks them). True when
    the record was one of those checked (a cell, a range, the string table), False for any other record."""
    from ctstat.model.keys import a1

    if kind in _BIFF_CELLS and size >= 4:
        row, col = struct.unpack_from("<HH", buf, body)
        if not inside(row + 1, col + 1):
            raise Refused("data-outside-form", sheet=sheet, cell=a1(row + 1, col + 1))
    elif kind in _BIFF_MULTI and size >= 6:
        row, first = struct.unpack_from("<HH", buf, body)
        (last,) = struct.unpack_from("<H", buf, body + size - 2)
        if not inside(row + 1, max(first, last) + 1):
            raise Refused("data-outside-form", sheet=sheet, cell=a1(row + 1, max(first, last) + 1))
    elif kind in _BIFF_EMPTY and size >= 4:
        row, col = struct.unpack_from("<HH", buf, body)
        if not inside(row + 1, col + 1):
            raise Refused("data-outside-form", Said("ô định dạng", "formatted cell"), sheet, a1(row + 1, col + 1))
    elif kind == 0x0200 and size >= 12:  # DIMENSIONS: the range the reader will allocate
        first_row, last_row, first_col, last_col = struct.unpack_from("<IIHH", buf, body)
        # the reader allocates (last - first) x (last - first): a first beyond the last wraps to terabytes
        if last_row > MAX_ROWS + 1 or last_col > MAX_COLS + 1 or first_row > last_row or first_col > last_col:
            corner = a1(min(last_row, 1048576), min(max(last_col, 1), 16384))
            where = Said(f"vùng khai báo A1:{corner}", f"declared range A1:{corner}")
            raise Refused("data-outside-form", where, sheet)
    elif kind == 0x00FC and size >= 8:  # SST: the declared number of strings
        total, unique = struct.unpack_from("<II", buf, body)
        if unique > len(buf) or total > 16 * len(buf):
            raise Refused("damaged-archive", f"SST {unique}")
    else:
        return False
    return True


def _scan_record(buf: bytes, kind: int, body: int, size: int, scan: SheetScan) -> None:
    """Merges and hidden rows of a sheet the form needs."""
    if kind == 0x00E5 and size >= 2:  # MERGEDCELLS
        (count,) = struct.unpack_from("<H", buf, body)
        for i in range(min(count, (size - 2) // 8)):
            r1, r2, c1, c2 = struct.unpack_from("<HHHH", buf, body + 2 + 8 * i)
            scan.merges.append((r1 + 1, c1 + 1, r2 + 1, c2 + 1))
    elif kind == 0x0208 and size >= 16:  # ROW: fDyZero marks a hidden row
        (row,) = struct.unpack_from("<H", buf, body)
        (flags,) = struct.unpack_from("<H", buf, body + 12)
        if flags & 0x20:
            scan.hidden_rows.append(row + 1)


# --- what a file is that is not a workbook ---------------------------------------------------------------------

_SEND_FORM = (
    "mở biểu mẫu do ctstat tạo (.xlsx) bằng Excel hoặc LibreOffice, nhập số liệu vào đó, lưu dạng .xlsx rồi gửi tệp đó",
    "open the form made by ctstat (.xlsx) in Excel or LibreOffice, enter the data in it, save it as .xlsx and send "
    "that file",
)
_NO_PRINT = (
    "máy không đọc được số liệu từ {what}. Gửi chính tệp biểu mẫu Excel (.xlsx) đã điền",
    "numbers cannot be read from {what}. Send the filled-in Excel form (.xlsx) itself",
)
_SAVE_AS = (
    "mở bằng Excel hoặc LibreOffice, lưu lại dạng .xlsx (Sổ làm việc Excel) rồi gửi tệp .xlsx",
    "open it in Excel or LibreOffice, save it as .xlsx (Excel Workbook) and send the .xlsx file",
)
#: what a file is and what to do, in Vietnamese then in English, for the files people send instead of the form
KINDS: dict[str, tuple[str, str, str, str]] = {
    "csv": ("tệp văn bản CSV (các giá trị cách nhau bằng dấu phẩy hoặc chấm phẩy)", _SEND_FORM[0],
            "a CSV text file (values separated by commas or semicolons)", _SEND_FORM[1]),
    "tsv": ("tệp văn bản có các cột cách nhau bằng dấu Tab", _SEND_FORM[0],
            "a text file with tab-separated columns", _SEND_FORM[1]),
    "text": ("tệp văn bản thuần (text)", _SEND_FORM[0], "a plain text file", _SEND_FORM[1]),
    "html": ("trang web (HTML) đặt tên như tệp Excel (một số phần mềm xuất báo cáo như vậy)",
             "chép số liệu sang biểu mẫu do ctstat tạo (.xlsx), lưu rồi gửi tệp .xlsx đó",
             "a web page (HTML) named like an Excel file (some programs export reports that way)",
             "copy the data into the form made by ctstat (.xlsx), save it and send that .xlsx file"),
    "xml2003": ("bảng tính Excel 2003 dạng XML", _SAVE_AS[0], "an Excel 2003 XML spreadsheet", _SAVE_AS[1]),
    "xlsb": ("sổ làm việc nhị phân Excel (.xlsb), dạng ctstat không đọc", _SAVE_AS[0],
             "an Excel binary workbook (.xlsb), which ctstat does not read", _SAVE_AS[1]),
    "pdf": ("tệp PDF (bản in)", _NO_PRINT[0].format(what="bản in"),
            "a PDF (a printout)", _NO_PRINT[1].format(what="a printout")),
    "image": ("ảnh (ảnh chụp hoặc ảnh quét)", _NO_PRINT[0].format(what="ảnh"),
              "a picture (a photo or a scan)", _NO_PRINT[1].format(what="a picture")),
    "word": ("văn bản Word", _NO_PRINT[0].format(what="văn bản"),
             "a Word document", _NO_PRINT[1].format(what="a document")),
    "writer": ("văn bản LibreOffice Writer (.odt)", _NO_PRINT[0].format(what="văn bản"),
               "a LibreOffice Writer document (.odt)", _NO_PRINT[1].format(what="a document")),
    "slides": ("bản trình chiếu (PowerPoint)", _NO_PRINT[0].format(what="bản trình chiếu"),
               "a presentation (PowerPoint)", _NO_PRINT[1].format(what="a presentation")),
    "archive": ("tệp nén (ZIP, RAR, 7z hoặc gzip)", "giải nén, rồi gửi tệp biểu mẫu .xlsx ở bên trong",
                "a compressed archive (ZIP, RAR, 7z or gzip)", "unpack it and send the .xlsx form inside"),
    "empty": ("tệp rỗng (không có nội dung)", "có thể tệp chưa được lưu xong hoặc bị hỏng khi gửi: lưu lại biểu "
              "mẫu rồi gửi lại", "an empty file (no content)", "perhaps it was not saved completely or broke on the "
              "way: save the form again and send it again"),
}  # fmt: skip


def not_a_workbook(data: bytes | None = None, pkg: Package | None = None, ole: object = None) -> tuple[str, Said]:
    """The issue code and detail for a file that is no workbook: what it is, recognised by its content (a CSV, a
    PDF, a picture, a Word document, a web page saved as .xls, an archive ...) and what to do, in one language
    each; a file of no kind it knows is 'unreadable-workbook' (damaged, or unknown)."""
    kind = None
    if pkg is not None:
        kind = _zip_kind(pkg)
    elif ole is not None:
        exists = getattr(ole, "exists", lambda name: False)
        kind = "word" if exists("WordDocument") else "slides" if exists("PowerPoint Document") else None
    elif data is not None:
        kind = sniff(data)
    if kind is None:
        return "unreadable-workbook", Said("không phải tệp bảng tính", "not a spreadsheet file")
    vi, fix_vi, en, fix_en = KINDS[kind]
    said = Said(
        f"Tệp này là {vi}, không phải biểu mẫu Excel: {fix_vi}.", f"This file is {en}, not the Excel form: {fix_en}."
    )
    return "not-a-workbook", said


def ole_document(data: bytes) -> tuple[str, Said] | None:
    """The issue for an OLE container that holds a Word or PowerPoint document, not a workbook (None otherwise:
    an .xls, an encrypted workbook, or a container the .xls checks will judge)."""
    import olefile

    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception:  # olefile raises many types on damaged containers: check_xls says so
        return None
    if (
        ole.exists("Workbook")
        or ole.exists("Book")
        or not (ole.exists("WordDocument") or ole.exists("PowerPoint Document"))
    ):
        return None
    return not_a_workbook(ole=ole)


def _zip_kind(pkg: Package) -> str:
    if pkg.has("xl/workbook.bin"):
        return "xlsb"
    if pkg.has("word/document.xml"):
        return "word"
    if pkg.has("ppt/presentation.xml"):
        return "slides"
    if pkg.has("mimetype"):
        mime = pkg.read("mimetype", 200)
        if b"opendocument.text" in mime:
            return "writer"
        if b"opendocument.presentation" in mime:
            return "slides"
    return "archive"  # a zip of other files: the form zipped, or several


_MAGIC = (
    (b"%PDF-", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "image"),
    (b"\xff\xd8\xff", "image"),
    (b"GIF87a", "image"),
    (b"GIF89a", "image"),
    (b"II*\x00", "image"),
    (b"MM\x00*", "image"),
    (b"Rar!\x1a\x07", "archive"),
    (b"7z\xbc\xaf\x27\x1c", "archive"),
    (b"\x1f\x8b", "archive"),
    (b"PK\x05\x06", "archive"),  # an empty zip
    (b"{\\rtf", "word"),
)


def sniff(data: bytes) -> str | None:
    """What a file that is neither a zip package nor an OLE container is, by its content (None: unknown)."""
    if not data.strip():
        return "empty"
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"avif"):
        return "image"  # a phone's photo
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image"
    if data.startswith(b"BM") and len(data) > 26 and int.from_bytes(data[2:6], "little") == len(data):
        return "image"
    text = _as_text(data[:65536])
    if text is None:
        return None
    head = text.lstrip("\ufeff \t\r\n").lower()
    if "urn:schemas-microsoft-com:office:spreadsheet" in head[:4000]:
        return "xml2003"
    if head.startswith(("<!doctype html", "<html", "<table", "<meta", "<head", "<body")) or "<html" in head[:2000]:
        return "html"
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    for sep, kind in (("\t", "tsv"), (";", "csv"), (",", "csv")):
        counts = [line.count(sep) for line in lines]
        if len(lines) >= 2 and min(counts) >= 1 and max(counts) - min(counts) <= max(counts) // 2:
            return kind
        if len(lines) == 1 and counts[0] >= 2:
            return kind
    return "text"


def _as_text(data: bytes) -> str | None:
    """`data` as text if it is text (UTF-8, UTF-16 with its mark, or an 8-bit code page), else None."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 4:  # a character cut where the read stopped
            return data[: exc.start].decode("utf-8")
    text = data.decode("latin-1")
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\r\n\t\f")
    return text if controls <= len(text) // 100 else None
