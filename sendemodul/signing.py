"""Ed25519 signing keys: the unit's (signs container manifests) and the TPF's (signs the seal).

Private keys are PEM PKCS#8 files of mode 0600; public keys are OpenSSH lines (``ssh-ed25519 AAAA... comment``),
the form the admin CLI registers and the key directory holds.
"""

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sendemodul.errors import UsageError


def public_line(key, comment):
    """The OpenSSH public key line of a private key."""
    blob = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{blob.decode('ascii')} {comment}\n"


def write_new_key(path, comment):
    """Generate a key; write ``path`` (private, 0600) and ``path.pub``; refuse to overwrite either. Returns the key."""
    path = Path(path)
    pub = path.with_name(path.name + ".pub")
    for p in (path, pub):
        if p.exists():
            raise UsageError(f"{p} already exists; not overwriting it")
    from sendemodul.home import write_file  # here: home brings the store and x509, which the encryption module
    # (that only loads a key) does not need (issue 25: its peak RSS)

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_file(path, pem, mode=0o600)
    write_file(pub, public_line(key, comment), mode=0o644)
    return key


def load_private_key(path):
    """Load an Ed25519 private key written by :func:`write_new_key` (or any unencrypted PEM/OpenSSH Ed25519 key)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read signing key {path}: {e.strerror}") from None
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise UsageError(f"{path} is not an unencrypted private key: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path} is not an Ed25519 key (make one with 'sendemodul keygen')")
    return key
