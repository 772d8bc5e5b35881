"""The package's shape: imports run down the stages, no circles, frameworks stay at the edges, functions stay short."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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


#: today's offenders, each to be taken off as it is fixed (issue 28); a new offender fails, and so does a fixed one
#: still listed (the list only shrinks)
KNOWN: dict[str, set[str]] = {
    "upward imports": {
        "ctstat.check.validate -> ctstat.plan.plan",
    },
    "circles": {
        "ctstat.read.rollup_book ctstat.read.workbook",
    },
    "frameworks outside their layer": {
        "ctstat.write.synth imports msoffcrypto",
    },
    "long functions": {
        "ctstat.check.file_checks.clean_values",
        "ctstat.check.validate._fold",
        "ctstat.check.validate._spec_issue",
        "ctstat.check.validate.judge_book",
        "ctstat.cli.render.render_catalogue_check",
        "ctstat.cli.render.render_rollup",
        "ctstat.cli.render.render_status",
        "ctstat.job.config.load_config",
        "ctstat.job.run.export_table",
        "ctstat.model.catalogue._indicator",
        "ctstat.model.catalogue._sheet",
        "ctstat.model.catalogue.load_catalogue",
        "ctstat.plan.plan.parent_statuses",
        "ctstat.plan.plan.plan_sheets",
        "ctstat.web.app.__call__",
        "ctstat.web.app.create_app",
        "ctstat.web.intake.take_in",
        "ctstat.write.annotate._result_sheet",
        "ctstat.write.annotate.write",
        "ctstat.write.form._write_cover",
        "ctstat.write.form.write_form_sheet",
    },
    "many parameters": {
        "ctstat.check.validate._fold",
        "ctstat.pipeline.rollup_paths",
        "ctstat.plan.plan.plan_sheets",
        "ctstat.write.form.write_form_sheet",
        "ctstat.write.synth.write_ward",
    },
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
    (pkg / "cli" / "b.py").write_text("from ctstat.model import a\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", pkg)
    assert "ctstat.model.a -> ctstat.cli.b" in _upward_imports()
    assert _circles() == ["ctstat.cli.b ctstat.model.a"]
    assert _outside_their_layer() == ["ctstat.model.a imports typer"]
    assert _long_functions() == ["ctstat.model.a.long"]
    assert _many_parameters() == ["ctstat.model.a.long"]
