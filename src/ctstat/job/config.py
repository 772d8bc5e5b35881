"""The scheduled job's settings: ctstat.toml, overridden by command-line flags."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

from ctstat.model.errors import UsageError
from ctstat.model.period import Period, parse_period, vintage_for

CONFIG_NAME = "ctstat.toml"


@dataclass(frozen=True)
class JobConfig:
    period: Period
    unit: str  #: the district (3 digits) or province (2 digits) this job rolls up
    inbox: Path  #: where wards' files arrive
    out: Path  #: ledger, marked-up copies, rollup workbooks
    deadline: date | None = None
    units: str | None = None  #: unit-list vintage; default: the period's
    log: Path | None = None  #: JSON-lines event log
    allow_partial: bool = False  #: at the deadline, roll up what is there
    jobs: int = 1
    upload_limit_mb: int = 20  #: ctstat serve: the largest file a ward may upload
    uploads_per_minute: int = 20  #: ctstat serve: per token
    history: Path | None = None  #: the history folder shared by every period's job (issue 24)

    @property
    def vintage(self) -> str:
        return vintage_for(self.period, self.units)

    @property
    def ledger_path(self) -> Path:
        return self.out / "ledger.sqlite"


_KEYS = {f.name for f in fields(JobConfig)}


def _bad(where: str, key: str, why: str, vi: str) -> UsageError:
    return UsageError(f"{where}: {key}: {why}", message_vi=f"{where}: {key}: {vi}")


def load_config(path: Path | None = None, **flags: Any) -> JobConfig:
    """Read ctstat.toml (from `path`, else the current folder if it has one) and apply `flags` (None = unset).

    Relative paths in the file are relative to the file's folder. Raises UsageError naming the key and the reason.
    """
    raw: dict[str, Any] = {}
    where = "flags"
    base = Path.cwd()
    if path is None and (Path.cwd() / CONFIG_NAME).is_file():
        path = Path.cwd() / CONFIG_NAME
    if path is not None:
        where = str(path)
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(
                f"{where}: no such configuration file", message_vi=f"{where}: không có tệp cấu hình này"
            ) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"{where}: not valid TOML ({exc})", message_vi=f"{where}: không phải TOML hợp lệ ({exc})"
            ) from None
        base = Path(path).resolve().parent
        for key in raw:
            if key not in _KEYS:
                known = ", ".join(sorted(_KEYS))
                raise _bad(
                    where, key, f"unknown setting (known: {known})", f"không có thiết lập này (các thiết lập: {known})"
                )
    given = {k: v for k, v in flags.items() if v is not None}
    from_file = set(raw) - set(given)
    raw.update(given)
    for key in ("period", "unit", "inbox", "out"):
        if key not in raw:
            raise _bad(
                where,
                key,
                f"is required (in {CONFIG_NAME} or as --{key})",
                f"bắt buộc phải có (trong {CONFIG_NAME} hoặc bằng --{key})",
            )
    try:
        period = parse_period(str(raw["period"]))
    except UsageError as exc:
        raise _bad(where, "period", str(exc), exc.message_vi or str(exc)) from None
    unit = str(raw["unit"]).strip()
    if not (unit.isdigit() and len(unit) in (2, 3)):
        raise _bad(
            where,
            "unit",
            f"a district (3 digits) or province (2 digits) code, not {unit!r}",
            f"phải là mã huyện (3 chữ số) hoặc mã tỉnh (2 chữ số), không phải {unit!r}",
        )

    def as_path(key: str) -> Path | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, (str, Path)):
            raise _bad(where, key, "expected a path", "phải là một đường dẫn")
        p = Path(value)
        return base / p if key in from_file and not p.is_absolute() else p

    deadline = raw.get("deadline")
    if isinstance(deadline, str):
        try:
            deadline = date.fromisoformat(deadline)
        except ValueError:
            raise _bad(
                where,
                "deadline",
                f"expected a date YYYY-MM-DD, not {deadline!r}",
                f"phải là ngày dạng YYYY-MM-DD, không phải {deadline!r}",
            ) from None
    elif deadline is not None and not isinstance(deadline, date):
        raise _bad(where, "deadline", "expected a date YYYY-MM-DD", "phải là ngày dạng YYYY-MM-DD")
    jobs = raw.get("jobs", 1)
    if not isinstance(jobs, int) or jobs < 0:
        raise _bad(where, "jobs", "expected a whole number >= 0", "phải là số nguyên >= 0")
    limits = {}
    for key, default in (("upload_limit_mb", 20), ("uploads_per_minute", 20)):
        limits[key] = raw.get(key, default)
        if not isinstance(limits[key], int) or isinstance(limits[key], bool) or not 1 <= limits[key] <= 10_000:
            raise _bad(where, key, "expected a whole number from 1 to 10000", "phải là số nguyên từ 1 đến 10000")
    allow = raw.get("allow_partial", False)
    if not isinstance(allow, bool):
        raise _bad(where, "allow_partial", "expected true or false", "phải là true hoặc false")
    cfg = JobConfig(
        period=period,
        unit=unit,
        inbox=as_path("inbox"),  # type: ignore[arg-type]
        out=as_path("out"),  # type: ignore[arg-type]
        deadline=deadline,
        units=raw.get("units"),
        log=as_path("log"),
        allow_partial=allow,
        jobs=jobs,
        history=as_path("history"),
        **limits,
    )
    try:
        cfg.vintage  # noqa: B018 - checks units against the period
    except UsageError as exc:
        raise _bad(where, "units", str(exc), exc.message_vi or str(exc)) from None
    if not cfg.inbox.is_dir():
        raise _bad(where, "inbox", f"no such folder: {cfg.inbox}", f"không có thư mục {cfg.inbox}")
    return cfg


def history_setting(path: Path | None = None) -> Path | None:
    """The `history` folder of ctstat.toml (from `path`, else the current folder's), relative to the file; None
    when there is no file or no such setting. For the commands that need only the history."""
    if path is None:
        path = Path.cwd() / CONFIG_NAME
        if not path.is_file():
            return None
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no such configuration file", message_vi=f"{path}: không có tệp cấu hình này"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"{path}: not valid TOML ({exc})", message_vi=f"{path}: không phải TOML hợp lệ ({exc})"
        ) from None
    value = raw.get("history")
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(str(path), "history", "expected a path", "phải là một đường dẫn")
    p = Path(value)
    return p if p.is_absolute() else Path(path).resolve().parent / p
