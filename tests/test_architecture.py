"""The package's shape: imports run down the stages, no circles, frameworks stay at the edges, functions stay short."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

OLD = "2025-06-30"  #: the unit list before the reform
SRC = Path(__file__).resolve().parents[1] / "src" / "ctstat"

#: low to high, in the order data flows; a module may import its own layer and those listed before it, never one
#: after it; siblings in one set do not import each other. A top-level module (pipeline.py) is a layer of its own.
LAYERS: list[set[str]] = [
    {"model"},
    {"read"},
    {"check"},
    {"plan"},
    {"write"},
    {"pipeline"},
    {"job", "catalogue_check"},
    {"web"},
    {"cli"},
]
#: third-party packages and the only layers that may import them (the stated boundaries, now tested)
EDGE = {
    **dict.fromkeys(("typer", "click", "rich"), {"cli"}),
    **dict.fromkeys(("starlette", "uvicorn", "jinja2", "python_multipart", "argon2"), {"web"}),
    **dict.fromkeys(("python_calamine", "olefile", "msoffcrypto"), {"read"}),
    "pandera": {"check"},
    "xlsxwriter": {"write"},
    "sqlite3": {"job"},
    **dict.fromkeys(("duckdb", "pyarrow"), {"job"}),  #: the history store (issue 24)
    "yaml": {"model", "pipeline"},
    #: signing (the job) and verifying (reading a district workbook, offline) both need it: model is below both
    "cryptography": {"model"},
}
MAX_BODY_LINES = 60  #: a function's body, after its signature and docstring (typer signatures are long by nature)
MAX_PARAMS = 8  #: outside cli/ (a typer command's parameters are its options)
#: while moving: a flat module -> the layer it is bound for (empty once every module sits in its subpackage)
FLAT: dict[str, str] = {}


def _modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        parts = p.relative_to(SRC).with_suffix("").parts
        out[".".join(("ctstat",) + (parts[:-1] if parts[-1] == "__init__" else parts))] = p
    return out


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None  # the package's face
    if parts[1] in FLAT:
        return FLAT[parts[1]]
    return None if parts[1] in ("__main__", "pandera_checks") else parts[1]  # `python -m`; the documented shim


def _rank(layer: str) -> int:
    return next(i for i, group in enumerate(LAYERS) if layer in group)


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """Every import of the module, wherever it stands (top level, a function, TYPE_CHECKING), resolved."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                keep = len(module.split(".")) - node.level + (path.name == "__init__.py")
                target = ".".join(module.split(".")[:keep] + ([node.module] if node.module else []))
            found += [(target, node.lineno)] + [(f"{target}.{a.name}", node.lineno) for a in node.names]
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for target, _ in _imports(m, path):
            while target and target not in mods:
                target = target.rpartition(".")[0]
            if target and target not in (m, "ctstat") and not m.startswith(target + "."):
                graph[m].add(target)
    return graph


def _upward_imports() -> list[str]:
    return [
        f"{m} -> {t}"
        for m, targets in _graph().items()
        for t in targets
        if (la := _layer(m)) and (lb := _layer(t)) and la != lb and _rank(lb) >= _rank(la)
    ]


def _circles() -> list[str]:
    graph, index, low, stack, on, circles = _graph(), {}, {}, [], set(), []
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:  # Tarjan: each strongly connected group of more than one module is a circle
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                on.discard(w)
                group.append(w)
            on.discard(v)
            if group:
                circles.append(sorted([v, *group]))

    for v in graph:
        if v not in index:
            visit(v)
    return [" ".join(c) for c in circles]


def _outside_their_layer() -> list[str]:
    return [
        f"{m} imports {top}"
        for m, path in _modules().items()
        for target, line in _imports(m, path)
        if (top := target.split(".")[0]) in EDGE and _layer(m) not in EDGE[top]
    ]


def _functions() -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for m, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield m, node


def _long_functions() -> list[str]:
    long = []
    for m, node in _functions():
        body = node.body[1:] if ast.get_docstring(node) and len(node.body) > 1 else node.body
        if (node.end_lineno or 0) - body[0].lineno + 1 > MAX_BODY_LINES:
            long.append(f"{m}.{node.name}")
    return long


def _many_parameters() -> list[str]:
    many = []
    for m, node in _functions():
        a = node.args
        names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs) if x.arg not in ("self", "cls")]
        if _layer(m) != "cli" and len(names) > MAX_PARAMS:
            many.append(f"{m}.{node.name}")
    return many


def _private_imports() -> list[str]:
    """A name private to its module (`_x`) imported by another: the other module leans on what may change."""
    return sorted(
        f"{m} imports {node.module}.{a.name}"
        for m, path in _modules().items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ctstat")
        for a in node.names
        if a.name.startswith("_") and not a.name.startswith("__")
    )


#: today's offenders, each to be taken off as it is fixed (issue 28); a new offender fails, and so does a fixed one
#: still listed (the list only shrinks)
KNOWN: dict[str, set[str]] = {
    "upward imports": set(),
    "circles": set(),
    "frameworks outside their layer": set(),
    "long functions": set(),
    "many parameters": set(),
    "private names imported": set(),
}


def _holds(rule: str, found: list[str]) -> None:
    new = sorted(set(found) - KNOWN[rule])
    fixed = sorted(KNOWN[rule] - set(found))
    assert new == [], f"{rule}: new offenders"
    assert fixed == [], f"{rule}: fixed, take them off KNOWN"


def test_imports_run_down_the_layers() -> None:
    _holds("upward imports", _upward_imports())


def test_no_circles() -> None:
    _holds("circles", _circles())


def test_frameworks_stay_at_the_edges() -> None:
    _holds("frameworks outside their layer", _outside_their_layer())


def test_no_function_is_long() -> None:
    _holds("long functions", _long_functions())


def test_no_function_takes_many_parameters() -> None:
    _holds("many parameters", _many_parameters())


def test_no_private_name_crosses_modules() -> None:
    _holds("private names imported", _private_imports())


def test_the_rules_see_a_new_offender(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shape test is not hollow: a module placed low that imports high, a circle, a framework out of its layer,
    a long body and a long signature are each found."""
    pkg = tmp_path / "ctstat"
    for folder in ("model", "cli"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    (pkg / "model" / "a.py").write_text(
        f"import typer\nfrom ctstat.cli import b\n\n\ndef long(p1, p2, p3, p4, p5, p6, p7, p8, p9):\n{body}\n"
    )
    (pkg / "cli" / "b.py").write_text("from ctstat.model import a\nfrom ctstat.model.a import _hidden\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", pkg)
    assert "ctstat.model.a -> ctstat.cli.b" in _upward_imports()
    assert _circles() == ["ctstat.cli.b ctstat.model.a"]
    assert _outside_their_layer() == ["ctstat.model.a imports typer"]
    assert _long_functions() == ["ctstat.model.a.long"]
    assert _many_parameters() == ["ctstat.model.a.long"]
    assert _private_imports() == ["ctstat.cli.b imports ctstat.model.a._hidden"]


#: facts with one owner (issue 28, restructure.md §4.5): what may be written only in its owner's module
ONE_OWNER = {
    '.split(":"': "model/keys.py",  # the column part of a cell key
    "1e-9": "check/compare.py",  # the rounding tolerance
    "jobs or 1": "",  # --jobs 0 is one per core everywhere (pipeline.workers), never one
    '"Thông tin chung"': "model/sheets.py",  # the cover's sheet name
    '"Đơn vị tổng hợp"': "model/sheets.py",  # the rollup cover's labels, read back by the city
    '"Danh mục đơn vị hành chính"': "model/sheets.py",
    '{2: "province"': "",  # a code's width and its level: model/units.WIDTH
}


def test_each_fact_has_one_owner() -> None:
    found = sorted(
        f"{path.relative_to(SRC)}: {text}"
        for path in SRC.rglob("*.py")
        for text, owner in ONE_OWNER.items()
        if text in path.read_text(encoding="utf-8") and path.relative_to(SRC).as_posix() != owner
    )
    assert found == []


def test_starting_a_command_loads_no_pandas() -> None:
    """pandas and pandera load in the judging thread while the files are read (pipeline.read_checked), not before
    the first file is opened: the modules a command starts with import neither (numpy they may: the reading
    workers use it). A one-file validate was 0.3 s slower when the pipeline pulled pandas in through the rollup's
    data types."""
    code = (
        "import sys, ctstat.cli.commands, ctstat.cli.render, ctstat.pipeline, ctstat.plan.spec\n"
        "print(sorted(m for m in ('pandas', 'pandera') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.parametrize(
    "line",
    [
        ["validate", "{wards}"],
        ["rollup", "{wards}", "--period", "2025-H1", "--unit", "008", "--out", "{out}"],
        ["rollup", "{wards}", "--period", "2025", "--units", "2025-07-01", "--unit", "12", "--out", "{out}"],
        ["run", "--period", "2025-H1", "--unit", "008", "--inbox", "{wards}", "--out", "{out}", "--units", OLD],
    ],
    ids=["validate", "rollup", "rollup-year-2025", "run"],
)
def test_a_command_starts_reading_before_pandas_loads(line: list[str], tmp_path: Path) -> None:
    """Each command that reads files forks its reading workers with pandas and pandera not loaded: the judging
    thread loads them while the files are read. A rollup loaded pandas first (a type's import; 0.2 s before its
    first file was opened)."""
    wards = SRC.parents[1] / "samples" / "wards"
    argv = [a.format(wards=wards, out=tmp_path / "out") for a in line]
    code = (
        "import sys, ctstat.pipeline as p\n"
        "from ctstat.cli.commands import main\n"
        "def at_reading(*a, **k):\n"
        "    print(sorted(m for m in ('pandas', 'pandera') if m in sys.modules), flush=True)\n"
        "    raise SystemExit(0)\n"
        "p.read_checked = at_reading\n"
        f"sys.argv = ['ctstat', *{argv!r}]\n"
        "main()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.stdout.strip() == "[]", (out.stdout, out.stderr[-2000:])
