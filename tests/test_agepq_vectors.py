"""sendemodul.agepq against the C2SP CCTV age test vectors (tests/vectors/age, copied from C2SP/CCTV)."""

import hashlib
import io
import zlib
from pathlib import Path

import pytest

from sendemodul import agepq

VECTORS = Path(__file__).parent / "vectors" / "age"
EXPECTED_ERROR = {
    "header failure": agepq.HeaderError,
    "no match": agepq.NoIdentityMatchError,
    "HMAC failure": agepq.HeaderMacError,
    "payload failure": agepq.PayloadError,
}


def load(path):
    raw = path.read_bytes()
    meta_text, _, body = raw.partition(b"\n\n")
    meta = {}
    for line in meta_text.decode().splitlines():
        key, _, value = line.partition(": ")
        meta.setdefault(key, []).append(value)
    if meta.get("compressed") == ["zlib"]:
        body = zlib.decompress(body)
    return meta, body


def vector_files():
    return sorted(p for p in VECTORS.iterdir() if p.name not in ("README.md", "SOURCE"))


def test_vector_set_is_complete():
    """Every mlkem768x25519 ("hybrid") and X25519 vector of CCTV is here, and none needs armor or a passphrase."""
    names = [p.name for p in vector_files()]
    assert len(names) == 85
    assert sum(n.startswith("hybrid") for n in names) == 18
    assert sum(n.startswith("x25519") for n in names) == 14
    for p in vector_files():
        meta, _ = load(p)
        assert "passphrase" not in meta and meta.get("armored") != ["yes"]


@pytest.mark.parametrize("path", vector_files(), ids=lambda p: p.name)
def test_cctv_vector(path):
    """A valid vector opens to exactly its payload; an invalid one is refused with the error class of its kind,
    and whatever plaintext was released before the refusal is exactly what the vector says."""
    meta, body = load(path)
    expect = meta["expect"][0]
    identities = [agepq.parse_identity(s) for s in meta.get("identity", [])]
    out = io.BytesIO()
    if expect == "success":
        types = agepq.decrypt_io(io.BytesIO(body), out, identities)
        assert types == agepq.stanza_types(body)
    else:
        with pytest.raises(EXPECTED_ERROR[expect]):
            agepq.decrypt_io(io.BytesIO(body), out, identities)
    if "payload" in meta:
        assert hashlib.sha256(out.getvalue()).hexdigest() == meta["payload"][0]
    else:
        assert out.getvalue() == b""
