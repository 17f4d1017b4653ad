"""TOTP (RFC 6238) for reporting persons: SHA-1, 6 digits, 30-second steps, what every authenticator app reads
from an ``otpauth://`` QR code.

Built on ``cryptography``'s HOTP (RFC 4226) rather than a new dependency: a TOTP code is the HOTP code of the step
number, and the two things an app-facing server must add itself (neither ``cryptography`` nor ``pyotp`` does them)
are both here: one step of clock drift either way, and :func:`matching_step`, which returns the step a code belongs
to so that the caller refuses any step not newer than the last one used (a code used twice, or an older code after a
newer one, is refused). Pure: no I/O; the caller stores the step.
"""

import base64
import hmac
import secrets
import urllib.parse

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.hotp import HOTP

STEP_SECONDS = 30
DIGITS = 6
#: Steps of clock drift accepted either way (RFC 6238 section 6 recommends at most one).
DRIFT_STEPS = 1
SECRET_BYTES = 20  # 160 bits, the HMAC-SHA1 block-friendly length RFC 4226 recommends


def new_secret():
    """A new random TOTP secret (bytes)."""
    return secrets.token_bytes(SECRET_BYTES)


def secret_text(secret):
    """The secret as the base32 text an authenticator app takes by hand (no padding, groups of 4)."""
    raw = base64.b32encode(secret).decode("ascii").rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def secret_from_text(text):
    """Bytes of a base32 secret as :func:`secret_text` writes it (spaces and case ignored)."""
    raw = "".join(text.split()).upper()
    return base64.b32decode(raw + "=" * (-len(raw) % 8))


def step_at(unix_seconds):
    return int(unix_seconds // STEP_SECONDS)


def code_at_step(secret, step):
    """The 6-digit code of ``step`` (text)."""
    return HOTP(secret, DIGITS, SHA1(), enforce_key_length=False).generate(step).decode("ascii")


def code_at(secret, unix_seconds):
    return code_at_step(secret, step_at(unix_seconds))


def normalize_code(text):
    """Digits only (``123 456`` and ``123-456`` are ``123456``)."""
    return "".join(ch for ch in text if ch.isdigit())


def matching_step(secret, code, unix_seconds, *, last_step=0):
    """The step (int) that ``code`` is valid for at ``unix_seconds``, within :data:`DRIFT_STEPS` either way and
    newer than ``last_step``, or None. Every candidate step is compared in constant time."""
    code = normalize_code(code)
    if len(code) != DIGITS:
        return None
    now = step_at(unix_seconds)
    found = None
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(code_at_step(secret, step).encode(), code.encode()) and step > last_step:
            found = step if found is None else found
    return found


def provisioning_uri(secret, *, account, issuer="Sendemodul"):
    """The ``otpauth://totp/...`` URI for a QR code (Google Authenticator's key URI format)."""
    label = urllib.parse.quote(f"{issuer}:{account}")
    query = urllib.parse.urlencode(
        {
            "secret": "".join(secret_text(secret).split()),
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_SECONDS,
        }
    )
    return f"otpauth://totp/{label}?{query}"
