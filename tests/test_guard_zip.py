"""The guard's zip checks (README: `unpacked-too-large`, `damaged-archive`), each on a package built here with the
sizes its central directory declares forged: the declared sizes are added up (one sign), every part is capped while
it is inflated whatever its header says, and so are all the parts of a file together."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from ctstat.model.report import english
from ctstat.pipeline import validate_paths
from ctstat.read import guard

from .conftest import SAMPLES

FORM = SAMPLES / "wards" / "2025-H1-hoang-mai" / "00301-thanh-tri.xlsx"
MB = 2**20


def declare(data: bytes, size: int) -> bytes:
    """The package with every part's declared inflated size in the central directory set to `size`."""
    out = bytearray(data)
    end = out.rfind(b"PK\x05\x06")
    (count,) = struct.unpack_from("<H", out, end + 10)
    (pos,) = struct.unpack_from("<I", out, end + 16)
    for _ in range(count):
        assert out[pos : pos + 4] == b"PK\x01\x02"
        struct.pack_into("<I", out, pos + 24, size)
        n, m, k = struct.unpack_from("<HHH", out, pos + 28)
        pos += 46 + n + m + k
    return bytes(out)


def parts(data: bytes) -> int:
    return len(zipfile.ZipFile(io.BytesIO(data)).namelist())


def zeros(*sizes: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for i, n in enumerate(sizes):
            zf.writestr(f"xl/part{i}.bin", b"\0" * n)
    return buf.getvalue()


def only_issue(path: Path) -> tuple[str, ...]:
    (rep,) = validate_paths([path]).files
    return tuple(i.code for i in rep.issues)


def test_declared_sizes_are_added_up_not_just_each_part(tmp_path: Path) -> None:
    data = FORM.read_bytes()
    n = parts(data)
    each = guard.MAX_TOTAL_BYTES // n + 1  # together past the file's budget, each far below a part's cap
    assert each < guard.MAX_PART_BYTES and each * n > guard.MAX_TOTAL_BYTES
    with pytest.raises(guard.Refused) as exc:
        guard.Package(declare(data, each))
    assert exc.value.code == "unpacked-too-large" and exc.value.detail == f"{each * n / MB:.0f} MB"
    bad = tmp_path / "00301-declares-too-much.xlsx"
    bad.write_bytes(declare(data, each))
    assert only_issue(bad) == ("unpacked-too-large",)
    # the same form declaring just the budget in all is read (the sizes are only a first sign)
    fine = tmp_path / "00301-declares-the-budget.xlsx"
    fine.write_bytes(declare(data, guard.MAX_TOTAL_BYTES // n))
    guard.Package(fine.read_bytes())
    assert only_issue(fine) == ()


def test_a_part_is_capped_while_inflating_whatever_it_declares() -> None:
    data = declare(zeros(guard.MAX_PART_BYTES + 1), 1024)  # a bomb declaring 1 KB
    pkg = guard.Package(data)
    with pytest.raises(guard.Refused) as exc:
        pkg.read("xl/part0.bin")
    assert exc.value.code == "unpacked-too-large" and exc.value.detail.endswith(f"> {guard.MAX_PART_BYTES // MB} MB")
    assert guard.Package(declare(zeros(guard.MAX_PART_BYTES), 1024)).read("xl/part0.bin") == b"\0" * (
        guard.MAX_PART_BYTES
    )  # exactly the cap is allowed


def test_all_parts_together_are_capped_while_inflating() -> None:
    each = guard.MAX_PART_BYTES - 1
    n = guard.MAX_TOTAL_BYTES // each + 1  # each under its own cap, together past the file's
    pkg = guard.Package(declare(zeros(*[each] * n), 1024))
    for i in range(n - 1):
        assert len(pkg.read(f"xl/part{i}.bin")) == each
    with pytest.raises(guard.Refused) as exc:
        pkg.read(f"xl/part{n - 1}.bin")
    assert exc.value.code == "unpacked-too-large"
    assert pkg.inflated == each * (n - 1) <= guard.MAX_TOTAL_BYTES


def test_parts_named_twice_and_too_many_parts_are_a_damaged_archive() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("xl/workbook.xml", b"<a/>")
        zf.writestr("xl/workbook.xml", b"<b/>")
    with pytest.raises(guard.Refused) as exc:
        guard.Package(buf.getvalue())
    assert exc.value.code == "damaged-archive"
    many = zeros(*[0] * (guard.MAX_MEMBERS + 1))
    with pytest.raises(guard.Refused) as exc:
        guard.Package(many)
    assert exc.value.code == "damaged-archive" and exc.value.detail.startswith(f"{guard.MAX_MEMBERS + 1} ")
    assert len(guard.Package(zeros(*[0] * guard.MAX_MEMBERS)).infos) == guard.MAX_MEMBERS


def forge(data: bytes, field: int, fmt: str, value: int) -> bytes:
    """The package with one field (at `field` bytes into the first central-directory entry) set to `value`."""
    out = bytearray(data)
    end = out.rfind(b"PK\x05\x06")
    (pos,) = struct.unpack_from("<I", out, end + 16)
    struct.pack_into(fmt, out, pos + field, value)
    return bytes(out)


FLAGS, METHOD, PACKED, OFFSET = (8, "<H"), (10, "<H"), (20, "<I"), (42, "<I")


def refused(data: bytes, cap: int = guard.MAX_PART_BYTES) -> tuple[str, str]:
    with pytest.raises(guard.Refused) as exc:
        guard.Package(data).read("xl/part0.bin", cap)
    return exc.value.code, exc.value.detail


def test_a_part_that_lies_about_itself_is_refused_with_its_code() -> None:
    good = zeros(1000)
    assert guard.Package(good).read("xl/part0.bin") == b"\0" * 1000
    assert refused(forge(good, *FLAGS, 0x1)) == ("encrypted-workbook", "")  # the zip's own encryption
    assert guard.Package(forge(good, *FLAGS, 0x2)).read("xl/part0.bin") == b"\0" * 1000  # another flag: read
    where = "zip: xl/part0.bin"
    assert refused(forge(good, *OFFSET, len(good) - 20)) == ("unreadable-workbook", where)  # header past the end
    assert refused(forge(good, *OFFSET, 1)) == ("unreadable-workbook", where)  # no local header there
    assert refused(forge(good, *PACKED, len(good))) == ("unreadable-workbook", where)  # data past the end
    code, detail = refused(forge(good, *METHOD, 12))  # said in each language, one at a time
    assert (code, detail, english(detail)) == ("unreadable-workbook", "zip: nén kiểu 12", "zip: compression method 12")
    (packed,) = struct.unpack_from("<I", good, good.rfind(b"PK\x01\x02") + 20)
    broken = bytearray(good)
    broken[30 + len("xl/part0.bin") : 30 + len("xl/part0.bin") + packed] = b"\xff" * packed  # not deflate
    assert refused(bytes(broken)) == ("unreadable-workbook", where)


def test_a_stored_part_is_capped_too() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("xl/part0.bin", b"x" * 100)
    assert guard.Package(buf.getvalue()).read("xl/part0.bin", cap=100) == b"x" * 100
    assert refused(buf.getvalue(), cap=99) == ("unpacked-too-large", "xl/part0.bin > 0 MB")


def test_a_part_with_an_extra_field_is_read_at_its_data() -> None:
    buf = io.BytesIO()
    info = zipfile.ZipInfo("xl/part0.bin")
    info.compress_type = zipfile.ZIP_DEFLATED
    info.extra = b"\x55\x54\x05\x00\x01\x00\x00\x00\x00"  # an extended timestamp, as some writers add
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, b"<sheet/>" * 50)
    assert guard.Package(buf.getvalue()).read("xl/part0.bin") == b"<sheet/>" * 50


def test_a_bomb_is_never_inflated_past_its_cap_in_memory() -> None:
    import tracemalloc

    pkg = guard.Package(declare(zeros(64 * MB), 1024))
    tracemalloc.start()
    try:
        with pytest.raises(guard.Refused):
            pkg.read("xl/part0.bin", cap=MB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MB, peak  # about the cap, not the 64 MB the part inflates to


def test_a_file_too_large_says_its_size_in_each_language(tmp_path: Path) -> None:
    """The size in the refusal is written as each reader writes numbers: 1,5 MB in Vietnamese, 1.5 MB in English."""
    big = tmp_path / "big.xlsx"
    big.write_bytes(b"\0" * (3 * MB // 2))
    with pytest.raises(guard.Refused) as exc:
        guard.read_file(str(big), limit=MB)
    assert exc.value.code == "file-too-large"
    assert exc.value.detail == "1,5 MB > 1 MB" and english(exc.value.detail) == "1.5 MB > 1 MB"
