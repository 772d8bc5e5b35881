from __future__ import annotations

import pytest

from ctstat.model.errors import UsageError
from ctstat.model.period import Period, vintage_for
from ctstat.model.units import load_crosswalk, load_units, name_key, normalise_code


def test_counts_of_both_vintages() -> None:
    old, new = load_units("2025-06-30"), load_units("2025-07-01")
    assert (len(old.all("province")), len(old.all("district")), len(old.all("commune"))) == (63, 696, 10035)
    assert (len(new.all("province")), len(new.all("district")), len(new.all("commune"))) == (34, 0, 3321)
    assert old.levels == ("commune", "district", "province") and new.levels == ("commune", "province")


def test_the_same_code_is_a_different_unit_in_each_vintage() -> None:
    old, new = load_units("2025-06-30"), load_units("2025-07-01")
    assert old.get("00331").name == "Phường Thịnh Liệt"  # type: ignore[union-attr]
    assert new.get("00331").name == "Phường Hoàng Mai"  # type: ignore[union-attr]
    assert old.get("15", "province").name == "Tỉnh Yên Bái"  # type: ignore[union-attr]
    assert new.get("15", "province").name == "Tỉnh Lào Cai"  # type: ignore[union-attr]


def test_parents_come_from_the_table_not_the_code() -> None:
    old = load_units("2025-06-30")
    u = old.get("00337")
    assert u is not None
    assert [p.code for p in old.ancestors(u)] == ["008", "01"]
    assert old.path(u) == "Phường Hoàng Liệt, Quận Hoàng Mai, Thành phố Hà Nội"
    new = load_units("2025-07-01")
    v = new.get("00337")
    assert v is not None and [p.code for p in new.ancestors(v)] == ["01"]


def test_island_district_without_communes() -> None:
    old = load_units("2025-06-30")
    d = old.get("318", "district")
    assert d is not None and old.children(d) == []


def test_crosswalk() -> None:
    cw = load_crosswalk()
    assert len(cw) == 10035
    assert sum(any(split for _, split in v) for v in cw.values()) == 471
    assert sorted(n for n, _ in cw["00301"]) == ["00301", "00328"]


@pytest.mark.parametrize(
    ("raw", "level", "code"),
    [
        (337.0, "commune", "00337"),
        ("00337", "commune", "00337"),
        ("337", "commune", "00337"),
        ("00337 - Hoàng Liệt", "commune", "00337"),
        (8, "district", "008"),
        ("123456", "commune", None),
        ("abc", "commune", None),
        (1.5, "commune", None),
    ],
)
def test_codes_typed_in_excel(raw: object, level: str, code: str | None) -> None:
    assert normalise_code(raw, level) == code  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P. Hoàng Liệt", ("phường", "hoàng liệt")),
        ("UBND phường Hoàng Liệt", ("phường", "hoàng liệt")),
        ("phuong hoang liet", ("phường", "hoang liet")),
        ("HOÀNG LIỆT", (None, "hoàng liệt")),
        ("Phu\u031bo\u031b\u0300ng Hoa\u0300ng Lie\u0323\u0302t", ("phường", "hoàng liệt")),  # NFD input
        ("P1", ("phường", "1")),
        ("P.01", ("phường", "1")),
        ("Phường 01", ("phường", "1")),
        ("TT Yên Viên", ("thị trấn", "yên viên")),
        ("Xã Thanh Thủy", ("xã", "thanh thuỷ")),
        ("Xã Thanh Thuỷ", ("xã", "thanh thuỷ")),
        ("Xã Quý Lộc", ("xã", "quý lộc")),
        ("Huyện Tĩnh Gia", ("huyện", "tĩnh gia")),
        ("Phường Pác Nặm", ("phường", "pác nặm")),
    ],
)
def test_name_keys(text: str, expected: tuple[str | None, str]) -> None:
    assert name_key(text)[:2] == expected


def test_matching_stays_inside_the_parent_and_keeps_the_type() -> None:
    old = load_units("2025-06-30")
    gia_lam = next(d for d in old.all("district") if d.name == "Huyện Gia Lâm")
    assert [u.name for u in old.match_name("TT Yên Viên", gia_lam)] == ["Thị trấn Yên Viên"]
    assert sorted(u.name for u in old.match_name("Yên Viên", gia_lam)) == ["Thị trấn Yên Viên", "Xã Yên Viên"]
    hoang_mai = old.get("008", "district")
    assert hoang_mai is not None
    assert [u.code for u in old.match_name("p. hoang liet", hoang_mai)] == ["00337"]
    assert old.match_name("Phường Bến Nghé", hoang_mai) == []


def test_period_picks_its_vintage() -> None:
    assert vintage_for(Period.parse("2025-H1")) == "2025-06-30"
    assert vintage_for(Period.parse("2024")) == "2025-06-30"
    assert vintage_for(Period.parse("2025-H2")) == "2025-07-01"
    assert vintage_for(Period.parse("2026")) == "2025-07-01"


def test_a_period_spanning_the_reform_is_not_guessed() -> None:
    with pytest.raises(UsageError, match="spans more than one"):
        vintage_for(Period.parse("2025"))
    assert vintage_for(Period.parse("2025"), "2025-06-30") == "2025-06-30"
    assert vintage_for(Period.parse("2025"), "2025-07-01") == "2025-07-01"
    with pytest.raises(UsageError, match="not in force"):
        vintage_for(Period.parse("2024"), "2025-07-01")


@pytest.mark.parametrize("text", ["2025-H3", "25", "2025-Q1", "", None, "abc"])
def test_bad_periods(text: object) -> None:
    with pytest.raises(ValueError):
        Period.parse(text)


def test_a_code_width_says_its_level_in_one_place() -> None:
    """The width of a unit code says its level (2 province, 3 district, 5 commune): `level_of` and `Hierarchy.find`
    read it from `WIDTH`, and `Hierarchy.area` refuses what is not a district or province."""
    from ctstat.model.units import level_of

    assert [level_of(c) for c in ("01", " 008 ", "00301", "0030", "VN", "", "00a")] == [
        "province",
        "district",
        "commune",
        None,
        None,
        None,
        None,
    ]
    h = load_units("2025-06-30")
    assert h.find("008") == h.get("008", "district") and h.find("00301") == h.get("00301")
    assert h.find("0301") is None and h.find("999") is None
    assert h.area(" 008 ").code == "008"
    with pytest.raises(UsageError, match="not a district or province"):
        h.area("00301")
