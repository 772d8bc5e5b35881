"""Review records: what an official did to a submission or a rollup, in a canonical form that can be hashed,
signed and chained.

A record is append-only. Each one names its chain (one per job: the period and the unit the job rolls up), its
place in it (`seq`), and the hash of the record before (`prev`), so a record taken out, altered, re-ordered or
copied from another chain breaks the chain where it happened. The signature covers every field but itself; the
hash that the next record names covers the signature too.

The canonical form is JSON with sorted keys, no spaces, UTF-8 (not ASCII-escaped): the same record gives the same
bytes on every machine, and it is what the signature and the hash are computed over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

#: what an official can do, and what each record says
KINDS = ("seen", "correct", "send-back", "approve", "reopen", "approve-rollup", "reopen-rollup")
#: the kinds that must carry a reason
NEEDS_REASON = frozenset({"correct", "send-back", "reopen", "reopen-rollup"})
FORMAT = 1


@dataclass(frozen=True)
class Correction:
    """One cell changed by the level above, never in the ward's file: the form's cell key, its A1 address, the
    value the submission held and the value that counts instead."""

    key: str
    where: str  #: 'Biểu 1!E11'
    old: float | str | None  #: a text the ward typed ("1.234") stays text
    new: float


@dataclass(frozen=True)
class Covers:
    """The exact content a record is about."""

    inputs: Mapping[str, str] = field(default_factory=dict)  #: unit code -> SHA-256 of its file (or record)
    corrections: Sequence[Correction] = ()
    totals: str = ""  #: SHA-256 of the canonical totals (cell key -> value) after corrections
    catalogue: str = ""  #: the catalogue digest the content was judged under
    excused: Mapping[str, str] = field(default_factory=dict)  #: unit -> why it is left out (rollup approval)
    data_sheet: str = ""  #: a rollup workbook's data-sheet digest, when the record covers one


@dataclass(frozen=True)
class Signature:
    """Who signed and how: an Ed25519 key listed in the settings (`key`: its id), or an X.509 certificate
    (`certs`: the signer's certificate then any intermediates, DER as hex) that chains to a trusted root."""

    scheme: str  #: ed25519 | x509
    key: str  #: key id (ed25519:…, or x509: the certificate's SHA-256)
    value: str  #: the signature, hex
    certs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Record:
    chain: str  #: 'PERIOD/UNIT' of the job
    seq: int  #: 1, 2, 3 … within the chain
    prev: str  #: hash of record seq-1 ('' for the first)
    kind: str
    period: str
    unit: str  #: the ward (or, for a rollup record, the unit rolled up)
    who: str  #: the official's name as the key's listing or the certificate names them
    at: str  #: ISO time
    why: str
    covers: Covers
    signature: Signature | None = None
    format: int = FORMAT

    def body(self) -> dict[str, Any]:
        """Every field but the signature: what is signed."""
        out = asdict(self)
        out.pop("signature")
        return out

    def signed_bytes(self) -> bytes:
        return canonical(self.body())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return canonical(self.to_dict()).decode("utf-8")

    @property
    def hash(self) -> str:
        """SHA-256 of the whole record, signature included: what the next record names as `prev`."""
        return hashlib.sha256(canonical(self.to_dict())).hexdigest()

    def signed(self, signature: Signature) -> Record:
        return replace(self, signature=signature)


def canonical(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def totals_digest(cells: Mapping[str, float]) -> str:
    """SHA-256 of cell values in a canonical form (sorted keys, integers written as integers)."""
    norm = {k: (int(v) if float(v).is_integer() else float(v)) for k, v in cells.items() if v == v}
    return hashlib.sha256(canonical(norm)).hexdigest()


class RecordError(ValueError):
    """A record that cannot be read: which one (its place), and why."""

    def __init__(self, where: str, why_en: str, why_vi: str) -> None:
        super().__init__(f"{where}: {why_en}")
        self.where = where
        self.why_en = why_en
        self.why_vi = why_vi


def record_from_dict(doc: Mapping[str, Any], where: str = "record") -> Record:
    """A record from its JSON form; a missing or mistyped field is a RecordError naming it."""
    try:
        cov = dict(doc["covers"])
        covers = Covers(
            inputs=dict(cov.get("inputs", {})),
            corrections=tuple(Correction(**c) for c in cov.get("corrections", ())),
            totals=str(cov.get("totals", "")),
            catalogue=str(cov.get("catalogue", "")),
            excused=dict(cov.get("excused", {})),
            data_sheet=str(cov.get("data_sheet", "")),
        )
        sig = doc.get("signature")
        signature = None
        if sig is not None:
            signature = Signature(str(sig["scheme"]), str(sig["key"]), str(sig["value"]), tuple(sig.get("certs", ())))
        fields = {k: doc[k] for k in ("chain", "seq", "prev", "kind", "period", "unit", "who", "at", "why")}
        rec = Record(**fields, covers=covers, signature=signature, format=int(doc.get("format", FORMAT)))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordError(where, f"not a review record ({exc!r})", f"không phải bản ghi phê duyệt ({exc!r})") from None
    if not isinstance(rec.seq, int) or rec.kind not in KINDS:
        raise RecordError(where, f"unknown kind {rec.kind!r} or place", f"loại bản ghi không rõ ({rec.kind!r})")
    # the same canonical bytes back, or the record held something this reader drops (an extra field): refused
    if canonical(rec.to_dict()) != canonical(dict(doc)):
        raise RecordError(where, "fields that are not part of a record", "có trường lạ không thuộc bản ghi")
    return rec


def records_from_json(text: str, where: str) -> list[Record]:
    try:
        docs = json.loads(text)
    except ValueError:
        raise RecordError(where, "not JSON", "không phải JSON") from None
    if not isinstance(docs, list):
        raise RecordError(where, "not a list of records", "không phải danh sách bản ghi")
    return [record_from_dict(d, f"{where} #{i + 1}") for i, d in enumerate(docs)]


def check_links(records: Sequence[Record], chain: str | None = None, where: str = "") -> None:
    """The records form one unbroken chain from its start: the same chain, seq 1, 2, 3 …, each naming the hash
    of the one before. Raises RecordError at the first break."""
    prev = ""
    for i, rec in enumerate(records, 1):
        at = f"{where}#{rec.seq if isinstance(rec.seq, int) else i}"
        name = chain or records[0].chain
        if rec.chain != name:
            raise RecordError(
                at,
                f"belongs to chain {rec.chain!r}, not {name!r} (copied from another job)",
                f"thuộc chuỗi {rec.chain!r}, không phải {name!r} (chép từ nơi khác)",
            )
        if rec.seq != i:
            raise RecordError(
                at, f"out of place (expected number {i})", f"sai vị trí trong chuỗi (phải là số {i}): thiếu hoặc lặp"
            )
        if rec.prev != prev:
            raise RecordError(
                at,
                "does not follow the record before it (the chain is broken: a record was altered, removed or replayed)",
                "không nối tiếp bản ghi trước (chuỗi bị đứt: một bản ghi bị sửa, bị bỏ hoặc bị chép lại)",
            )
        prev = rec.hash


#: the sheets of a rollup workbook that carry the review chain (read back by a city) and the corrections
APPROVAL_SHEET = "Phê duyệt"
CORRECTIONS_SHEET = "Sửa số liệu"
APPROVAL_HEADER = ("seq", "kind", "unit", "who", "at", "why", "record")


def standing_approval(records: Sequence[Record], unit: str) -> Record | None:
    """The rollup approval of `unit` that stands at the end of `records` (None: never approved, or reopened)."""
    out = None
    for rec in records:
        if rec.unit == unit and rec.kind == "approve-rollup":
            out = rec
        elif rec.unit == unit and rec.kind == "reopen-rollup":
            out = None
    return out
