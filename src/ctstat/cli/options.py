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
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", help="Processes reading files (0 = one per core).")]

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
    OptInt, typer.Option("--jobs", "-j", help="Overrides 'jobs': processes reading files (0 = one per core).")
]
