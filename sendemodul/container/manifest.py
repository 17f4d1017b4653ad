"""``manifest.json`` and its signature: the schema, the parsed :class:`Manifest`, and the Ed25519 check."""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sendemodul.container.canonical_json import (
    FieldCheck,
    check_fields,
    is_int,
    is_text,
    is_timestamp,
    parse_canonical_json,
)
from sendemodul.container.tar import MAX_MEMBER_BYTES
from sendemodul.errors import (
    ContainerError,
    FormatUnsupported,
    ManifestInvalid,
    ManifestNotCanonical,
    ManifestUnsigned,
    NoSigningKey,
    SignatureInvalid,
)
from sendemodul.identity import Unit
from sendemodul.keydir import KEY_ID_PATTERN
from sendemodul.registers import REGISTERS

FORMAT = "sendemodul-container/1"
MEMBERS = ("manifest.json", "manifest.sig", "identities.age", "data.age")
#: Each part and the role of the keys it is encrypted to.
PART_ROLES = {"identities.age": "tpf", "data.age": "ssb"}
MAX_JSON_BYTES = 64 * 1024
SIGNATURE_BYTES = 64

UUID4_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_KOMMUNENR, _BYDEL, _ORGNR = re.compile(r"\d{4}"), re.compile(r"\d{2}"), re.compile(r"\d{9}")
_PRODUCER = re.compile(r"[\x21-\x7e]{1,100}")


@dataclass(frozen=True)
class PartInfo:
    """What a manifest (or seal) says about one encrypted part."""

    recipients: tuple[str, ...]
    size: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"recipients": list(self.recipients), "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_json(cls, obj: object, *, name: str, error: type[ContainerError]) -> Self:
        if not isinstance(obj, dict):
            raise error.detail(f"{name} must be an object")
        check_fields(
            obj,
            {
                "recipients": (
                    lambda v: (
                        isinstance(v, list)
                        and 0 < len(v) == len(set(v)) <= 16
                        and all(is_text(k, KEY_ID_PATTERN) for k in v)
                    ),
                    "a list of distinct key ids",
                ),
                "size": (lambda v: is_int(v, 0, MAX_MEMBER_BYTES), "a size in bytes"),
                "sha256": (lambda v: is_text(v, SHA256_PATTERN), "64 lowercase hex digits"),
            },
            name=name,
            error=error,
        )
        return cls(tuple(obj["recipients"]), obj["size"], obj["sha256"])


_MANIFEST_CHECKS: dict[str, FieldCheck] = {
    "format": (lambda v: v == FORMAT, FORMAT),
    "container_id": (lambda v: is_text(v, UUID4_PATTERN), "a lowercase UUID version 4"),
    "register": (lambda v: v in REGISTERS, "one of " + ", ".join(REGISTERS)),
    "periode": (lambda v: is_int(v, 2000, 2099), "a year (2000-2099)"),
    "kommunenr": (lambda v: is_text(v, _KOMMUNENR), "4 digits"),
    "bydel": (lambda v: is_text(v, _BYDEL), "2 digits"),
    "orgnr": (lambda v: is_text(v, _ORGNR), "9 digits"),
    "created": (is_timestamp, "a UTC time like 2026-01-05T09:30:00Z"),
    "producer": (lambda v: is_text(v, _PRODUCER), "1-100 printable ASCII characters without spaces"),
    "records": (lambda v: is_int(v, 0, 10**12 - 1), "a count (0 or more)"),
    "no_participants": (lambda v: isinstance(v, bool), "true or false"),
    "parts": (
        lambda v: isinstance(v, dict) and v.keys() == PART_ROLES.keys(),
        "an object with exactly " + " and ".join(PART_ROLES),
    ),
}


@dataclass(frozen=True)
class Manifest:
    """A parsed, checked ``manifest.json``; ``raw`` is its exact bytes (what the signature covers)."""

    container_id: str
    register: str
    periode: int
    kommunenr: str
    bydel: str
    orgnr: str
    created: str
    producer: str
    records: int
    no_participants: bool
    parts: dict[str, PartInfo]
    raw: bytes

    @property
    def unit(self) -> Unit:
        return Unit(self.kommunenr, self.bydel, self.orgnr)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Check ``data`` (canonical JSON, format, schema) and return the manifest it holds."""
        obj = parse_canonical_json(
            data,
            name="manifest.json",
            expected_format=FORMAT,
            not_canonical=ManifestNotCanonical,
            unsupported=FormatUnsupported,
            invalid=ManifestInvalid,
        )
        check_fields(obj, _MANIFEST_CHECKS, name="manifest.json", error=ManifestInvalid)
        if obj["no_participants"] and obj["records"]:
            raise ManifestInvalid.detail("manifest.json: no_participants is true but records is not 0")
        parts = {
            name: PartInfo.from_json(obj["parts"][name], name=f"manifest.json {name}", error=ManifestInvalid)
            for name in PART_ROLES
        }
        return cls(
            **{key: obj[key] for key in _MANIFEST_CHECKS if key not in ("format", "parts")}, parts=parts, raw=data
        )


def check_signature(
    data: bytes, signature: bytes, public_keys: Sequence[Ed25519PublicKey], *, name: str = "manifest.json"
) -> Ed25519PublicKey:
    """Require ``signature`` (the bytes of a .sig member) to be a valid Ed25519 signature of ``data`` by one key."""
    if not public_keys:
        raise NoSigningKey()
    if len(signature) != SIGNATURE_BYTES:
        raise ManifestUnsigned.detail(f"{name}'s signature has {len(signature)} bytes")
    for key in public_keys:
        try:
            key.verify(signature, data)
            return key
        except InvalidSignature:
            continue
    raise SignatureInvalid.detail(f"tried {len(public_keys)} key(s)")
