"""The two native recipient types (C2SP age, "The X25519 recipient type" and "The MLKEM768-X25519 (i.e. X-Wing)
hybrid post-quantum recipient type"): key generation, encoding, wrapping and unwrapping the file key."""

from __future__ import annotations

import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from sendemodul.agepq.common import (
    ZERO_NONCE,
    HeaderError,
    KeyFormatError,
    Stanza,
    _b64decode,
    _b64encode,
    _bech32_encode,
    _decode_key,
    _hkdf,
)

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
