"""The submission ledger of a scheduled job: every file seen, its hash, validation result and supersession.

A small SQLite database in the job's output folder. Every change of one run is one transaction, so a run
killed half-way leaves the ledger as it was and the next run does the work again.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ctstat.report import FileReport, Issue, first_error

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,               -- relative to the inbox
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    received_at TEXT NOT NULL,        -- when a run first saw this content at this path
    unit TEXT, unit_name TEXT, period TEXT, vintage TEXT,
    valid INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    warnings INTEGER NOT NULL,
    issues TEXT NOT NULL,             -- JSON list of issue records (both languages)
    cells TEXT,                       -- JSON list of the cleaned cell values (layout order), valid files only
    annotated TEXT,                   -- the marked-up copy, for files with issues
    superseded_by INTEGER REFERENCES submissions(id),
    removed_at TEXT,                  -- no longer in the inbox (deleted, or replaced by new content)
    UNIQUE (path, sha256)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    new_files INTEGER,
    outcome TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Row:
    id: int
    path: str
    sha256: str
    size: int
    mtime_ns: int
    received_at: datetime
    unit: str | None
    unit_name: str | None
    period: str | None
    vintage: str | None
    valid: bool
    errors: int
    warnings: int
    issues: list[Issue]
    cells: list[float] | None
    annotated: str | None
    superseded_by: int | None
    removed_at: str | None

    @property
    def current(self) -> bool:
        return self.superseded_by is None and self.removed_at is None

    def report(self, inbox: Path) -> FileReport:
        return FileReport(
            path=str(inbox / self.path),
            sha256=self.sha256,
            unit=self.unit,
            unit_name=self.unit_name,
            period=self.period,
            vintage=self.vintage,
            issues=list(self.issues),
        )

    def first_problem(self) -> str:
        return first_error(self.issues)


class Ledger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def rows(self, where: str = "1", *args: Any) -> list[Row]:
        cur = self.db.execute(f"SELECT * FROM submissions WHERE {where} ORDER BY id", args)
        return [_row(r) for r in cur.fetchall()]

    def by_path(self) -> dict[str, Row]:
        """The content currently recorded at each inbox path (the latest one)."""
        out: dict[str, Row] = {}
        for r in self.rows("removed_at IS NULL"):
            out[r.path] = r
        return out

    def add(
        self,
        path: str,
        sha256: str,
        size: int,
        mtime_ns: int,
        received_at: datetime,
        rep: FileReport,
        cells: list[float] | None,
        annotated: str | None,
    ) -> int:
        cur = self.db.execute(
            "INSERT INTO submissions (path, sha256, size, mtime_ns, received_at, unit, unit_name, period, vintage,"
            " valid, errors, warnings, issues, cells, annotated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                path,
                sha256,
                size,
                mtime_ns,
                received_at.isoformat(timespec="seconds"),
                rep.unit,
                rep.unit_name,
                rep.period,
                rep.vintage,
                int(rep.valid),
                rep.errors,
                rep.warnings,
                json.dumps([i.to_record() for i in rep.issues], ensure_ascii=False),
                json.dumps(cells) if cells is not None else None,
                annotated,
            ),
        )
        return int(cur.lastrowid or 0)

    def touch(self, row_id: int, size: int, mtime_ns: int) -> None:
        self.db.execute("UPDATE submissions SET size=?, mtime_ns=? WHERE id=?", (size, mtime_ns, row_id))

    def mark_removed(self, row_id: int, when: datetime) -> None:
        self.db.execute("UPDATE submissions SET removed_at=? WHERE id=?", (when.isoformat(timespec="seconds"), row_id))

    def supersede(self, unit: str, period: str, keep: int) -> None:
        """Every other current submission of `unit` for `period` is superseded by `keep`."""
        self.db.execute(
            "UPDATE submissions SET superseded_by=? WHERE unit=? AND period=? AND id<>? AND superseded_by IS NULL",
            (keep, unit, period, keep),
        )

    def current(self, period: str) -> dict[str, Row]:
        """The current submission of each unit for `period`: the latest received, not superseded or removed."""
        return {
            r.unit: r for r in self.rows("superseded_by IS NULL AND removed_at IS NULL AND period=?", period) if r.unit
        }

    def unattributed(self) -> list[Row]:
        """Files in the inbox that name no known unit (unreadable, wrong code ...)."""
        return self.rows("unit IS NULL AND removed_at IS NULL")

    def history(self, unit: str) -> list[Row]:
        return self.rows("unit=?", unit)

    def get_meta(self, key: str) -> str | None:
        r = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if r is None else str(r[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def start_run(self, when: datetime) -> int:
        cur = self.db.execute("INSERT INTO runs (started_at) VALUES (?)", (when.isoformat(timespec="seconds"),))
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, when: datetime, new_files: int, outcome: str) -> None:
        self.db.execute(
            "UPDATE runs SET finished_at=?, new_files=?, outcome=? WHERE id=?",
            (when.isoformat(timespec="seconds"), new_files, outcome, run_id),
        )


def _row(r: sqlite3.Row) -> Row:
    return Row(
        id=r["id"],
        path=r["path"],
        sha256=r["sha256"],
        size=r["size"],
        mtime_ns=r["mtime_ns"],
        received_at=datetime.fromisoformat(r["received_at"]),
        unit=r["unit"],
        unit_name=r["unit_name"],
        period=r["period"],
        vintage=r["vintage"],
        valid=bool(r["valid"]),
        errors=r["errors"],
        warnings=r["warnings"],
        issues=[Issue.from_record(i) for i in json.loads(r["issues"])],
        cells=json.loads(r["cells"]) if r["cells"] else None,
        annotated=r["annotated"],
        superseded_by=r["superseded_by"],
        removed_at=r["removed_at"],
    )
