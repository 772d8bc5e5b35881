"""Access to the portal: one random token per expected ward and one for the unit rolled up, stored as argon2id
hashes in the job's ledger (never the tokens themselves); sessions kept in the ledger by their cookies' SHA-256.

A token reads `00301-abcde-fghij-kmnpq-rstuv`: the unit code, then 100 random bits in an alphabet without the
letters and digits people confuse (l, o, 0, 1). The unit in front lets the server check one hash, not all.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import os
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ctstat.job.config import JobConfig
from ctstat.job.ledger import Ledger
from ctstat.model.errors import UsageError
from ctstat.write.atomic import atomic_write

ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  #: 32 symbols: 5 bits each
_TOKEN = re.compile(r"(\d{2,5})-([a-km-np-z2-9]{5})-([a-km-np-z2-9]{5})-([a-km-np-z2-9]{5})-([a-km-np-z2-9]{5})")
SESSION_HOURS = 12


def _hasher() -> object:
    from argon2 import PasswordHasher

    # OWASP's argon2id minimum (19 MiB, 2 passes): a token has 100 random bits, the hash guards a stolen ledger
    return PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def new_token(unit: str) -> str:
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(5)) for _ in range(4))
    return "-".join([unit, *groups])


def token_unit(token: str) -> str | None:
    """The unit a well-formed token is for, else None (checked before any hash is computed)."""
    m = _TOKEN.fullmatch(token.strip().lower()) if len(token) <= 64 else None
    return m.group(1) if m else None


@dataclass(frozen=True)
class Issued:
    unit: str
    name: str
    token: str


def expected_units(cfg: JobConfig) -> list[tuple[str, str]]:
    """(code, name) of the unit rolled up, then of every commune it expects, in code order."""
    from ctstat.model.units import load_units

    h = load_units(cfg.vintage)
    area = h.area(cfg.unit)
    return [(area.code, area.name)] + [(u.code, u.name) for u in h.communes_under(area)]


def issue_tokens(cfg: JobConfig, out: Path, rotate: Sequence[str] = (), now: datetime | None = None) -> list[Issued]:
    """Issue tokens to every expected unit that has none (and replace those of `rotate`; 'all' = every unit), write
    them to `out` (CSV unit,name,token, readable by its owner only) and store their hashes. `out` must not exist:
    the tokens already handed out stay valid, and a list of them is never written over."""
    if out.exists() or out.is_symlink():
        raise UsageError(
            f"{out} already exists: choose another --out (the tokens listed in it stay valid)",
            message_vi=f"{out} đã có: chọn --out khác (các mã truy cập ghi trong tệp đó vẫn dùng được)",
        )
    units = expected_units(cfg)
    names = dict(units)
    wanted = set(names) if "all" in rotate else set(rotate)
    unknown = sorted(wanted - set(names))
    if unknown:
        raise UsageError(
            f"--rotate: {', '.join(unknown)} is not {cfg.unit} or one of its communes",
            message_vi=f"--rotate: {', '.join(unknown)} không phải là {cfg.unit} hay một xã của đơn vị đó",
        )
    hasher = _hasher()
    with Ledger(cfg.ledger_path) as ledger:
        have = ledger.token_hashes()
        todo = [(code, name) for code, name in units if code in wanted or code not in have]
        issued = [Issued(code, name, new_token(code)) for code, name in todo]
        if not issued:
            return []
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["unit", "name", "token"])
        writer.writerows((i.unit, i.name, i.token) for i in issued)
        when = now or datetime.now()
        with atomic_write(out) as tmp:
            Path(tmp).write_text(buf.getvalue(), encoding="utf-8-sig")  # the BOM: Excel reads Vietnamese names right
            Path(tmp).chmod(0o600)
            with ledger.transaction():  # the hashes are stored only once the list is complete on disk
                for i in issued:
                    ledger.set_token(i.unit, hasher.hash(i.token), when)  # type: ignore[attr-defined]
        out.chmod(0o600)
        return issued


class Keys:
    """Checks tokens against the ledger's hashes, and opens, checks and ends sessions kept in the ledger.

    A token verified once is remembered (by its SHA-256) with the hash it matched, so argon2 runs once per token
    and process; at most `CHECKS` argon2 verifications run at once, whatever the number of requests. Rotating a
    token changes its hash, which ends that token and every session made with it.

    A session cookie is 256 random bits; the ledger keeps only its SHA-256, with the unit, the token hash at
    sign-in, the session's CSRF value and its expiry. Signing out deletes the row, so the cookie opens nothing
    afterwards; nothing secret that could sign a cookie is kept anywhere (a ledger of an earlier release had a
    `portal_secret`: it is erased on start)."""

    CHECKS = 2  #: argon2 verifications at once (each takes ~19 MiB and a core for tens of milliseconds)
    PER_UNIT = 20  #: sessions a unit keeps (its oldest end when it signs in more often)

    def __init__(self, ledger_path: Path) -> None:
        self.ledger_path = ledger_path
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()
        self._checks = threading.BoundedSemaphore(self.CHECKS)
        self._local = threading.local()
        with Ledger(ledger_path) as ledger:
            if ledger.get_meta("portal_secret") is not None:  # the signing secret of stateless cookies: no longer
                ledger.forget_meta("portal_secret")

    def reader(self) -> Ledger:
        """A read-only connection kept per thread: one indexed read per request, not a ledger opened and closed.
        Opened again when the ledger file was replaced (a backup restored, the job's folder made anew): a kept
        connection would go on reading the file that was there."""
        try:
            st = os.stat(self.ledger_path)
            now = (st.st_dev, st.st_ino)
        except OSError:
            now = None
        ledger: Ledger | None = getattr(self._local, "ledger", None)
        if ledger is not None and self._local.file != now:
            ledger.close()
            ledger = None
        if ledger is None:
            ledger = self._local.ledger = Ledger(self.ledger_path, readonly=True)
            self._local.file = now
        return ledger

    def _hash_of(self, unit: str) -> str | None:
        """The stored hash, read afresh (a token rotated by `ctstat tokens` ends at once)."""
        return self.reader().token_hash(unit)

    def unit_of(self, token: str) -> str | None:
        """The unit whose token this is, or None."""
        unit = token_unit(token)
        if unit is None:
            return None
        stored = self._hash_of(unit)
        if stored is None:
            return None
        token = token.strip().lower()
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            if self._known.get(key) == stored:
                return unit
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            with self._checks:
                _hasher().verify(stored, token)  # type: ignore[attr-defined]
        except (VerificationError, InvalidHashError):
            return None
        with self._lock:
            self._known[key] = stored
        return unit

    def session(self, unit: str, now: float | None = None) -> str:
        """A new session for `unit` (signed in just now): its cookie value, valid SESSION_HOURS while the unit's
        token is unchanged and until signed out."""
        now = time.time() if now is None else now
        cookie = secrets.token_urlsafe(32)
        with Ledger(self.ledger_path) as ledger:
            ledger.add_session(
                _digest(cookie),
                unit,
                self._hash_of(unit) or "",
                secrets.token_hex(20),
                now,
                now + SESSION_HOURS * 3600,
                self.PER_UNIT,
            )
        return cookie

    def _live(self, cookie: str | None, now: float | None = None) -> tuple[str, str] | None:
        """(unit, CSRF value) of a live session."""
        if not cookie or len(cookie) > 100:
            return None
        found = self.reader().session(_digest(cookie))
        if found is None:
            return None
        unit, token_hash, csrf, expires = found
        if expires <= (time.time() if now is None else now):
            return None
        stored = self._hash_of(unit)
        if stored is None or not hmac.compare_digest(stored, token_hash):
            return None
        return unit, csrf

    def session_unit(self, cookie: str | None, now: float | None = None) -> str | None:
        live = self._live(cookie, now)
        return live[0] if live else None

    def end_session(self, cookie: str | None) -> None:
        """Sign out: the cookie opens nothing any more."""
        if not cookie or len(cookie) > 100:
            return
        with Ledger(self.ledger_path) as ledger:
            ledger.end_session(_digest(cookie))

    def csrf(self, cookie: str) -> str:
        live = self._live(cookie)
        return live[1] if live else ""

    def csrf_ok(self, cookie: str | None, value: str | None) -> bool:
        """The session's CSRF value, compared in constant time; as bytes: `compare_digest` raises on a str that is
        not ASCII, and a form may post any text (a 500 for a field typed "é")."""
        live = self._live(cookie)
        if not (live and value):
            return False
        return hmac.compare_digest(live[1].encode(), value.encode("utf-8", "surrogatepass"))


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("utf-8", "replace")).hexdigest()
