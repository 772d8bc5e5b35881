"""Review records: canonical form, chain links, Ed25519 keys and X.509 certificates (a CA made here)."""

from __future__ import annotations

import dataclasses
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from ctstat.model.records import (
    Correction,
    Covers,
    Record,
    RecordError,
    check_links,
    record_from_dict,
    records_from_json,
)
from ctstat.model.signing import KeyFileError, Signer, Trust, load_signer, new_keypair


def _record(seq: int = 1, prev: str = "", who: str = "Nguyễn Văn A", **kw: object) -> Record:
    base: dict[str, object] = {
        "chain": "2025-H1/008",
        "seq": seq,
        "prev": prev,
        "kind": "approve",
        "period": "2025-H1",
        "unit": "00301",
        "who": who,
        "at": "2025-07-10T09:00:00+07:00",
        "why": "",
        "covers": Covers(
            inputs={"00301": "ab" * 32},
            corrections=(Correction("AB01/*/x", "Biểu 1!E11", "1.234", 1234.0),),
            totals="cd" * 32,
            catalogue="ef" * 32,
        ),
    }
    base.update(kw)
    return Record(**base)  # type: ignore[arg-type]


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Trust, Signer, Signer]:
    """Two listed officials' keys."""
    a_key, a_pub = new_keypair(tmp_path / "keys", "a")
    b_key, b_pub = new_keypair(tmp_path / "keys", "b")
    trust = Trust.load({"Nguyễn Văn A": a_pub, "Trần Thị B": b_pub}, [])
    return trust, load_signer(a_key, trust), load_signer(b_key, trust)


def _chain(signer: Signer, n: int = 3) -> list[Record]:
    out: list[Record] = []
    for seq in range(1, n + 1):
        out.append(signer.sign(_record(seq, out[-1].hash if out else "", who=signer.who, unit=f"0030{seq}")))
    return out


def test_canonical_form_is_stable_and_round_trips(keys: tuple[Trust, Signer, Signer]) -> None:
    trust, a, _ = keys
    rec = a.sign(_record())
    again = record_from_dict(json.loads(rec.to_json()))
    assert again == rec and again.hash == rec.hash and again.to_json() == rec.to_json()
    assert "Nguyễn" in rec.to_json()  # UTF-8, not escaped: the same bytes everywhere
    assert trust.verify(again, "x") == "Nguyễn Văn A"
    # a field this reader does not know is refused, not dropped
    doc = json.loads(rec.to_json())
    doc["extra"] = 1
    with pytest.raises(RecordError, match="not part of a record"):
        record_from_dict(doc)
    with pytest.raises(RecordError, match="not JSON"):
        records_from_json("{", "wb")


def test_private_key_is_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    key, pub = new_keypair(tmp_path, "a")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"PUBLIC KEY" in pub.read_bytes()
    with pytest.raises(KeyFileError, match="exists already"):
        new_keypair(tmp_path, "a")
    trust = Trust.load({"A": pub}, [])
    key.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_signer(key, trust)
    key.chmod(0o600)
    with pytest.raises(KeyFileError, match="not listed"):
        load_signer(key, Trust())


def test_a_forged_or_altered_record_is_refused(keys: tuple[Trust, Signer, Signer]) -> None:
    trust, a, b = keys
    rec = a.sign(_record())
    altered = dataclasses.replace(rec, covers=dataclasses.replace(rec.covers, totals="00" * 32))
    with pytest.raises(RecordError, match="does not match") as err:
        trust.verify(altered, "wb #1")
    assert err.value.where == "wb #1" and "bị sửa" in err.value.why_vi
    # B signs a record that names A: refused
    with pytest.raises(RecordError, match="signed by 'Trần Thị B'"):
        trust.verify(b.sign(_record(who="Nguyễn Văn A")), "x")
    with pytest.raises(RecordError, match="not signed"):
        trust.verify(_record(), "x")


def test_an_unlisted_key_is_refused(tmp_path: Path, keys: tuple[Trust, Signer, Signer]) -> None:
    trust, _, _ = keys
    c_key, c_pub = new_keypair(tmp_path / "other", "c")
    stranger = load_signer(c_key, Trust.load({"Nguyễn Văn A": c_pub}, []))  # listed only in its own settings
    with pytest.raises(RecordError, match="not listed"):
        trust.verify(stranger.sign(_record()), "x")


def test_broken_and_replayed_chains_are_located(keys: tuple[Trust, Signer, Signer]) -> None:
    _, a, _ = keys
    chain = _chain(a)
    check_links(chain, "2025-H1/008")
    with pytest.raises(RecordError, match="out of place") as err:
        check_links([chain[0], chain[2]], "2025-H1/008", "wb ")
    assert err.value.where == "wb #3"
    # record 2 altered and re-signed by its own signer: its signature holds, the next link does not
    forged = a.sign(dataclasses.replace(chain[1], why="khác", signature=None))
    with pytest.raises(RecordError, match="does not follow") as err:
        check_links([chain[0], forged, chain[2]], "2025-H1/008")
    assert err.value.where == "#3"
    # a record copied from another job's chain
    other = a.sign(_record(chain="2025-H1/009"))
    with pytest.raises(RecordError, match="another job"):
        check_links([other], "2025-H1/008")
    # the same record twice (replayed)
    with pytest.raises(RecordError, match="out of place"):
        check_links([chain[0], chain[0]], "2025-H1/008")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")])


def _cert(subject: str, issuer: str, public: object, signer_key: object, ca: bool, days: int = 365) -> x509.Certificate:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer_key, hashes.SHA256())  # type: ignore[arg-type]
    )


def make_ca(folder: Path, cn: str = "Ban Cơ yếu Chính phủ (thử)") -> tuple[Path, rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _cert(cn, cn, key.public_key(), key, ca=True)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "root.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, cert


def make_p12(folder: Path, holder: str, ca_key: object, ca_cert: x509.Certificate, name: str = "official") -> Path:
    """An official's certificate (EC key) issued by the test CA, in a PKCS#12 file readable by its owner only."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(holder, _cn(ca_cert), key.public_key(), ca_key, ca=False)
    data = pkcs12.serialize_key_and_certificates(name.encode(), key, cert, None, serialization.NoEncryption())
    path = folder / f"{name}.p12"
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_x509_certificate_from_a_trusted_root(tmp_path: Path) -> None:
    root, ca_key, ca_cert = make_ca(tmp_path / "ca")
    p12 = make_p12(tmp_path, "Lê Văn C", ca_key, ca_cert)
    trust = Trust.load({}, [root])
    signer = load_signer(p12, trust)
    assert signer.who == "Lê Văn C" and signer.key_ref.startswith("x509:")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    rec = signer.sign(_record(who="Lê Văn C", at=now))
    assert trust.verify(rec, "x") == "Lê Văn C"
    assert trust.verify(record_from_dict(json.loads(rec.to_json())), "x") == "Lê Văn C"  # offline, from JSON
    # another CA, not trusted: refused when loading the key and when verifying
    _, other_key, other_cert = make_ca(tmp_path / "other", "CA lạ")
    rogue = make_p12(tmp_path, "Lê Văn C", other_key, other_cert, name="rogue")
    with pytest.raises(RecordError, match="trusted root"):
        load_signer(rogue, trust)
    rogue_rec = load_signer(rogue, Trust.load({}, [tmp_path / "other" / "root.pem"])).sign(
        _record(who="Lê Văn C", at=now)
    )
    with pytest.raises(RecordError, match="trusted root"):
        trust.verify(rogue_rec, "x")
    # signed at a time the certificate did not cover
    late = signer.sign(_record(who="Lê Văn C", at="2099-01-01T00:00:00+07:00"))
    with pytest.raises(RecordError, match="not valid at that time"):
        trust.verify(late, "x")
