"""SSB's answer to a delivered package (``sendemodul-answer/1``): made and signed at SSB (``sendemodul ssb answer``),
checked at the TPF before anything is recorded (docs/way-back.md).

One canonical JSON object (UTF-8, sorted keys, no insignificant spaces) whose ``signature`` is SSB's Ed25519
signature, in base64, over the canonical JSON of the same object without ``signature``. It names the package three
ways, each of which the TPF checks against what it delivered: the ``reference`` (the package's name), the
``package_sha256`` (the digest of the bytes SSB received) and the ``container_id`` with the ``manifest_sha256``. The
``answer_id`` (a random UUID) makes a replayed answer recognisable. The error list names rows by row id and
journalnummer; it never holds an ID number (SSB has none), and the TPF still blanks anything that looks like one
(:func:`redact_ids`) before a unit sees it. Pure: no I/O but what the caller hands in.
"""

import base64
import binascii
import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import date

from cryptography.exceptions import InvalidSignature

from sendemodul import identity
from sendemodul.container import (
    SHA256_PATTERN,
    UUID4_PATTERN,
    canonical_json,
    check_fields,
    is_int,
    is_text,
    is_timestamp,
    parse_canonical_json,
    utc_timestamp,
)
from sendemodul.errors import AnswerInvalid, AnswerSignatureInvalid
from sendemodul.registers import REGISTERS

ANSWER_FORMAT = "sendemodul-answer/1"
DECISIONS = ("accepted", "returned")
#: The longest message SSB may write (as the county governor's in Bufdir's portal).
MAX_MESSAGE_CHARS = 4000
#: The most rows an answer lists; the rest are counted in ``errors_omitted``.
MAX_ERRORS = 1000
#: The largest answer file the TPF reads.
MAX_ANSWER_BYTES = 2 * 1024 * 1024
REFERENCE_PATTERN = re.compile(r"SM-\d{8}-[2-9A-HJ-NP-Z]{8}")
ROW_ID_PATTERN = re.compile(r"[0-9a-f]{24}")
_SEVERITIES = ("FATAL", "ERROR", "WARNING", "INFO")
_UNIT = re.compile(r"\d{4}-\d{2}-\d{9}")
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9]{11,12}(?![0-9])")
REDACTED = "[ID fjernet]"


def package_digest(path):
    """The SHA-256 of a package file, in hex: what the worker records and the answer repeats."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def redact_ids(text):
    """``text`` with every 11- or 12-digit run that is a valid person ID (fødselsnummer-like or DUF) replaced by
    :data:`REDACTED`: the TPF's last guard that no ID number reaches a page or an e-mail."""
    if text is None:
        return None

    def replace(match):
        digits = match.group()
        kind = "fnr" if len(digits) == 11 else "duf"
        return REDACTED if identity.classify_id(digits, kind).valid else digits

    return _DIGIT_RUN.sub(replace, text)


def _short_text(limit, *, optional=False):
    def check(value):
        if value is None:
            return optional
        return isinstance(value, str) and 0 < len(value) <= limit and value.isprintable()

    return check


def _is_error(value):
    return (
        isinstance(value, dict)
        and value.keys() == {"row_id", "journalnr", "severity", "rule", "field", "message"}
        and (value["row_id"] is None or is_text(value["row_id"], ROW_ID_PATTERN))
        and _short_text(64, optional=True)(value["journalnr"])
        and value["severity"] in _SEVERITIES
        and _short_text(64)(value["rule"])
        and _short_text(100, optional=True)(value["field"])
        and isinstance(value["message"], str)
        and len(value["message"]) <= 500
    )


_CHECKS = {
    "format": (lambda v: v == ANSWER_FORMAT, ANSWER_FORMAT),
    "answer_id": (lambda v: is_text(v, UUID4_PATTERN), "a lowercase UUID version 4"),
    "reference": (lambda v: is_text(v, REFERENCE_PATTERN), "a reference like SM-20270115-7KQ2XW9D"),
    "container_id": (lambda v: is_text(v, UUID4_PATTERN), "a lowercase UUID version 4"),
    "manifest_sha256": (lambda v: is_text(v, SHA256_PATTERN), "64 lowercase hex digits"),
    "package_sha256": (lambda v: is_text(v, SHA256_PATTERN), "64 lowercase hex digits"),
    "unit": (lambda v: is_text(v, _UNIT), "KOMMUNENR-BYDEL-ORGNR"),
    "register": (lambda v: v in REGISTERS, f"one of {', '.join(REGISTERS)}"),
    "periode": (lambda v: is_int(v, 1900, 9999), "a year"),
    "decision": (lambda v: v in DECISIONS, " or ".join(DECISIONS)),
    "message": (
        lambda v: isinstance(v, str) and len(v) <= MAX_MESSAGE_CHARS,
        f"at most {MAX_MESSAGE_CHARS} characters",
    ),
    "errors": (lambda v: isinstance(v, list) and len(v) <= MAX_ERRORS and all(map(_is_error, v)), "a list of rows"),
    "errors_omitted": (is_int, "a count"),
    "records": (is_int, "a count"),
    "created": (is_timestamp, "a UTC time like 2026-01-05T09:30:00Z"),
    "signature": (lambda v: isinstance(v, str) and len(v) == 88, "an Ed25519 signature in base64"),
}


@dataclass(frozen=True)
class Answer:
    """A parsed answer; ``signed`` is the exact bytes the signature covers."""

    answer_id: str
    reference: str
    container_id: str
    manifest_sha256: str
    package_sha256: str
    unit: str
    register: str
    periode: int
    decision: str
    message: str
    errors: tuple
    errors_omitted: int
    records: int
    created: str
    signature: bytes
    signed: bytes

    @classmethod
    def parse(cls, data):
        """Check the shape of an answer file's bytes (not its signature: :meth:`verify`)."""
        if len(data) > MAX_ANSWER_BYTES:
            raise AnswerInvalid.detail(f"larger than {MAX_ANSWER_BYTES} bytes")
        obj = parse_canonical_json(
            data,
            name="answer",
            expected_format=ANSWER_FORMAT,
            not_canonical=_AnswerJsonError,
            unsupported=_AnswerJsonError,
            invalid=_AnswerJsonError,
        )
        check_fields(obj, _CHECKS, name="answer", error=_AnswerJsonError)
        if obj["decision"] == "returned" and not obj["message"].strip():
            raise AnswerInvalid.detail("a returned delivery needs a message")
        try:
            signature = base64.b64decode(obj["signature"], validate=True)
        except binascii.Error:
            raise AnswerInvalid.detail("the signature is not base64") from None
        unsigned = {k: v for k, v in obj.items() if k != "signature"}
        return cls(
            answer_id=obj["answer_id"],
            reference=obj["reference"],
            container_id=obj["container_id"],
            manifest_sha256=obj["manifest_sha256"],
            package_sha256=obj["package_sha256"],
            unit=obj["unit"],
            register=obj["register"],
            periode=obj["periode"],
            decision=obj["decision"],
            message=obj["message"],
            errors=tuple(obj["errors"]),
            errors_omitted=obj["errors_omitted"],
            records=obj["records"],
            created=obj["created"],
            signature=signature,
            signed=canonical_json(unsigned),
        )

    def verify(self, ssb_signing_keys):
        """Require a signature by one of the ``ssb-signing`` keys valid on the answer's date; the key id."""
        signed_on = date.fromisoformat(self.created[:10])
        keys = [k for k in ssb_signing_keys if k.role == "ssb-signing" and k.valid_on(signed_on)]
        if not keys:
            raise AnswerSignatureInvalid.detail(f"no SSB signing key is valid on {signed_on}")
        for key in keys:
            try:
                key.signing_key().verify(self.signature, self.signed)
            except InvalidSignature:
                continue
            return key.key_id
        raise AnswerSignatureInvalid.detail(f"tried {len(keys)} key(s)")


class _AnswerJsonError(AnswerInvalid):
    """SSB's answer is malformed; nothing was recorded."""

    code = "answer_invalid"


def make_answer(
    *,
    reference,
    manifest,
    package_sha256,
    decision,
    message,
    errors=(),
    errors_omitted=0,
    signing_key,
    created=None,
    answer_id=None,
):
    """The bytes of a signed answer for the package ``reference`` (its ``manifest`` and digest). ``errors``: dicts
    of row_id, journalnr, severity, rule, field, message (at most :data:`MAX_ERRORS`; the caller counts the rest in
    ``errors_omitted``)."""
    obj = {
        "format": ANSWER_FORMAT,
        "answer_id": answer_id or str(uuid.uuid4()),
        "reference": reference,
        "container_id": manifest.container_id,
        "manifest_sha256": manifest.sha256,
        "package_sha256": package_sha256,
        "unit": str(manifest.unit),
        "register": manifest.register,
        "periode": manifest.periode,
        "decision": decision,
        "message": message,
        "errors": list(errors),
        "errors_omitted": errors_omitted,
        "records": manifest.records,
        "created": created or utc_timestamp(),
    }
    signature = signing_key.sign(canonical_json(obj))
    data = canonical_json({**obj, "signature": base64.b64encode(signature).decode("ascii")})
    Answer.parse(data)  # what we write, the TPF must read: refuse a bad answer here, with the same words
    return data
