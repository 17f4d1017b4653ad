"""Reporting persons (DESIGN.md section 14, issue 16): who acts for a unit, and the secrets of their second factor.

A person belongs to one unit (role ``reporter``, with the registers they may report; later also ``statsforvalter``
with a ``fylke``), has a state (``pending`` until they enrol, ``active``, ``disabled``) and is known everywhere
outside the ``persons`` table by an opaque id (``P-...``): the audit log and the server log never carry a name or an
e-mail address.

Nothing secret is kept in clear:

- the TOTP secret is encrypted with AES-256-GCM under :class:`PersonKey`, a key the front holds in
  ``<home>/front/person-secrets.key`` (not under ``private/``, which is the pseudonymizer's alone); the person id is
  the associated data, so a secret copied onto another person's row does not decrypt;
- recovery codes are stored as HMAC-SHA256 under the same key (a database copy alone cannot test guesses), and
  enrolment tokens (256 random bits) as SHA-256.
"""

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sendemodul.errors import UsageError

ROLES = ("reporter", "statsforvalter", "staff")
#: The role of a reviewer (the county governor): a person of a fylke, who sees and decides its review tasks and its
#: applications for reviewer access; without a unit (issue 17), or, as made before that, of a unit.
REVIEWER_ROLE = "statsforvalter"
STATES = ("pending", "active", "disabled")
LANGUAGES = ("nb", "nn")
#: The registers a person may be given (SSB's skjema 999 offers these three; IPLOS has no person form).
PERSON_REGISTERS = ("11F", "11CF", "15F")
RECOVERY_CODES = 10
ENROLMENT_HOURS = 72
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MOBILE_RE = re.compile(r"^\+?[0-9 ]{8,15}$")
_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # the PIN alphabet: no 0/O, 1/I


def new_person_id():
    """An opaque person id: ``P-`` and 20 base32 characters (100 random bits)."""
    return "P-" + base64.b32encode(secrets.token_bytes(15)).decode("ascii").rstrip("=")[:20]


def audit_actor(person_id):
    """How a person appears as the actor of an audit event."""
    return f"person:{person_id}"


def parse_registers(text):
    """``"11F,11CF"`` -> ``("11F", "11CF")`` (sorted as :data:`PERSON_REGISTERS`); raises UsageError."""
    wanted = [r.strip().upper() for r in text.replace(" ", ",").split(",") if r.strip()]
    if not wanted:
        raise UsageError("no register given: choose among " + ", ".join(PERSON_REGISTERS))
    unknown = [r for r in wanted if r not in PERSON_REGISTERS]
    if unknown:
        raise UsageError(f"unknown register {unknown[0]!r}: choose among " + ", ".join(PERSON_REGISTERS))
    return tuple(r for r in PERSON_REGISTERS if r in wanted)


def registers_text(registers):
    return ",".join(registers)


def registers_of(text):
    return tuple(r for r in (text or "").split(",") if r)


def normalize_email(text):
    return text.strip().lower()


def normalize_mobile(text):
    return re.sub(r"\s", "", text or "")


# -- recovery codes and enrolment tokens ---------------------------------------------------------------------------


def new_recovery_codes(count=RECOVERY_CODES):
    """``count`` new single-use recovery codes, ``ABCD-EFGH-JKMN`` (60 bits each), shown to the person once."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
        codes.append("-".join(raw[i : i + 4] for i in range(0, 12, 4)))
    return codes


def normalize_recovery_code(text):
    return re.sub(r"[\s\-_.]", "", text).upper()


def looks_like_recovery_code(text):
    return len(normalize_recovery_code(text)) == 12 and not text.strip().isdigit()


def new_enrolment_token():
    return secrets.token_urlsafe(32)


def token_hash(token):
    """What the store keeps of an enrolment token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# -- the front's key ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonKey:
    """The 32-byte key that encrypts TOTP secrets and keys the recovery-code hashes."""

    key: bytes

    @classmethod
    def path_for(cls, home):
        return Path(home) / "front" / "person-secrets.key"

    @classmethod
    def for_home(cls, home, *, create=True):
        """The home's key, created (mode 0600, atomically) on first use: homes made before persons existed get
        theirs the first time a person is added or enrols."""
        path = cls.path_for(home)
        try:
            return cls(_read_key(path))
        except FileNotFoundError:
            if not create:
                raise
        path.parent.mkdir(mode=0o700, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(base64.b64encode(secrets.token_bytes(32)) + b"\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # another process may have made it meanwhile: theirs wins
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
        return cls(_read_key(path))

    def encrypt_secret(self, person_id, secret):
        """``base64(nonce || AES-GCM(secret))`` with the person id as associated data."""
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.key).encrypt(nonce, secret, person_id.encode("ascii"))
        return base64.b64encode(nonce + sealed).decode("ascii")

    def decrypt_secret(self, person_id, text):
        raw = base64.b64decode(text)
        try:
            return AESGCM(self.key).decrypt(raw[:12], raw[12:], person_id.encode("ascii"))
        except InvalidTag:
            raise UsageError("a person's TOTP secret does not decrypt with this home's key") from None

    def recovery_hash(self, person_id, code):
        message = f"{person_id}\0{normalize_recovery_code(code)}".encode()
        return hmac.new(self.key, message, "sha256").hexdigest()


def _read_key(path):
    key = base64.b64decode(Path(path).read_bytes().strip())
    if len(key) != 32:
        raise UsageError(f"{path} does not hold a 32-byte key")
    return key
