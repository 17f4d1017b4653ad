"""A release of the browser module: build the one HTML file, describe it in ``release.json``, sign that with the
SSB and TPF release keys, and verify a file against it (docs/browser-module.md).

The trust model: the file is checked once per release by municipal IT (its SHA-256, and both signatures over
``release.json``, which names that SHA-256), then opened from disk. Everything it needs is inside it: the year's TPF
and SSB recipients (a fetched key would let the TPF swap SSB's key for its own), the profiles and the texts. Its CSP
forbids every connection.

``release.json`` is canonical JSON:

``format``, ``file``, ``version``, ``size``, ``sha256``, ``keys`` (the embedded recipients' key ids),
``profiles`` (``"11F/2026"``...), ``source_commit``, and ``signatures``: per role (``ssb``, ``tpf``) the signing key's
id and the base64 Ed25519 signature over the canonical JSON of every other field.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import sendemodul
from sendemodul import resources
from sendemodul.container.canonical_json import canonical_json
from sendemodul.errors import UsageError
from sendemodul.keydir import KeyDirectory
from sendemodul.profiles.export import combined_table, profile_fields, xml_profile_table
from sendemodul.profiles.fixed import FixedWidthProfile
from sendemodul.profiles.model import Profile
from sendemodul.profiles.xmldoc import XmlProfile

FORMAT = "sendemodul-browser-release/1"
FILE_NAME = "krypteringsmodul.html"
RELEASE_NAME = "release.json"
#: The roles that sign a release, and the key-directory role that holds each one's public key.
SIGNER_ROLES = {"ssb": "ssb-release", "tpf": "tpf-release"}
_FIELDS = ("format", "file", "version", "size", "sha256", "keys", "profiles", "source_commit")


class ReleaseError(UsageError):
    """A release that cannot be built, signed or verified; the message says what is wrong."""

    code = "release"


def source_dir() -> Path:
    """The module's sources (``build.mjs``, ``package.json``, ``package-lock.json``, ``src/``)."""
    return resources.path("browser")


def profile_table(profile: Profile) -> dict[str, Any]:
    """What the page needs to read, split and check one register's extracts, from the same profile the CLI reads."""
    if isinstance(profile, XmlProfile):
        return xml_profile_table(profile)
    if not isinstance(profile, FixedWidthProfile):
        raise ReleaseError(f"the browser module cannot read {profile.register} extracts")
    return profile_fields(profile)


def build_input(keys: KeyDirectory, year: int, *, version: str, source_commit: str) -> dict[str, Any]:
    """The build's input: the recipients valid at some time in ``year`` and the profiles of ``year`` (fixed width
    and XML)."""
    first, last = datetime.date(year, 1, 1), datetime.date(year, 12, 31)
    recipients = [
        {
            "key_id": key.key_id,
            "role": key.role,
            "recipient": key.public,
            "valid_from": key.valid_from.isoformat(),
            "valid_to": key.valid_to.isoformat(),
        }
        for key in keys
        if key.role in ("tpf", "ssb") and key.valid_from <= last and key.valid_to >= first
    ]
    for role in ("tpf", "ssb"):
        if not any(key["role"] == role for key in recipients):
            raise ReleaseError(f"the key directory {keys.path} has no {role} key valid in {year}")
    table = combined_table(year)  # the profiles and the rule tables, as `sendemodul profiles export` writes them
    if not table["profiles"]:
        raise ReleaseError(f"no fixed-width profiles for {year}")
    return {
        "version": version,
        "source_commit": source_commit,
        "keys": recipients,
        "profiles": table["profiles"],
        "xml_profiles": table["xml_profiles"],
        "controls": table["controls"],
        "kommuner": table["kommuner"],
        "bydeler": table["bydeler"],
        "ssb_ids": table["ssb_ids"],
        "field_rules": table["field_rules"],
        "identity": table["identity"],
        "max_per_rule": table["max_per_rule"],
        "report": table["report"],
    }


def _run(args: list[str], cwd: Path) -> None:
    try:
        subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise ReleaseError(f"{args[0]} is not installed; the build needs Node.js 20 and npm") from None
    except subprocess.CalledProcessError as e:
        raise ReleaseError(f"{' '.join(args)} failed: {e.stderr.strip()[-2000:]}") from None


def build(out_dir: Path, keys: KeyDirectory, year: int, *, source_commit: str) -> dict[str, Any]:
    """Build the file into ``out_dir`` and write its unsigned ``release.json``; returns the release. The same inputs
    give the same bytes (``npm ci`` from the lock file, then ``build.mjs``, which writes no time or path)."""
    source = source_dir()
    if shutil.which("node") is None:
        raise ReleaseError("node is not installed; the build needs Node.js 20 and npm")
    if not (source / "node_modules" / "esbuild").is_dir():
        _run(["npm", "ci", "--no-audit", "--no-fund"], source)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = build_input(keys, year, version=sendemodul.__version__, source_commit=source_commit)
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp, "input.json")
        # (not sorted here: build.mjs sorts the page's config itself, but for a control table's own order)
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        built = Path(tmp, FILE_NAME)
        _run(["node", str(source / "build.mjs"), str(spec_path), str(built)], source)
        data = built.read_bytes()
        os.replace(built, out_dir / FILE_NAME)
    release = {
        "format": FORMAT,
        "file": FILE_NAME,
        "version": spec["version"],
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "keys": [key["key_id"] for key in spec["keys"]],
        "profiles": [f"{p['register']}/{p['periode']}" for p in spec["profiles"] + spec["xml_profiles"]],
        "source_commit": source_commit,
        "signatures": {},
    }
    write_release(out_dir / RELEASE_NAME, release)
    return release


def signed_bytes(release: dict[str, Any]) -> bytes:
    """What each signature covers: the canonical JSON of every field but ``signatures``."""
    return canonical_json({name: release[name] for name in _FIELDS})


def read_release(path: Path) -> dict[str, Any]:
    try:
        release = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ReleaseError(f"cannot read {path}: {e.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReleaseError(f"{path} is not JSON: {e}") from None
    if not isinstance(release, dict) or release.get("format") != FORMAT:
        raise ReleaseError(f"{path} is not a {FORMAT} release description")
    missing = [name for name in (*_FIELDS, "signatures") if name not in release]
    if missing:
        raise ReleaseError(f"{path} lacks {', '.join(missing)}")
    if not isinstance(release["signatures"], dict):
        raise ReleaseError(f"{path}: signatures must be an object")
    return release


def write_release(path: Path, release: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(canonical_json(release) + b"\n")
    os.replace(tmp, path)


def sign(path: Path, role: str, private_key: Ed25519PrivateKey, key_id: str) -> dict[str, Any]:
    """Add (or replace) ``role``'s signature in the release description at ``path``."""
    if role not in SIGNER_ROLES:
        raise ReleaseError(f"the role must be one of {', '.join(SIGNER_ROLES)}, not {role!r}")
    release = read_release(path)
    signature = private_key.sign(signed_bytes(release))
    release["signatures"][role] = {"key_id": key_id, "signature": base64.b64encode(signature).decode("ascii")}
    write_release(path, release)
    return release


@dataclass(frozen=True)
class Verified:
    sha256: str
    size: int
    version: str
    signers: dict[str, str]  # role -> key id


def verify(file: Path, release_path: Path, keys: KeyDirectory, today: datetime.date) -> Verified:
    """Check the file's size and SHA-256 against the release description, and both signatures against the key
    directory's ``ssb-release`` and ``tpf-release`` keys (valid ``today``); :class:`ReleaseError` names what fails."""
    release = read_release(release_path)
    try:
        data = Path(file).read_bytes()
    except OSError as e:
        raise ReleaseError(f"cannot read {file}: {e.strerror}") from None
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != release["size"] or digest != release["sha256"]:
        raise ReleaseError(
            f"{file} is not the released file: its SHA-256 is {digest} ({len(data)} bytes); "
            f"the release names {release['sha256']} ({release['size']} bytes)"
        )
    message = signed_bytes(release)
    signers = {}
    for role, key_role in SIGNER_ROLES.items():
        entry = release["signatures"].get(role)
        if not isinstance(entry, dict) or not {"key_id", "signature"} <= entry.keys():
            raise ReleaseError(f"the release has no {role.upper()} signature")
        key = keys.get(entry["key_id"])
        if key is None or key.role != key_role:
            raise ReleaseError(
                f"the {role.upper()} signature names key {entry['key_id']!r}, which is no {key_role} key in {keys.path}"
            )
        if not key.valid_on(today):
            raise ReleaseError(f"the {role.upper()} key {key.key_id} is not valid on {today}")
        try:
            signature = base64.b64decode(entry["signature"], validate=True)
            key.signing_key().verify(signature, message)
        except (ValueError, InvalidSignature):
            raise ReleaseError(f"the {role.upper()} signature does not verify with key {key.key_id}") from None
        signers[role] = key.key_id
    return Verified(digest, len(data), release["version"], signers)
