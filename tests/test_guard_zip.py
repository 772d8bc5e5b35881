"""The guard's zip checks (README: `unpacked-too-large`, `damaged-archive`), each on a package built here with the
sizes its central directory declares forged: the declared sizes are added up (one sign), every part is capped while
it is inflated whatever its header says, and so are all the parts of a file together."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

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
