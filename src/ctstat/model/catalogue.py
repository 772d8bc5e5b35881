"""Load the indicator catalogue (indicators/*.yaml) into frozen objects, reporting located errors."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml

from ctstat.model.errors import CatalogueError
from ctstat.model.keys import TOTAL, cell_key
from ctstat.model.messages import make_issue
from ctstat.model.report import Issue, Severity

ValueType = Literal["count", "money", "yesno"]
Breakdown = Literal["exclusive", "overlapping"]
BASES = ("circular", "summary", "law", "modelled", "unknown")
VALUE_TYPES = ("count", "money", "yesno")
OPS = ("<=", ">=", "==", "<", ">", "requires")
#: how an element moves over time: a stock is a count at the period's end (a year's stock is its H2), a flow a
#: count of events during the period (a year's flow is H1 + H2)
OVER_TIME = ("stock", "flow")
_CODE = re.compile(r"^[A-Z]{2}\d{2}$")
_KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Category:
    key: str
    vi: str
    en: str


@dataclass(frozen=True)
class Dimension:
    key: str
    name_vi: str
    name_en: str
    basis: str
    categories: tuple[Category, ...]
    note_en: str = ""
    #: relative frequency of each category in synthetic data (`synthetic: {weights: {key: w}}`); 1 if not given
    weights: tuple[float, ...] = ()


@dataclass(frozen=True)
class Axis:
    """A breakdown of an element's rows or columns by one dimension."""

    dimension: Dimension
    breakdown: Breakdown

    def keys(self) -> tuple[str, ...]:
        return tuple(f"{self.dimension.key}:{c.key}" for c in self.dimension.categories)


@dataclass(frozen=True)
class Synthetic:
    """How `ctstat synth` fills an element (optional; the rules decide the structure, these only the sizes)."""

    size: tuple[int, int] | None = None  #: a root element: its grand total, uniform in [lo, hi] (pre-2025 commune)
    mean: float | None = None  #: a root element: its grand total, Poisson with this mean
    #: drawn from another element: the share of it taken (at most 1 when a rule bounds this element by that one;
    #: a ratio when this element only `requires` that one)
    share: float | None = None
    second: float = 0.2  #: an overlapping breakdown: chance that one counted person falls in a second category
    amount: tuple[float, float, float] = (100_000.0, 10_000_000.0, 100_000.0)  #: money: each item's lo, hi, step
    yes_share: float = 0.5  #: yes/no: the chance of "yes"


SYNTHETIC_KEYS = {"size", "mean", "share", "second", "amount", "yes_share"}


@dataclass(frozen=True)
class Chart:
    """A chart on every rollup workbook: one element's grand totals by one breakdown, a bar per child unit."""

    sheet: str  #: the worksheet it is drawn on
    element: str
    dimension: str  #: a dimension of the element's rows or columns
    title_vi: str
    axis_vi: str
    file: str = ""

    def keys(self, el: Element) -> tuple[str, ...]:
        """The cell keys charted, one per category: the category's row (total column), or column (total row)."""
        if el.rows is not None and el.rows.dimension.key == self.dimension:
            return tuple(cell_key(el.code, c.key, TOTAL) for c in el.rows.dimension.categories)
        axis = next(a for a in el.columns if a.dimension.key == self.dimension)
        return tuple(cell_key(el.code, TOTAL, k) for k in axis.keys())


@dataclass(frozen=True)
class Element:
    """A data element: what a ward reports, laid out as a block of rows and columns on one sheet."""

    code: str
    name_vi: str
    name_en: str
    unit_vi: str
    unit_en: str
    type: ValueType
    sheet: str
    rows: Axis | None
    columns: tuple[Axis, ...]
    basis: str
    note_en: str = ""
    #: hints for synthetic data only (`synthetic:` in the YAML): never shown, never used to judge a file
    synthetic: Synthetic = field(default_factory=lambda: Synthetic())
    #: "stock" or "flow" (`over_time: {kind, basis}` in the YAML; required: how periods compare and add up)
    over_time: str = "flow"
    over_time_basis: str = "modelled"

    def row_keys(self) -> tuple[str, ...]:
        """Row keys: the total row, then one per category of the row dimension."""
        return (TOTAL, *(c.key for c in self.rows.dimension.categories)) if self.rows else (TOTAL,)

    def col_keys(self) -> tuple[str, ...]:
        """Column keys: the total column, then `dim:cat` for each column breakdown."""
        return (TOTAL, *(k for axis in self.columns for k in axis.keys()))

    def row_code(self, row: str) -> str:
        """The "Mã số" printed on the row: the element code, plus the category's position."""
        if row == TOTAL:
            return self.code
        assert self.rows is not None
        keys = [c.key for c in self.rows.dimension.categories]
        return f"{self.code}.{keys.index(row) + 1:02d}"

    def row_label(self, row: str, lang: str = "vi") -> str:
        if row == TOTAL:
            return self.name_vi if lang == "vi" else self.name_en
        assert self.rows is not None
        cat = next(c for c in self.rows.dimension.categories if c.key == row)
        return cat.vi if lang == "vi" else cat.en

    def cells(self) -> Iterator[tuple[str, str]]:
        for r in self.row_keys():
            for c in self.col_keys():
                yield r, c


@dataclass(frozen=True)
class Ref:
    """One side of a rule: every cell of an element, or only its grand total."""

    element: str
    total_only: bool

    def __str__(self) -> str:
        return f"{self.element}.total" if self.total_only else self.element


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity
    lhs: Ref
    op: str
    rhs: Ref | float
    message_vi: str
    message_en: str
    file: str


@dataclass(frozen=True, eq=False)
class Indicator:
    """A published figure: a count (sum of an element) or a rate (numerator / denominator x factor)."""

    id: str
    annex: str
    code: str | None
    group_vi: str
    name_vi: str
    name_en: str
    kind: Literal["count", "rate"]
    unit_vi: str
    basis: dict[str, str]
    element: str | None = None
    numerator: str | None = None
    denominator: str | None = None  #: an element code, or "_units" (number of reporting units)
    factor: float = 1.0
    note_en: str = ""

    @property
    def provenance(self) -> str:
        """'circular' if code, name and formula are all printed in the circular, else 'modelled'."""
        keys = ("code", "name_vi", "formula")
        return "circular" if all(self.basis.get(k) == "circular" for k in keys) else "modelled"


@dataclass(frozen=True)
class Sheet:
    name: str
    title_vi: str
    title_en: str
    file: str
    elements: tuple[Element, ...]


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: layouts are cached per catalogue
class Catalogue:
    version: str
    title_vi: str
    title_en: str
    form_number: str
    legal_basis_vi: str
    #: the title of a rolled-up report, followed by its level ("cấp huyện", "cấp tỉnh"); the ward form's own
    #: title names its level itself
    rollup_title_vi: str
    basis: dict[str, str]
    dimensions: dict[str, Dimension]
    sheets: tuple[Sheet, ...]
    indicators: tuple[Indicator, ...]
    rules: tuple[Rule, ...]
    charts: tuple[Chart, ...] = ()
    path: str = ""
    elements: dict[str, Element] = field(default_factory=dict)
    #: a hash of every catalogue file as read: any change (a rule, a label, a bound) changes it, so what was
    #: judged under one catalogue is never taken for judged under another
    digest: str = ""

    @cached_property
    def fingerprint(self) -> str:
        """A short hash of everything that decides the form's layout."""
        h = hashlib.sha256()
        for sheet in self.sheets:
            h.update(sheet.name.encode())
            for el in sheet.elements:
                h.update(f"|{el.code}:{el.type}:{el.row_keys()}:{el.col_keys()}".encode())
        return h.hexdigest()[:8]

    @property
    def template_version(self) -> str:
        return f"{self.version}+{self.fingerprint}"


def default_catalogue_dir() -> Path:
    """The catalogue shipped with ctstat: inside the package when installed, else the source tree."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here / "indicators", here.parents[1] / "indicators"):
        if (candidate / "catalogue.yaml").is_file():
            return candidate
    raise CatalogueError(
        f"no catalogue found next to {here}", message_vi=f"không tìm thấy danh mục chỉ tiêu cạnh {here}"
    )


class _Checker:
    """Collects located problems while reading YAML, instead of stopping at the first."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self.file = ""
        self.digest = hashlib.sha256()  #: of every file read, in reading order

    def match(self, value: Any, pattern: re.Pattern[str], loc: str, expected: tuple[str, str]) -> None:
        """A code that must match `pattern`: else a problem saying what was `expected` (English, Vietnamese)."""
        if value is not None and not pattern.match(value):
            self.bad(loc, f"{expected[0]}, got {value!r}", f"{expected[1]}, nhưng là {value!r}")

    def bad(self, loc: str, detail: str, vi: str | None = None) -> None:
        """A located problem: `detail` in English, `vi` in Vietnamese (the English text when not given)."""
        where = f"{self.file}: {loc}: " if loc else f"{self.file}: "
        issue = make_issue("catalogue-invalid", detail=where + (vi or detail), detail_en=where + detail, path=self.file)
        self.issues.append(replace(issue, loc=loc))

    def get(self, obj: Any, key: str, loc: str, kind: type | tuple[type, ...] = str, required: bool = True) -> Any:
        if not isinstance(obj, dict):
            self.bad(loc, "expected a mapping", "phải là một bảng khóa: giá trị")
            return None
        if key not in obj or obj[key] is None:
            if required:
                self.bad(f"{loc}.{key}".lstrip("."), "is required", "bắt buộc phải có")
            return None
        value = obj[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.bad(
                f"{loc}.{key}".lstrip("."),
                f"expected {_kind_name(names)}, got {value!r}",
                f"phải là {_kind_name(names, 'vi')}, nhưng là {value!r}",
            )
            return None
        return value

    def one_of(self, value: Any, choices: tuple[str, ...], loc: str) -> bool:
        if value is not None and value not in choices:
            self.bad(
                loc,
                f"must be one of {', '.join(choices)}; got {value!r}",
                f"phải là một trong {', '.join(choices)}; nhưng là {value!r}",
            )
            return False
        return value is not None

    def unknown_keys(self, obj: Any, allowed: AbstractSet[str], loc: str) -> None:
        if isinstance(obj, dict):
            for key in obj:
                if key not in allowed:
                    self.bad(
                        f"{loc}.{key}".lstrip("."),
                        f"unknown field (allowed: {', '.join(sorted(allowed))})",
                        f"trường không có trong danh mục (được dùng: {', '.join(sorted(allowed))})",
                    )


#: the rule for an Excel sheet name, (vi, en)
SHEET_NAME_RULE = (
    "tên trang Excel dài tối đa 31 ký tự và không có ký tự nào trong []:*?/\\",
    "an Excel sheet name has at most 31 characters and none of []:*?/\\",
)


def _kind_name(name: str, lang: str = "en") -> str:
    if lang == "vi":
        words = {"str": "văn bản", "dict": "một bảng khóa: giá trị", "list": "một danh sách", "float": "một số"}
        return " hoặc ".join(words.get(n, "một số" if n == "int" else n) for n in name.split(" or "))
    return {"str": "text", "dict": "a mapping", "list": "a list", "float": "a number", "int": "a number"}.get(
        name, name
    )


#: libyaml's safe loader where PyYAML was built with it (ten times faster: a catalogue in 4 ms, not 40)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path, chk: _Checker) -> Any:
    chk.file = path.name
    try:
        data = path.read_bytes()
        chk.digest.update(f"{path.name}\0{len(data)}\0".encode() + data)
        return yaml.load(data.decode("utf-8"), Loader=_LOADER)  # noqa: S506 (a safe loader)
    except FileNotFoundError:
        chk.bad("", "file not found", "không tìm thấy tệp")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        where_vi = f"dòng {mark.line + 1}, cột {mark.column + 1}: " if mark else ""
        why = getattr(exc, "problem", exc)
        chk.bad("", f"{where}not valid YAML ({why})", f"{where_vi}không đúng cú pháp YAML ({why})")
    except UnicodeDecodeError:
        chk.bad("", "not UTF-8 text", "không phải văn bản UTF-8")
    return None


#: the fields of catalogue.yaml
CATALOGUE_KEYS = frozenset(
    {
        "version",
        "title_vi",
        "title_en",
        "rollup_title_vi",
        "form_number",
        "basis",
        "legal_basis_vi",
        "sheets",
        "dimensions",
    }
)


def _add_sheet(sheet: Sheet, sheets: list[Sheet], elements: dict[str, Element], chk: _Checker) -> None:
    """A sheet and its elements joined to those read before: an element code or a sheet name twice is a problem."""
    for el in sheet.elements:
        if el.code in elements:
            chk.bad("elements", f"element code {el.code} is declared twice", f"mã {el.code} được khai báo hai lần")
        elements[el.code] = el
    if any(s.name == sheet.name for s in sheets):
        chk.bad("sheet.name", f"sheet name {sheet.name!r} is used twice", f"tên trang {sheet.name!r} bị dùng hai lần")
    sheets.append(sheet)


def load_catalogue(directory: str | Path | None = None) -> Catalogue:
    """Read and check a catalogue directory; raise CatalogueError listing every problem found."""
    root = Path(directory) if directory else default_catalogue_dir()
    chk = _Checker()
    top = _read_yaml(root / "catalogue.yaml", chk)
    if chk.issues:
        raise CatalogueError("the catalogue is invalid", chk.issues, "danh mục chỉ tiêu không hợp lệ")
    chk.unknown_keys(top, CATALOGUE_KEYS, "")
    version = chk.get(top, "version", "")
    dims = _dimensions(chk.get(top, "dimensions", "", dict) or {}, chk)
    sheet_files = chk.get(top, "sheets", "", list) or []
    header = {
        k: chk.get(top, k, "") or ""
        for k in ("title_vi", "title_en", "rollup_title_vi", "form_number", "legal_basis_vi")
    }
    basis = chk.get(top, "basis", "", dict, required=False) or {}

    sheets: list[Sheet] = []
    indicators: list[Indicator] = []
    rules: list[Rule] = []
    charts: list[Chart] = []
    elements: dict[str, Element] = {}
    for i, name in enumerate(sheet_files):
        chk.file = "catalogue.yaml"
        if not isinstance(name, str):
            chk.bad(f"sheets.{i}", "expected a file name", "phải là tên một tệp")
            continue
        doc = _read_yaml(root / name, chk)
        if doc is None:
            continue
        sheet, inds, rls, chs = _sheet(doc, name, dims, chk)
        if sheet is None:
            continue
        _add_sheet(sheet, sheets, elements, chk)
        indicators += inds
        rules += rls
        charts += chs
    _cross_check(elements, indicators, rules, chk)
    _check_charts(elements, sheets, charts, chk)
    if chk.issues:
        raise CatalogueError("the catalogue is invalid", chk.issues, "danh mục chỉ tiêu không hợp lệ")
    return Catalogue(
        version=str(version),
        basis=basis,
        dimensions=dims,
        sheets=tuple(sheets),
        indicators=tuple(indicators),
        rules=tuple(rules),
        charts=tuple(charts),
        path=str(root),
        elements=elements,
        digest=chk.digest.hexdigest()[:16],
        **header,
    )


def _dimensions(raw: dict[str, Any], chk: _Checker) -> dict[str, Dimension]:
    dims: dict[str, Dimension] = {}
    for key, d in raw.items():
        loc = f"dimensions.{key}"
        chk.unknown_keys(d, {"name_vi", "name_en", "basis", "note_en", "categories", "synthetic"}, loc)
        cats_raw = chk.get(d, "categories", loc, list) or []
        cats: list[Category] = []
        for j, c in enumerate(cats_raw):
            cl = f"{loc}.categories.{j}"
            ck, vi, en = (chk.get(c, k, cl) for k in ("key", "vi", "en"))
            if ck is None or vi is None or en is None:
                continue
            if any(x.key == str(ck) for x in cats):
                chk.bad(f"{cl}.key", f"category key {ck!r} is used twice", f"khóa phân loại {ck!r} bị dùng hai lần")
            cats.append(Category(str(ck), vi, en))
        if not cats:
            chk.bad(f"{loc}.categories", "needs at least one category", "cần ít nhất một phân loại")
        basis = chk.get(d, "basis", loc)
        chk.one_of(basis, BASES, f"{loc}.basis")
        weights = _weights(chk.get(d, "synthetic", loc, dict, required=False), cats, f"{loc}.synthetic", chk)
        dims[key] = Dimension(
            key=key,
            name_vi=chk.get(d, "name_vi", loc) or "",
            name_en=chk.get(d, "name_en", loc) or "",
            basis=basis or "",
            categories=tuple(cats),
            note_en=chk.get(d, "note_en", loc, required=False) or "",
            weights=weights,
        )
    return dims


def _weights(raw: dict[str, Any] | None, cats: list[Category], loc: str, chk: _Checker) -> tuple[float, ...]:
    """`synthetic: {weights: {category key: weight}}` -> one weight per category (1 where not given)."""
    if raw is None:
        return tuple(1.0 for _ in cats)
    chk.unknown_keys(raw, {"weights"}, loc)
    given = chk.get(raw, "weights", loc, dict) or {}
    keys = {c.key for c in cats}
    for k, w in given.items():
        if str(k) not in keys:
            chk.bad(
                f"{loc}.weights.{k}",
                f"unknown category (known: {', '.join(sorted(keys))})",
                f"phân loại không có (các phân loại: {', '.join(sorted(keys))})",
            )
        elif isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0:
            chk.bad(f"{loc}.weights.{k}", f"expected a number >= 0, got {w!r}", f"phải là số >= 0, nhưng là {w!r}")
    out = [float(w) if isinstance(w, (int, float)) and w >= 0 else 1.0 for w in (given.get(c.key, 1.0) for c in cats)]
    if cats and not any(out):
        chk.bad(f"{loc}.weights", "at least one weight must be above 0", "cần ít nhất một trọng số lớn hơn 0")
    return tuple(out)


def _synthetic(raw: Any, loc: str, chk: _Checker) -> Synthetic:
    if raw is None:
        return Synthetic()
    if not isinstance(raw, dict):
        chk.bad(loc, "expected a mapping", "phải là một bảng khóa: giá trị")
        return Synthetic()
    chk.unknown_keys(raw, SYNTHETIC_KEYS, loc)

    def number(key: str, lo: float, hi: float) -> float | None:
        v = raw.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            chk.bad(
                f"{loc}.{key}",
                f"expected a number from {lo:g} to {hi:g}, got {v!r}",
                f"phải là số từ {lo:g} đến {hi:g}, nhưng là {v!r}",
            )
            return None
        return float(v)

    def numbers(key: str, n: int) -> tuple[float, ...] | None:
        v = raw.get(key)
        if v is None:
            return None
        ok = isinstance(v, list) and len(v) == n
        ok = ok and all(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0 for x in v)
        if not ok or v[0] > v[1]:
            chk.bad(
                f"{loc}.{key}",
                f"expected [{', '.join(['low', 'high', 'step'][:n])}] (numbers >= 0), got {v!r}",
                f"phải là [{', '.join(['thấp', 'cao', 'bước'][:n])}] (các số >= 0), nhưng là {v!r}",
            )
            return None
        return tuple(float(x) for x in v)

    size = numbers("size", 2)
    amount = numbers("amount", 3)
    if amount is not None and amount[2] <= 0:
        chk.bad(f"{loc}.amount", "the step must be above 0", "bước phải lớn hơn 0")
        amount = None
    return Synthetic(
        size=(int(size[0]), int(size[1])) if size else None,
        mean=number("mean", 0, 1e7),
        share=number("share", 0, 1000),
        second=v if (v := number("second", 0, 1)) is not None else 0.2,
        amount=amount or Synthetic().amount,  # type: ignore[arg-type]
        yes_share=v if (v := number("yes_share", 0, 1)) is not None else 0.5,
    )


def _axis(raw: Any, loc: str, dims: dict[str, Dimension], chk: _Checker) -> Axis | None:
    name = chk.get(raw, "dimension", loc)
    breakdown = chk.get(raw, "breakdown", loc)
    if name is not None and name not in dims:
        chk.bad(
            f"{loc}.dimension",
            f"unknown dimension {name!r} (known: {', '.join(dims)})",
            f"không có cách phân tổ {name!r} (các cách phân tổ: {', '.join(dims)})",
        )
        return None
    if not chk.one_of(breakdown, ("exclusive", "overlapping"), f"{loc}.breakdown") or name is None:
        return None
    return Axis(dims[name], breakdown)


def _sheet(
    doc: Any, file: str, dims: dict[str, Dimension], chk: _Checker
) -> tuple[Sheet | None, list[Indicator], list[Rule], list[Chart]]:
    chk.unknown_keys(doc, {"sheet", "elements", "indicators", "rules", "charts"}, "")
    head = chk.get(doc, "sheet", "", dict)
    if head is None:
        return None, [], [], []
    sheet_name = chk.get(head, "name", "sheet") or ""
    if len(sheet_name) > 31 or any(ch in sheet_name for ch in "[]:*?/\\"):
        chk.bad("sheet.name", SHEET_NAME_RULE[1], SHEET_NAME_RULE[0])
    elements = [
        el
        for i, e in enumerate(chk.get(doc, "elements", "", list) or [])
        if (el := _element(e, f"elements.{i}", sheet_name, dims, chk))
    ]
    indicators = [
        ind
        for i, raw in enumerate(chk.get(doc, "indicators", "", list, required=False) or [])
        if (ind := _indicator(raw, f"indicators.{i}", chk))
    ]
    rules = [
        r
        for i, raw in enumerate(chk.get(doc, "rules", "", list, required=False) or [])
        if (r := _rule(raw, f"rules.{i}", file, chk))
    ]
    charts = [
        c
        for i, raw in enumerate(chk.get(doc, "charts", "", list, required=False) or [])
        if (c := _chart(raw, f"charts.{i}", file, chk))
    ]
    sheet = Sheet(
        name=sheet_name,
        title_vi=chk.get(head, "title_vi", "sheet") or "",
        title_en=chk.get(head, "title_en", "sheet") or "",
        file=file,
        elements=tuple(elements),
    )
    return sheet, indicators, rules, charts


#: the fields a data element may have
ELEMENT_KEYS = frozenset(
    {
        "code",
        "name_vi",
        "name_en",
        "unit_vi",
        "unit_en",
        "type",
        "rows",
        "columns",
        "basis",
        "note_en",
        "synthetic",
        "over_time",
    }
)


def _element(e: Any, loc: str, sheet_name: str, dims: dict[str, Dimension], chk: _Checker) -> Element | None:
    """One data element of a sheet, checked (None when it has no code: it was reported)."""
    chk.unknown_keys(e, ELEMENT_KEYS, loc)
    code = chk.get(e, "code", loc)
    chk.match(
        code,
        _CODE,
        f"{loc}.code",
        ("expected two capital letters and two digits (like AB01)", "phải là hai chữ in hoa và hai chữ số (như AB01)"),
    )
    vtype = chk.get(e, "type", loc)
    chk.one_of(vtype, VALUE_TYPES, f"{loc}.type")
    basis = chk.get(e, "basis", loc)
    chk.one_of(basis, BASES, f"{loc}.basis")
    rows = _axis(e["rows"], f"{loc}.rows", dims, chk) if isinstance(e, dict) and e.get("rows") else None
    cols_raw = chk.get(e, "columns", loc, list, required=False) or []
    cols = [a for j, c in enumerate(cols_raw) if (a := _axis(c, f"{loc}.columns.{j}", dims, chk))]
    if vtype == "yesno" and (rows or cols):
        chk.bad(loc, "a yes/no element cannot have rows or columns", "chỉ tiêu có/không không có dòng hay cột phân tổ")
    if code is None:
        return None
    # an element with a bad type is still registered, so one typo gives one message, not a cascade
    value_type: ValueType = vtype if vtype in VALUE_TYPES else "count"
    return Element(
        code=code,
        name_vi=chk.get(e, "name_vi", loc) or "",
        name_en=chk.get(e, "name_en", loc) or "",
        unit_vi=chk.get(e, "unit_vi", loc) or "",
        unit_en=chk.get(e, "unit_en", loc) or "",
        type=value_type,
        sheet=sheet_name,
        rows=rows,
        columns=tuple(cols),
        basis=basis or "",
        note_en=chk.get(e, "note_en", loc, required=False) or "",
        synthetic=_synthetic(e.get("synthetic"), f"{loc}.synthetic", chk),
        **_over_time(e.get("over_time"), f"{loc}.over_time", chk),
    )


def _over_time(raw: Any, loc: str, chk: _Checker) -> dict[str, str]:
    """`over_time: {kind: stock | flow, basis: ...}`: required, since a wrong guess would silently add up a
    year's stocks or compare a half-year's flow with a whole year's."""
    if raw is None:
        chk.bad(
            loc,
            "missing: say how the element moves over time, e.g. over_time: {kind: flow, basis: modelled} (flow: "
            "counted during the period, a year is H1 + H2; stock: counted at the period's end, a year is its H2)",
            "thiếu: ghi chỉ tiêu là số thời kỳ hay số thời điểm, ví dụ over_time: {kind: flow, basis: modelled} "
            "(flow: đếm trong kỳ, cả năm = 6 tháng đầu + 6 tháng cuối; stock: đếm cuối kỳ, cả năm = số cuối năm)",
        )
        return {}
    if not isinstance(raw, dict):
        chk.bad(loc, "expected a mapping {kind, basis}", "phải là một bảng {kind, basis}")
        return {}
    chk.unknown_keys(raw, {"kind", "basis"}, loc)
    kind, basis = chk.get(raw, "kind", loc), chk.get(raw, "basis", loc)
    kind_ok, basis_ok = chk.one_of(kind, OVER_TIME, f"{loc}.kind"), chk.one_of(basis, BASES, f"{loc}.basis")
    return {"over_time": kind, "over_time_basis": basis} if kind_ok and basis_ok else {}


def _chart(raw: Any, loc: str, file: str, chk: _Checker) -> Chart | None:
    chk.unknown_keys(raw, {"sheet", "element", "by", "title_vi", "axis_vi"}, loc)
    fields = [chk.get(raw, k, loc) for k in ("sheet", "element", "by", "title_vi", "axis_vi")]
    if None in fields:
        return None
    sheet, element, by, title, axis = fields
    if len(sheet) > 31 or any(ch in sheet for ch in "[]:*?/\\"):
        chk.bad(f"{loc}.sheet", SHEET_NAME_RULE[1], SHEET_NAME_RULE[0])
    return Chart(sheet, element, by, title, axis, file)


#: the fields an indicator may have
INDICATOR_KEYS = frozenset(
    {
        "id",
        "annex",
        "code",
        "group_vi",
        "name_vi",
        "name_en",
        "kind",
        "element",
        "numerator",
        "denominator",
        "factor",
        "unit_vi",
        "basis",
        "note_en",
    }
)


_CIRCULAR = re.compile(r"^\d{4}$")  #: a circular's code of an indicator


def _indicator(raw: Any, loc: str, chk: _Checker) -> Indicator | None:
    chk.unknown_keys(raw, INDICATOR_KEYS, loc)
    kind = chk.get(raw, "kind", loc)
    chk.one_of(kind, ("count", "rate"), f"{loc}.kind")
    basis = chk.get(raw, "basis", loc, dict) or {}
    for k, v in basis.items():
        chk.one_of(v, BASES, f"{loc}.basis.{k}")
    code = chk.get(raw, "code", loc, required=False)
    chk.match(
        code,
        _CIRCULAR,
        f"{loc}.code",
        ("a circular code has four digits (like '0101')", "mã theo Thông tư có bốn chữ số (như '0101')"),
    )
    annex = chk.get(raw, "annex", loc)
    chk.one_of(annex, ("I", "II"), f"{loc}.annex")
    element = numerator = denominator = None
    factor = 1.0
    if kind == "count":
        element = chk.get(raw, "element", loc)
    elif kind == "rate":
        numerator = chk.get(raw, "numerator", loc)
        denominator = chk.get(raw, "denominator", loc)
        factor = chk.get(raw, "factor", loc, float) or 1.0
    ident = chk.get(raw, "id", loc)
    if ident is None or kind not in ("count", "rate"):
        return None
    return Indicator(
        id=ident,
        annex=annex or "",
        code=code,
        group_vi=chk.get(raw, "group_vi", loc) or "",
        name_vi=chk.get(raw, "name_vi", loc) or "",
        name_en=chk.get(raw, "name_en", loc) or "",
        kind=kind,
        unit_vi=chk.get(raw, "unit_vi", loc) or "",
        basis={str(k): str(v) for k, v in basis.items()},
        element=element,
        numerator=numerator,
        denominator=denominator,
        factor=factor,
        note_en=chk.get(raw, "note_en", loc, required=False) or "",
    )


def _ref(raw: Any, loc: str, chk: _Checker) -> Ref | float | None:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    if not isinstance(raw, str) or not re.match(r"^[A-Z]{2}\d{2}(\.total)?$", raw):
        chk.bad(
            loc,
            f"expected an element code (AB01) or its grand total (AB01.total) or a number, got {raw!r}",
            f"phải là mã một chỉ tiêu (AB01), tổng của nó (AB01.total) hoặc một số, nhưng là {raw!r}",
        )
        return None
    return Ref(raw[:4], raw.endswith(".total"))


def _rule(raw: Any, loc: str, file: str, chk: _Checker) -> Rule | None:
    chk.unknown_keys(raw, {"code", "severity", "lhs", "op", "rhs", "message_vi", "message_en"}, loc)
    code = chk.get(raw, "code", loc)
    chk.match(
        code,
        _KEBAB,
        f"{loc}.code",
        (
            "rule codes are lower-case kebab words (like assisted-exceeds-special)",
            "mã quy tắc là các từ chữ thường nối bằng gạch (như assisted-exceeds-special)",
        ),
    )
    sev = chk.get(raw, "severity", loc)
    chk.one_of(sev, ("error", "warning"), f"{loc}.severity")
    op = chk.get(raw, "op", loc)
    chk.one_of(op, OPS, f"{loc}.op")
    lhs = _ref(raw.get("lhs") if isinstance(raw, dict) else None, f"{loc}.lhs", chk)
    rhs = _ref(raw.get("rhs") if isinstance(raw, dict) else None, f"{loc}.rhs", chk)
    msgs = [chk.get(raw, k, loc) for k in ("message_vi", "message_en")]
    if None in (code, sev, op, lhs, rhs, *msgs) or sev not in ("error", "warning") or op not in OPS:
        return None
    if not isinstance(lhs, Ref) or rhs is None:
        chk.bad(f"{loc}.lhs", "the left side must name an element", "vế trái phải là một chỉ tiêu")
        return None
    if isinstance(rhs, Ref) and lhs.total_only != rhs.total_only:
        chk.bad(
            loc,
            "compare an element with an element, or a grand total with a grand total",
            "so sánh chỉ tiêu với chỉ tiêu, hoặc tổng với tổng",
        )
        return None
    return Rule(code, Severity(sev), lhs, op, rhs, msgs[0], msgs[1], file)


def _cross_check(elements: dict[str, Element], indicators: list[Indicator], rules: list[Rule], chk: _Checker) -> None:
    """References between files: every element named by an indicator or rule exists; ids and codes are unique."""
    from ctstat.model.messages import MESSAGES

    chk.file = "catalogue"
    seen: set[str] = set()
    for ind in indicators:
        if ind.id in seen:
            chk.bad(f"indicators.{ind.id}", "indicator id is used twice", "mã chỉ số bị dùng hai lần")
        seen.add(ind.id)
        for role in ("element", "numerator", "denominator"):
            ref = getattr(ind, role)
            if ref is not None and ref != "_units" and ref not in elements:
                chk.bad(f"indicators.{ind.id}.{role}", f"unknown element {ref!r}", f"không có chỉ tiêu {ref!r}")
    codes: set[str] = set()
    for r in rules:
        if r.code in codes or r.code in MESSAGES:
            chk.bad(
                f"rules.{r.code}",
                "rule code is used twice or clashes with a built-in issue code",
                "mã quy tắc bị dùng hai lần hoặc trùng một mã lỗi có sẵn",
            )
        codes.add(r.code)
        for side in (r.lhs, r.rhs):
            if isinstance(side, Ref) and side.element not in elements:
                chk.bad(
                    f"rules.{r.code}",
                    f"unknown element {side.element!r} (in {r.file})",
                    f"không có chỉ tiêu {side.element!r} (trong {r.file})",
                )
        for text in (r.message_vi, r.message_en):
            try:
                text.format(lhs=0, rhs=0)
            except (KeyError, IndexError, ValueError) as exc:
                chk.bad(
                    f"rules.{r.code}",
                    f"message may only use {{lhs}} and {{rhs}} ({exc})",
                    f"thông báo chỉ được dùng {{lhs}} và {{rhs}} ({exc})",
                )


def _check_charts(elements: dict[str, Element], sheets: list[Sheet], charts: list[Chart], chk: _Checker) -> None:
    from ctstat.model.sheets import ROLLUP_SHEETS

    taken = {*ROLLUP_SHEETS, *(s.name for s in sheets)}
    for c in charts:
        chk.file = c.file
        loc = f"charts.{c.sheet}"
        if c.sheet in taken:
            chk.bad(
                f"{loc}.sheet",
                f"sheet name {c.sheet!r} is already used by the form or the rollup workbook",
                f"tên trang {c.sheet!r} đã dùng cho biểu mẫu hoặc tệp tổng hợp",
            )
        taken.add(c.sheet)
        el = elements.get(c.element)
        if el is None:
            chk.bad(f"{loc}.element", f"unknown element {c.element!r}", f"không có chỉ tiêu {c.element!r}")
            continue
        dims = [a.dimension.key for a in ((el.rows,) if el.rows else ()) + el.columns]
        if c.dimension not in dims:
            chk.bad(
                f"{loc}.by",
                f"{c.element} has no breakdown by {c.dimension!r} (it has: {', '.join(dims) or 'none'})",
                f"{c.element} không phân tổ theo {c.dimension!r} (có: {', '.join(dims) or 'không'})",
            )
