"""SSB/TPF staff's access to the status list on the HTTPS front, until staff log in as persons (DESIGN.md
section 14): HTTP Basic with the user name ``staff`` and a token that ``sendemodul admin staff-token`` makes.

Only the token's SHA-256 is kept (``<home>/staff-token.sha256``); the token is shown once. It is 256 random bits,
so guessing it is hopeless and a wrong one costs no Argon2id hash; the page is read-only and shows unit names and
states only. Without ``[staff] enabled = true`` and the hash file the page answers 404.
"""

import base64
import hashlib
import hmac
import secrets
from pathlib import Path

USERNAME = "staff"
TOKEN_FILE = "staff-token.sha256"


def token_path(home: Path) -> Path:
    return Path(home) / TOKEN_FILE


def new_token(home: Path) -> str:
    """Make a new staff token, keep its SHA-256 (the old token stops working) and return it."""
    token = secrets.token_urlsafe(32)
    path = token_path(home)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(hashlib.sha256(token.encode("ascii")).hexdigest() + "\n", encoding="ascii")
    tmp.chmod(0o640)
    tmp.replace(path)
    return token


def token_hash(home: Path) -> str | None:
    """The kept SHA-256 of the staff token, or None when there is none. Blocking: call it off the reactor thread."""
    try:
        return token_path(home).read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None


def authorized(header: bytes | None, expected_hash: str | None) -> bool:
    """Whether an ``Authorization`` header carries ``staff`` and the token whose SHA-256 is ``expected_hash``."""
    if not header or expected_hash is None or len(header) > 512:
        return False
    scheme, _, value = header.partition(b" ")
    if scheme.lower() != b"basic":
        return False
    try:
        user, colon, token = base64.b64decode(value.strip(), validate=True).partition(b":")
    except ValueError:
        return False
    given = hashlib.sha256(token).hexdigest()
    return bool(colon) and user == USERNAME.encode() and hmac.compare_digest(given, expected_hash)
