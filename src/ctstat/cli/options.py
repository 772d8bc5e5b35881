"""The command line's options that more than one command takes, declared once (their Vietnamese help:
`OPTION_HELP_VI` in `cli/commands.py`). The job's overrides (`--period`, `--unit`, `--inbox`, `--out`,
`--deadline`) mean the same in `run`, `status` and `export`; `--jobs 0` is one process per core in every command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

OptStr = Optional[str]  # noqa: UP045 - typer needs Optional here on 3.11
OptPath = Optional[Path]  # noqa: UP045
OptInt = Optional[int]  # noqa: UP045

CatalogueOpt = Annotated[
    OptPath,
    typer.Option(
        "--catalogue", help="Catalogue folder (default: the one shipped with ctstat).", file_okay=False, exists=True
    ),
]
LangOpt = Annotated[
    OptStr,
    typer.Option("--lang", help="Language of messages: vi (default) or en; also CTSTAT_LANG.", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
UnitsOpt = Annotated[
    OptStr,
    typer.Option(
        "--units",
        help="Administrative-unit list: 2025-06-30 (three tiers) or 2025-07-01 (two tiers). "
        "Default: the list in force during the period; required for 2025 (the year spans the reform).",
    ),
]
JobsOpt = Annotated[
    int, typer.Option("--jobs", "-j", help="Processes reading files (0 = one per core; at most 4 a core).")
]

# --- the scheduled job's configuration and its overrides (run, status, export; serve and tokens take --config) ---

ConfigOpt = Annotated[
    OptPath,
    typer.Option("--config", help="ctstat.toml (default: ./ctstat.toml if present).", dir_okay=False, exists=True),
]
PeriodOverride = Annotated[OptStr, typer.Option("--period", help="Overrides 'period' of the config.")]
UnitOverride = Annotated[OptStr, typer.Option("--unit", help="Overrides 'unit': the district or province rolled up.")]
InboxOverride = Annotated[
    OptPath, typer.Option("--inbox", help="Overrides 'inbox': the folder wards' files arrive in.")
]
OutOverride = Annotated[OptPath, typer.Option("--out", help="Overrides 'out': ledger, marked-up copies, workbooks.")]
DeadlineOverride = Annotated[OptStr, typer.Option("--deadline", help="Overrides 'deadline' (YYYY-MM-DD).")]
LogOverride = Annotated[OptPath, typer.Option("--log", help="Overrides 'log': the JSON-lines event log.")]
JobsOverride = Annotated[
    OptInt,
    typer.Option(
        "--jobs", "-j", help="Overrides 'jobs': processes reading files (0 = one per core; at most 4 a core)."
    ),
]


def writable_place(path: Path | None, option: str, folder: bool) -> None:
    """Refuse, before any work, a place to write (`option`'s value, a folder or a file) that lies under something
    that is not a folder, or a folder that is a file: `--out /dev/null/x`, a file named like the folder. Left to the
    end, it failed only after every input was read, and as a fault (exit 3) instead of a wrong command line."""
    import os

    from ctstat.model.errors import UsageError

    if path is None:
        return
    if os.path.islink(path) and not os.path.exists(path):
        raise UsageError(
            f"{option} {path}: a link that leads nowhere", message_vi=f"{option} {path}: liên kết không dẫn tới đâu"
        )
    if folder and os.path.lexists(path) and not path.is_dir():
        raise UsageError(
            f"{option} {path}: a file, not a folder", message_vi=f"{option} {path}: đây là một tệp, không phải thư mục"
        )
    if not folder and path.is_dir():
        raise UsageError(
            f"{option} {path}: a folder, not a file", message_vi=f"{option} {path}: đây là một thư mục, không phải tệp"
        )
    for up in path.absolute().parents:
        if os.path.lexists(up):
            if not up.is_dir():
                raise UsageError(
                    f"{option} {path}: cannot write there, {up} is a file, not a folder",
                    message_vi=f"{option} {path}: không ghi vào đó được, {up} là một tệp, không phải thư mục",
                )
            return
