"""Public SSH keys of units (for SFTP key login): parsing, policy and fingerprints, as OpenSSH shows them."""

import base64
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sendemodul.errors import UsageError

MIN_RSA_BITS = 3072


class SSHKeyError(UsageError):
    """The SSH public key is not valid."""

    code = "ssh_key"


def parse_public_key(text):
    """Parse one OpenSSH public key line -> (algorithm, 'type base64' without comment, comment, fingerprint).

    Accepts ssh-ed25519, ecdsa-sha2-nistp256/384/521, and ssh-rsa of at least 3072 bits.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if len(lines) != 1:
        raise SSHKeyError(f"expected exactly one public key line, found {len(lines)}")
    parts = lines[0].split(None, 2)
    if len(parts) < 2:
        raise SSHKeyError("not an OpenSSH public key line (expected 'TYPE BASE64 [COMMENT]')")
    algorithm, blob_b64 = parts[0], parts[1]
    comment = parts[2] if len(parts) > 2 else ""
    try:
        key = serialization.load_ssh_public_key(f"{algorithm} {blob_b64}".encode("ascii"))
    except (ValueError, UnicodeEncodeError) as e:
        raise SSHKeyError(f"not a valid OpenSSH public key: {e}") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise SSHKeyError(f"RSA keys must have at least {MIN_RSA_BITS} bits (this one has {key.key_size})")
    elif not isinstance(key, (ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey)):
        raise SSHKeyError(f"key type {algorithm} is not accepted (use ssh-ed25519)")
    return algorithm, f"{algorithm} {blob_b64}", comment, fingerprint(blob_b64)


def fingerprint(blob_b64):
    """OpenSSH's SHA256 fingerprint, e.g. ``SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s``."""
    digest = hashlib.sha256(base64.b64decode(blob_b64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")
