"""age files with the hybrid post-quantum ``mlkem768x25519`` recipient type, and classic X25519.

Implements the C2SP age specification (c2sp.org/age, "age-encryption.org/v1"): the "Encrypted file format"
(header, header MAC, STREAM payload) and two "Native recipient types": "The MLKEM768-X25519 (i.e. X-Wing) hybrid
post-quantum recipient type" and "The X25519 recipient type". pyrage 1.4 (rust age 0.12) can neither write nor read
an ``mlkem768x25519`` stanza, hence this module; see docs/post-quantum.md. Built only on ``cryptography``
(ML-KEM-768, X25519, SHA-3, HKDF, HMAC, ChaCha20-Poly1305). No scrypt, plugins or ASCII armor.

API (mirrors pyrage's streaming one): ``encrypt_io(reader, writer, recipients)``,
``decrypt_io(reader, writer, identities)``, ``stanza_types(header_bytes)``, the key classes and ``parse_recipient`` /
``parse_identity``. ``decrypt_io`` writes only chunks whose tag verified, but a later chunk can still fail: keep the
output only once it returns.
"""

from __future__ import annotations

import base64
import hmac
import os
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

__all__ = [
    "AgeError",
    "HeaderError",
    "HeaderMacError",
    "KeyFormatError",
    "MlKem768X25519Identity",
    "MlKem768X25519Recipient",
    "NoIdentityMatchError",
    "PayloadError",
    "Stanza",
    "X25519Identity",
    "X25519Recipient",
    "decrypt_io",
    "encrypt_io",
    "parse_identity",
    "parse_recipient",
    "stanza_types",
]

VERSION_LINE = b"age-encryption.org/v1\n"
CHUNK_BYTES = 64 * 1024  # "Payload": chunks of 64 KiB
TAG_BYTES = 16
ENC_CHUNK_BYTES = CHUNK_BYTES + TAG_BYTES
MAX_HEADER_BYTES = 1 << 20  # our bound; a PQ stanza is about 1.5 KiB
ZERO_NONCE = bytes(12)


class AgeError(Exception):
    """The age file could not be processed."""


class KeyFormatError(AgeError, ValueError):
    """The key is not a valid age recipient or identity string."""


class HeaderError(AgeError):
    """The age header is malformed, or a stanza addressed to our key type is invalid."""


class NoIdentityMatchError(AgeError):
    """No identity given can open any recipient stanza of this age file."""


class HeaderMacError(AgeError):
    """The age header's MAC does not match: the header was altered."""


class PayloadError(AgeError):
    """The age payload is truncated, altered, or followed by trailing data."""


class Stanza(NamedTuple):
    type: str
    args: tuple[str, ...]
    body: bytes


# --- Conventions: unpadded canonical base64, HKDF-SHA-256, Bech32 -----------------------------------------------


def _b64encode(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _b64decode(text: bytes | str, error=HeaderError) -> bytes:
    """ "Decoders MUST reject non-canonical encodings and encodings ending with = padding characters"."""
    if isinstance(text, str):
        text = text.encode("ascii", "replace")
    if b"=" in text or len(text) % 4 == 1:
        raise error("base64 with padding or of impossible length")
    try:
        data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except ValueError:
        raise error("invalid base64") from None
    if _b64encode(data) != text:
        raise error("non-canonical base64")
    return data


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt, info).derive(ikm)


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


_BECH32_INDEX = {c: i for i, c in enumerate(_BECH32)}
_BECH32_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _generators_of(top: int) -> int:
    out = 0
    for i, g in enumerate(_BECH32_GEN):
        out ^= g if (top >> i) & 1 else 0
    return out


# For each value of the 5 bits shifted out, the XOR of the generators those bits select: BIP173's inner loop
# precomputed, so a 1959-character PQ recipient is checked in about 1 ms instead of 9.
_BECH32_TABLE = tuple(_generators_of(top) for top in range(32))


def _bech32_polymod(values) -> int:
    chk, table = 1, _BECH32_TABLE
    for v in values:
        chk = (chk & 0x1FFFFFF) << 5 ^ v ^ table[chk >> 25]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _regroup(values, frm: int, to: int) -> tuple[list[int], int, int]:
    acc, bits, out = 0, 0, []
    for v in values:
        acc, bits = acc << frm | v, bits + frm
        while bits >= to:
            bits -= to
            out.append(acc >> bits & (1 << to) - 1)
    return out, acc, bits


def _bech32_encode(hrp: str, data: bytes) -> str:
    """BIP173 Bech32, "without length limits on the data part"; all lowercase, or uppercase for identities."""
    words, acc, bits = _regroup(data, 8, 5)
    if bits:
        words.append(acc << (5 - bits) & 31)
    low = hrp.lower()
    pm = _bech32_polymod(_hrp_expand(low) + words + [0] * 6) ^ 1
    s = low + "1" + "".join(_BECH32[w] for w in words) + "".join(_BECH32[pm >> 5 * (5 - i) & 31] for i in range(6))
    return s.upper() if hrp.isupper() else s


def _bech32_decode(s: str) -> tuple[str, bytes]:
    if s.lower() != s and s.upper() != s:
        raise KeyFormatError("mixed-case Bech32")
    s = s.lower()
    pos = s.rfind("1")
    if (
        pos < 1
        or len(s) - pos < 7
        or any(c not in _BECH32 for c in s[pos + 1 :])
        or any(not 33 <= ord(c) <= 126 for c in s[:pos])
    ):
        raise KeyFormatError("not Bech32")
    hrp, words = s[:pos], [_BECH32_INDEX[c] for c in s[pos + 1 :]]
    if _bech32_polymod(_hrp_expand(hrp) + words) != 1:
        raise KeyFormatError("bad Bech32 checksum")
    out, acc, bits = _regroup(words[:-6], 5, 8)
    if bits >= 5 or acc & ((1 << bits) - 1):
        raise KeyFormatError("bad Bech32 padding")
    return hrp, bytes(out)


def _decode_key(s: str, hrp: str, size: int) -> bytes:
    got_hrp, data = _bech32_decode(s.strip())
    if got_hrp != hrp.lower() or len(data) != size:
        raise KeyFormatError(f"not a {hrp}1... key")
    return data


# --- "The X25519 recipient type" ----------------------------------------------------------------------------------

_X25519_INFO = b"age-encryption.org/v1/X25519"


def _x25519(private: x25519.X25519PrivateKey, public: bytes, error=HeaderError) -> bytes:
    """X25519; "If the shared secret is all 0x00 bytes, the identity implementation MUST abort"."""
    try:
        return private.exchange(x25519.X25519PublicKey.from_public_bytes(public))
    except ValueError:  # cryptography refuses the all-zero output of a low-order point
        raise error("X25519 point of low order") from None


def _check_stanza(stanza: Stanza, arg_bytes: int) -> bytes:
    """Shared rule of both types: exactly two arguments, the second canonical base64 of ``arg_bytes`` bytes, and the
    body "exactly 32 bytes before attempting to decrypt it, to mitigate partitioning oracle attacks"."""
    if len(stanza.args) != 1:
        raise HeaderError(f"{stanza.type} stanza needs exactly two arguments")
    arg = _b64decode(stanza.args[0])
    if len(arg) != arg_bytes or len(stanza.body) != 32:
        raise HeaderError(f"{stanza.type} stanza of wrong size")
    return arg


class _Key:
    """A key as age writes it: Bech32 with human-readable part ``HRP`` over ``SIZE`` raw bytes."""

    HRP, SIZE = "", 32

    def __init__(self, raw: bytes):
        if len(raw) != self.SIZE:
            raise KeyFormatError(f"a {self.HRP}1... key holds {self.SIZE} bytes")
        self._raw = bytes(raw)
        self._load()

    def _load(self):
        pass

    @classmethod
    def from_str(cls, s: str):
        return cls(_decode_key(s, cls.HRP, cls.SIZE))

    def __str__(self) -> str:
        return _bech32_encode(self.HRP, self._raw)


class _Identity(_Key):
    @classmethod
    def generate(cls):
        return cls(os.urandom(32))  # "identity = read(CSPRNG, 32)"


class X25519Recipient(_Key):
    """``age1...``: the X25519 public key."""

    HRP = "age"

    def wrap(self, file_key: bytes) -> Stanza:
        """ "X25519 recipient stanza"."""
        ephemeral = x25519.X25519PrivateKey.generate()
        share = ephemeral.public_key().public_bytes_raw()
        wrap_key = _hkdf(_x25519(ephemeral, self._raw, KeyFormatError), share + self._raw, _X25519_INFO)
        body = ChaCha20Poly1305(wrap_key).encrypt(ZERO_NONCE, file_key, None)
        return Stanza("X25519", (_b64encode(share).decode(),), body)


class X25519Identity(_Identity):
    """``AGE-SECRET-KEY-1...``: the X25519 private key."""

    HRP = "AGE-SECRET-KEY-"

    def _load(self):
        self._key = x25519.X25519PrivateKey.from_private_bytes(self._raw)

    def to_public(self) -> X25519Recipient:
        return X25519Recipient(self._key.public_key().public_bytes_raw())

    def unwrap(self, stanza: Stanza) -> bytes | None:
        """The file key; None if the stanza is not ours or does not open; HeaderError if ours and malformed."""
        if stanza.type != "X25519":
            return None
        share = _check_stanza(stanza, 32)
        recipient = self.to_public()._raw
        wrap_key = _hkdf(_x25519(self._key, share), share + recipient, _X25519_INFO)
        return _open_file_key(wrap_key, ZERO_NONCE, stanza.body)


def _open_file_key(key: bytes, nonce: bytes, body: bytes) -> bytes | None:
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, body, None)
    except InvalidTag:
        return None


# --- "The MLKEM768-X25519 (i.e. X-Wing) hybrid post-quantum recipient type" ---------------------------------------
# KEM MLKEM768-X25519 of draft-ietf-hpke-pq / filippo.io/hpke-pq (the X-Wing construction), used through HPKE
# SealBase/OpenBase (RFC 9180, sections 5.1 and 6.1) with HKDF-SHA256 and ChaCha20Poly1305.

_PQ_INFO = b"age-encryption.org/mlkem768x25519"
_XWING_LABEL = b"\\./" + b"/^\\"  # the X-Wing combiner's 6-byte label
_SUITE_ID = b"HPKE" + bytes.fromhex("647a00010003")  # KEM 0x647a, HKDF-SHA256, ChaCha20Poly1305
_MLKEM_PK, _MLKEM_CT = 1184, 1088
_PQ_ENC_BYTES = _MLKEM_CT + 32


def _labeled_extract(salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hmac.digest(salt, b"HPKE-v1" + _SUITE_ID + label + ikm, "sha256")  # HKDF-Extract = HMAC(salt, ikm)


def _labeled_expand(prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    labeled_info = length.to_bytes(2, "big") + b"HPKE-v1" + _SUITE_ID + label + info
    return HKDFExpand(hashes.SHA256(), length, labeled_info).derive(prk)


# RFC 9180 5.1 KeySchedule, mode_base (0x00), empty psk and psk_id: the context is fixed by the info string.
_KS_CONTEXT = b"\x00" + _labeled_extract(b"", b"psk_id_hash", b"") + _labeled_extract(b"", b"info_hash", _PQ_INFO)


def _hpke_key_nonce(shared_secret: bytes) -> tuple[bytes, bytes]:
    secret = _labeled_extract(shared_secret, b"secret", b"")
    return (
        _labeled_expand(secret, b"key", _KS_CONTEXT, 32),
        _labeled_expand(secret, b"base_nonce", _KS_CONTEXT, 12),
    )  # sequence number 0: nonce = base_nonce


def _xwing_combine(ss_mlkem: bytes, ss_x25519: bytes, ct_x25519: bytes, pk_x25519: bytes) -> bytes:
    h = hashes.Hash(hashes.SHA3_256())
    for part in (ss_mlkem, ss_x25519, ct_x25519, pk_x25519, _XWING_LABEL):
        h.update(part)
    return h.finalize()


class MlKem768X25519Recipient(_Key):
    """``age1pq1...``: the ML-KEM-768 encapsulation key (1184 bytes) followed by the X25519 public key (32)."""

    HRP, SIZE = "age1pq", _MLKEM_PK + 32

    def _load(self):
        try:
            self._mlkem = mlkem.MLKEM768PublicKey.from_public_bytes(self._raw[:_MLKEM_PK])
        except ValueError:
            raise KeyFormatError("invalid ML-KEM-768 encapsulation key") from None
        self._pk_x25519 = self._raw[_MLKEM_PK:]

    def wrap(self, file_key: bytes) -> Stanza:
        """ "mlkem768x25519 recipient stanza": HPKE SealBase of the file key; enc is the argument, the body the
        ciphertext. Encap: ML-KEM-768 encapsulation plus an ephemeral X25519 share, combined as X-Wing does."""
        ss_mlkem, ct_mlkem = self._mlkem.encapsulate()
        ephemeral = x25519.X25519PrivateKey.generate()
        ct_x25519 = ephemeral.public_key().public_bytes_raw()
        ss = _xwing_combine(ss_mlkem, _x25519(ephemeral, self._pk_x25519, KeyFormatError), ct_x25519, self._pk_x25519)
        key, nonce = _hpke_key_nonce(ss)
        body = ChaCha20Poly1305(key).encrypt(nonce, file_key, b"")
        return Stanza("mlkem768x25519", (_b64encode(ct_mlkem + ct_x25519).decode(),), body)


class MlKem768X25519Identity(_Identity):
    """``AGE-SECRET-KEY-PQ-1...``: a 32-byte seed, expanded with SHAKE256 to the ML-KEM-768 seed (64 bytes) and the
    X25519 private key (32), as PrivateKeyToPublicKey of filippo.io/hpke-pq does."""

    HRP = "AGE-SECRET-KEY-PQ-"

    def _load(self):
        h = hashes.Hash(hashes.SHAKE256(96))
        h.update(self._raw)
        expanded = h.finalize()
        self._mlkem = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
        self._x25519 = x25519.X25519PrivateKey.from_private_bytes(expanded[64:])
        self._pk_x25519 = self._x25519.public_key().public_bytes_raw()

    def to_public(self) -> MlKem768X25519Recipient:
        return MlKem768X25519Recipient(self._mlkem.public_key().public_bytes_raw() + self._pk_x25519)

    def unwrap(self, stanza: Stanza) -> bytes | None:
        """HPKE OpenBase. The file key; None if the stanza is not ours or does not open; HeaderError if ours and
        malformed (including an X25519 share of low order)."""
        if stanza.type != "mlkem768x25519":
            return None
        enc = _check_stanza(stanza, _PQ_ENC_BYTES)
        ct_mlkem, ct_x25519 = enc[:_MLKEM_CT], enc[_MLKEM_CT:]
        ss = _xwing_combine(
            self._mlkem.decapsulate(ct_mlkem), _x25519(self._x25519, ct_x25519), ct_x25519, self._pk_x25519
        )
        key, nonce = _hpke_key_nonce(ss)
        return _open_file_key(key, nonce, stanza.body)


def parse_recipient(s: str) -> X25519Recipient | MlKem768X25519Recipient:
    """``age1pq1...`` or ``age1...``."""
    s = s.strip()
    return (MlKem768X25519Recipient if s.lower().startswith("age1pq1") else X25519Recipient).from_str(s)


def parse_identity(s: str) -> X25519Identity | MlKem768X25519Identity:
    """``AGE-SECRET-KEY-PQ-1...`` or ``AGE-SECRET-KEY-1...``."""
    s = s.strip()
    return (MlKem768X25519Identity if s.upper().startswith("AGE-SECRET-KEY-PQ-1") else X25519Identity).from_str(s)


def _as_key(k, parse):
    return parse(k) if isinstance(k, str) else k


# --- "Header" ---------------------------------------------------------------------------------------------------


def _parse_header(data: bytes) -> tuple[list[Stanza], bytes, bytes, int] | None:
    """Parse "ABNF definition of file header" from the start of ``data``.

    Returns (stanzas, bytes covered by the MAC, MAC, header length), or None if ``data`` ends before the header does.
    """
    if not data.startswith(VERSION_LINE):
        if len(data) < len(VERSION_LINE) and VERSION_LINE.startswith(data):
            return None
        raise HeaderError("not an age v1 file")
    pos = len(VERSION_LINE)
    stanzas: list[Stanza] = []
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            return None
        line = data[pos:end]
        if line.startswith(b"---"):
            if not stanzas:
                raise HeaderError("header without recipient stanzas")
            if line[3:4] != b" " or len(line) != 4 + 43:
                raise HeaderError("malformed header MAC line")
            mac = _b64decode(line[4:])
            return stanzas, data[: pos + 3], mac, end + 1
        if not line.startswith(b"-> "):
            raise HeaderError("malformed stanza")
        args = line[3:].split(b" ")
        if not all(a and all(0x21 <= c <= 0x7E for c in a) for a in args):  # argument = 1*VCHAR
            raise HeaderError("malformed stanza arguments")
        body, pos = bytearray(), end + 1
        while True:  # "a base64-encoded body wrapped at 64 columns", ending with a line shorter than 64
            end = data.find(b"\n", pos)
            if end < 0:
                if len(data) - pos > 64:
                    raise HeaderError("stanza body line too long")
                return None
            line = data[pos:end]
            if len(line) > 64:
                raise HeaderError("stanza body line too long")
            body += _b64decode(line) if line else b""
            pos = end + 1
            if len(line) < 64:
                break
        stanzas.append(Stanza(args[0].decode(), tuple(a.decode() for a in args[1:]), bytes(body)))


def stanza_types(header_bytes: bytes) -> tuple[str, ...]:
    """The recipient stanza types a file carries, in header order, from bytes that begin with its whole header."""
    parsed = _parse_header(bytes(header_bytes[:MAX_HEADER_BYTES]))
    if parsed is None:
        raise HeaderError("incomplete header")
    return tuple(s.type for s in parsed[0])


def _header_mac(file_key: bytes, covered: bytes) -> bytes:
    """ "Header MAC": HMAC-SHA-256 keyed with HKDF(ikm = file key, salt = empty, info = "header")."""
    return hmac.digest(_hkdf(file_key, b"", b"header"), covered, "sha256")


def _encode_stanza(s: Stanza) -> bytes:
    body = _b64encode(s.body)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    if not lines or len(lines[-1]) == 64:
        lines.append(b"")  # "The body MUST end with a line shorter than 64 characters, which MAY be empty."
    return b"-> " + " ".join((s.type, *s.args)).encode() + b"\n" + b"\n".join(lines) + b"\n"


# --- Streaming I/O ----------------------------------------------------------------------------------------------


def _fill(reader, buf: memoryview) -> int:
    """Fill ``buf`` from ``reader`` (short reads allowed) until full or EOF; returns the byte count."""
    n, readinto = 0, getattr(reader, "readinto", None)
    while n < len(buf):
        if readinto is not None:
            got = readinto(buf[n:])
        else:
            chunk = reader.read(len(buf) - n)
            got = len(chunk) if chunk else 0
            buf[n : n + got] = chunk or b""
        if not got:
            break
        n += got
    return n


def _chunk_nonce(nonce: bytearray, counter: int, final: bool) -> bytearray:
    """ "the first 11 bytes are a big endian chunk counter ...; the last byte is 0x01 for the final chunk"."""
    nonce[:11] = counter.to_bytes(11, "big")
    nonce[11] = 1 if final else 0
    return nonce


def _payload_aead(file_key: bytes, payload_nonce: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(_hkdf(file_key, payload_nonce, b"payload"))


def encrypt_io(reader, writer, recipients) -> None:
    """Encrypt all of ``reader`` to ``writer`` for ``recipients`` (key objects or ``age1...`` strings).

    ``reader`` needs ``readinto`` or ``read``; ``writer.write`` must take all it is given (buffered files, BytesIO).

    Post-quantum and classic recipients are not mixed in one file (the spec's SHOULD NOT): that raises ValueError.
    """
    recipients = [_as_key(r, parse_recipient) for r in recipients]
    if not recipients:
        raise ValueError("no recipients")
    if len({isinstance(r, MlKem768X25519Recipient) for r in recipients}) > 1:
        raise ValueError("refusing to mix post-quantum and classic recipients in one file")
    file_key = os.urandom(16)  # "File key": 16 bytes of CSPRNG output, never reused
    covered = VERSION_LINE + b"".join(_encode_stanza(r.wrap(file_key)) for r in recipients) + b"---"
    payload_nonce = os.urandom(16)
    writer.write(covered + b" " + _b64encode(_header_mac(file_key, covered)) + b"\n" + payload_nonce)

    aead, nonce = _payload_aead(file_key, payload_nonce), bytearray(12)
    bufs = [bytearray(CHUNK_BYTES), bytearray(CHUNK_BYTES)]
    n = _fill(reader, memoryview(bufs[0]))
    counter = 0
    while True:
        # A full chunk is final only if nothing follows; look one chunk ahead to know.
        nxt = _fill(reader, memoryview(bufs[1])) if n == CHUNK_BYTES else 0
        final = nxt == 0
        writer.write(aead.encrypt(_chunk_nonce(nonce, counter, final), memoryview(bufs[0])[:n], None))
        if final:
            return
        bufs.reverse()
        n, counter = nxt, counter + 1


def decrypt_io(reader, writer, identities) -> tuple[str, ...]:
    """Decrypt ``reader`` to ``writer`` with ``identities`` (key objects or ``AGE-SECRET-KEY-...`` strings).

    Returns the stanza types of the header. Raises HeaderError, NoIdentityMatchError, HeaderMacError or PayloadError.
    Every chunk is authenticated before it is written; output written before an error must be discarded.
    """
    identities = [_as_key(i, parse_identity) for i in identities]
    head, parsed = bytearray(), None
    while parsed is None:
        block = bytearray(4096)
        got = _fill(reader, memoryview(block))
        head += block[:got]
        parsed = _parse_header(bytes(head))
        if parsed is None and (got == 0 or len(head) > MAX_HEADER_BYTES):
            raise HeaderError("truncated or oversized header")
    stanzas, covered, mac, header_len = parsed
    if any(s.type == "scrypt" for s in stanzas) and len(stanzas) != 1:
        raise HeaderError("an scrypt stanza must be alone in the header")
    file_key = next((k for i in identities for s in stanzas if (k := i.unwrap(s)) is not None), None)
    if file_key is None:
        raise NoIdentityMatchError("no identity matched any recipient stanza")
    if len(file_key) != 16:
        raise HeaderError("wrapped file key is not 16 bytes")
    if not hmac.compare_digest(_header_mac(file_key, covered), mac):
        raise HeaderMacError("header MAC mismatch")

    # buf holds the payload nonce or a chunk, plus one look-ahead byte; what the header read took too goes first.
    buf = bytearray(ENC_CHUNK_BYTES + 1)
    view, carry = memoryview(buf), len(head) - header_len
    buf[:carry] = head[header_len:]
    if carry < 16 and carry + _fill(reader, view[carry:16]) < 16:
        raise HeaderError("payload nonce missing")
    aead, nonce = _payload_aead(file_key, bytes(buf[:16])), bytearray(12)
    carry = max(carry - 16, 0)
    buf[:carry] = buf[16 : 16 + carry]
    counter = 0
    while True:
        n = carry + _fill(reader, view[carry:])
        more = n == ENC_CHUNK_BYTES + 1
        size = ENC_CHUNK_BYTES if more else n
        if size < TAG_BYTES:
            raise PayloadError("truncated payload")
        chunk = view[:size]
        # A chunk followed by data must be non-final; a full chunk at EOF may be either (the non-final case is an
        # authentic chunk of a truncated file); a short chunk at EOF must be final.
        tries = (False, True) if size == ENC_CHUNK_BYTES else (True,)
        for final in tries:
            try:
                plain = aead.decrypt(_chunk_nonce(nonce, counter, final), chunk, None)
                break
            except InvalidTag:
                continue
        else:
            raise PayloadError("payload chunk failed authentication")
        if final and size == TAG_BYTES and counter > 0:
            raise PayloadError("empty final chunk")
        writer.write(plain)
        if final and more:
            raise PayloadError("trailing data after the final chunk")
        if final:
            return tuple(s.type for s in stanzas)
        if not more:
            raise PayloadError("payload truncated: no final chunk")
        buf[0] = buf[ENC_CHUNK_BYTES]
        carry, counter = 1, counter + 1
