"""Keyed pseudonyms (DESIGN.md section 6; the exact derivation with a test vector is in docs/container.md).

``K = HKDF-SHA256(master_key, salt = none, info = "sendemodul pseudonym v<version> <environment> <register>")``, 32
bytes; ``pseudonym = "v<version>-" + base32(HMAC-SHA256(K, canonical_id))[:26]``. The same person gets the same
pseudonym in every container and kommune of one register and environment; test and production never share one.
Pure: no I/O.
"""

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sendemodul.identity import ClassifiedId, IdClass
from sendemodul.pseudonym_child import (
    ANSWER_CHARS,
    PSEUDONYM_CHARS,
    base32_prefixes,
    encode_layout,
    hmac_base32,
    hmac_states,
)
from sendemodul.pseudonym_pipe import PseudonymChild

__all__ = ["PSEUDONYM_CHARS", "base32_prefixes"]  # re-exported: the tests and older callers find them here

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
        #: The derived key, kept only to hand it to a :class:`~sendemodul.pseudonym_pipe.PseudonymChild` over a pipe.
        self._key = key
        # HMAC as two SHA-256 states after the padded key (RFC 2104), copied per ID: faster than hmac.new per ID.
        self._inner, self._outer = hmac_states(key)
        self._prefix_bytes = self._prefix.encode("ascii")

    def pseudonym(self, canonical_id: str) -> str:
        """The pseudonym of a canonical ID (its digits)."""
        mac = self._hmac.copy()
        mac.update(canonical_id.encode("ascii"))
        # 26 base32 characters carry 130 bits: the first 17 bytes give the same characters as the whole digest.
        return self._prefix + base64.b32encode(mac.digest()[:17])[:PSEUDONYM_CHARS].decode("ascii")

    def pseudonyms(self, canonical_ids: Iterable[bytes]) -> list[bytes]:
        """:meth:`pseudonym` of many canonical IDs (ASCII digits as bytes) at once, as ASCII bytes, in order."""
        return self.from_base32(self.base32(canonical_ids))

    def base32(self, canonical_ids: Iterable[bytes]) -> bytes:
        """:func:`~sendemodul.pseudonym_child.hmac_base32` of canonical IDs: 32 characters each, of which a
        pseudonym (after its ``v<version>-``) takes the first 26."""
        return hmac_base32(self._inner, self._outer, canonical_ids)

    def child(self, tails: tuple[bytes, ...], with_pseudonym: tuple[bool, ...]) -> PseudonymChild:
        """A :class:`~sendemodul.pseudonym_pipe.PseudonymChild` with this domain's key and the layout of
        :func:`~sendemodul.pseudonym_child.join_lines` (a context manager)."""
        return PseudonymChild(self._key, encode_layout(self._prefix_bytes, tails, with_pseudonym))

    def from_base32(self, encoded: bytes) -> list[bytes]:
        """The pseudonyms (ASCII bytes) of :func:`~sendemodul.pseudonym_child.hmac_base32`'s answer ``encoded``."""
        # Each pseudonym a row of an array of fixed-width byte strings: the list of them is one C call, not a slice
        # and a concatenation per ID.
        n = len(encoded) // ANSWER_CHARS
        prefix = self._prefix_bytes
        rows = np.empty((n, len(prefix) + PSEUDONYM_CHARS), np.uint8)
        rows[:, : len(prefix)] = np.frombuffer(prefix, np.uint8)
        rows[:, len(prefix) :] = np.frombuffer(encoded, np.uint8).reshape(n, ANSWER_CHARS)[:, :PSEUDONYM_CHARS]
        return rows.view(f"S{rows.shape[1]}").ravel().tolist()

    def __call__(self, classified: ClassifiedId) -> str:
        """The pseudonym of a :class:`~sendemodul.identity.ClassifiedId`: empty unless it is valid and a person."""
        canonical = classified.canonical  # never None for a valid ID
        if not classified.valid or classified.id_class in _NOT_A_PERSON or canonical is None:
            return ""
        return self.pseudonym(canonical)


def id_kind(id_type: str) -> str:
    """How to classify the IDs of a profile's ID field: ``"duf"`` if its name contains DUF, else ``"fnr"``."""
    return "duf" if "DUF" in id_type.upper() else "fnr"
