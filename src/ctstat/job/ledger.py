"""The submission ledger of a scheduled job: every file seen, its hash, and how it was judged, under which catalogue.

A small SQLite database in the job's output folder. Every change of one run is one transaction, so a run
killed half-way (or stopped by a full disk) leaves the ledger as it was and the next run does the work again.

What is stored is facts, never conclusions: a row says which bytes were seen at which inbox path and when, and
what they held under which catalogue (`catalogue_digest`, `template_version`). Which submission of a unit is
*current* is derived at every read (the latest received of those still in the inbox), so deleting a newer file
brings the older one back, and sending earlier content again is one more row, not a conflict.

Schema versions (`PRAGMA user_version`): 0 = the first release (cells as a list in layout order, a permanent
`superseded_by` flag, UNIQUE(path, sha256)); 1 = cells by key, judged under a catalogue; 2 = with the portal's
`uploads` (every file sent through `ctstat serve`, taken in or not) and `tokens` (their hashes only); 3 = with the
portal's `sessions` (SHA-256 of each session cookie, never the cookie); 4 = with `reviews`: the signed review records of
the job's chain (approvals, send-backs, corrections, reopens), append-only; 5 = this one, with the portal's
`drafts` (a ward's report typed on the page, one per ward and period, saved as it is typed) and `draft_changes`
(every saved change of a draft, by version: what a stale save is compared with). A version-0
ledger is migrated in place on the first writing open: its rows keep their history and receipt times, lose their
cells, and are marked judged under no catalogue, so the next run re-reads the files still in the inbox; later
versions only gain tables.

The ledger holds token hashes and what wards sent: it is created readable by its owner only (0600, and so are
SQLite's journal files, which take the database's mode), and a writing open takes away any other access an
earlier release left on it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Container, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctstat.model.errors import EnvironmentFault, UsageError
from ctstat.model.report import FileReport, Issue, first_error
from ctstat.model.text import json_dumps, read_path, stored_path

if TYPE_CHECKING:
    from ctstat.job.config import JobConfig

VERSION = 5

COLUMNS = """
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,               -- relative to the inbox
    sha256 TEXT NOT NULL,             -- of the bytes validated
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    received_at TEXT NOT NULL,        -- when a run first saw this content at this path
    unit TEXT, unit_name TEXT, period TEXT, vintage TEXT,
    valid INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    warnings INTEGER NOT NULL,
    issues TEXT NOT NULL,             -- JSON list of issue records (both languages)
    cells TEXT,                       -- JSON object cell key -> cleaned value, valid files only
    annotated TEXT,                   -- the marked-up copy, for files with issues
    removed_at TEXT,                  -- no longer in the inbox (deleted, or replaced by new content)
    template_version TEXT,            -- the form the file was judged against
    catalogue_digest TEXT             -- the catalogue it was judged under (NULL: none known, re-judge)
"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS submissions ({COLUMNS});
CREATE INDEX IF NOT EXISTS submissions_period_unit ON submissions (period, unit) WHERE removed_at IS NULL;
CREATE INDEX IF NOT EXISTS submissions_path ON submissions (path) WHERE removed_at IS NULL;
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    new_files INTEGER,
    outcome TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS uploads (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    sender TEXT NOT NULL,             -- the unit whose token sent it
    unit TEXT,                        -- the unit its cover names
    period TEXT,
    client_name TEXT,                 -- as the browser named it: shown, never used as a path
    sha256 TEXT,
    size INTEGER NOT NULL,
    outcome TEXT NOT NULL,            -- accepted | invalid | refused (another unit's file: not kept)
    submission_id INTEGER,            -- the submissions row of an accepted file
    kept TEXT,                        -- accepted: its inbox path, invalid: where it is kept aside
    annotated TEXT,                   -- its marked-up copy, if it has issues
    report TEXT NOT NULL              -- JSON: the file's report, both languages
);
CREATE INDEX IF NOT EXISTS uploads_sender ON uploads (sender, period);
CREATE TABLE IF NOT EXISTS tokens (
    unit TEXT PRIMARY KEY,
    hash TEXT NOT NULL,               -- argon2id of the token (the token itself is never stored)
    issued_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,              -- SHA-256 of the cookie (the cookie itself is never stored)
    unit TEXT NOT NULL,
    token_hash TEXT NOT NULL,         -- the unit's token hash at sign-in: a rotated token ends the session
    csrf TEXT NOT NULL,               -- the value the session's forms carry
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL          -- seconds since the epoch
);
CREATE INDEX IF NOT EXISTS sessions_unit ON sessions (unit, created_at);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY,
    chain TEXT NOT NULL,              -- 'PERIOD/UNIT' of the job
    seq INTEGER NOT NULL,             -- 1, 2, 3 ... in the chain: two officials at once cannot both take one place
    kind TEXT NOT NULL,
    unit TEXT NOT NULL,
    record TEXT NOT NULL,             -- the signed record, canonical JSON
    hash TEXT NOT NULL,
    cells TEXT,                       -- a correction: the corrected cells, when the corrected form is valid
    UNIQUE (chain, seq)
);
CREATE TABLE IF NOT EXISTS drafts (
    period TEXT NOT NULL,
    unit TEXT NOT NULL,
    version INTEGER NOT NULL,         -- 1 when started, one more at each save that changed something
    cells TEXT NOT NULL,              -- JSON: input cell key -> what was typed ('123', 'Có', 'Không'), blanks absent
    started_from TEXT NOT NULL,       -- 'empty', or 'submission:<id>' (the ward's current submission then)
    updated_at TEXT NOT NULL,
    checked TEXT,                     -- JSON: the last check (version, time, issues)
    submitted TEXT,                   -- JSON: the last submission made from it (version, time, upload id)
    PRIMARY KEY (period, unit)
);
CREATE TABLE IF NOT EXISTS draft_changes (
    period TEXT NOT NULL,
    unit TEXT NOT NULL,
    version INTEGER NOT NULL,         -- the draft's version this change made
    key TEXT NOT NULL,
    value TEXT,                       -- NULL: made blank
    PRIMARY KEY (period, unit, version, key)
);
"""

_V0_COPY = """
INSERT INTO submissions (id, path, sha256, size, mtime_ns, received_at, unit, unit_name, period, vintage, valid,
    errors, warnings, issues, cells, annotated, removed_at, template_version, catalogue_digest)
SELECT id, path, sha256, size, mtime_ns, received_at, unit, unit_name, period, vintage, valid, errors, warnings,
    issues, NULL, annotated, removed_at, NULL, NULL FROM submissions_v0
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
    annotated: str | None
    removed_at: str | None
    template_version: str | None
    catalogue_digest: str | None

    @property
    def present(self) -> bool:
        return self.removed_at is None

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


@dataclass(frozen=True)
class Judged:
    """What validation said of one file's bytes, to record."""

    report: FileReport
    cells: Mapping[str, float] | None  #: valid files only
    annotated: str | None
    template_version: str
    catalogue_digest: str
    cells_json: str | None = None  #: the cells already encoded (`encode_cells`), in place of `cells`


class Ledger:
    """`Ledger(path)` opens for a run (creating or migrating it); `Ledger(path, readonly=True)` only reads,
    also from a read-only folder or disk, and never changes the file. Open it with `with`, which closes it."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        try:
            if readonly:
                self.db = _open_readonly(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                _owner_only(path)
                self.db = sqlite3.connect(path, timeout=BUSY_WAIT, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            if not readonly:
                # a rollback journal, not WAL: a reader in a read-only folder needs no -shm file
                self.db.execute("PRAGMA journal_mode=DELETE")
                self._migrate()
            self.version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.Error as exc:
            raise _fault(exc, path) from None

    def _migrate(self) -> None:
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version > VERSION:
            raise EnvironmentFault(
                f"the ledger {self.path} was written by a newer ctstat (schema {version}, this one knows {VERSION}); "
                "upgrade ctstat"
            )
        if version == VERSION:
            return
        with self.transaction():
            old = self.db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='submissions'")
            if version == 0 and old.fetchone() is not None:  # version 0: rebuild the table without UNIQUE(path, sha256)
                self.db.execute("ALTER TABLE submissions RENAME TO submissions_v0")
                _create(self.db)
                self.db.execute(_V0_COPY)
                self.db.execute("DROP TABLE submissions_v0")
            else:
                _create(self.db)
            self.db.execute(f"PRAGMA user_version={VERSION}")

    @classmethod
    def open_existing(cls, cfg: JobConfig, readonly: bool = True) -> Ledger:
        """The ledger of a job that has run (read-only unless asked): a usage error when there is none yet.
        Use it as `with Ledger.open_existing(cfg) as ledger:`."""
        if not cfg.ledger_path.exists():
            raise UsageError(
                f"no ledger in {cfg.out} yet: run 'ctstat run' first",
                message_vi=f"chưa có sổ theo dõi trong {cfg.out}: chạy 'ctstat run' trước",
            )
        return cls(cfg.ledger_path, readonly=readonly)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            yield
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise _fault(exc, self.path) from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self.db.in_transaction:  # SQLite may have rolled back already (a full disk does)
            self.db.execute("ROLLBACK")

    def rows(self, where: str = "1", *args: Any) -> list[Row]:
        try:
            cur = self.db.execute(f"SELECT * FROM submissions WHERE {where} ORDER BY id", args)
            return [_row(r) for r in cur.fetchall()]
        except sqlite3.Error as exc:
            raise _fault(exc, self.path) from None

    def by_path(self) -> dict[str, Row]:
        """The content currently recorded at each inbox path."""
        return {r.path: r for r in self.rows("removed_at IS NULL")}

    def add(self, path: str, sha256: str, size: int, mtime_ns: int, received_at: datetime, judged: Judged) -> int:
        cur = self.db.execute(
            "INSERT INTO submissions (path, sha256, size, mtime_ns, received_at, unit, unit_name, period, vintage,"
            " valid, errors, warnings, issues, cells, annotated, template_version, catalogue_digest)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (stored_path(path), sha256, size, mtime_ns, received_at.isoformat(timespec="seconds"), *_judged(judged)),
        )
        return int(cur.lastrowid or 0)

    def rejudge(self, row_id: int, size: int, mtime_ns: int, judged: Judged) -> None:
        """The same bytes judged again (under another catalogue): the receipt time stays."""
        self.db.execute(
            "UPDATE submissions SET size=?, mtime_ns=?, unit=?, unit_name=?, period=?, vintage=?, valid=?, errors=?,"
            " warnings=?, issues=?, cells=?, annotated=?, template_version=?, catalogue_digest=? WHERE id=?",
            (size, mtime_ns, *_judged(judged), row_id),
        )

    def touch(self, row_id: int, size: int, mtime_ns: int) -> None:
        self.db.execute("UPDATE submissions SET size=?, mtime_ns=? WHERE id=?", (size, mtime_ns, row_id))

    def mark_removed(self, row_id: int, when: datetime) -> None:
        self.db.execute("UPDATE submissions SET removed_at=? WHERE id=?", (when.isoformat(timespec="seconds"), row_id))

    def claims(self, period: str, units: Container[str] | None = None) -> dict[str, list[Row]]:
        """Every submission of `period` still in the inbox, per unit, oldest received first (one indexed query);
        with `units`, of those units only (the others' rows are not even decoded: a job of one province in a
        national inbox would decode ten thousand for five hundred)."""
        out: dict[str, list[Row]] = {}
        try:
            cur = self.db.execute(
                "SELECT * FROM submissions WHERE removed_at IS NULL AND period=? AND unit IS NOT NULL ORDER BY id",
                (period,),
            )
            found = [_row(r) for r in cur.fetchall() if units is None or r["unit"] in units]
        except sqlite3.Error as exc:
            raise _fault(exc, self.path) from None
        for r in found:
            out.setdefault(r.unit or "", []).append(r)
        for rows in out.values():
            rows.sort(key=lambda r: (r.received_at, r.id))
        return out

    def current(self, period: str) -> dict[str, Row]:
        """The current submission of each unit for `period`: the latest received of those still in the inbox."""
        return {unit: rows[-1] for unit, rows in self.claims(period).items()}

    def periods(self) -> list[str]:
        """Every period with a submission still in the inbox, in order."""
        return sorted({r.period for r in self.rows("removed_at IS NULL AND period IS NOT NULL") if r.period})

    def current_valid(
        self, periods: Sequence[str], catalogue_digest: str
    ) -> tuple[list[Row], dict[int, dict[str, float]]]:
        """The current submission of each unit in `periods` that is valid under the catalogue in use (what a rollup
        would use), and the cells of each, by row id."""
        rows = [
            r for p in periods for r in self.current(p).values() if r.valid and r.catalogue_digest == catalogue_digest
        ]
        return rows, self.cells([r.id for r in rows])

    def cells(self, ids: Sequence[int]) -> dict[int, dict[str, float]]:
        """The stored cells of these rows (decoded only when a rollup needs them)."""
        out: dict[int, dict[str, float]] = {}
        for start in range(0, len(ids), 500):
            part = list(ids[start : start + 500])
            marks = ",".join("?" * len(part))
            for r in self.db.execute(f"SELECT id, cells FROM submissions WHERE id IN ({marks})", part):
                if r["cells"]:
                    out[int(r["id"])] = json.loads(r["cells"])
        return out

    def unattributed(self) -> list[Row]:
        """Files in the inbox that name no known unit (unreadable, wrong code ...)."""
        return self.rows("unit IS NULL AND removed_at IS NULL")

    def history(self, period: str) -> dict[str, list[Row]]:
        """Every submission of `period` ever seen, removed ones included, per unit, in the order recorded."""
        out: dict[str, list[Row]] = {}
        for r in self.rows("period=? AND unit IS NOT NULL", period):
            out.setdefault(r.unit or "", []).append(r)
        return out

    def get_meta(self, key: str) -> str | None:
        try:
            r = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        except sqlite3.OperationalError:  # a ledger made before any meta was kept
            return None
        return None if r is None else str(r[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def last_runs(self, n: int = 5) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (n,)).fetchall()]

    def first_run_at(self) -> datetime | None:
        """When the job's first run started (None before any run)."""
        row = self.db.execute("SELECT started_at FROM runs ORDER BY id LIMIT 1").fetchone()
        return local_time(row[0]) if row else None

    def start_run(self, when: datetime) -> int:
        with self.transaction():
            cur = self.db.execute("INSERT INTO runs (started_at) VALUES (?)", (when.isoformat(timespec="seconds"),))
        return int(cur.lastrowid or 0)

    # --- the portal: uploads and token hashes ------------------------------------------------------------------

    def add_upload(self, up: Upload) -> int:
        cur = self.db.execute(
            "INSERT INTO uploads (at, sender, unit, period, client_name, sha256, size, outcome, submission_id, kept,"
            " annotated, report) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                up.at.isoformat(timespec="seconds"),
                up.sender,
                up.report.unit,
                up.report.period,
                up.client_name,
                up.report.sha256,
                up.size,
                up.outcome,
                up.submission_id,
                up.kept,
                up.annotated,
                json_dumps(report_record(up.report)),
            ),
        )
        return int(cur.lastrowid or 0)

    def uploads(self, where: str = "1", *args: Any, limit: int = -1) -> list[Upload]:
        """Uploads, newest first (none from a ledger made before the portal)."""
        try:
            cur = self.db.execute(f"SELECT * FROM uploads WHERE {where} ORDER BY id DESC LIMIT ?", (*args, limit))
            return [_upload(r) for r in cur.fetchall()]
        except sqlite3.OperationalError:
            return []
        except sqlite3.Error as exc:
            raise _fault(exc, self.path) from None

    def set_token(self, unit: str, digest: str, when: datetime) -> None:
        self.db.execute(
            "INSERT INTO tokens (unit, hash, issued_at) VALUES (?,?,?)"
            " ON CONFLICT(unit) DO UPDATE SET hash=excluded.hash, issued_at=excluded.issued_at",
            (unit, digest, when.isoformat(timespec="seconds")),
        )

    def token_hash(self, unit: str) -> str | None:
        """The argon2 hash of `unit`'s token, if it has one."""
        try:
            row = self.db.execute("SELECT hash FROM tokens WHERE unit = ?", (unit,)).fetchone()
        except sqlite3.OperationalError:
            return None
        return str(row[0]) if row else None

    def token_hashes(self) -> dict[str, str]:
        """unit -> the argon2 hash of its token."""
        try:
            return {r["unit"]: r["hash"] for r in self.db.execute("SELECT unit, hash FROM tokens")}
        except sqlite3.OperationalError:
            return {}

    def add_session(
        self, digest: str, unit: str, token_hash: str, csrf: str, now: float, expires: float, keep: int
    ) -> None:
        """Record a session (by its cookie's digest); expired sessions go, and a unit keeps its `keep` newest."""
        with self.transaction():
            self.db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
            self.db.execute(
                "INSERT INTO sessions (id, unit, token_hash, csrf, created_at, expires_at) VALUES (?,?,?,?,?,?)",
                (digest, unit, token_hash, csrf, now, expires),
            )
            self.db.execute(
                "DELETE FROM sessions WHERE unit = ? AND id NOT IN"
                " (SELECT id FROM sessions WHERE unit = ? ORDER BY created_at DESC LIMIT ?)",
                (unit, unit, keep),
            )

    def session(self, digest: str) -> tuple[str, str, str, float] | None:
        """(unit, token hash at sign-in, CSRF value, expiry) of a session, if it exists."""
        try:
            row = self.db.execute(
                "SELECT unit, token_hash, csrf, expires_at FROM sessions WHERE id = ?", (digest,)
            ).fetchone()
        except sqlite3.OperationalError:  # a ledger made before sessions were kept: none
            return None
        return (str(row[0]), str(row[1]), str(row[2]), float(row[3])) if row else None

    def end_session(self, digest: str) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM sessions WHERE id = ?", (digest,))

    def forget_meta(self, key: str) -> None:
        """Remove a meta value, overwriting its bytes in the file (secure_delete)."""
        self.db.execute("PRAGMA secure_delete=ON")
        with self.transaction():
            self.db.execute("DELETE FROM meta WHERE key=?", (key,))
        self.db.execute("PRAGMA secure_delete=OFF")

    # --- review records (job/review.py) -------------------------------------------------------------------------

    def add_review(
        self, chain: str, seq: int, kind: str, unit: str, record: str, digest: str, cells: str | None
    ) -> None:
        self.db.execute(
            "INSERT INTO reviews (chain, seq, kind, unit, record, hash, cells) VALUES (?,?,?,?,?,?,?)",
            (chain, seq, kind, unit, record, digest, cells),
        )

    def reviews(self, chain: str, unit: str | None = None) -> list[dict[str, Any]]:
        """The chain's records in order (none from a ledger made before reviews); with `unit`, that unit's only."""
        try:
            if unit is None:
                cur = self.db.execute("SELECT * FROM reviews WHERE chain=? ORDER BY seq", (chain,))
            else:
                cur = self.db.execute("SELECT * FROM reviews WHERE chain=? AND unit=? ORDER BY seq", (chain, unit))
            return [dict(r) for r in cur.fetchall()]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # a ledger made before reviews
                return []
            raise _fault(exc, self.path) from None

    # --- drafts typed in the portal (job/drafts.py) ---------------------------------------------------------------

    def draft(self, period: str, unit: str) -> dict[str, Any] | None:
        """The draft of `unit` for `period` as stored (None: none, or a ledger made before drafts)."""
        try:
            row = self.db.execute("SELECT * FROM drafts WHERE period=? AND unit=?", (period, unit)).fetchone()
        except sqlite3.OperationalError:
            return None
        return dict(row) if row else None

    def drafts(self, period: str) -> list[dict[str, Any]]:
        """Every draft of `period`, by unit."""
        try:
            return [dict(r) for r in self.db.execute("SELECT * FROM drafts WHERE period=? ORDER BY unit", (period,))]
        except sqlite3.OperationalError:
            return []

    def draft_changes(self, period: str, unit: str, after: int = 0) -> list[tuple[int, str, str | None]]:
        """(version, key, value) of every change saved to the draft after version `after`, oldest first."""
        cur = self.db.execute(
            "SELECT version, key, value FROM draft_changes WHERE period=? AND unit=? AND version>? ORDER BY version",
            (period, unit, after),
        )
        return [(int(r[0]), str(r[1]), r[2]) for r in cur.fetchall()]

    def put_draft(self, period: str, unit: str, fields: Mapping[str, Any], changes: Mapping[str, str | None]) -> None:
        """Write the draft's row (`fields`: its columns but period and unit) and the `changes` its version made
        (inside the caller's transaction)."""
        names = sorted(fields)
        cur = self.db.execute(
            f"UPDATE drafts SET {', '.join(f'{n}=?' for n in names)} WHERE period=? AND unit=?",
            (*(fields[n] for n in names), period, unit),
        )
        if cur.rowcount == 0:
            self.db.execute(
                f"INSERT INTO drafts (period, unit, {', '.join(names)}) VALUES (?, ?{', ?' * len(names)})",
                (period, unit, *(fields[n] for n in names)),
            )
        version = fields.get("version")
        if version is not None:
            self.db.executemany(
                "INSERT INTO draft_changes (period, unit, version, key, value) VALUES (?,?,?,?,?)",
                [(period, unit, version, k, v) for k, v in changes.items()],
            )

    def finish_run(self, run_id: int, when: datetime, new_files: int, outcome: str) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE runs SET finished_at=?, new_files=?, outcome=? WHERE id=?",
                (when.isoformat(timespec="seconds"), new_files, outcome, run_id),
            )


@dataclass(frozen=True)
class Upload:
    """One file sent through the portal, and what became of it."""

    at: datetime
    sender: str  #: the unit whose token sent it
    client_name: str  #: as the browser named it, for display only
    size: int
    outcome: str  #: accepted | invalid | refused
    report: FileReport
    submission_id: int | None = None
    kept: str | None = None
    annotated: str | None = None
    id: int = 0


def report_record(rep: FileReport) -> dict[str, Any]:
    """A file's report with its issues in both languages, for storing."""
    return {
        "path": rep.path,
        "sha256": rep.sha256,
        "unit": rep.unit,
        "unit_name": rep.unit_name,
        "period": rep.period,
        "vintage": rep.vintage,
        "issues": [i.to_record() for i in rep.issues],
    }


def local_time(text: str) -> datetime:
    """A time read from the ledger, with its offset. Times are stored as they always were, in the machine's local
    time without an offset (older ctstat reads them); one stored with an offset keeps it."""
    when = datetime.fromisoformat(text)
    return when if when.tzinfo is not None else when.astimezone()


def report_from_record(rec: dict[str, Any]) -> FileReport:
    return FileReport(**{**rec, "issues": [Issue.from_record(i) for i in rec.get("issues", [])]})


def _upload(r: sqlite3.Row) -> Upload:
    return Upload(
        at=local_time(r["at"]),
        sender=r["sender"],
        client_name=r["client_name"] or "",
        size=int(r["size"]),
        outcome=r["outcome"],
        report=report_from_record(json.loads(r["report"])),
        submission_id=r["submission_id"],
        kept=r["kept"],
        annotated=r["annotated"],
        id=int(r["id"]),
    )


def _create(db: sqlite3.Connection) -> None:
    for statement in SCHEMA.split(";"):  # one by one: executescript would commit the open transaction
        if statement.strip():
            db.execute(statement)


def _judged(j: Judged) -> tuple[Any, ...]:
    rep = j.report
    return (
        rep.unit,
        rep.unit_name,
        rep.period,
        rep.vintage,
        int(rep.valid),
        rep.errors,
        rep.warnings,
        json_dumps([i.to_record() for i in rep.issues]),
        j.cells_json if j.cells_json is not None else json.dumps(dict(j.cells)) if j.cells is not None else None,
        j.annotated,
        j.template_version,
        j.catalogue_digest,
    )


#: integral values below this are written by looking their text up (`encode_cells`)
_COUNTS = 1 << 16


@cache
def _count_texts() -> Any:
    import numpy as np

    return np.array([f"{n}.0" for n in range(_COUNTS)], dtype=object)  # what JSON writes for float(n)


def encode_cells(keys: Sequence[str], values: Any) -> list[str]:
    """Each row of `values` (a 2-D float array, one column per key) as the ledger stores cells, the text
    `json.dumps(dict(zip(keys, row)))` gives, for all rows at once: a count's text (0.0 to 65535.0) is looked up,
    any other value (a fraction, -0.0, NaN, a huge number) is written by `json.dumps`; the keys are written once.
    Ten thousand files' cells: a sixth of the time of a `json.dumps` per file."""
    import numpy as np

    template = "{" + ", ".join(json.dumps(k).replace("%", "%%") + ": %s" for k in keys) + "}"
    values = np.asarray(values, dtype=float).reshape(-1, len(keys))
    with np.errstate(invalid="ignore"):
        whole = (values >= 0) & (values < _COUNTS) & (values == np.floor(values)) & ~np.signbit(values)
    texts = _count_texts()[np.where(whole, values, 0).astype(np.int64)]
    for r, c in zip(*np.nonzero(~whole), strict=True):
        texts[r, c] = json.dumps(float(values[r, c]))
    return [template % tuple(row) for row in texts]


def _owner_only(path: Path) -> None:
    """Create the ledger readable by its owner only, or take other users' access away from an existing one (and its
    journal files) that this user owns."""
    import os

    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    for p in (path, *(path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm"))):
        try:
            st = p.stat()
            if st.st_mode & 0o077 and st.st_uid == os.geteuid():
                p.chmod(st.st_mode & 0o700)
        except OSError:  # absent, or not ours to change: SQLite says so when it opens the ledger
            pass


#: seconds a connection waits for another process's lock before saying the ledger is busy
BUSY_WAIT = 30.0


def _open_readonly(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise EnvironmentFault(f"no ledger at {path}")
    uri = f"{path.resolve().as_uri()}?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=BUSY_WAIT, isolation_level=None)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        db.close()
        if not _is_wal(path):  # a lock held longer than the wait, say: the fault, never a view frozen for good
            raise
    # a WAL ledger of an earlier release in a folder we may not write: nothing can be writing it either
    return sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None)


def _is_wal(path: Path) -> bool:
    """Whether the database file says it is in WAL mode (its header's read and write versions are 2)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(20)
    except OSError:
        return False
    return len(head) == 20 and head[18] == 2 and head[19] == 2


def _fault(exc: sqlite3.Error, path: Path) -> Exception:
    """A database error is the machine's (disk full, read-only, locked, damaged), not the data's."""
    text = str(exc)
    if "full" in text:
        why = "the disk is full (ổ đĩa đầy)"
    elif "readonly" in text or "read-only" in text:
        why = "it may not be written here (chỉ đọc)"
    elif "locked" in text or "busy" in text:
        why = "another process holds it locked"
    elif "malformed" in text or "not a database" in text:
        why = "the file is damaged or not a ledger"
    else:
        why = text
    return EnvironmentFault(f"ledger {path}: {why}; nothing of this step was recorded, the next run does it again")


def _row(r: sqlite3.Row) -> Row:
    keys = r.keys()
    return Row(
        id=r["id"],
        path=read_path(r["path"]),
        sha256=r["sha256"],
        size=r["size"],
        mtime_ns=r["mtime_ns"],
        received_at=local_time(r["received_at"]),
        unit=r["unit"],
        unit_name=r["unit_name"],
        period=r["period"],
        vintage=r["vintage"],
        valid=bool(r["valid"]),
        errors=r["errors"],
        warnings=r["warnings"],
        issues=[Issue.from_record(i) for i in json.loads(r["issues"])],
        annotated=r["annotated"],
        removed_at=r["removed_at"],
        template_version=r["template_version"] if "template_version" in keys else None,
        catalogue_digest=r["catalogue_digest"] if "catalogue_digest" in keys else None,
    )
