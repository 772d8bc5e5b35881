"""Regenerate samples/ (synthetic data only): valid ward sets and one file per documented fault.

Run: python scripts/make_samples.py   (deterministic: the same code gives the same samples)
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from ctstat.model.catalogue import load_catalogue
from ctstat.model.keys import TOTAL, cell_key
from ctstat.model.layout import form_layout
from ctstat.model.period import Period
from ctstat.model.units import load_units
from ctstat.write.synth import synth_values, write_ward

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fault injectors live with the tests
from tests.faults import corrupt, drop_cached_values, encrypt, remove_sheet  # noqa: E402

ROOT = Path(__file__).resolve().parents[1] / "samples"
PRE = Period.parse("2025-H1")
POST = Period.parse("2025-H2")


def main() -> None:
    cat = load_catalogue()
    layout = form_layout(cat)
    old = load_units("2025-06-30")
    new = load_units("2025-07-01")
    for sub in ("wards", "faulty"):
        shutil.rmtree(ROOT / sub, ignore_errors=True)
    # valid: every ward of Quận Hoàng Mai (008, Hà Nội), 2025-H1, three tiers
    hm = old.communes_under(old.get("008", "district"))  # type: ignore[arg-type]
    for u in hm:
        write_ward(ROOT / "wards" / "2025-H1-hoang-mai", cat, old, u, PRE)
    # valid: every commune of Tỉnh Lai Châu (12), 2025-H2, two tiers
    for u in new.communes_under(new.get("12", "province")):  # type: ignore[arg-type]
        write_ward(ROOT / "wards" / "2025-H2-lai-chau", cat, new, u, POST)

    # faulty: each file one documented fault, all for period 2025-H1 in Quận Hoàng Mai
    out = ROOT / "faulty"
    faults: list[dict[str, object]] = []

    def add(name: str, unit_code: str, what_vi: str, expected: list[tuple[str, str, str]], **kw: object) -> Path:
        unit = old.get(unit_code)
        assert unit is not None
        path = write_ward(out, cat, old, unit, PRE, name=name, **kw)  # type: ignore[arg-type]
        faults.append({"file": name, "unit": unit_code, "fault_vi": what_vi, "expected": [list(e) for e in expected]})
        return path

    def values(code: str, seed: int = 0) -> dict[str, object]:
        unit = old.get(code)
        assert unit is not None
        return dict(synth_values(cat, unit, PRE, seed))

    def at(key: str) -> tuple[str, str]:
        return layout.address(key)

    v = values("00301")
    key = cell_key("TE01", "0-2", "sex:nam")
    v[key] = -5
    add("01-so-am.xlsx", "00301", "Số âm ở ô dân số trẻ em dưới 3 tuổi, nam", [("negative-value", *at(key))], values=v)

    v = values("00304")
    key = cell_key("TE01", "3-5", "sex:nu")
    v[key] = "1.158"
    add(
        "02-so-dang-chu.xlsx",
        "00304",
        "Gõ '1.158' (chữ, dấu chấm ngăn cách hàng nghìn) vào ô số",
        [("text-in-number", *at(key))],
        values=v,
    )

    # the age split of abused children no longer adds up to the total (the total is the sum by sex);
    # pick a cell whose change keeps the overlap bounds of the forms of abuse, so the file has one fault
    # (values of a seed that gives this ward an abused child counted under two forms)
    v, key = next(f for seed in range(100) if (f := _age_fault(values("00307", seed))) is not None)
    add(
        "03-cong-khong-khop.xlsx",
        "00307",
        "Tổng số trẻ em bị xâm hại chia theo nhóm tuổi không khớp tổng số",
        [("sum-mismatch", *at(cell_key("XH01", TOTAL, TOTAL)))],
        values=v,
    )

    v = values("00310")
    key = cell_key("HC02", "d", "sex:nam")
    v[key] = int(v[cell_key("HC01", "d", "sex:nam")]) + 2  # type: ignore[call-overload]
    total = cell_key("HC02", TOTAL, "sex:nam")
    v[total] = max(int(v[total]), int(v[key]))  # type: ignore[call-overload]
    # the totals computed from that cell (the row's nam + nữ, the column's total) break the rule only because of
    # it: one error, at the cell, naming them
    expected = [("assisted-exceeds-special", *at(key))]
    add(
        "04-tro-giup-vuot.xlsx",
        "00310",
        "Số trẻ khuyết tật (nam) được trợ giúp lớn hơn số trẻ khuyết tật (nam)",
        expected,
        values=v,
    )

    add(
        "05-sai-ma-don-vi.xlsx",
        "00313",
        "Mã đơn vị không có trong danh mục (99999)",
        [("unknown-unit", "Thông tin chung", "C5")],
        cover={"unit_code": "99999"},
    )

    add(
        "06-sai-ky.xlsx",
        "00316",
        "Kỳ báo cáo 2024-H2 gửi vào đợt 2025-H1",
        [("wrong-period", "Thông tin chung", "C9")],
        cover={"period": "2024-H2"},
    )

    p = add("07-thieu-trang.xlsx", "00319", "Trang 'Biểu 4' bị xóa", [("missing-sheet", "Biểu 4", "")])
    remove_sheet(p, "Biểu 4")

    p = add(
        "08-cong-thuc-chua-tinh.xlsx",
        "00322",
        "Các ô tổng (công thức) không có giá trị đã tính, như tệp lưu bằng chương trình không tính công thức: "
        "ctstat tự tính các tổng, một cảnh báo cho cả tệp",
        [("formula-no-cache", "Biểu 1", "D9")],
    )
    drop_cached_values(p)

    p = add("09-tep-hong.xlsx", "00325", "Tệp bị hỏng (chỉ còn nửa đầu)", [("unreadable-workbook", "", "")])
    corrupt(p)

    add(
        "10-trung-don-vi-a.xlsx",
        "00328",
        "Hai tệp cho cùng phường Lĩnh Nam (tệp thứ nhất)",
        [("duplicate-unit", "Thông tin chung", "C5")],
    )
    add(
        "10-trung-don-vi-b.xlsx",
        "00328",
        "Hai tệp cho cùng phường Lĩnh Nam (tệp thứ hai)",
        [("duplicate-unit", "Thông tin chung", "C5")],
        seed=1,
    )  # type: ignore[arg-type]

    v = values("00331")
    key = cell_key("TE01", TOTAL, TOTAL)
    p = add(
        "11-go-de-cong-thuc.xlsx",
        "00331",
        "Ô tổng số dân số trẻ em bị gõ đè bằng một số sai",
        # one error: the typed total breaks both its sums, and restoring the formula is the one fix
        [("formula-overwritten", *at(key))],
        values=v,
    )
    _overwrite_formula(p, "Biểu 1", "D9", 4321)

    p = add("12-co-mat-khau.xlsx", "00334", "Tệp được đặt mật khẩu mở tệp", [("encrypted-workbook", "", "")])
    encrypt(p)

    for f in faults:
        f["expected"] = [[c, s or None, cell or None] for c, s, cell in f["expected"]]  # type: ignore[attr-defined]
    (out / "faults.json").write_text(json.dumps(faults, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    _readme(faults)
    print(f"samples written under {ROOT}", file=sys.stderr)


def _readme(faults: list[dict[str, object]]) -> None:
    lines = [
        "# Samples (synthetic data: no real child data)",
        "",
        "Written by `python scripts/make_samples.py` (deterministic; only the password-protected file differs",
        "between runs, because encryption uses random salts). Do not edit by hand.",
        "",
        "- `wards/2025-H1-hoang-mai/`: every ward (14) of Quận Hoàng Mai (district 008, Thành phố Hà Nội),",
        "  period 2025-H1, unit list 2025-06-30 (three tiers). All valid.",
        "- `wards/2025-H2-lai-chau/`: every commune (38) of Tỉnh Lai Châu (12), period 2025-H2, unit list",
        "  2025-07-01 (two tiers). All valid.",
        "- `faulty/`: one documented fault per file, all for period 2025-H1 in Quận Hoàng Mai; validate with",
        "  `ctstat validate samples/faulty --period 2025-H1`. `faults.json` lists what each must produce (the",
        "  tests check it).",
        "",
        "| file | unit | fault | expected issues (code, sheet!cell) |",
        "|---|---|---|---|",
    ]
    for f in faults:
        expected = "; ".join(
            f"`{c}` {s or ''}{'!' + cell if cell else ''}".strip()
            for c, s, cell in f["expected"]  # type: ignore[attr-defined]
        )
        lines.append(f"| `{f['file']}` | {f['unit']} | {f['fault_vi']} | {expected} |")
    (ROOT / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _age_fault(v: dict[str, object]) -> tuple[dict[str, object], str] | None:
    cat = load_catalogue()
    form_keys = [c.key for c in cat.dimensions["abuse_form"].categories]
    for a in ("6-10", "11-15", "3-5", "0-2"):
        col = f"age_group:{a}"
        key = cell_key("XH01", TOTAL, col)
        total = int(v[key])  # type: ignore[call-overload]
        parts = [int(v[cell_key("XH01", f, col)]) for f in form_keys]  # type: ignore[call-overload]
        if total + 1 <= sum(parts):
            v[key] = total + 1
            return v, key
        if total - 1 >= max(parts):
            v[key] = total - 1
            return v, key
    return None


def _overwrite_formula(path: Path, sheet: str, cell: str, value: int) -> None:
    import re

    from tests.faults import patch_zip, sheet_member

    pattern = re.compile(rf'<c r="{cell}"( s="\d+")?( t="\w+")?><f>[^<]*</f><v>[^<]*</v></c>'.encode())
    patch_zip(
        path,
        sheet_member(path, sheet),
        lambda xml: pattern.sub(
            lambda m: b'<c r="%s"%s><v>%d</v></c>' % (cell.encode(), m.group(1) or b"", value), xml, count=1
        ),
    )


if __name__ == "__main__":
    main()
