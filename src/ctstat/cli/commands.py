"""The ctstat command line: thin adapters over the library (the only module that imports typer)."""

from __future__ import annotations

import atexit
import copy
import dataclasses
import gc
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ctstat import __version__
from ctstat.cli import entry, review
from ctstat.cli.entry import Entry, Outcome, Verdict, line_lang
from ctstat.cli.options import (
    CatalogueOpt,
    ConfigOpt,
    DeadlineOverride,
    InboxOverride,
    JobsOpt,
    JobsOverride,
    JsonOpt,
    LangOpt,
    LogOverride,
    OptPath,
    OutOverride,
    PeriodOverride,
    UnitOverride,
    UnitsOpt,
    writable_place,
)
from ctstat.model.errors import CtstatError, UsageError

EXIT_CODES = """Exit codes: 0 = no errors (warnings allowed); 1 = at least one error in the data; 2 = usage error,
invalid catalogue, or nothing to do; 3 = internal error of ctstat (a bug: run again with --debug or CTSTAT_DEBUG=1
for the traceback, and report it)."""

app = typer.Typer(
    cls=Entry,  #: every command's result or refusal becomes its exit code there (cli/entry.py)
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help=f"ctstat {__version__}: validate and roll up ward submissions of the Circular 13/2021/TT-BLĐTBXH child "
    f"statistics.\n\n{EXIT_CODES}",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,  # a crash is exit 3 with one line (main), never a traceback by default
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"ctstat {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_show_version, is_eager=True),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an internal error (also CTSTAT_DEBUG=1).")
    ] = False,
    lang: LangOpt = None,
) -> None:
    if debug:
        os.environ["CTSTAT_DEBUG"] = "1"
    _line["lang"] = lang  # before the command (ctstat --lang en validate ...): its default language


#: what was given before the command (set on every run by `_options`)
_line: dict[str, str | None] = {"lang": None}


def _lang(value: str | None) -> Any:
    """The language of a command's output: its --lang, else --lang before the command, else CTSTAT_LANG, else vi."""
    lang = (value or _line["lang"] or os.environ.get("CTSTAT_LANG") or "vi").lower()
    if lang not in ("vi", "en"):
        raise CtstatError(
            f"--lang must be vi or en, not {lang!r}", message_vi=f"--lang phải là vi hoặc en, không phải {lang!r}"
        )
    return lang


def _emit_json(doc: Any) -> None:
    """One JSON document on stdout, always valid UTF-8 (a name that is not is escaped, never a crash)."""
    text = _json_text(doc) + "\n"
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8", "backslashreplace"))
    sys.stdout.flush()


def _json_text(doc: Any) -> str:
    """A command's JSON document (`write.atomic.json_text`; what JSON cannot hold is written as text)."""
    from ctstat.write.atomic import json_text

    return json_text(doc, default=str)


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Workbooks, or folders searched recursively.", exists=True)],
    period: Annotated[Optional[str], typer.Option(help="Expected period (2025, 2025-H1, 2025-H2).")] = None,  # noqa: UP045
    units: UnitsOpt = None,
    as_json: JsonOpt = False,
    annotate: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--annotate", help="Write a marked-up copy of each file with issues into this folder.", file_okay=False
        ),
    ] = None,
    lang: LangOpt = None,
    jobs: JobsOpt = 1,
    catalogue: CatalogueOpt = None,
    history: Annotated[
        OptPath,
        typer.Option(
            "--history",
            help="Compare each count with the same unit's earlier periods in this history folder.",
            file_okay=False,
            exists=True,
        ),
    ] = None,
) -> Outcome:
    """Check ward submissions cell by cell and say, in Vietnamese, what to fix.

    Example: ctstat validate samples/faulty --period 2025-H1
    """
    from ctstat.cli.render import make_consoles, render_report
    from ctstat.model.catalogue import load_catalogue
    from ctstat.pipeline import validate_files, workers
    from ctstat.read.inputs import find_files

    _arrow_if(history)
    _history_named(history)
    writable_place(annotate, "--annotate", folder=True)
    language = _lang(lang)
    cat = load_catalogue(catalogue)
    out, err = make_consoles()
    n_jobs = workers(jobs)
    files = find_files(paths)
    if len(files) > 1 and err.is_terminal and not as_json:
        from rich.progress import Progress

        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("Đang kiểm tra" if language == "vi" else "Validating", total=len(files))
            report, subs = validate_files(
                files, cat, period, units, n_jobs, lambda: bar.advance(task), exclude=annotate
            )
    else:
        report, subs = validate_files(files, cat, period, units, n_jobs, exclude=annotate)
    unusual = _unusual(report, subs, cat, history, language, as_json)
    if annotate is not None:
        from ctstat.model.period import parse_period
        from ctstat.write.annotate import annotate_report

        annotate_report(report, subs, cat, annotate, language, parse_period(period) if period else None, n_jobs)
    if as_json:
        _emit_json(report.to_dict(language) | unusual)
    else:
        render_report(report, out, language, show_valid=len(report.files) <= 50)
    return report


@app.command()
def template(
    unit: Annotated[str, typer.Option(help="Commune code (5 digits, e.g. 00301).")],
    period: Annotated[str, typer.Option(help="2025, 2025-H1 or 2025-H2.")],
    out: Annotated[Path, typer.Option(help="The .xlsx file to write.", dir_okay=False)],
    units: UnitsOpt = None,
    lang: LangOpt = None,
    catalogue: CatalogueOpt = None,
) -> None:
    """Write the blank report form of one ward/commune for one period.

    Example: ctstat template --unit 00301 --period 2025-H1 --out 00301.xlsx
    """
    from ctstat.model.catalogue import load_catalogue
    from ctstat.pipeline import make_template, template_notes

    vi = _lang(lang) == "vi"
    writable_place(out, "--out", folder=False)
    if out.suffix.lower() != ".xlsx":  # Excel would refuse the workbook under another name, or open it as text
        raise UsageError(
            f"--out {out}: the form is an .xlsx workbook; name the file .xlsx (e.g. {unit}.xlsx)",
            message_vi=f"--out {out}: biểu mẫu là tệp Excel .xlsx; đặt tên tệp đuôi .xlsx (ví dụ {unit}.xlsx)",
        )
    path = make_template(unit, period, out, load_catalogue(catalogue), units)
    notes = template_notes(unit, period, units)
    typer.echo(str(path))
    for n, (said_vi, said_en) in enumerate(notes):  # which commune, and a code that named another one
        typer.secho(said_vi if vi else said_en, err=True, fg="yellow" if n else None)


@app.command()
def indicators(
    as_json: JsonOpt = False,
    lang: LangOpt = None,
    catalogue: CatalogueOpt = None,
) -> None:
    """List the catalogue: indicators (with where each comes from) and the data elements a ward reports.

    Example: ctstat indicators --json
    """
    from ctstat.cli.render import catalogue_to_dict, make_consoles, render_catalogue
    from ctstat.model.catalogue import load_catalogue

    cat = load_catalogue(catalogue)
    if as_json:
        _emit_json(catalogue_to_dict(cat))
    else:
        render_catalogue(cat, make_consoles()[0], _lang(lang))


catalogue_app = typer.Typer(no_args_is_help=True, help="Check a catalogue folder before publishing its forms.")
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(review.keys_app, name="keys")
app.add_typer(review.review_app, name="review")


@catalogue_app.command("check")
def catalogue_check(
    directory: Annotated[Path, typer.Argument(help="The catalogue folder to check.", file_okay=False, exists=True)],
    against: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--against",
            help="The catalogue now in use (a copy made before editing): show what the change does.",
            file_okay=False,
            exists=True,
        ),
    ] = None,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
) -> Outcome:
    """Check a catalogue folder: every problem located (file, YAML path); with --against, the form's rows added,
    removed and moved, the rules and indicators changed and the template version; and one synthetic form of the
    new catalogue written, read back and validated. Exit 0 if it can be published, 1 if not, 2 if it is invalid.

    Example: cp -r indicators /tmp/published; (edit indicators/*.yaml); ctstat catalogue check indicators --against
    /tmp/published
    """
    from ctstat.catalogue_check import check_catalogue
    from ctstat.cli.render import make_consoles, render_catalogue_check
    from ctstat.model.catalogue import load_catalogue

    shown = _lang(lang)
    new = load_catalogue(directory)
    old = load_catalogue(against) if against else None
    result = check_catalogue(new, old)
    if as_json:
        _emit_json(result.to_dict())
    else:
        render_catalogue_check(result, make_consoles()[0], shown)
    return result


@app.command()
def schema(
    element: Annotated[Optional[str], typer.Argument(help="An element code; all of them if left out.")] = None,  # noqa: UP045
    export: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--export", help="Write every element's schema as pandera YAML into this folder.", file_okay=False
        ),
    ] = None,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
    catalogue: CatalogueOpt = None,
) -> None:
    """Show the pandera schema of a data element in words (cells, checks, breakdowns, rules, basis), or export
    all of them as pandera YAML, to apply the same rules to one's own pandas frames.

    Example: ctstat schema --export schemas/   (one element: its code after `schema`; codes: ctstat indicators)
    """
    from ctstat.check.schema import describe
    from ctstat.model.catalogue import load_catalogue
    from ctstat.pipeline import export_schemas

    shown = _lang(lang)
    cat = load_catalogue(catalogue)
    if element is not None and element not in cat.elements:
        known = ", ".join(cat.elements)
        raise CtstatError(
            f"no element {element!r} in the catalogue (known: {known})",
            message_vi=f"danh mục không có chỉ tiêu {element!r} (các chỉ tiêu: {known})",
        )
    if export is not None:
        for path in export_schemas(cat, export):
            typer.echo(str(path))
        return
    docs = [describe(cat, code, shown) for code in ([element] if element else list(cat.elements))]
    if as_json:
        _emit_json(docs if element is None else docs[0])
        return
    words = (
        {"basis": "căn cứ", "cells": "ô", "breakdown": "phân tổ", "rule": "quy tắc"}
        if shown == "vi"
        else {"basis": "basis", "cells": "cells", "breakdown": "breakdown", "rule": "rule"}
    )
    for doc in docs:
        names = f"{doc['name_vi']} ({doc['name_en']}, " if shown == "en" else f"{doc['name_vi']} ("
        typer.echo(f"{doc['element']} {names}{doc['unit']}; {words['basis']}: {doc['basis']})")
        typer.echo(f"  {words['cells']}: {doc['cells']}")
        for line in doc["breakdowns"]:  # type: ignore[attr-defined]
            typer.echo(f"  {words['breakdown']}: {line}")
        for line in doc["rules"]:  # type: ignore[attr-defined]
            typer.echo(f"  {words['rule']}: {line}")


@app.command()
def synth(
    unit: Annotated[str, typer.Option(help="A commune, district or province code, or VN for the whole country.")],
    period: Annotated[str, typer.Option(help="2025, 2025-H1 or 2025-H2.")],
    out: Annotated[Path, typer.Option(help="Folder to write the forms into.", file_okay=False)],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files.")] = 0,
    units: UnitsOpt = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="Processes writing files (0 = one per core; at most 4 a core).")
    ] = 1,
    lang: LangOpt = None,
    catalogue: CatalogueOpt = None,
) -> None:
    """Write synthetic, filled ward forms (no real data) for every commune under a unit.

    Example: ctstat synth --unit 008 --period 2025-H1 --out /tmp/hoang-mai
    """
    from ctstat.model.catalogue import load_catalogue
    from ctstat.pipeline import synth_forms, workers

    writable_place(out, "--out", folder=True)
    n = synth_forms(unit, period, out, load_catalogue(catalogue), units, seed, workers(jobs))
    typer.echo(f"Đã ghi {n} biểu mẫu vào {out}" if _lang(lang) == "vi" else f"{n} forms written to {out}")


@app.command()
def rollup(
    paths: Annotated[
        list[Path], typer.Argument(help="Ward submissions and/or district rollup workbooks.", exists=True)
    ],
    period: Annotated[str, typer.Option(help="The period rolled up (2025, 2025-H1, 2025-H2).")],
    out: Annotated[Path, typer.Option(help="Folder for the workbooks and the manifest.", file_okay=False)],
    unit: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="District (3 digits) or province (2 digits) rolled up; default: inferred from the inputs."),
    ] = None,
    units: UnitsOpt = None,
    allow_partial: Annotated[
        bool, typer.Option("--allow-partial", help="Roll up even if wards are missing or invalid (marked partial).")
    ] = False,
    deadline: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Deadline (YYYY-MM-DD): files received later are marked late."),
    ] = None,
    generated_at: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--generated-at",
            help="Timestamp printed in the outputs (default: when the last input was received, so the same "
            "files give the same bytes).",
        ),
    ] = None,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
    jobs: JobsOpt = 1,
    catalogue: CatalogueOpt = None,
    signer: review.SignerOpt = None,
    trusted_root: review.RootOpt = None,
    allow_unapproved: review.AllowUnapprovedOpt = False,
    history: HistoryOpt = None,
) -> Outcome:
    """Roll valid ward submissions up into district and province workbooks, with completeness and provenance.

    Stops with exit 1 and a chase list when an expected ward is missing, invalid or duplicated, unless
    --allow-partial. Example: ctstat rollup samples/wards/2025-H1-hoang-mai --period 2025-H1 --out out
    """
    from datetime import date, datetime

    from ctstat.cli.render import make_consoles, render_rollup
    from ctstat.model.catalogue import load_catalogue
    from ctstat.pipeline import rollup_paths, workers

    _arrow_if(history)
    _history_named(history)
    writable_place(out, "--out", folder=True)
    language = _lang(lang)
    try:
        due = date.fromisoformat(deadline) if deadline else None
    except ValueError:  # its reason is Python's, in English ("month must be in 1..12"): what to write instead
        raise UsageError(
            f"--deadline: expected a date YYYY-MM-DD, not {deadline!r}",
            message_vi=f"--deadline: phải là ngày dạng YYYY-MM-DD, không phải {deadline!r}",
        ) from None
    try:
        when = datetime.fromisoformat(generated_at) if generated_at else None
    except ValueError:
        raise UsageError(
            f"--generated-at: expected a date YYYY-MM-DD or a time YYYY-MM-DDTHH:MM:SS, not {generated_at!r}",
            message_vi=f"--generated-at: phải là ngày YYYY-MM-DD hoặc thời điểm YYYY-MM-DDTHH:MM:SS, "
            f"không phải {generated_at!r}",
        ) from None
    cat = load_catalogue(catalogue)
    result = rollup_paths(
        paths,
        period,
        out,
        cat,
        review.approval_policy(signer or [], trusted_root or [], allow_unapproved),
        history=_history_lookup(history, cat),
        unit=unit,
        units=units,
        allow_partial=allow_partial,
        deadline=due,
        generated_at=when,
        jobs=workers(jobs),
    )
    if as_json:
        _emit_json(result.manifest)
    else:
        render_rollup(result, make_consoles()[0], language)
    return result


# --- scheduled jobs ------------------------------------------------------------------------------------------


def _job_config(config: Path | None, **flags: Any) -> Any:
    from ctstat.job.config import load_config

    return load_config(config, **flags)


def _job_places(cfg: Any) -> None:
    """The job's folder and event log, refused at once when they lie under a file (a run, a server)."""
    writable_place(cfg.out, "out", folder=True)
    writable_place(cfg.log, "log", folder=False)


@app.command()
def run(
    config: ConfigOpt = None,
    period: PeriodOverride = None,
    unit: UnitOverride = None,
    inbox: InboxOverride = None,
    out: OutOverride = None,
    deadline: DeadlineOverride = None,
    units: UnitsOpt = None,
    log: LogOverride = None,
    allow_partial: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option("--allow-partial/--no-allow-partial", help="At the deadline, roll up what is there."),
    ] = None,
    jobs: JobsOverride = None,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
    catalogue: CatalogueOpt = None,
    history: HistoryOpt = None,
) -> Outcome:
    """One step of the scheduled job: validate new and changed files in the inbox, record them in the ledger,
    mark up faulty ones, and roll up once every ward has a valid submission (or at the deadline with
    --allow-partial). Safe to run from cron: one run at a time, no prompts.

    Example: ctstat run --config /srv/ctstat/ctstat.toml
    """
    from ctstat.cli.render import make_consoles, render_run
    from ctstat.job.run import run_job
    from ctstat.model.catalogue import load_catalogue

    cfg = _job_config(
        config,
        period=period,
        unit=unit,
        inbox=inbox,
        out=out,
        deadline=deadline,
        units=units,
        log=log,
        allow_partial=allow_partial,
        jobs=jobs,
        history=history,
    )
    _job_places(cfg)
    cat = load_catalogue(catalogue)
    result = run_job(cfg, cat)
    unusual = _run_unusual(cfg, cat, _lang(lang))
    if as_json:
        _emit_json(result.to_dict() | ({"unusual_changes": unusual} if unusual else {}))
    else:
        render_run(result, make_consoles()[0], _lang(lang))
        if unusual:
            from ctstat.cli.render_history import render_comparison

            render_comparison(
                {**unusual, "unusual_changes": unusual["unusual_changes"][:50]}, make_consoles_out(), _lang(lang)
            )
    return result


@app.command()
def status(
    config: ConfigOpt = None,
    period: PeriodOverride = None,
    unit: UnitOverride = None,
    inbox: InboxOverride = None,
    out: OutOverride = None,
    deadline: DeadlineOverride = None,
    units: UnitsOpt = None,
    catalogue: CatalogueOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
) -> Outcome:
    """Where the period stands, from the ledger: per parent unit expected / received / valid / invalid /
    missing / late, the chase list (who to call, with their last problem) and the resubmissions.

    Example: ctstat status --config /srv/ctstat/ctstat.toml
    """
    from ctstat.cli.render import make_consoles, render_status
    from ctstat.job.run import job_status
    from ctstat.model.catalogue import load_catalogue

    cfg = _job_config(config, period=period, unit=unit, inbox=inbox, out=out, deadline=deadline, units=units)
    doc = job_status(cfg, load_catalogue(catalogue))
    if as_json:
        _emit_json(doc)
    else:
        render_status(doc, make_consoles()[0], _lang(lang))
        review.render_audit(doc, make_consoles()[0], _lang(lang))
    return Verdict(doc["complete"])


@app.command()
def tokens(
    out: Annotated[Path, typer.Option("--out", help="The CSV to write (unit,name,token); must not exist yet.")],
    config: ConfigOpt = None,
    rotate: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--rotate", help="Replace this unit's token (repeatable; 'all' for every unit)."),
    ] = None,
    lang: LangOpt = None,
) -> None:
    """Issue portal tokens: one for every expected ward and one for the unit rolled up, written to a CSV for the
    district to hand out; only their argon2 hashes are kept (in the ledger). Units that have a token keep it,
    unless named with --rotate, which ends the old token and its sessions.

    Example: ctstat tokens --config ctstat.toml --out tokens.csv
    """
    from ctstat.web.tokens import issue_tokens

    writable_place(out, "--out", folder=False)
    cfg = _job_config(config)
    issued = issue_tokens(cfg, out, rotate or ())
    vi = _lang(lang) == "vi"
    if not issued:
        print("Mọi đơn vị đã có mã; không cấp mã mới." if vi else "Every unit has a token; none issued.")
    else:
        what = f"{len(issued)} mã truy cập" if vi else f"{len(issued)} token{'s' * (len(issued) != 1)}"
        print(f"{out}: {what} ({', '.join(i.unit for i in issued[:5])}{', …' if len(issued) > 5 else ''})")


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on (behind nginx: 127.0.0.1).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    catalogue: CatalogueOpt = None,
    lang: LangOpt = None,
) -> None:
    """The submission portal: wards upload their form in a browser and get the answer at once; the district sees
    its period live. Same configuration, ledger and inbox as 'ctstat run'. Stop with Ctrl-C.

    Example: ctstat serve --config /srv/ctstat/ctstat.toml --port 8080
    """
    from ctstat.model.catalogue import load_catalogue
    from ctstat.web.app import serve as serve_portal

    cfg = _job_config(config)
    _job_places(cfg)
    cat = load_catalogue(catalogue)
    vi = _lang(lang) == "vi"
    print(
        f"ctstat serve: http://{host}:{port}/ ({cfg.unit} {cfg.period}); "
        + ("Ctrl-C để dừng." if vi else "Ctrl-C to stop."),
        file=sys.stderr,
    )
    serve_portal(cfg, cat, host, port)


@app.command()
def export(
    to: Annotated[Path, typer.Option("--to", help="The .csv or .parquet file to write.", dir_okay=False)],
    config: ConfigOpt = None,
    period: PeriodOverride = None,
    unit: UnitOverride = None,
    inbox: InboxOverride = None,
    out: OutOverride = None,
    units: UnitsOpt = None,
    all_periods: Annotated[bool, typer.Option("--all-periods", help="Every period in the ledger.")] = False,
    lang: LangOpt = None,
    catalogue: CatalogueOpt = None,
) -> None:
    """Write the validated data as a tidy long table (unit, parents, period, element, dimensions, value,
    source file hash) for a spreadsheet, pandas, DuckDB or a BI tool.

    Example: ctstat export --config ctstat.toml --to 2025-H1.csv
    """
    from ctstat.job.run import export_file, export_table
    from ctstat.model.catalogue import load_catalogue

    writable_place(to, "--to", folder=False)
    cfg = _job_config(config, period=period, unit=unit, inbox=inbox, out=out, units=units)
    table = export_table(cfg, load_catalogue(catalogue), all_periods)
    export_file(table, to)
    typer.echo(f"Đã ghi {len(table)} dòng vào {to}" if _lang(lang) == "vi" else f"{len(table)} rows written to {to}")


def main() -> None:
    """The console script (`cli/entry.py` maps every way a command ends to its exit code)."""
    # At exit, what the command built need not be walked by the collector one last time: Python's shutdown spent
    # 0.13 s doing that after a one-file validate (pandas and pandera loaded). Nothing is skipped: atexit
    # handlers, flushes and finalizers still run; only cycles of garbage left at exit are not looked for.
    atexit.register(gc.freeze)
    # One command, then exit: what it reads is kept to its end, and the collector's default (a collection every 700
    # new objects, a full one every 70,000) walked all of it again and again once reading was done: judging and
    # reporting 10,035 files spent 0.15 s in collections. Cycles of garbage are still collected, less often.
    gc.set_threshold(*CLI_GC)
    _PROCESS["one_command"] = True  # what this process will ever run is known from its line (`_arrow_if`)
    for stream in (sys.stdout, sys.stderr):  # what is printed is UTF-8: a file name's undecodable bytes as \udcff
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    entry.main(command)


#: whether this process runs one command line and exits (`main`), not commands in turn (a test's CliRunner, code
#: that embeds `app`): only then may a command decide how pandas is loaded for the whole process
_PROCESS = {"one_command": False}


#: the cyclic collector's thresholds for a command line's process (the reading workers set theirs in contain.py)
CLI_GC = (50_000, 20, 20)


# --- help in Vietnamese by default (English with --lang en or CTSTAT_LANG=en) ----------------------------------

EXIT_CODES_VI = """Mã thoát: 0 = không có lỗi (có thể có cảnh báo); 1 = có ít nhất một lỗi trong số liệu;
2 = dùng lệnh sai, danh mục chỉ tiêu sai, hoặc không có gì để làm; 3 = lỗi nội bộ của ctstat (chạy lại với --debug
hoặc CTSTAT_DEBUG=1 để xem chi tiết, và báo lại)."""

HELP_VI = {
    "validate": "Kiểm tra từng ô của báo cáo các xã, phường và nói rõ bằng tiếng Việt cần sửa gì.\n\n"
    "Ví dụ: ctstat validate samples/faulty --period 2025-H1",
    "template": "Tạo biểu mẫu trống của một xã, phường cho một kỳ báo cáo.\n\n"
    "Ví dụ: ctstat template --unit 00301 --period 2025-H1 --out 00301.xlsx",
    "indicators": "Liệt kê danh mục: các chỉ tiêu (kèm nguồn của từng chỉ tiêu) và số liệu xã, phường phải báo cáo.\n\n"
    "Ví dụ: ctstat indicators --json",
    "schema": "Trình bày lược đồ pandera của một dữ liệu (ô, kiểm tra, phân tổ, quy tắc, nguồn), hoặc xuất tất cả "
    "thành tệp YAML của pandera để áp dụng cùng quy tắc cho bảng pandas của mình.\n\n"
    "Ví dụ: ctstat schema --export schemas/",
    "synth": "Tạo biểu mẫu đã điền số liệu giả lập (không phải số liệu thật) cho mọi xã dưới một đơn vị.\n\n"
    "Ví dụ: ctstat synth --unit 008 --period 2025-H1 --out /tmp/hoang-mai",
    "rollup": "Tổng hợp báo cáo hợp lệ của các xã thành báo cáo cấp huyện và cấp tỉnh, kèm tình hình nộp và nguồn "
    "dữ liệu. Dừng (mã thoát 1) và đưa danh sách cần đôn đốc khi còn xã thiếu, không hợp lệ hoặc trùng, trừ khi có "
    "--allow-partial.\n\nVí dụ: ctstat rollup samples/wards/2025-H1-hoang-mai --period 2025-H1 --out out",
    "run": "Một lượt của việc chạy định kỳ: kiểm tra tệp mới và tệp thay đổi trong hộp thư, ghi vào sổ, đánh dấu tệp "
    "sai, và tổng hợp khi mọi xã đã có báo cáo hợp lệ (hoặc đến hạn, với --allow-partial). Chạy được từ cron.\n\n"
    "Ví dụ: ctstat run --config /srv/ctstat/ctstat.toml",
    "status": "Tình hình kỳ báo cáo theo sổ: phải nộp, đã nộp, hợp lệ, không hợp lệ, chưa nộp, muộn theo từng đơn "
    "vị; danh sách cần đôn đốc và các lần nộp lại.\n\nVí dụ: ctstat status --config /srv/ctstat/ctstat.toml",
    "export": "Xuất số liệu đã kiểm tra thành bảng dài (đơn vị, kỳ, chỉ tiêu, phân tổ, giá trị, mã tệp nguồn) cho "
    "bảng tính, pandas hoặc công cụ phân tích.\n\nVí dụ: ctstat export --config ctstat.toml --to 2025-H1.csv",
    "tokens": "Cấp mã truy cập cổng nộp báo cáo: một mã cho mỗi xã, phường phải nộp và một mã cho đơn vị tổng "
    "hợp, ghi ra tệp CSV để phát cho các đơn vị; chỉ lưu giá trị băm (argon2) của mã. Đơn vị đã có mã giữ nguyên "
    "mã, trừ khi nêu trong --rotate.\n\nVí dụ: ctstat tokens --config ctstat.toml --out ma-truy-cap.csv",
    "serve": "Cổng nộp báo cáo: xã, phường gửi tệp qua trình duyệt và nhận ngay kết quả kiểm tra; huyện (tỉnh) theo "
    "dõi tình hình nộp và tổng hợp. Dùng chung cấu hình, sổ và hộp thư với 'ctstat run'.\n\n"
    "Ví dụ: ctstat serve --config /srv/ctstat/ctstat.toml --port 8080",
    "check": "Kiểm tra một thư mục danh mục chỉ tiêu: mọi lỗi kèm tệp và vị trí; với --against, các dòng của biểu "
    "mẫu được thêm, bớt, dời chỗ, các quy tắc và chỉ tiêu thay đổi, phiên bản biểu mẫu; và thử tạo, đọc lại, kiểm "
    "tra một biểu mẫu giả lập.\n\nVí dụ: ctstat catalogue check indicators --against /tmp/published",
}


#: the options' help in Vietnamese, by their English text (a test checks every option has one)
OPTION_HELP_VI = {
    "Workbooks, or folders searched recursively.": "Các tệp báo cáo, hoặc thư mục (tìm cả trong thư mục con).",
    "Expected period (2025, 2025-H1, 2025-H2).": "Kỳ báo cáo phải có (2025, 2025-H1, 2025-H2).",
    "Administrative-unit list: 2025-06-30 (three tiers) or 2025-07-01 (two tiers). Default: the list in force "
    "during the period; required for 2025 (the year spans the reform).": "Danh mục đơn vị hành chính: "
    "2025-06-30 (ba cấp) hoặc 2025-07-01 (hai cấp). Mặc định: danh mục có hiệu lực trong kỳ; bắt buộc với kỳ 2025 "
    "(năm có sắp xếp lại đơn vị).",
    "Print one JSON document on stdout.": "In ra một văn bản JSON (cho máy đọc).",
    "Write a marked-up copy of each file with issues into this folder.": "Ghi bản đánh dấu lỗi của mỗi tệp có lỗi "
    "vào thư mục này.",
    "Language of messages: vi (default) or en; also CTSTAT_LANG.": "Ngôn ngữ: vi (mặc định) hoặc en; hoặc đặt "
    "CTSTAT_LANG.",
    "Processes reading files (0 = one per core; at most 4 a core).": "Số tiến trình đọc tệp (0 = mỗi lõi một "
    "tiến trình; nhiều nhất 4 tiến trình mỗi lõi).",
    "Catalogue folder (default: the one shipped with ctstat).": "Thư mục danh mục chỉ tiêu (mặc định: danh mục đi "
    "kèm ctstat).",
    "Commune code (5 digits, e.g. 00301).": "Mã xã, phường (5 chữ số, ví dụ 00301).",
    "2025, 2025-H1 or 2025-H2.": "2025, 2025-H1 hoặc 2025-H2.",
    "The .xlsx file to write.": "Tệp .xlsx sẽ ghi.",
    "An element code; all of them if left out.": "Mã một chỉ tiêu dữ liệu; bỏ trống để xem tất cả.",
    "Write every element's schema as pandera YAML into this folder.": "Ghi lược đồ pandera (YAML) của mọi chỉ "
    "tiêu dữ liệu vào thư mục này.",
    "A commune, district or province code, or VN for the whole country.": "Mã xã, huyện hoặc tỉnh, hoặc VN cho "
    "cả nước.",
    "Folder to write the forms into.": "Thư mục ghi các biểu mẫu.",
    "Random seed: the same seed gives the same files.": "Hạt giống ngẫu nhiên: cùng hạt giống cho cùng các tệp.",
    "Processes writing files (0 = one per core; at most 4 a core).": "Số tiến trình ghi tệp (0 = mỗi lõi một "
    "tiến trình; nhiều nhất 4 tiến trình mỗi lõi).",
    "Ward submissions and/or district rollup workbooks.": "Báo cáo của xã và/hoặc tệp tổng hợp cấp huyện.",
    "The period rolled up (2025, 2025-H1, 2025-H2).": "Kỳ tổng hợp (2025, 2025-H1, 2025-H2).",
    "Folder for the workbooks and the manifest.": "Thư mục ghi các tệp tổng hợp và tệp kê khai (manifest).",
    "District (3 digits) or province (2 digits) rolled up; default: inferred from the inputs.": "Huyện (3 chữ "
    "số) hoặc tỉnh (2 chữ số) được tổng hợp; mặc định: suy ra từ các tệp.",
    "Roll up even if wards are missing or invalid (marked partial).": "Vẫn tổng hợp khi còn xã thiếu hoặc không "
    "hợp lệ (ghi rõ là chưa đầy đủ).",
    "Deadline (YYYY-MM-DD): files received later are marked late.": "Hạn nộp (YYYY-MM-DD): tệp nhận sau hạn được "
    "ghi là nộp muộn.",
    "Timestamp printed in the outputs (default: when the last input was received, so the same files give the same "
    "bytes).": "Thời điểm in trên báo cáo (mặc định: lúc nhận tệp sau cùng, để cùng các tệp cho cùng kết quả).",
    "ctstat.toml (default: ./ctstat.toml if present).": "Tệp cấu hình ctstat.toml (mặc định: ./ctstat.toml nếu có).",
    "Overrides 'period' of the config.": "Thay 'period' (kỳ) của cấu hình.",
    "Overrides 'unit': the district or province rolled up.": "Thay 'unit': huyện hoặc tỉnh được tổng hợp.",
    "Overrides 'inbox': the folder wards' files arrive in.": "Thay 'inbox': thư mục nhận tệp của các xã.",
    "Overrides 'out': ledger, marked-up copies, workbooks.": "Thay 'out': sổ theo dõi, bản đánh dấu lỗi, tệp tổng hợp.",
    "Overrides 'deadline' (YYYY-MM-DD).": "Thay 'deadline' (hạn nộp, YYYY-MM-DD).",
    "Overrides 'log': the JSON-lines event log.": "Thay 'log': nhật ký sự kiện (JSON, mỗi dòng một sự kiện).",
    "At the deadline, roll up what is there.": "Đến hạn thì tổng hợp những gì đã có.",
    "Overrides 'jobs': processes reading files (0 = one per core; at most 4 a core).": "Thay 'jobs': số tiến trình "
    "đọc tệp (0 = mỗi lõi một tiến trình; nhiều nhất 4 tiến trình mỗi lõi).",
    "The CSV to write (unit,name,token); must not exist yet.": "Tệp CSV sẽ ghi (đơn vị, tên, mã); chưa được có sẵn.",
    "Replace this unit's token (repeatable; 'all' for every unit).": "Cấp mã mới thay mã cũ của đơn vị này (nêu "
    "nhiều lần được; 'all' cho mọi đơn vị).",
    "Address to listen on (behind nginx: 127.0.0.1).": "Địa chỉ lắng nghe (khi đứng sau nginx: 127.0.0.1).",
    "Port to listen on.": "Cổng lắng nghe.",
    "The .csv or .parquet file to write.": "Tệp .csv hoặc .parquet sẽ ghi.",
    "Every period in the ledger.": "Mọi kỳ có trong sổ.",
    "The catalogue folder to check.": "Thư mục danh mục chỉ tiêu cần kiểm tra.",
    "The catalogue now in use (a copy made before editing): show what the change does.": "Danh mục đang dùng (bản "
    "sao trước khi sửa): cho thấy thay đổi làm gì với biểu mẫu.",
    "Print the version and exit.": "In phiên bản rồi thoát.",
    "Show the traceback of an internal error (also CTSTAT_DEBUG=1).": "Hiện chi tiết (traceback) của lỗi nội bộ "
    "(hoặc đặt CTSTAT_DEBUG=1).",
}


OPTION_HELP_VI.update(review.OPTION_HELP_VI)


def command(lang: str | None = None) -> Any:
    """The app as a click command, its options' help in `lang` (default: the line's --lang, else CTSTAT_LANG,
    else Vietnamese). Typer makes its options afresh from the signatures, so their texts are put in Vietnamese
    here, on the command it built."""
    import typer.main

    from ctstat.cli.clitext import value_words

    cmd = typer.main.get_command(_app_for(sys.argv[1:]))
    value_words(_commands(cmd), lang or line_lang(sys.argv[1:]))
    if (lang or line_lang(sys.argv[1:])) == "vi":
        from ctstat.cli.clitext import vietnamese

        for sub in _commands(cmd):
            for param in sub.params:
                if getattr(param, "help", None):
                    param.help = OPTION_HELP_VI.get(param.help, param.help)
        vietnamese(_commands(cmd))
    return cmd


#: the options the line may give before its command: those that take a value (the others are flags)
_LINE_VALUES = {"--lang"}
_LINE_FLAGS = {"--debug"}


def _app_for(argv: Sequence[str]) -> typer.Typer:
    """The app with only the command the line names: typer makes every command's options from its signature, and
    making all of them cost about 15 ms at every start. The whole app when the line names none of them (help,
    --version, a mistyped name: click then lists or suggests from all of them)."""
    name, i = None, 0
    while i < len(argv) and name is None:
        arg = argv[i]
        if arg in _LINE_VALUES:
            i += 2
        elif arg in _LINE_FLAGS or arg.startswith(tuple(f"{o}=" for o in _LINE_VALUES)):
            i += 1
        else:
            name = arg
    commands = [c for c in app.registered_commands if _command_name(c) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return app
    one = copy.copy(app)  # shares the callback, its settings and help; only the lists differ
    one.registered_commands, one.registered_groups = commands, groups
    return one


def _command_name(info: Any) -> str | None:
    """A command's name on the line, as typer gives it: its own, else its function's, with - for _."""
    if info.name:
        return str(info.name)
    callback = info.callback
    return callback.__name__.lower().replace("_", "-") if callback is not None else None


def _commands(cmd: Any) -> list[Any]:
    """A click command and every command under it."""
    return [cmd, *(c for sub in getattr(cmd, "commands", {}).values() for c in _commands(sub))]


def _localise_help(lang: str) -> None:
    """Command help in `lang` (written in English, put in Vietnamese here; the options' help: `command`)."""
    if lang != "vi":
        return
    app.info.help = (
        f"ctstat {__version__}: kiểm tra và tổng hợp báo cáo thống kê về trẻ em của các xã, phường theo Thông tư "
        f"13/2021/TT-BLĐTBXH.\n\n{EXIT_CODES_VI}"
    )
    for command in (*app.registered_commands, *catalogue_app.registered_commands, *history_app.registered_commands):
        name = command.name or command.callback.__name__  # type: ignore[union-attr]
        if name in HELP_VI:
            command.help = HELP_VI[name]
    catalogue_app.info.help = "Kiểm tra một danh mục chỉ tiêu trước khi phát hành biểu mẫu."
    for command in (*review.review_app.registered_commands, *review.keys_app.registered_commands):
        command.help = review.HELP_VI.get(command.name or "", command.help)
    review.keys_app.info.help = "Khóa ký của cán bộ."
    review.review_app.info.help = "Xem xét báo cáo của xã: duyệt, trả lại, sửa ô, mở lại; duyệt báo cáo tổng hợp."
    history_app.info.help = "Lịch sử các kỳ trước: nạp vào, xem lại."


# --- the history of earlier periods and unusual changes (issue 24) ---------------------------------------------

history_app = typer.Typer(no_args_is_help=True, help="The history of earlier periods: load it, look at it.")
app.add_typer(history_app, name="history")
HistoryOpt = Annotated[
    OptPath,
    typer.Option("--history", help="The history folder (default: 'history' in ctstat.toml).", file_okay=False),
]


def _history(history: Path | None, config: Path | None, loading: bool = False) -> Any:
    """The history named by --history or ctstat.toml; one that is to be read (not `loading` into it) must hold a
    load already (`_held`)."""
    from ctstat.job.config import history_setting
    from ctstat.job.history import History

    folder = history or history_setting(config)
    if folder is None:
        raise UsageError(
            'no history: give --history DIR or set history = "DIR" in ctstat.toml',
            message_vi='chưa có lịch sử: dùng --history THƯ_MỤC hoặc đặt history = "THƯ_MỤC" trong ctstat.toml',
        )
    return History(folder) if loading else _held(folder)


def _held(folder: Path) -> Any:
    """The history at `folder`, which must have been loaded (`job.config.held_history`)."""
    from ctstat.job.config import held_history
    from ctstat.job.history import History

    return History(held_history(folder))


@history_app.command("add")
def history_add(
    sources: Annotated[
        list[Path],
        typer.Argument(
            help="Rollup workbooks, ward forms or folders; a job's ledger.sqlite; an export .csv/.parquet.", exists=True
        ),
    ],
    history: HistoryOpt = None,
    config: ConfigOpt = None,
    jobs: JobsOpt = 1,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
    catalogue: CatalogueOpt = None,
) -> Outcome:
    """Load earlier periods into the history, each number checked as a rollup checks it. Loading a source twice
    adds nothing; a load is all or nothing.

    Example: ctstat history add out/2024-H1/ out/2024-H2/ --history /srv/ctstat/history
    """
    from ctstat.cli.render_history import render_loaded
    from ctstat.job.history_sources import add_sources
    from ctstat.model.catalogue import load_catalogue
    from ctstat.pipeline import workers

    language = _lang(lang)
    store = _history(history, config, loading=True)
    writable_place(store.dir, "--history", folder=True)
    loaded, report = add_sources(store, sources, load_catalogue(catalogue), workers(jobs))
    if as_json:
        _emit_json(
            {
                "loaded": dataclasses.asdict(loaded),
                "left_out": [f.to_dict(language) for f in report.files if not f.valid],
            }
        )
    else:
        render_loaded(loaded, report, make_consoles_out(), language)
    return report


@history_app.command("show")
def history_show(
    unit: Annotated[str, typer.Option(help="Unit code (commune 5 digits).")],
    history: HistoryOpt = None,
    config: ConfigOpt = None,
    units: UnitsOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
) -> None:
    """One unit's cells over every period held (element totals in the table, every cell with --json).

    Example: ctstat history show --unit 00301 --history /srv/ctstat/history
    """
    from ctstat.cli.render_history import render_unit

    store = _history(history, config)
    cells = store.unit(unit.strip(), units)
    if as_json:
        _emit_json({"unit": unit, "cells": cells.to_dict("records"), "held": store.summary()})
    else:
        render_unit(unit, cells, make_consoles_out(), _lang(lang))


@app.command()
def compare(
    period: Annotated[str, typer.Option(help="The period compared with earlier ones (2025, 2025-H1, 2025-H2).")],
    history: HistoryOpt = None,
    config: ConfigOpt = None,
    units: UnitsOpt = None,
    limit: Annotated[int, typer.Option(help="Flags listed (0 = all); --json lists all.")] = 50,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
    catalogue: CatalogueOpt = None,
) -> None:
    """Unusual changes: every count of a period in the history against the same unit's comparable earlier
    periods, communes by an exact Poisson test, districts and provinces by ±33 % on the mean of the three before;
    ranked by p. Warnings only: they never block a rollup.

    Example: ctstat compare --period 2026-H1 --history /srv/ctstat/history
    """
    from ctstat.cli.render_history import render_comparison
    from ctstat.job.compare import compare_period, comparison_dict
    from ctstat.model.catalogue import load_catalogue
    from ctstat.model.period import parse_period, vintage_for

    language = _lang(lang)
    cat = load_catalogue(catalogue)
    per = parse_period(period)
    comparison = compare_period(_history(history, config), cat, per, vintage_for(per, units))
    if as_json:
        _emit_json(comparison_dict(comparison, cat, language))
    else:
        render_comparison(comparison_dict(comparison, cat, language, limit or None), make_consoles_out(), language)


def _unusual(report: Any, subs: Any, cat: Any, history: Path | None, lang: str, as_json: bool) -> dict[str, Any]:
    """`validate --history`: unusual changes added to the reports as warnings; "checked N, flagged M" said."""
    if history is None:
        return {}
    from ctstat.cli.render_history import render_counts
    from ctstat.job.compare import add_unusual, comparison_dict

    done = [comparison_dict(c, cat, lang, 0) for c in add_unusual(report, subs, cat, _held(history))]
    if not as_json:
        render_counts(done, make_consoles_err(), lang)
    keep = ("period", "vintage", "checked", "flagged", "flagged_by_level")
    return {"history": [{k: d[k] for k in keep} for d in done]}


def _history_named(history: Path | None) -> None:
    """A --history of `validate` or `rollup` that holds no history: refused before any file is read."""
    if history is not None:
        from ctstat.job.config import held_history

        held_history(history)


def _arrow_if(history: Path | None) -> None:
    """A command line without a history needs no pyarrow: pandas is loaded without it (`check.engine`, ~0.06 s of
    checking one file), in a process that runs that one command (a later command of an embedding process could
    want the history)."""
    if history is None and _PROCESS["one_command"]:
        from ctstat.check.engine import without_arrow

        without_arrow()


def _history_lookup(history: Path | None, cat: Any) -> Any:
    """`rollup --history`: each workbook gets its comparison sheet (None: no history, no sheet)."""
    if history is None:
        return None
    from ctstat.job.compare import history_lookup

    return history_lookup(_held(history), cat)


def _run_unusual(cfg: Any, cat: Any, lang: str) -> dict[str, Any]:
    """`run` with a history: the period's valid submissions against it (listed after the run's report). A history
    set but never loaded (or mistyped) compares nothing: the run itself warned (`history-missing`)."""
    from ctstat.job.config import has_history

    if not has_history(cfg.history) or not cfg.ledger_path.exists():
        return {}
    from ctstat.job.compare import compare_job, comparison_dict
    from ctstat.job.history import History

    doc: dict[str, Any] = comparison_dict(compare_job(cfg, cat, History(cfg.history)), cat, lang)
    return doc


@history_app.command("confirm")
def history_confirm(
    period: Annotated[str, typer.Option(help="The period of the flag (2025, 2025-H1, 2025-H2).")],
    unit: Annotated[str, typer.Option(help="Unit code (commune 5 digits).")],
    cell: Annotated[str, typer.Option(help="The cell: its key (as compare shows it) or its address (Biểu 3!D9).")],
    note: Annotated[str, typer.Option(help="Why the figure is right (kept by later runs).")],
    value: Annotated[Optional[float], typer.Option(help="The value confirmed (default: the history's).")] = None,  # noqa: UP045
    history: HistoryOpt = None,
    config: ConfigOpt = None,
    units: UnitsOpt = None,
    lang: LangOpt = None,
    catalogue: CatalogueOpt = None,
) -> None:
    """Confirm an unusual change with a note: later runs keep it and no longer warn, while the value stays the one
    confirmed.

    Example: ctstat history confirm --period 2026-H1 --unit 00331 --cell "Biểu 3!D9" --note "New shelter opened"
    """
    from ctstat.job.followups import Confirmation, cell_of, confirm
    from ctstat.model.catalogue import load_catalogue
    from ctstat.model.layout import form_layout
    from ctstat.model.period import parse_period, vintage_for

    language = _lang(lang)
    per = parse_period(period)
    vintage = vintage_for(per, units)
    layout = form_layout(load_catalogue(catalogue))
    key = cell_of(cell, list(layout.keys), {k: layout.address(k) for k in layout.keys})
    store = _history(history, config)
    if value is None:
        held = store.cells_of(vintage, [str(per)], [unit.strip()], [key])
        if held.empty:
            raise UsageError(
                f"the history holds no {key} of {unit} in {per}: give --value",
                message_vi=f"lịch sử không có ô {key} của {unit} kỳ {per}: ghi --value",
            )
        value = float(held["value"].iloc[0])
    confirm(store.dir, Confirmation(unit.strip(), vintage, str(per), key, value, note))
    typer.echo(f"Đã xác nhận {unit} {key} = {value:g}." if language == "vi" else f"Confirmed {unit} {key} = {value:g}.")


def make_consoles_err() -> Any:
    from ctstat.cli.render import make_consoles

    return make_consoles()[1]


def make_consoles_out() -> Any:
    from ctstat.cli.render import make_consoles

    return make_consoles()[0]


OPTION_HELP_VI.update(
    {
        "The history folder (default: 'history' in ctstat.toml).": "Thư mục lịch sử (mặc định: 'history' trong "
        "ctstat.toml).",
        "Rollup workbooks, ward forms or folders; a job's ledger.sqlite; an export .csv/.parquet.": "Tệp tổng hợp, "
        "báo cáo của xã hoặc thư mục chứa chúng; sổ ledger.sqlite của việc chạy định kỳ; bảng .csv/.parquet do "
        "export ghi.",
        "Unit code (commune 5 digits).": "Mã đơn vị (xã 5 chữ số).",
        "The period of the flag (2025, 2025-H1, 2025-H2).": "Kỳ của cảnh báo (2025, 2025-H1, 2025-H2).",
        "The cell: its key (as compare shows it) or its address (Biểu 3!D9).": "Ô: mã ô (như lệnh compare hiện) "
        "hoặc địa chỉ ô (Biểu 3!D9).",
        "Why the figure is right (kept by later runs).": "Lý do số liệu đúng (các lần chạy sau giữ lại).",
        "The value confirmed (default: the history's).": "Giá trị được xác nhận (mặc định: giá trị trong lịch sử).",
        "The period compared with earlier ones (2025, 2025-H1, 2025-H2).": "Kỳ so sánh với các kỳ trước (2025, "
        "2025-H1, 2025-H2).",
        "Flags listed (0 = all); --json lists all.": "Số cảnh báo liệt kê (0 = tất cả); --json liệt kê tất cả.",
        "Compare each count with the same unit's earlier periods in this history folder.": "So sánh từng số với "
        "các kỳ trước của cùng đơn vị trong thư mục lịch sử này.",
    }
)
HELP_VI.update(
    {
        "compare": "Thay đổi bất thường: so từng số của một kỳ trong lịch sử với các kỳ tương ứng trước đó của cùng "
        "đơn vị (xã: kiểm định Poisson chính xác; huyện, tỉnh: lệch quá ±33 % so với trung bình ba kỳ trước), xếp "
        "theo p. Chỉ là cảnh báo, không chặn việc tổng hợp.\n\nVí dụ: ctstat compare --period 2026-H1 --history "
        "/srv/ctstat/history",
        "add": "Nạp các kỳ trước vào lịch sử, mỗi số được kiểm tra như khi tổng hợp. Nạp lại một nguồn không thêm "
        "gì; mỗi lần nạp là trọn vẹn hoặc không gì cả.\n\nVí dụ: ctstat history add out/2024-H1/ out/2024-H2/ "
        "--history /srv/ctstat/history",
        "confirm": "Xác nhận một thay đổi bất thường kèm ghi chú: các lần chạy sau giữ lại và không cảnh báo nữa, "
        "chừng nào số liệu vẫn là số đã xác nhận.\n\nVí dụ: ctstat history confirm --period 2026-H1 --unit 00331 "
        '--cell "Biểu 3!D9" --note "Mở thêm nhà tạm lánh"',
        "show": "Số liệu của một đơn vị qua mọi kỳ có trong lịch sử (bảng: tổng của từng chỉ tiêu; --json: mọi ô)."
        "\n\nVí dụ: ctstat history show --unit 00301 --history /srv/ctstat/history",
    }
)


_localise_help(line_lang(sys.argv[1:]))
