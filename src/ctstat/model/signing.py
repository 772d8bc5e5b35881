"""Signing and verifying review records, with ctstat's own Ed25519 keys or an official's X.509 certificate.

The only module that imports `cryptography`. It sits in `model` because both the job (which signs) and the reading
of a district workbook (which verifies, offline) need it.

- ctstat's keys: `new_keypair` writes the private key (PKCS#8 PEM, mode 0600, refused if it exists) and the public
  key beside it. The settings list who holds which public key (`review_keys`: name -> file); a record signed by
  a key not listed, or naming someone else than the listing does, is refused.
- certificates: a PKCS#12 file (key and certificate, as the CA issued them); the record carries the certificate
  (and any intermediates), which must chain to one of the trusted roots in the settings and be valid at the
  record's time; the holder is the certificate's subject common name.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from ctstat.model.records import Record, RecordError, Signature

PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class KeyFileError(ValueError):
    """A key or certificate file that cannot be used: which, and why (both languages)."""

    def __init__(self, why_en: str, why_vi: str) -> None:
        super().__init__(why_en)
        self.why_vi = why_vi


def key_id(public: ed25519.Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:32]


def new_keypair(out: Path, name: str) -> tuple[Path, Path]:
    """Write `name.key` (private, 0600, never over an existing file) and `name.pub` into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    private = ed25519.Ed25519PrivateKey.generate()
    key_path, pub_path = out / f"{name}.key", out / f"{name}.pub"
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{key_path} exists already", f"{key_path} đã có; không ghi đè khóa") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pub_path.write_bytes(public)
    return key_path, pub_path


@dataclass(frozen=True)
class Signer:
    """A private key ready to sign, with who it belongs to."""

    key: PrivateKey
    who: str
    key_ref: str  #: ed25519 key id, or x509:SHA-256 of the certificate
    certs: tuple[str, ...] = ()  #: DER hex: the certificate, then intermediates

    def sign(self, rec: Record) -> Record:
        data = rec.signed_bytes()
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            value = self.key.sign(data)
        elif isinstance(self.key, rsa.RSAPrivateKey):
            value = self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        else:
            value = self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        scheme = "x509" if self.certs else "ed25519"
        return rec.signed(Signature(scheme, self.key_ref, value.hex(), self.certs))


def load_signer(path: Path, trust: Trust, password: bytes | None = None) -> Signer:
    """The signer in a private key file (ctstat's Ed25519, PEM) or a PKCS#12 file (.p12/.pfx). The key must be
    readable by its owner only, and listed (Ed25519) or chain to a trusted root (certificate)."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: {exc.strerror}", f"{path}: không đọc được ({exc.strerror})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path} can be read by others (mode {stat.S_IMODE(mode):o}): chmod 600 {path}",
            f"người khác đọc được {path} (quyền {stat.S_IMODE(mode):o}): chạy chmod 600 {path}",
        )
    if path.suffix.lower() in (".p12", ".pfx"):
        return _p12_signer(path, data, trust, password)
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a private key ({exc})", f"{path}: không phải khóa bí mật ({exc})") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key", f"{path}: không phải khóa Ed25519")
    kid = key_id(key.public_key())
    who = trust.holder_of(kid)
    if who is None:
        raise KeyFileError(
            f"{path}: its public key is not listed in review_keys of the settings",
            f"{path}: khóa công khai của nó chưa có trong review_keys của tệp cấu hình",
        )
    return Signer(key, who, kid)


def _p12_signer(path: Path, data: bytes, trust: Trust, password: bytes | None) -> Signer:
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(
            f"{path}: cannot open the PKCS#12 file ({exc})", f"{path}: không mở được tệp PKCS#12 ({exc})"
        ) from None
    if (
        key is None
        or cert is None
        or not isinstance(key, (ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey))
    ):
        raise KeyFileError(f"{path}: no usable key and certificate", f"{path}: không có khóa và chứng thư dùng được")
    certs = tuple(c.public_bytes(serialization.Encoding.DER).hex() for c in (cert, *extra))
    now = datetime.now(UTC).isoformat(timespec="seconds")
    who = trust.check_certs(certs, now, str(path))
    return Signer(key, who, "x509:" + hashlib.sha256(bytes.fromhex(certs[0])).hexdigest(), certs)


@dataclass
class Trust:
    """Who may sign: listed Ed25519 public keys (name -> key) and trusted root certificates."""

    keys: dict[str, ed25519.Ed25519PublicKey] = field(default_factory=dict)  #: key id -> key
    names: dict[str, str] = field(default_factory=dict)  #: key id -> holder's name
    roots: list[x509.Certificate] = field(default_factory=list)

    @classmethod
    def load(cls, review_keys: Mapping[str, Path], roots: Sequence[Path]) -> Trust:
        trust = cls()
        for name, p in review_keys.items():
            try:
                public = serialization.load_pem_public_key(p.read_bytes())
            except (OSError, ValueError) as exc:
                raise KeyFileError(
                    f"review_keys: {p}: {exc}", f"review_keys: {p}: không đọc được khóa ({exc})"
                ) from None
            if not isinstance(public, ed25519.Ed25519PublicKey):
                raise KeyFileError(f"review_keys: {p}: not Ed25519", f"review_keys: {p}: không phải khóa Ed25519")
            trust.keys[key_id(public)] = public
            trust.names[key_id(public)] = name
        for p in roots:
            try:
                trust.roots += x509.load_pem_x509_certificates(p.read_bytes())
            except (OSError, ValueError) as exc:
                raise KeyFileError(
                    f"trusted_roots: {p}: {exc}", f"trusted_roots: {p}: không đọc được ({exc})"
                ) from None
        return trust

    def holder_of(self, kid: str) -> str | None:
        return self.names.get(kid)

    def check_certs(self, certs: Sequence[str], at: str, where: str) -> str:
        """The holder's name when `certs` (leaf first) chain to a trusted root and hold at time `at`."""
        try:
            chain = [x509.load_der_x509_certificate(bytes.fromhex(c)) for c in certs]
        except ValueError:
            raise RecordError(where, "a certificate that cannot be read", "chứng thư số không đọc được") from None
        when = datetime.fromisoformat(at)
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        for cert in chain:
            if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
                raise RecordError(where, "the certificate was not valid at that time", "chứng thư số hết hạn khi ký")
        for child, parent in zip(chain, chain[1:], strict=False):
            _issued_by(child, parent, where)
        top = chain[-1]
        for root in self.roots:
            if root.subject == top.issuer or root == top:
                try:
                    if root != top:
                        top.verify_directly_issued_by(root)
                    return _common_name(chain[0])
                except (ValueError, TypeError, InvalidSignature):
                    continue
        raise RecordError(
            where,
            "the certificate does not chain to a trusted root (trusted_roots in the settings)",
            "chứng thư số không do tổ chức tin cậy cấp (trusted_roots trong tệp cấu hình)",
        )

    def verify(self, rec: Record, where: str) -> str:
        """The signer's name when `rec` is signed by a listed key or a trusted certificate, and names that
        signer as `who`; else RecordError at `where`."""
        sig = rec.signature
        if sig is None:
            raise RecordError(where, "not signed", "chưa được ký")
        if sig.scheme == "ed25519":
            public = self.keys.get(sig.key)
            if public is None:
                raise RecordError(
                    where,
                    f"signed with a key not listed in the settings ({sig.key})",
                    f"ký bằng khóa không có trong danh sách (review_keys) của tệp cấu hình ({sig.key})",
                )
            who = self.names[sig.key]
        elif sig.scheme == "x509" and sig.certs:
            who = self.check_certs(sig.certs, rec.at, where)
            public = x509.load_der_x509_certificate(bytes.fromhex(sig.certs[0])).public_key()  # type: ignore[assignment]
        else:
            raise RecordError(where, f"unknown signature scheme {sig.scheme!r}", "kiểu chữ ký không rõ")
        _check_signature(public, bytes.fromhex(sig.value), rec.signed_bytes(), where)
        if who != rec.who:
            raise RecordError(
                where,
                f"names {rec.who!r} but was signed by {who!r}",
                f"ghi người ký là {rec.who!r} nhưng chữ ký là của {who!r}",
            )
        return who


def _check_signature(public: object, value: bytes, data: bytes, where: str) -> None:
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(value, data)
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(value, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(value, data, ec.ECDSA(hashes.SHA256()))
        else:
            raise InvalidSignature
    except (InvalidSignature, ValueError):
        raise RecordError(
            where,
            "the signature does not match the record (it was changed after signing, or forged)",
            "chữ ký không khớp với bản ghi (bản ghi bị sửa sau khi ký, hoặc giả mạo)",
        ) from None


def _issued_by(child: x509.Certificate, parent: x509.Certificate, where: str) -> None:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        raise RecordError(where, "a broken certificate chain", "chuỗi chứng thư số không hợp lệ") from None


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()
