"""The key directory: the public keys that containers and packages are encrypted to and verified with.

One TOML file per key, named ``<key_id>.toml`` (the format is documented in ``keys/README.md``)::

    key_id = "tpf-2026"
    role = "tpf"                       # tpf | ssb | tpf-signing | ssb-signing
    recipient = "age1pq1..."           # tpf and ssb: an age recipient, age1pq1... (post-quantum) or age1...
    valid_from = 2026-01-01            # TOML dates, both inclusive
    valid_to = 2026-12-31
    comment = "optional"

A signing key (``tpf-signing``: the TPF's, over each package's seal; ``ssb-signing``: SSB's, over its answers)
has ``public_key`` (an Ed25519 key as an OpenSSH line or as raw base64) instead of ``recipient``. Other files in
the directory (README.md) are ignored. Pure apart from reading the directory.

The ``recipient`` field decides the key's type: ``age1pq1...`` is age's hybrid post-quantum ``mlkem768x25519`` type
(ML-KEM-768 + X25519), ``age1...`` the classic ``X25519`` type. Parts are sealed with :mod:`sendemodul.agepq`, which
writes and reads both (docs/post-quantum.md).
"""

import base64
import binascii
import functools
import os
import re
import threading
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sendemodul import agepq, resources
from sendemodul.errors import KeyDirError, NoCurrentKey
from sendemodul.sshkeys import SSHKeyError, parse_public_key

#: Roles whose key is an Ed25519 public key (``public_key``) rather than an age recipient: the TPF's seal key, SSB's
#: answer key (``ssb answer``, docs/way-back.md), and the two keys that sign a release of the browser module together
#: (docs/browser-module.md).
SIGNING_ROLES = ("tpf-signing", "ssb-signing", "ssb-release", "tpf-release")
ROLES = ("tpf", "ssb", *SIGNING_ROLES)
#: ``sendemodul keygen --type`` and ``admin keys rotate --type``: the age key types, and the stanza type each writes.
AGE_KEY_TYPES = {"age-pq": "mlkem768x25519", "age": "X25519"}
PQ_STANZA = "mlkem768x25519"
KEY_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_REQUIRED = {"key_id", "role", "valid_from", "valid_to"}
_OPTIONAL = {"comment"}


@dataclass(frozen=True)
class RecipientKey:
    """A public key from the key directory with its validity (both ends inclusive).

    ``public`` is the age recipient (``age1...``) for the roles ``tpf`` and ``ssb``, and the Ed25519 public key as
    written in the file for ``tpf-signing`` and ``ssb-signing``.
    """

    key_id: str
    role: str
    public: str
    valid_from: date
    valid_to: date
    comment: str = ""

    def valid_on(self, day):
        return self.valid_from <= day <= self.valid_to

    def age_recipient(self) -> "agepq.X25519Recipient | agepq.MlKem768X25519Recipient":
        """The :mod:`~sendemodul.agepq` recipient of a ``tpf`` or ``ssb`` key (post-quantum or X25519)."""
        return _parse_recipient(self.public)

    @property
    def stanza_type(self) -> str:
        """The age stanza type a part sealed to this key carries: ``mlkem768x25519`` or ``X25519``."""
        return PQ_STANZA if self.public.lower().startswith("age1pq1") else "X25519"

    @property
    def post_quantum(self) -> bool:
        return self.stanza_type == PQ_STANZA

    def signing_key(self):
        """The Ed25519 public key of a ``tpf-signing`` or ``ssb-signing`` key."""
        return parse_ed25519_public_key(self.public)

    def to_toml(self):
        """The key file's text (``<key_id>.toml``)."""
        field = "public_key" if self.role in SIGNING_ROLES else "recipient"
        lines = [
            f'key_id = "{self.key_id}"',
            f'role = "{self.role}"',
            f'{field} = "{self.public}"',
            f"valid_from = {self.valid_from.isoformat()}",
            f"valid_to = {self.valid_to.isoformat()}",
        ]
        if self.comment:
            lines.append(f"comment = {_toml_string(self.comment)}")
        return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=64)
def _parse_recipient(public):
    """Parsed once per process: a PQ recipient is 1959 characters of Bech32 (a few ms in Python)."""
    return agepq.parse_recipient(public)


def _toml_string(text):
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


class KeyDirectory:
    """The keys of one directory, by id."""

    def __init__(self, path, keys):
        self.path = Path(path)
        self._keys = {key.key_id: key for key in keys}

    def __iter__(self):
        return iter(sorted(self._keys.values(), key=lambda key: (key.role, key.valid_from, key.key_id)))

    def get(self, key_id):
        """The key with this id, or ``None``."""
        return self._keys.get(key_id)

    def current(self, role, on):
        """The keys of ``role`` valid on the date ``on``, oldest first; :class:`NoCurrentKey` if there are none."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        of_role = [key for key in self if key.role == role]
        current = [key for key in of_role if key.valid_on(on)]
        if current:
            return current
        reasons = [
            f"{key.key_id} expired {key.valid_to}"
            if key.valid_to < on
            else f"{key.key_id} is valid from {key.valid_from}"
            for key in of_role
        ]
        raise NoCurrentKey(
            f"no current {role.upper()} key in {self.path} on {on} ({'; '.join(reasons) or f'it has no {role} keys'})"
        )

    def sealing_keys(self, role, on):
        """The keys a new part of ``role`` is sealed to on ``on``: the current ones, and of those only the
        post-quantum ones if there are any. While a year moves to PQ both kinds are current; age never mixes the two
        in one file, and a classic stanza beside a PQ one would leave the part open to a quantum computer."""
        current = self.current(role, on)
        return [key for key in current if key.post_quantum] or current


def find_key_dir(option=None, home=None):
    """The key directory: ``--keys DIR`` if given, else ``<home>/keys/`` if it exists, else the project's ``keys/``."""
    if option is not None:
        return Path(option)
    if home is not None and (Path(home) / "keys").is_dir():
        return Path(home) / "keys"
    return resources.default_keys_dir()


def load_key_dir(path):
    """Read every ``*.toml`` key file in ``path``. A malformed file is a :class:`KeyDirError` naming the file."""
    path = Path(path)
    if not path.is_dir():
        raise KeyDirError(f"key directory {path} does not exist")
    return KeyDirectory(path, [_load_key_file(file) for file in sorted(path.glob("*.toml"))])


class LiveKeyDirectory:
    """The key directory of a running server: loaded once, loaded again only when it has changed.

    :meth:`current` costs a ``stat`` of each key file (name, size, mtime, inode), not a parse: the files are read
    again only when one of them was added, removed, replaced or written since the last load, or after
    :meth:`invalidate` (the server calls it on ``SIGHUP``). A directory that cannot be loaded raises
    :class:`KeyDirError` each time, as reading it from disk would; nothing broken is kept. Thread-safe: the fronts
    call it from their thread pools.

    ``locate()`` gives the directory's path (asked each time: ``<home>/keys/`` may appear later); ``load(path)``
    reads it (:func:`load_key_dir`; injected in tests to count the loads).
    """

    def __init__(self, locate, load=None):
        self._locate = locate
        self._load = load or load_key_dir
        self._lock = threading.Lock()
        self._signature = None
        self._directory = None
        self._stale = True

    @classmethod
    def for_home(cls, home):
        """The key directory of a server with state home ``home`` (``find_key_dir(None, home)``)."""
        return cls(lambda: find_key_dir(None, home))

    def invalidate(self):
        """Read the directory again at the next :meth:`current` (safe to call from a signal handler)."""
        self._stale = True

    def current(self):
        """The :class:`KeyDirectory` as it is on disk now."""
        path = Path(self._locate())
        signature = _signature(path)
        with self._lock:
            if self._stale or self._directory is None or signature != self._signature:
                self._stale = False
                self._directory, self._signature = None, None
                directory = self._load(path)
                self._directory, self._signature = directory, signature
            return self._directory


def _signature(path):
    """What :class:`LiveKeyDirectory` compares to see a change: the path and each key file's name, size, mtime and
    inode (a file replaced by a rename has a new inode), or None when the directory cannot be listed."""
    try:
        with os.scandir(path) as entries:
            files = sorted(
                (entry.name, entry.stat().st_size, entry.stat().st_mtime_ns, entry.stat().st_ino)
                for entry in entries
                if entry.name.endswith(".toml")
            )
    except OSError:
        return None
    return str(path), tuple(files)


def _load_key_file(file):
    def bad(problem):
        return KeyDirError(f"key file {file} (key {file.stem}): {problem}")

    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise bad(f"cannot be read as TOML: {e}") from None
    role = raw.get("role")
    if role not in ROLES:
        raise bad(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    public_field = "public_key" if role in SIGNING_ROLES else "recipient"
    missing = sorted((_REQUIRED | {public_field}) - raw.keys())
    unknown = sorted(raw.keys() - _REQUIRED - _OPTIONAL - {public_field})
    if missing or unknown:
        raise bad(
            "; ".join(
                filter(None, [missing and f"missing {', '.join(missing)}", unknown and f"unknown {', '.join(unknown)}"])
            )
        )
    key_id = raw["key_id"]
    if key_id != file.stem or not isinstance(key_id, str) or not KEY_ID_PATTERN.fullmatch(key_id):
        raise bad("key_id must equal the file name without .toml and be lowercase letters, digits, '.', '_', '-'")
    for name in ("valid_from", "valid_to"):
        if type(raw[name]) is not date:
            raise bad(f"{name} must be a date written like 2026-01-01 (without quotes)")
    if raw["valid_to"] < raw["valid_from"]:
        raise bad("valid_to is before valid_from")
    comment = raw.get("comment", "")
    if not isinstance(comment, str):
        raise bad("comment must be a string")
    public = raw[public_field]
    if not isinstance(public, str):
        raise bad(f"{public_field} must be a string")
    key = RecipientKey(key_id, role, public.strip(), raw["valid_from"], raw["valid_to"], comment)
    try:
        key.signing_key() if role in SIGNING_ROLES else key.age_recipient()
    except (KeyDirError, agepq.KeyFormatError) as e:
        raise bad(f"{public_field} is not valid: {e}") from None
    return key


def parse_ed25519_public_key(text):
    """An Ed25519 public key from an OpenSSH line (``ssh-ed25519 AAAA... comment``) or the raw 32 bytes in base64."""
    text = text.strip()
    if text.startswith("ssh-"):
        try:
            algorithm, line, _comment, _fingerprint = parse_public_key(text)
        except SSHKeyError as e:
            raise KeyDirError(str(e)) from None
        if algorithm != "ssh-ed25519":
            raise KeyDirError(f"an Ed25519 key is required, not {algorithm}")
        return serialization.load_ssh_public_key(line.encode("ascii"))
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != 32:
        raise KeyDirError("expected an OpenSSH 'ssh-ed25519 AAAA...' line or 32 bytes in base64")
    return Ed25519PublicKey.from_public_bytes(raw)


def generate_age_identity(key_type="age"):
    """A new age key pair: ``(secret, recipient)``; ``key_type`` ``"age"`` gives X25519 (``AGE-SECRET-KEY-1...``,
    ``age1...``), ``"age-pq"`` the hybrid post-quantum type (``AGE-SECRET-KEY-PQ-1...``, ``age1pq1...``)."""
    if key_type not in AGE_KEY_TYPES:
        raise ValueError(f"key_type must be one of {', '.join(AGE_KEY_TYPES)}, not {key_type!r}")
    identity = (agepq.MlKem768X25519Identity if key_type == "age-pq" else agepq.X25519Identity).generate()
    return str(identity), str(identity.to_public())


def load_age_identities(path):
    """The age identities in an identity file (``AGE-SECRET-KEY-PQ-1...`` and ``AGE-SECRET-KEY-1...`` lines, one
    a line, of either type; ``#`` comments and blanks ignored)."""
    try:
        lines = [line.strip() for line in Path(path).read_text(encoding="ascii").splitlines()]
        identities = [agepq.parse_identity(line) for line in lines if line and not line.startswith("#")]
    except (UnicodeDecodeError, agepq.KeyFormatError):
        raise KeyDirError(
            f"{path} is not an age identity file (AGE-SECRET-KEY-PQ-1... or AGE-SECRET-KEY-1... lines)"
        ) from None
    if not identities:
        raise KeyDirError(f"{path} holds no age identity")
    return identities
