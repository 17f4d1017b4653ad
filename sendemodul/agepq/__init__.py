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

from sendemodul.agepq.common import (
    CHUNK_BYTES,
    AgeError,
    HeaderError,
    HeaderMacError,
    KeyFormatError,
    NoIdentityMatchError,
    PayloadError,
    Stanza,
)
from sendemodul.agepq.recipients import (
    MlKem768X25519Identity,
    MlKem768X25519Recipient,
    X25519Identity,
    X25519Recipient,
    parse_identity,
    parse_recipient,
)
from sendemodul.agepq.stream import Encryptor, decrypt_io, encrypt_io, stanza_types

__all__ = [
    "CHUNK_BYTES",
    "AgeError",
    "Encryptor",
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
