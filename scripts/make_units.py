"""Regenerate src/ctstat/data/units/*.csv from the vietnamadminunits 1.0.4 wheel (development only).

ctstat never imports this script or that package. Run it in a throwaway virtual environment:

    python3 -m venv /tmp/vau && /tmp/vau/bin/pip install vietnamadminunits==1.0.4
    /tmp/vau/bin/python scripts/make_units.py [OUT_DIR]

It fails loudly on any key that does not resolve to a code, checks the counts, and prints the SHA-256 of each
file, to compare with src/ctstat/data/units/NOTICE (a rebuild is byte-identical).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import sys
from pathlib import Path

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "src/ctstat/data/units"


def data_dir() -> Path:
    import vietnamadminunits  # type: ignore[import-not-found]

    return Path(vietnamadminunits.__file__).parent / "data"


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))
    print(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}")


def main() -> None:
    db = sqlite3.connect(data_dir() / "dataset.db")
    legacy = db.execute(
        "select provinceCode, province, districtCode, district, districtType, wardCode, ward, wardType, "
        "provinceKey, districtKey, wardKey from admin_units_legacy"
    ).fetchall()
    provinces = {r[0]: r[1] for r in legacy}
    districts = {r[2]: (r[3], r[4], r[0]) for r in legacy}
    communes = {r[5]: (r[6], r[7], r[2]) for r in legacy if r[5]}  # 5 island districts have no commune

    def province_type(name: str) -> str:
        return "tỉnh" if name.startswith("Tỉnh ") else "thành phố"

    old_rows = [["province", c, n, province_type(n), ""] for c, n in sorted(provinces.items())]
    old_rows += [["district", c, n, t.lower(), p] for c, (n, t, p) in sorted(districts.items())]
    old_rows += [["commune", c, n, t.lower(), p] for c, (n, t, p) in sorted(communes.items())]
    assert (len(provinces), len(districts), len(communes)) == (63, 696, 10035)

    new = db.execute(
        "select provinceCode, province, wardCode, ward, wardType, provinceKey, wardKey from admin_units"
    ).fetchall()
    new_provinces = {r[0]: r[1] for r in new}
    new_communes = {r[2]: (r[3], r[4], r[0]) for r in new}
    new_rows = [["province", c, n, province_type(n), ""] for c, n in sorted(new_provinces.items())]
    new_rows += [["commune", c, n, t.lower(), p] for c, (n, t, p) in sorted(new_communes.items())]
    assert (len(new_provinces), len(new_communes)) == (34, 3321)
    for rows in (old_rows, new_rows):
        assert all(len(r[1]) == {"province": 2, "district": 3, "commune": 5}[r[0]] for r in rows)

    old_code = {f"{r[8]}_{r[9]}_{r[10]}": r[5] for r in legacy if r[5]}
    new_code = {(r[5], r[6]): r[2] for r in new}
    conv = json.loads((data_dir() / "converter_2025.json").read_text(encoding="utf-8"))
    pairs: set[tuple[str, str]] = set()
    split: set[str] = set()
    island_sources = set()
    for prov, wards in conv["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for ward_key, old_keys in wards.items():
            for old in old_keys:
                if old.endswith("_"):  # an island district without communes -> its đặc khu: no commune pair
                    island_sources.add(old)
                    continue
                pairs.add((old_code[old], new_code[(prov, ward_key)]))  # KeyError = an unresolved key: stop
    assert len(island_sources) == 5, island_sources
    for prov, olds in conv["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old, targets in olds.items():
            split.add(old_code[old])
            for t in targets:
                pairs.add((old_code[old], new_code[(prov, t["newWardKey"])]))
    map_rows = [[o, n, "1" if o in split else "0"] for o, n in sorted(pairs)]
    assert len(map_rows) == 10597 and len(split) == 471
    assert {o for o, _ in pairs} == set(communes)
    sources = {n for _, n in pairs}
    assert sorted(set(new_communes) - sources) == ["11948", "19742", "20333", "21548", "26732"]

    OUT.mkdir(parents=True, exist_ok=True)
    header = ["level", "code", "name", "type", "parent_code"]
    write_csv(OUT / "units_2025-06-30.csv", header, old_rows)
    write_csv(OUT / "units_2025-07-01.csv", header, new_rows)
    write_csv(OUT / "map_2025-07-01.csv", ["old_commune", "new_commune", "old_split"], map_rows)


if __name__ == "__main__":
    main()
