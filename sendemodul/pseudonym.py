"""Keyed pseudonyms (DESIGN.md section 6; the exact derivation with a test vector is in docs/container.md).

``K = HKDF-SHA256(master_key, salt = none, info = "sendemodul pseudonym v<version> <environment> <register>")``, 32
bytes; ``pseudonym = "v<version>-" + base32(HMAC-SHA256(K, canonical_id))[:26]``. The same person gets the same
pseudonym in every container and kommune of one register and environment; test and production never share one.
Pure: no I/O.
"""

import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sendemodul.identity import ClassifiedId, IdClass

if TYPE_CHECKING:  # the private modules below have no stubs; they make objects with hashlib's interface
    _sha256 = hashlib.sha256
else:
    try:  # CPython's own SHA-256: its copy() is about twice as fast as OpenSSL's, which counts once per ID
        from _sha256 import sha256 as _sha256
    except ImportError:  # pragma: no cover - Python 3.12+ names it _sha2
        try:
            from _sha2 import sha256 as _sha256
        except ImportError:
            _sha256 = hashlib.sha256

PSEUDONYM_CHARS = 26
MIN_MASTER_KEY_BYTES = 32
ENVIRONMENT_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,31}")
PSEUDONYM_PATTERN = re.compile(r"v[1-9][0-9]*-[A-Z2-7]{26}")

#: Valid IDs that identify nobody in particular get no pseudonym (a placeholder is a birth date and a fixed suffix).
_NOT_A_PERSON = frozenset({IdClass.PLACEHOLDER})


def derive_key(master_key: bytes, *, environment: str, register: str, version: int) -> bytes:
    """The HMAC key of one pseudonym domain (environment + register) and key version."""
    if len(master_key) < MIN_MASTER_KEY_BYTES:
        raise ValueError(f"the pseudonym master key must have at least {MIN_MASTER_KEY_BYTES} bytes")
    if not ENVIRONMENT_PATTERN.fullmatch(environment):
        raise ValueError(f"environment must be a lowercase word, not {environment!r}")
    if type(version) is not int or version < 1:
        raise ValueError(f"the key version must be a positive integer, not {version!r}")
    info = f"sendemodul pseudonym v{version} {environment} {register}".encode("ascii")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master_key)


class Pseudonymizer:
    """Turns classified IDs of one domain into pseudonyms: ``pseudonymizer(classified) -> str`` ("" if none)."""

    def __init__(self, master_key: bytes, *, environment: str, register: str, version: int) -> None:
        self.environment = environment
        self.register = register
        self.version = version
        self._prefix = f"v{version}-"
        key = derive_key(master_key, environment=environment, register=register, version=version)
        self._hmac = hmac.new(key, digestmod=hashlib.sha256)
        # HMAC as two SHA-256 states after the padded key (RFC 2104), copied per ID: faster than hmac.new per ID.
        self._inner = _sha256(key.ljust(64, b"\0").translate(_IPAD))
        self._outer = _sha256(key.ljust(64, b"\0").translate(_OPAD))
        self._prefix_bytes = self._prefix.encode("ascii")

    def pseudonym(self, canonical_id: str) -> str:
        """The pseudonym of a canonical ID (its digits)."""
        mac = self._hmac.copy()
        mac.update(canonical_id.encode("ascii"))
        # 26 base32 characters carry 130 bits: the first 17 bytes give the same characters as the whole digest.
        return self._prefix + base64.b32encode(mac.digest()[:17])[:PSEUDONYM_CHARS].decode("ascii")

    def pseudonyms(self, canonical_ids: Iterable[bytes]) -> list[bytes]:
        """:meth:`pseudonym` of many canonical IDs (ASCII digits as bytes) at once, as ASCII bytes, in order."""
        inner, outer = self._inner, self._outer
        macs: list[bytes] = []
        append = macs.append
        for canonical in canonical_ids:
            mac = inner.copy()
            mac.update(canonical)
            out = outer.copy()
            out.update(mac.digest())
            append(out.digest())
        encoded = np.frombuffer(base32_prefixes(b"".join(macs)), np.uint8).reshape(len(macs), 32)
        # Each pseudonym a row of an array of fixed-width byte strings: the list of them is one C call, not a slice
        # and a concatenation per ID.
        prefix = self._prefix_bytes
        rows = np.empty((len(macs), len(prefix) + PSEUDONYM_CHARS), np.uint8)
        rows[:, : len(prefix)] = np.frombuffer(prefix, np.uint8)
        rows[:, len(prefix) :] = encoded[:, :PSEUDONYM_CHARS]
        return rows.view(f"S{rows.shape[1]}").ravel().tolist()

    def __call__(self, classified: ClassifiedId) -> str:
        """The pseudonym of a :class:`~sendemodul.identity.ClassifiedId`: empty unless it is valid and a person."""
        canonical = classified.canonical  # never None for a valid ID
        if not classified.valid or classified.id_class in _NOT_A_PERSON or canonical is None:
            return ""
        return self.pseudonym(canonical)


_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))
_B32_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
#: Byte values 0-31 to the base32 alphabet (the rest never occur).
_B32_TABLE = _B32_ALPHABET + bytes(256 - 32)


@functools.lru_cache(maxsize=8)
def _spread_masks(units: int) -> tuple[int, ...]:
    """The masks of :func:`base32_prefixes` for ``units`` 64-bit units (a power of two: masks for more units than a
    number has work as well, since the bits shifted past its top unit meet zeros): a pattern repeated per unit."""
    return tuple(
        int.from_bytes(bytes.fromhex(pattern) * units, "big")
        for pattern in (
            "000fffff00000000",
            "00000000000fffff",
            "03ff000003ff0000",
            "000003ff000003ff",
            "1f001f001f001f00",
            "001f001f001f001f",
        )
    )


def base32_prefixes(digests: bytes) -> bytes:
    """Base32 of the first 20 bytes of each 32-byte digest in ``digests`` (their concatenation): 32 characters each.

    The same characters as ``base64.b32encode(digest[:20])``, for thousands of digests in a few big-integer steps
    instead of a Python loop per 5 bytes: each 5-byte group is copied into the low 40 bits of a 64-bit unit (strided
    slices), then the units' 5-bit groups are spread into bytes by three shift-and-mask steps over one big integer
    (20 -> 2 x 32 bits, 10 -> 2 x 16, 5 -> 2 x 8), and the bytes 0-31 become letters by ``translate``.
    """
    n = len(digests) // 32
    if not n:
        return b""
    units = bytearray(32 * n)
    for group in range(4):
        for k in range(5):
            units[group * 8 + 3 + k :: 32] = digests[group * 5 + k :: 32]
    hi20, lo20, hi10, lo10, hi5, lo5 = _spread_masks(1 << (4 * n - 1).bit_length())
    x = int.from_bytes(units, "big")
    x = ((x << 12) & hi20) | (x & lo20)
    x = ((x << 6) & hi10) | (x & lo10)
    x = ((x << 3) & hi5) | (x & lo5)
    return x.to_bytes(32 * n, "big").translate(_B32_TABLE)


def id_kind(id_type: str) -> str:
    """How to classify the IDs of a profile's ID field: ``"duf"`` if its name contains DUF, else ``"fnr"``."""
    return "duf" if "DUF" in id_type.upper() else "fnr"
