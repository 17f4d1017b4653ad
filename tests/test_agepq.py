"""sendemodul.agepq: keys, round trips, refusals, streaming, and agreement with pyrage and cryptography's HPKE."""

import hashlib
import io
import tracemalloc

import pyrage
import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from hypothesis import given, settings
from hypothesis import strategies as st

from sendemodul import agepq
from sendemodul.agepq import common as agepq_common

CHUNK = agepq.CHUNK_BYTES
PQ = agepq.MlKem768X25519Identity.generate()
PQ_OTHER = agepq.MlKem768X25519Identity.generate()
CLASSIC = agepq.X25519Identity.generate()
# Examples printed in C2SP age.md, "Native recipient types".
SPEC_PQ_IDENTITY = "AGE-SECRET-KEY-PQ-1XX76JRALNLXDMEW0CRK45QMCCH4X06SE84UN3VPM33W6HWDX0H3SK3ZQFR"
# SHA-256 of the age1pq1x34nzsvr0... recipient string printed there
SPEC_PQ_RECIPIENT_SHA256 = "a091dd7e0ee9d62b75173dcc98441a0424baa941e66a8776e570a4ae60ff61ea"
SPEC_X25519_IDENTITY = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
SPEC_X25519_RECIPIENT = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"


def seal(data, recipients):
    out = io.BytesIO()
    agepq.encrypt_io(io.BytesIO(data), out, recipients)
    return out.getvalue()


def open_(blob, identities):
    out = io.BytesIO()
    agepq.decrypt_io(io.BytesIO(blob), out, identities)
    return out.getvalue()


def payload(n):
    return hashlib.shake_256(str(n).encode()).digest(n)


# --- keys ---


def test_spec_pq_identity_gives_the_spec_recipient():
    """The hybrid identity printed in age.md derives the recipient printed there (known answer for keygen)."""
    recipient = str(agepq.parse_identity(SPEC_PQ_IDENTITY).to_public())
    assert recipient.startswith("age1pq1x34nzsvr0rxjsgdn8zgyhfe8j7ceq5r9rdelkjuh3y235")
    assert recipient.endswith("fzv49zc0k") and len(recipient) == 1959
    assert hashlib.sha256(recipient.encode()).hexdigest() == SPEC_PQ_RECIPIENT_SHA256
    assert str(agepq.parse_recipient(recipient)) == recipient


def test_spec_x25519_identity_gives_the_spec_recipient():
    assert str(agepq.parse_identity(SPEC_X25519_IDENTITY).to_public()) == SPEC_X25519_RECIPIENT


def test_key_strings_round_trip_and_have_the_spec_prefixes():
    assert str(PQ).startswith("AGE-SECRET-KEY-PQ-1") and str(PQ.to_public()).startswith("age1pq1")
    assert str(CLASSIC).startswith("AGE-SECRET-KEY-1") and str(CLASSIC.to_public()).startswith("age1")
    for key in (PQ, CLASSIC):
        assert str(agepq.parse_identity(str(key))) == str(key)
        assert str(agepq.parse_recipient(str(key.to_public()))) == str(key.to_public())


def test_repr_of_an_identity_does_not_show_the_secret():
    assert str(PQ)[19:] not in repr(PQ) and str(CLASSIC)[16:] not in repr(CLASSIC)


@pytest.mark.parametrize(
    "bad",
    [
        SPEC_X25519_RECIPIENT[:-1] + "q",  # checksum
        SPEC_X25519_RECIPIENT[:10] + SPEC_X25519_RECIPIENT[10:].upper(),  # mixed case
        "age1" + "q" * 20,  # too short for a key
        SPEC_PQ_IDENTITY,  # an identity is not a recipient
        "age1pq1qqqq",
    ],
)
def test_malformed_recipient_strings_are_refused(bad):
    with pytest.raises(agepq.KeyFormatError):
        agepq.parse_recipient(bad)


def test_identity_of_the_other_type_is_refused_by_the_type():
    with pytest.raises(agepq.KeyFormatError):
        agepq.MlKem768X25519Identity.from_str(SPEC_X25519_IDENTITY)
    with pytest.raises(agepq.KeyFormatError):
        agepq.X25519Identity.from_str(SPEC_PQ_IDENTITY)


# --- round trips ---


@pytest.mark.parametrize("n", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 17])
@pytest.mark.parametrize("kind", ["pq", "classic"])
def test_round_trip_at_chunk_edges(n, kind):
    """Empty, short, exactly one chunk (a full final chunk), and several chunks all come back unchanged."""
    identity = PQ if kind == "pq" else CLASSIC
    data = payload(n)
    blob = seal(data, [identity.to_public()])
    assert open_(blob, [identity]) == data
    # "The final chunk MAY be shorter than 64 KiB but MUST NOT be empty unless the whole payload is empty"
    chunks = max(1, -(-n // CHUNK))
    assert len(blob.split(b"\n---", 1)[1]) == 1 + 43 + 1 + 16 + n + 16 * chunks


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=3 * CHUNK + 5))
def test_round_trip_any_bytes(data):
    assert open_(seal(data, [PQ.to_public()]), [PQ]) == data


def test_one_decrypt_path_opens_both_kinds():
    """The identities [PQ, classic] open a PQ file and a classic file alike."""
    ids = [PQ, CLASSIC]
    assert open_(seal(b"pq", [PQ.to_public()]), ids) == b"pq"
    assert open_(seal(b"classic", [CLASSIC.to_public()]), ids) == b"classic"


def test_several_pq_recipients_each_open():
    blob = seal(b"x", [PQ.to_public(), PQ_OTHER.to_public()])
    assert agepq.stanza_types(blob) == ("mlkem768x25519", "mlkem768x25519")
    assert open_(blob, [PQ_OTHER]) == b"x" and open_(blob, [PQ]) == b"x"


def test_strings_are_accepted_as_keys():
    assert open_(seal(b"s", [str(PQ.to_public())]), [str(PQ)]) == b"s"


def test_mixing_pq_and_classic_recipients_is_refused():
    """age.md: a file SHOULD NOT be encrypted to both the hybrid and a non-quantum-resistant type."""
    with pytest.raises(ValueError):
        seal(b"x", [PQ.to_public(), CLASSIC.to_public()])
    with pytest.raises(ValueError):
        seal(b"x", [])


def test_stanza_types_reads_the_header_only():
    blob = seal(b"x" * 100, [PQ.to_public()])
    header_len = blob.index(b"\n---") + 1 + 4 + 43 + 1
    assert agepq.stanza_types(blob[:header_len]) == ("mlkem768x25519",)
    assert agepq.stanza_types(seal(b"", [CLASSIC.to_public()])) == ("X25519",)
    with pytest.raises(agepq.HeaderError):
        agepq.stanza_types(blob[: header_len - 10])
    with pytest.raises(agepq.HeaderError):
        agepq.stanza_types(b"not age at all\n")


def test_decrypt_io_returns_the_stanza_types():
    assert agepq.decrypt_io(io.BytesIO(seal(b"", [PQ.to_public()])), io.BytesIO(), [PQ]) == ("mlkem768x25519",)


def test_the_kem_runs_once_per_file(monkeypatch):
    """Encapsulation happens once per recipient per file, never per chunk."""
    calls = []
    wrap = agepq.MlKem768X25519Recipient.wrap
    monkeypatch.setattr(agepq.MlKem768X25519Recipient, "wrap", lambda self, k: calls.append(1) or wrap(self, k))
    seal(payload(5 * CHUNK), [PQ.to_public()])
    assert calls == [1]


# --- refusals ---

BLOB = seal(payload(3 * CHUNK - 100), [PQ.to_public()])
HEADER_END = BLOB.index(b"\n---") + 1 + 4 + 43 + 1


def test_wrong_key_is_no_match():
    with pytest.raises(agepq.NoIdentityMatchError):
        open_(BLOB, [PQ_OTHER, CLASSIC])


@pytest.mark.parametrize(
    "cut",
    [
        0,
        10,
        30,
        HEADER_END - 20,
        HEADER_END - 1,
        HEADER_END,
        HEADER_END + 8,
        HEADER_END + 16,
        HEADER_END + 16 + 10,
        HEADER_END + 16 + CHUNK + 16,
        HEADER_END + 16 + CHUNK + 16 + 1,
        len(BLOB) - 1,
    ],
)
def test_truncation_is_refused(cut):
    with pytest.raises(agepq.AgeError):
        open_(BLOB[:cut], [PQ])


@pytest.mark.parametrize("tail", [b"\x00", b"x" * 16, payload(CHUNK + 16)])
def test_trailing_data_is_refused(tail):
    with pytest.raises(agepq.PayloadError):
        open_(BLOB + tail, [PQ])


@pytest.mark.parametrize(
    "pos",
    [
        5,
        30,
        200,
        1000,
        HEADER_END - 30,
        HEADER_END - 3,
        HEADER_END + 3,
        HEADER_END + 16 + 5,
        HEADER_END + 16 + CHUNK + 3,
        len(BLOB) - 1,
    ],
)
def test_a_flipped_bit_anywhere_is_refused(pos):
    bad = bytearray(BLOB)
    bad[pos] ^= 0x01
    with pytest.raises(agepq.AgeError):
        open_(bytes(bad), [PQ])


def test_no_plaintext_of_an_unauthenticated_chunk_is_written():
    """A flipped bit in the second chunk: exactly the first (authenticated) chunk was written, nothing after it."""
    data = payload(3 * CHUNK - 100)
    bad = bytearray(BLOB)
    bad[HEADER_END + 16 + CHUNK + 16 + 7] ^= 0x80
    out = io.BytesIO()
    with pytest.raises(agepq.PayloadError):
        agepq.decrypt_io(io.BytesIO(bytes(bad)), out, [PQ])
    assert out.getvalue() == data[:CHUNK]


def test_a_swapped_chunk_is_refused():
    body = HEADER_END + 16
    c0, c1 = BLOB[body : body + CHUNK + 16], BLOB[body + CHUNK + 16 : body + 2 * (CHUNK + 16)]
    with pytest.raises(agepq.PayloadError):
        open_(BLOB[:body] + c1 + c0 + BLOB[body + 2 * (CHUNK + 16) :], [PQ])


def test_a_header_from_another_file_is_refused():
    other = seal(payload(3 * CHUNK - 100), [PQ.to_public()])
    with pytest.raises(agepq.PayloadError):
        open_(other[:HEADER_END] + BLOB[HEADER_END:], [PQ])


# --- streaming ---


class Source:
    """A reader of ``n`` generated bytes with only ``read``, returning short reads."""

    def __init__(self, n):
        self.left, self.h = n, hashlib.sha256()

    def read(self, size=-1):
        k = min(self.left, 7000 if size < 0 else min(size, 7000))
        self.left -= k
        data = bytes([self.left & 0xFF]) * k
        self.h.update(data)
        return data


class Sink:
    def __init__(self):
        self.h, self.n = hashlib.sha256(), 0

    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        return len(b)


def test_streams_with_bounded_memory_and_short_reads(tmp_path):
    """32 MiB through encrypt and decrypt with read-only, short-reading sources: peak Python memory under 1 MiB."""
    n = 32 << 20
    src = Source(n)
    with open(tmp_path / "f.age", "w+b") as enc:
        tracemalloc.start()
        try:
            agepq.encrypt_io(src, enc, [PQ.to_public()])
            _, enc_peak = tracemalloc.get_traced_memory()
            enc.seek(0)
            tracemalloc.reset_peak()
            sink = Sink()
            agepq.decrypt_io(enc, sink, [PQ])
            _, dec_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert enc_peak < 1 << 20 and dec_peak < 1 << 20
    assert sink.n == n and sink.h.digest() == src.h.digest()


# --- other implementations ---


def test_pyrage_opens_our_classic_output_and_we_open_pyrage_output():
    ident = pyrage.x25519.Identity.generate()
    data = payload(2 * CHUNK + 3)
    ours = seal(data, [str(ident.to_public())])
    assert pyrage.decrypt(ours, [ident]) == data
    theirs = pyrage.encrypt(data, [ident.to_public()])
    assert open_(theirs, [str(ident)]) == data


def test_pyrage_14_has_no_hybrid_identity():
    """Why this module exists: pyrage cannot parse an AGE-SECRET-KEY-PQ-1 identity. If this fails, pyrage learned the
    type: revisit docs/post-quantum.md."""
    with pytest.raises(pyrage.IdentityError):
        pyrage.x25519.Identity.from_str(str(PQ))


def _hpke_key(identity):
    """cryptography's own hybrid key from an age PQ identity: SHAKE256 of the seed, split 64 + 32 (hashlib here)."""
    expanded = hashlib.shake_256(identity._raw).digest(96)
    return hpke.MLKEM768X25519PrivateKey(
        mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64]),
        x25519.X25519PrivateKey.from_private_bytes(expanded[64:]),
    )


SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
INFO = b"age-encryption.org/mlkem768x25519"


def test_our_stanza_opens_with_cryptographys_hpke():
    """Our HPKE SealBase and X-Wing combiner agree with cryptography's own MLKEM768_X25519 HPKE suite."""
    file_key = bytes(range(16))
    stanza = PQ.to_public().wrap(file_key)
    enc = agepq_common._b64decode(stanza.args[0])
    assert SUITE.decrypt(enc + stanza.body, _hpke_key(PQ), info=INFO) == file_key


def test_cryptographys_hpke_opens_with_our_identity():
    file_key = bytes(range(16, 32))
    sealed = SUITE.encrypt(file_key, _hpke_key(PQ).public_key(), info=INFO)
    stanza = agepq.Stanza("mlkem768x25519", (agepq_common._b64encode(sealed[:1120]).decode(),), sealed[1120:])
    assert PQ.unwrap(stanza) == file_key
    assert PQ_OTHER.unwrap(stanza) is None


def test_a_low_order_x25519_recipient_is_refused_when_sealing():
    """A recipient whose X25519 point has low order cannot be sealed to (the shared secret would be all zero)."""
    with pytest.raises(agepq.KeyFormatError):
        seal(b"x", [agepq.X25519Recipient(bytes(32))])
    pq_raw = agepq.parse_recipient(str(PQ.to_public()))._raw
    with pytest.raises(agepq.KeyFormatError):
        seal(b"x", [agepq.MlKem768X25519Recipient(pq_raw[:-32] + bytes(32))])


def test_an_invalid_mlkem_encapsulation_key_is_refused():
    raw = bytearray(agepq.parse_recipient(str(PQ.to_public()))._raw)
    raw[0], raw[1] = 0xFF, raw[1] | 0x0F  # first coefficient 0xFFF, not below q = 3329
    with pytest.raises(agepq.KeyFormatError):
        agepq.MlKem768X25519Recipient(bytes(raw))


SMALL = seal(payload(300), [PQ.to_public()])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_damage_is_an_age_error_never_a_crash(data):
    """Random edits (overwrite, insert, delete, cut) to a PQ file: refused with an AgeError, never another exception,
    and never opened to other plaintext."""
    blob = bytearray(SMALL)
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(blob)))
        op = data.draw(st.sampled_from(["set", "insert", "delete", "cut"]))
        byte = data.draw(st.integers(0, 255))
        if op == "set" and pos < len(blob):
            blob[pos] = byte
        elif op == "insert":
            blob.insert(pos, byte)
        elif op == "delete" and pos < len(blob):
            del blob[pos]
        elif op == "cut":
            del blob[pos:]
    try:
        assert open_(bytes(blob), [PQ]) == payload(300)
    except agepq.AgeError:
        pass
    try:
        agepq.stanza_types(bytes(blob))
    except agepq.AgeError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=80)
    | st.sampled_from([str(PQ), str(CLASSIC), SPEC_X25519_RECIPIENT]).flatmap(
        lambda s: st.tuples(st.integers(0, len(s) - 1), st.characters()).map(lambda t: s[: t[0]] + t[1] + s[t[0] + 1 :])
    )
)
def test_any_key_string_parses_or_is_a_key_format_error(text):
    for parse in (agepq.parse_recipient, agepq.parse_identity):
        try:
            parse(text)
        except agepq.KeyFormatError:
            pass


@pytest.mark.parametrize(
    "size", [0, 1, agepq.CHUNK_BYTES - 1, agepq.CHUNK_BYTES, agepq.CHUNK_BYTES + 1, 2 * agepq.CHUNK_BYTES, 200_003]
)
def test_encryptor_pushed_gives_what_encrypt_io_gives_and_pyrage_opens_it(size):
    """The same chunks as encrypt_io (a full chunk is final only if nothing follows), whatever the pieces written:
    the two ciphertexts have the same length, and each opens to the plaintext with our code and with pyrage."""
    import random

    rng = random.Random(size)
    data = rng.randbytes(size)
    ident = pyrage.x25519.Identity.generate()
    recipient = agepq.parse_recipient(str(ident.to_public()))
    pushed = io.BytesIO()
    encryptor = agepq.Encryptor(pushed, [recipient])
    start = 0
    while start < size:
        step = rng.choice([1, 7, 1000, agepq.CHUNK_BYTES, 3 * agepq.CHUNK_BYTES])
        assert encryptor.write(data[start : start + step]) == len(data[start : start + step])
        start += step
    encryptor.close()
    encryptor.close()  # once only
    with pytest.raises(ValueError, match="closed"):
        encryptor.write(b"x")
    pulled = io.BytesIO()
    agepq.encrypt_io(io.BytesIO(data), pulled, [recipient])
    assert len(pushed.getvalue()) == len(pulled.getvalue())
    assert pyrage.decrypt(pushed.getvalue(), [ident]) == data
    out = io.BytesIO()
    agepq.decrypt_io(io.BytesIO(pushed.getvalue()), out, [agepq.parse_identity(str(ident))])
    assert out.getvalue() == data
