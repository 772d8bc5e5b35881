"""The scheduled job's settings: ctstat.toml, overridden by command-line flags."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

from ctstat.model.errors import UsageError
from ctstat.model.period import Period, is_reform_year, parse_period, vintage_for
from ctstat.model.units import level_of

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
    kept_quota_mb: int = 50  #: ctstat serve: disk kept aside per sender for invalid uploads (oldest removed first)
    header_timeout: float = 10  #: ctstat serve: seconds to send a request's headers, however they trickle
    body_timeout: float = 20  #: ctstat serve: longest silence in a request body, and the grace before the rate rule
    body_min_rate: int = 1024  #: ctstat serve: bytes a second a body must keep up on average after the grace
    max_connections: int = 500  #: ctstat serve: open connections (past it, the oldest still sending headers goes)
    max_requests: int = 64  #: ctstat serve: requests handled at once (past it, 503 with Retry-After)
    trusted_proxies: tuple[str, ...] = ()  #: ctstat serve: addresses whose X-Forwarded-For/-Proto are believed
    review_keys: tuple[tuple[str, Path], ...] = ()  #: who may sign reviews: (name, Ed25519 public key file)
    portal_key: Path | None = None  #: ctstat serve: the Ed25519 key the district's review actions are signed with
    trusted_roots: tuple[Path, ...] = ()  #: root certificates (PEM) officials' certificates must chain to
    history: Path | None = None  #: the history folder shared by every period's job (issue 24)

    @property
    def vintage(self) -> str:
        return vintage_for(self.period, self.units)

    @property
    def reform_year(self) -> bool:
        """A job of the year 2025 by the new communes: its inputs are the half-years' reports either side of the
        reform (`model.period.is_reform_year`), each judged under its own period and list."""
        return is_reform_year(str(self.period), self.vintage)

    @property
    def ledger_path(self) -> Path:
        return self.out / "ledger.sqlite"


_KEYS = {f.name for f in fields(JobConfig)}
#: whole-number settings of `ctstat serve`: (key, default, largest allowed)
_LIMITS = (
    ("upload_limit_mb", 20, 10_000),
    ("uploads_per_minute", 20, 10_000),
    ("kept_quota_mb", 50, 1_000_000),
    ("header_timeout", 10, 3600),
    ("body_timeout", 20, 3600),
    ("body_min_rate", 1024, 10_000_000),
    ("max_connections", 500, 100_000),
    ("max_requests", 64, 10_000),
)


def _is_address(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _bad(where: str, key: str, why: str, vi: str) -> UsageError:
    return UsageError(f"{where}: {key}: {why}", message_vi=f"{where}: {key}: {vi}")


def _no_config(folder: Path, missing: list[str], accepted: set[str]) -> UsageError:
    """No ctstat.toml was given or found, and the flags do not say everything: where ctstat looked, and how to
    give the settings (the flags only for a command that takes them)."""
    en = f"no configuration: no {CONFIG_NAME} in the current folder ({folder}) and no --config given. "
    vi = f"không tìm thấy cấu hình: thư mục hiện tại ({folder}) không có tệp {CONFIG_NAME} và không có --config. "
    en += f"Give the file with --config /path/to/{CONFIG_NAME}, or run in the folder that holds it"
    vi += f"Chỉ ra tệp bằng --config /đường/dẫn/{CONFIG_NAME}, hoặc chạy lệnh trong thư mục có tệp đó"
    if set(missing) <= accepted:
        flags = ", ".join(f"--{key}" for key in missing)
        en += f", or give {flags}"
        vi += f", hoặc cho {flags}"
    return UsageError(en + ".", message_vi=vi + ".")


def _review_settings(raw: dict[str, Any], where: str, base: Path) -> dict[str, Any]:
    """`review_keys = { "Nguyễn Văn A" = "keys/a.pub" }` and `trusted_roots = ["roots/ca.pem"]`, relative to the
    settings file."""
    keys = raw.get("review_keys", {})
    roots = raw.get("trusted_roots", [])
    if not isinstance(keys, dict) or not all(isinstance(v, str) and k.strip() for k, v in keys.items()):
        raise _bad(
            where,
            "review_keys",
            'expected a table of name = "public key file"',
            'phải là bảng dạng tên = "tệp khóa công khai"',
        )
    if not isinstance(roots, list) or not all(isinstance(v, str) for v in roots):
        raise _bad(where, "trusted_roots", "expected a list of files", "phải là danh sách tệp")
    portal_key = raw.get("portal_key")
    if portal_key is not None and not isinstance(portal_key, str):
        raise _bad(where, "portal_key", "expected a key file", "phải là tệp khóa")
    return {
        "portal_key": base / portal_key if portal_key else None,
        "review_keys": tuple((k.strip(), base / v) for k, v in keys.items()),
        "trusted_roots": tuple(base / v for v in roots),
    }


def load_config(path: Path | None = None, **flags: Any) -> JobConfig:
    """Read ctstat.toml (from `path`, else the current folder if it has one) and apply `flags` (None = unset).

    Relative paths in the file are relative to the file's folder. Raises UsageError naming the key and the reason.
    """
    if path is None and (Path.cwd() / CONFIG_NAME).is_file():
        path = Path.cwd() / CONFIG_NAME
    raw, where, base = _read_toml(path)
    given = {k: v for k, v in flags.items() if v is not None}
    from_file = set(raw) - set(given)
    raw.update(given)
    _require(raw, where, path, flags)
    try:
        period = parse_period(str(raw["period"]))
    except UsageError as exc:
        raise _bad(where, "period", str(exc), exc.message_vi or str(exc)) from None
    unit = str(raw["unit"]).strip()
    if level_of(unit) not in ("district", "province"):
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

    deadline = _deadline(raw, where)
    jobs, limits = _numbers(raw, where)
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
        **_review_settings(raw, where, base if path is not None else Path.cwd()),
    )
    try:
        cfg.vintage  # noqa: B018 - checks units against the period
    except UsageError as exc:
        raise _bad(where, "units", str(exc), exc.message_vi or str(exc)) from None
    if not cfg.inbox.is_dir():
        raise _bad(where, "inbox", f"no such folder: {cfg.inbox}", f"không có thư mục {cfg.inbox}")
    return cfg


def _read_toml(path: Path | None) -> tuple[dict[str, Any], str, Path]:
    """The settings of the file (none without one), where they come from, and the folder relative paths start in."""
    if path is None:
        return {}, "flags", Path.cwd()
    where = str(path)
    raw = _parse_toml(path)
    for key in raw:
        if key not in _KEYS:
            known = ", ".join(sorted(_KEYS))
            raise _bad(
                where, key, f"unknown setting (known: {known})", f"không có thiết lập này (các thiết lập: {known})"
            )
    return raw, where, Path(path).resolve().parent


def _parse_toml(path: Path) -> dict[str, Any]:
    """A configuration file's settings; a usage error when it is missing or not TOML."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no such configuration file", message_vi=f"{path}: không có tệp cấu hình này"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"{path}: not valid TOML ({exc})", message_vi=f"{path}: không phải TOML hợp lệ ({exc})"
        ) from None


def _require(raw: dict[str, Any], where: str, path: Path | None, flags: dict[str, Any]) -> None:
    """The settings a job cannot go without, from the file or the line."""
    required = ("period", "unit", "inbox", "out")
    if path is None and any(key not in raw for key in required):
        raise _no_config(Path.cwd(), [key for key in required if key not in raw], set(flags))
    for key in required:
        if key not in raw:
            raise _bad(
                where,
                key,
                f"is required (in {CONFIG_NAME} or as --{key})",
                f"bắt buộc phải có (trong {CONFIG_NAME} hoặc bằng --{key})",
            )


def _deadline(raw: dict[str, Any], where: str) -> date | None:
    deadline = raw.get("deadline")
    if isinstance(deadline, str):
        try:
            return date.fromisoformat(deadline)
        except ValueError:
            raise _bad(
                where,
                "deadline",
                f"expected a date YYYY-MM-DD, not {deadline!r}",
                f"phải là ngày dạng YYYY-MM-DD, không phải {deadline!r}",
            ) from None
    if deadline is not None and not isinstance(deadline, date):
        raise _bad(where, "deadline", "expected a date YYYY-MM-DD", "phải là ngày dạng YYYY-MM-DD")
    return deadline


def _numbers(raw: dict[str, Any], where: str) -> tuple[int, dict[str, Any]]:
    """`jobs`, and the portal's limits with its trusted proxies, checked."""
    jobs = raw.get("jobs", 1)
    if not isinstance(jobs, int) or jobs < 0:
        raise _bad(where, "jobs", "expected a whole number >= 0", "phải là số nguyên >= 0")
    limits: dict[str, Any] = {}
    for key, default, top in _LIMITS:
        limits[key] = raw.get(key, default)
        if not isinstance(limits[key], int) or isinstance(limits[key], bool) or not 1 <= limits[key] <= top:
            raise _bad(where, key, f"expected a whole number from 1 to {top}", f"phải là số nguyên từ 1 đến {top}")
    proxies = raw.get("trusted_proxies", [])
    if not isinstance(proxies, list) or not all(isinstance(a, str) and _is_address(a) for a in proxies):
        raise _bad(
            where,
            "trusted_proxies",
            'expected a list of IP addresses, e.g. ["127.0.0.1"]',
            'phải là danh sách địa chỉ IP, ví dụ ["127.0.0.1"]',
        )
    limits["trusted_proxies"] = tuple(proxies)
    return jobs, limits


#: where the job writes its rollup, its marked-up copies, and the portal its staging and the uploads it keeps aside
#: (each under `out`; the portal's accepted uploads go to PORTAL_DIR under the inbox)
ROLLUP_DIR = "tong-hop"
ANNOTATED_DIR = "kiem-tra"
PORTAL_DIR = "portal"


def job_file(cfg: JobConfig, stored: str) -> Path:
    """A file the job wrote (a rollup's workbook or manifest, a marked-up copy), as the ledger names it, where it is
    in this job's folder now. The ledger names it by the path it was written at; a job copied or moved elsewhere
    (restored from a backup, its folder renamed) would otherwise find, or miss, the old place's files: its run said
    "unchanged" over an empty rollup folder while the copy it was made from still held the workbooks, and the
    portal could not hand out a marked-up copy. Re-rooted at the last of `out`'s own folders (ROLLUP_DIR,
    ANNOTATED_DIR, PORTAL_DIR) in the path; a path with none of them is taken as it is."""
    path = Path(stored)
    parts = path.parts
    at = [i for i, part in enumerate(parts) if part in (ROLLUP_DIR, ANNOTATED_DIR, PORTAL_DIR)]
    return cfg.out.joinpath(*parts[at[-1] :]) if at else path


def rollup_files(cfg: JobConfig, stored: str | None) -> list[Path]:
    """The ledger's list of a rollup's workbooks (JSON, `rollup_outputs`), each where it is now (`job_file`)."""
    import json

    return [job_file(cfg, p) for p in json.loads(stored or "[]")]


#: the file that makes a folder a history of earlier periods (`job.history`): kept here, where the command line can
#: ask whether a folder is one without loading pandas and pyarrow (the history's own module does)
HISTORY_MANIFEST = "manifest.json"


def has_history(folder: Path | None) -> bool:
    """Whether `folder` holds a history that was loaded (its manifest): a folder without one has nothing to compare
    with, whatever its name says."""
    return folder is not None and (folder / HISTORY_MANIFEST).is_file()


def held_history(folder: Path) -> Path:
    """`folder`, which must hold a history already loaded: a mistyped or empty folder compared nothing and said "0
    cells checked" (exit 0), which reads as "nothing unusual", and a confirmation went into a new folder."""
    if not has_history(folder):
        raise UsageError(
            f"no history in {folder} (no {HISTORY_MANIFEST}): load the earlier periods into it first, "
            f"ctstat history add SOURCE... --history {folder}",
            message_vi=f"chưa có lịch sử ở {folder} (không có {HISTORY_MANIFEST}): hãy nạp các kỳ trước vào bằng "
            f"ctstat history add NGUỒN... --history {folder}",
        )
    return folder


def history_missing(cfg: JobConfig) -> list[dict[str, str]]:
    """A job whose `history` holds none (mistyped, or never loaded): said by every run (and logged), which compares
    nothing and writes no comparison sheet, instead of "0 cells checked"."""
    if cfg.history is None or has_history(cfg.history):
        return []
    where, name = cfg.history, HISTORY_MANIFEST
    return [
        {
            "code": "history-missing",
            "message": f"Chưa có lịch sử ở {where} (không có {name}): chưa so với các kỳ trước. Nạp các kỳ trước bằng "
            f"ctstat history add NGUỒN... --history {where}, hoặc sửa 'history' trong cấu hình.",
            "message_en": f"No history in {where} (no {name}): nothing was compared with earlier periods. Load them "
            f"with ctstat history add SOURCE... --history {where}, or correct 'history' in the configuration.",
        }
    ]


def history_setting(path: Path | None = None) -> Path | None:
    """The `history` folder of ctstat.toml (from `path`, else the current folder's), relative to the file; None
    when there is no file or no such setting. For the commands that need only the history."""
    if path is None:
        path = Path.cwd() / CONFIG_NAME
        if not path.is_file():
            return None
    raw = _parse_toml(path)
    value = raw.get("history")
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(str(path), "history", "expected a path", "phải là một đường dẫn")
    p = Path(value)
    return p if p.is_absolute() else Path(path).resolve().parent / p
