"""Vietnam's administrative units by vintage: lookups by (vintage, code) and name matching within a parent."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from ctstat.model.errors import UsageError
from ctstat.model.period import VINTAGES

Level = Literal["province", "district", "commune", "country"]
WIDTH: dict[Level, int] = {"province": 2, "district": 3, "commune": 5}  #: a code's width says its level
LEVEL_VI = {"province": "tỉnh/thành phố", "district": "quận/huyện", "commune": "xã/phường"}


@dataclass(frozen=True)
class Unit:
    vintage: str
    level: Level
    code: str
    name: str
    type: str
    parent_code: str | None


def level_of(code: str) -> Level | None:
    """The level a code as typed names, by its width (`WIDTH`); None when it is not a unit code."""
    code = code.strip()
    return next((level for level, width in WIDTH.items() if width == len(code)), None) if code.isdigit() else None


class Hierarchy:
    """The units of one vintage. Codes are text and not hierarchical: parents come from the table."""

    def __init__(self, vintage: str, units: list[Unit]) -> None:
        self.vintage = vintage
        self._by_level: dict[str, dict[str, Unit]] = defaultdict(dict)
        self._children: dict[tuple[str, str], list[Unit]] = defaultdict(list)
        for u in units:
            self._by_level[u.level][u.code] = u
        for u in units:
            if u.parent_code:
                parent_level = "province" if u.level == "district" or not self.has_districts else "district"
                self._children[(parent_level, u.parent_code)].append(u)

    @property
    def has_districts(self) -> bool:
        return bool(self._by_level.get("district"))

    @property
    def levels(self) -> tuple[Level, ...]:
        return ("commune", "district", "province") if self.has_districts else ("commune", "province")

    def get(self, code: str, level: Level = "commune") -> Unit | None:
        return self._by_level[level].get(code)

    def find(self, code: str) -> Unit | None:
        """A unit by its code as typed: the width says the level (2 province, 3 district, 5 commune)."""
        level = level_of(code)
        return self.get(code.strip(), level) if level else None

    def area(self, code: str) -> Unit:
        """The district or province a job or a portal rolls up; a usage error when `code` names none."""
        area = self.find(code)
        if area is None or area.level == "commune":
            raise UsageError(
                f"unit: {code} is not a district or province in the unit list {self.vintage}",
                message_vi=f"unit: {code} không phải là một huyện hay tỉnh trong danh mục đơn vị {self.vintage}",
            )
        return area

    def find_any_level(self, code: str) -> Unit | None:
        for level in ("commune", "district", "province"):
            if u := self._by_level[level].get(code):
                return u
        return None

    def all(self, level: Level) -> list[Unit]:
        return sorted(self._by_level[level].values(), key=lambda u: u.code)

    def parent(self, unit: Unit) -> Unit | None:
        if unit.parent_code is None:
            return None
        if unit.level == "commune" and self.has_districts:
            return self.get(unit.parent_code, "district")
        return self.get(unit.parent_code, "province")

    def ancestors(self, unit: Unit) -> list[Unit]:
        out = []
        p = self.parent(unit)
        while p is not None:
            out.append(p)
            p = self.parent(p)
        return out

    def children(self, unit: Unit) -> list[Unit]:
        return sorted(self._children.get((unit.level, unit.code), []), key=lambda u: u.code)

    def communes_under(self, unit: Unit) -> list[Unit]:
        if unit.level == "commune":
            return [unit]
        return [c for child in self.children(unit) for c in self.communes_under(child)]

    def path(self, unit: Unit) -> str:
        """'Phường Thanh Trì, Quận Hoàng Mai, Thành phố Hà Nội': always print the parents (names repeat)."""
        return ", ".join(u.name for u in [unit, *self.ancestors(unit)])

    def match_name(self, text: str, parent: Unit, level: Level = "commune") -> list[Unit]:
        """Units under `parent` whose name matches `text`; never a fuzzy guess (see admin-units.md §6)."""
        typ, key, folded = name_key(text)
        pool = [u for u in self.children(parent) if u.level == level]
        keyed = [(u, *name_key(u.name)) for u in pool]
        if typ:
            exact = [u for u, t, k, _ in keyed if t == typ and k == key]
            if exact:
                return exact
        by_key = [u for u, _, k, _ in keyed if k == key]
        if len(by_key) == 1 or not typ and by_key:
            return by_key
        by_fold = [u for u, t, _, f in keyed if f == folded and (not typ or t == typ)]
        return by_fold if len(by_fold) == 1 else by_key or by_fold


@cache
def load_units(vintage: str) -> Hierarchy:
    if vintage not in VINTAGES:
        raise KeyError(vintage)
    text = (resources.files("ctstat") / "data" / "units" / f"units_{vintage}.csv").read_text(encoding="utf-8")
    rows = csv.reader(io.StringIO(text))
    if next(rows) != ["level", "code", "name", "type", "parent_code"]:
        raise ValueError(f"units_{vintage}.csv: unexpected columns")  # a packaging fault, a bug: exit 3
    # csv.reader and positional fields: DictReader made loading the 10,795 units of 2025-06-30 three times slower,
    # and every command (and every reading worker) loads them
    units = [Unit(vintage, lv, code, name, typ, parent or None) for lv, code, name, typ, parent in rows]  # type: ignore[arg-type]
    return Hierarchy(vintage, units)


@cache
def load_crosswalk() -> dict[str, list[tuple[str, bool]]]:
    """Old commune (2025-06-30) -> [(new commune (2025-07-01), old commune was split)]."""
    text = (resources.files("ctstat") / "data" / "units" / "map_2025-07-01.csv").read_text(encoding="utf-8")
    out: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for r in csv.DictReader(io.StringIO(text)):
        out[r["old_commune"]].append((r["new_commune"], r["old_split"] == "1"))
    return dict(out)


def normalise_code(raw: object, level: Level = "commune") -> str | None:
    """A code typed in Excel, as text zero-padded to its level's width: 337, 337.0, '00337 - Hoàng Liệt'."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, float):
        if not raw.is_integer():
            return None
        raw = int(raw)
    text = str(raw).strip()
    m = re.match(r"^(\d+)(?:\.0+)?(?:\s*[-–:]\s*.*)?$", text)
    if not m:
        return None
    digits = m.group(1).lstrip("0") or "0"
    width = WIDTH[level]
    return digits.zfill(width) if len(digits) <= width else None


# --- name normalisation (admin-units.md §6) ---------------------------------------------------------------

_LEGACY = set("µ¸¶¹¨»¾§©ª·ÖøäïñÑ")
_TYPES = [
    ("thành phố", "thành phố"),
    ("tp.", "thành phố"),
    ("t.p.", "thành phố"),
    ("tp", "thành phố"),
    ("thị xã", "thị xã"),
    ("tx.", "thị xã"),
    ("tx", "thị xã"),
    ("thị trấn", "thị trấn"),
    ("tt.", "thị trấn"),
    ("tt", "thị trấn"),
    ("đặc khu", "đặc khu"),
    ("tỉnh", "tỉnh"),
    ("quận", "quận"),
    ("huyện", "huyện"),
    ("phường", "phường"),
    ("xã", "xã"),
    ("q.", "quận"),
    ("h.", "huyện"),
    ("p.", "phường"),
    ("x.", "xã"),
]
_ASCII_TYPES = {
    "thanh pho": "thành phố",
    "thi xa": "thị xã",
    "thi tran": "thị trấn",
    "dac khu": "đặc khu",
    "tinh": "tỉnh",
    "quan": "quận",
    "huyen": "huyện",
    "phuong": "phường",
    "xa": "xã",
}
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def looks_legacy_encoded(text: str) -> bool:
    """TCVN3/VNI text shows Latin-1 letters Vietnamese never uses (run on unit-name cells only)."""
    text = text.replace("Ð", "Đ").replace("ð", "đ")
    return any(ch in _LEGACY for ch in text)


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = text.replace("Ð", "Đ").replace("ð", "đ")
    text = re.sub(r"[\u00a0\u200b\u200c\u200d\ufeff\t\r\n]", " ", text)
    text = re.sub(r"\s*[\u2010-\u2015-]\s*", " - ", text)
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    return re.sub(r"\s+", " ", text).strip().casefold()


def _tone_canonical(text: str) -> str:
    """Put the tone mark of open 'oa', 'oe', 'uy' syllables on the second vowel (hòa -> hoà, thủy -> thuỷ)."""
    words = []
    for word in text.split(" "):
        d = unicodedata.normalize("NFD", word)
        base = "".join(ch for ch in d if ch not in _TONES)
        tones = [ch for ch in d if ch in _TONES]
        # leave closed syllables (hoàn, huỳnh) and qu/gi onsets (quý) alone
        if tones and re.search(r"(oa|oe|uy)$", base) and not base.startswith(("qu", "gi")):
            words.append(unicodedata.normalize("NFC", base + tones[0]))
        else:
            words.append(word)
    return " ".join(words)


def _fold(text: str) -> str:
    d = unicodedata.normalize("NFD", text.replace("đ", "d"))
    return "".join(ch for ch in d if not unicodedata.combining(ch))


def slug(name: str) -> str:
    """ASCII file-name form of a unit name: 'Quận Hoàng Mai' -> 'quan-hoang-mai'."""
    return re.sub(r"[^a-z0-9]+", "-", _fold(name.casefold())).strip("-")


def name_key(text: str) -> tuple[str | None, str, str]:
    """(unit type or None, key with diacritics, ASCII-folded key) for matching typed unit names."""
    t = _clean(text)
    t = re.sub(r"^(ubnd|uỷ ban nhân dân|ủy ban nhân dân)\s+", "", t)
    typ = None
    for prefix, canonical in _TYPES:
        one_letter = len(prefix.rstrip(".")) == 1
        if t.startswith(prefix):
            rest = t[len(prefix) :]
            if one_letter and not (prefix.endswith(".") or rest[:1].isdigit()):
                continue
            if not one_letter and not prefix.endswith(".") and rest and rest[0].isalpha() and not rest[0].isdigit():
                if prefix in ("tp", "tx", "tt"):
                    continue
            typ, t = canonical, rest.strip(" .")
            break
    else:
        m = re.match(r"^([pqx])\.?\s*(\d+)$", t)
        if m:
            typ = {"p": "phường", "q": "quận", "x": "xã"}[m.group(1)]
            t = m.group(2)
        elif t.isascii():
            for prefix, canonical in _ASCII_TYPES.items():
                if t.startswith(prefix + " "):
                    typ, t = canonical, t[len(prefix) + 1 :]
                    break
    if t.isdigit():
        t = t.lstrip("0") or "0"
    key = _tone_canonical(t)
    return typ, key, _fold(key)
