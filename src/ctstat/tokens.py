"""Access to the portal: one random token per expected ward and one for the unit rolled up, stored as argon2id
hashes in the job's ledger (never the tokens themselves); signed session cookies and CSRF values derived from a
secret kept in the ledger.

A token reads `00301-abcde-fghij-kmnpq-rstuv`: the unit code, then 100 random bits in an alphabet without the
letters and digits people confuse (l, o, 0, 1). The unit in front lets the server check one hash, not all.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ctstat.atomic import atomic_write
from ctstat.config import JobConfig
from ctstat.errors import UsageError
from ctstat.ledger import Ledger

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
    from ctstat.batch import _area
    from ctstat.units import load_units

    h = load_units(cfg.vintage)
    area = _area(cfg, h)
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
    ledger = Ledger(cfg.ledger_path)
    try:
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
    finally:
        ledger.close()


class Keys:
    """Checks tokens against the ledger's hashes, and signs and checks session cookies and CSRF values.

    A token verified once is remembered (by its SHA-256) with the hash it matched, so argon2 runs once per token
    and process; rotating a token changes its hash, which ends that token and every session made with it."""

    def __init__(self, ledger_path: Path) -> None:
        self.ledger_path = ledger_path
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        ledger = Ledger(ledger_path)
        try:
            secret = ledger.get_meta("portal_secret")
            if secret is None:
                secret = secrets.token_hex(32)
                with ledger.transaction():
                    ledger.set_meta("portal_secret", secret)
        finally:
            ledger.close()
        self._secret = bytes.fromhex(secret)

    def _hash_of(self, unit: str) -> str | None:
        """The stored hash, read afresh (a token rotated by `ctstat tokens` ends at once) over a connection kept
        per thread: one indexed read per request, not a ledger opened and closed."""
        ledger = getattr(self._local, "ledger", None)
        if ledger is None:
            ledger = self._local.ledger = Ledger(self.ledger_path, readonly=True)
        return ledger.token_hash(unit)

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
            _hasher().verify(stored, token)  # type: ignore[attr-defined]
        except (VerificationError, InvalidHashError):
            return None
        with self._lock:
            self._known[key] = stored
        return unit

    def _mac(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()[:40]

    def session(self, unit: str, now: float | None = None) -> str:
        """A cookie value for `unit`, valid for SESSION_HOURS and only while the unit's token is unchanged."""
        expires = int((now or time.time()) + SESSION_HOURS * 3600)
        body = f"{unit}.{expires}"
        return f"{body}.{self._mac(body + '.' + (self._hash_of(unit) or ''))}"

    def session_unit(self, cookie: str | None, now: float | None = None) -> str | None:
        if not cookie or len(cookie) > 120:
            return None
        parts = cookie.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        unit, expires, mac = parts
        if int(expires) < (now or time.time()):
            return None
        stored = self._hash_of(unit)
        if stored is None or not hmac.compare_digest(mac, self._mac(f"{unit}.{expires}.{stored}")):
            return None
        return unit

    def csrf(self, cookie: str) -> str:
        return self._mac("csrf." + cookie)

    def csrf_ok(self, cookie: str | None, value: str | None) -> bool:
        return bool(cookie and value) and hmac.compare_digest(self.csrf(cookie or ""), value or "")
