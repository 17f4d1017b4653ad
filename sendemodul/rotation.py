"""The yearly key rotation (``sendemodul admin keys rotate``): the TPF and SSB age keys of a new reporting year.

A year moves to post-quantum here: ``key_type="age-pq"`` (the default) writes ``age1pq1...`` recipients into the key
directory. The TPF's new identity is added to ``<home>/private/tpf.agekey`` beside the earlier years' ones, so the
pseudonymizer keeps opening containers sealed to the classic keys of earlier years; it reads the file again when it
changes. SSB's key is made at SSB (``sendemodul keygen --type age-pq``) and given as its recipient; only a dev home
makes SSB's identity itself (into ``<home>/private/ssb.agekey``, beside the earlier ones).

No secret is printed or logged; identity files are replaced atomically with mode 0600.
"""

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from sendemodul import agepq, keydir
from sendemodul.errors import AlreadyExists, UsageError
from sendemodul.home import write_file


@dataclass(frozen=True)
class Rotated:
    """What :func:`rotate` wrote: the two new public keys and the identity files it added to."""

    tpf: keydir.RecipientKey
    ssb: keydir.RecipientKey
    identity_files: tuple


def default_validity(year, today):
    """A year's keys are current from today (or 1 January of ``year``, if that is earlier) to 31 December of the
    year after (the deliveries for ``year`` arrive in the first months of ``year + 1``)."""
    return min(today, datetime.date(year, 1, 1)), datetime.date(year + 1, 12, 31)


def add_identity(path, secret, label):
    """Add an age identity (with a ``# label`` comment) to the identity file ``path``, keeping its other lines.

    The new file is written beside the old one with mode 0600, fsynced and renamed over it: a crash leaves the old
    file or the new one, never a mix, and the secret never sits in a file of another mode."""
    path = Path(path)
    old = path.read_bytes() if path.exists() else b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(old + f"# {label}\n{secret}\n".encode("ascii"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def rotate(cfg, year, *, key_type="age-pq", ssb_recipient=None, valid_from=None, valid_to=None, today=None):
    """Write the TPF and SSB keys ``tpf-<year>`` and ``ssb-<year>`` of ``key_type`` (``age-pq`` or ``age``).

    ``ssb_recipient`` is SSB's public key for the year (required outside a dev home, and of ``key_type``). Refuses
    keys that exist already. Returns :class:`Rotated`.
    """
    if key_type not in keydir.AGE_KEY_TYPES:
        raise UsageError(f"the key type must be one of {', '.join(keydir.AGE_KEY_TYPES)}, not {key_type!r}")
    today = today or datetime.date.today()
    default_from, default_to = default_validity(year, today)
    valid_from, valid_to = valid_from or default_from, valid_to or default_to
    if valid_to < valid_from:
        raise UsageError(f"--valid-to {valid_to} is before --valid-from {valid_from}")
    stanza = keydir.AGE_KEY_TYPES[key_type]
    if ssb_recipient is not None:
        try:
            agepq.parse_recipient(ssb_recipient)
        except agepq.KeyFormatError:
            raise UsageError("--ssb-recipient is not an age recipient (age1pq1... or age1...)") from None
        probe = keydir.RecipientKey("probe", "ssb", ssb_recipient.strip(), valid_from, valid_to)
        if probe.stanza_type != stanza:
            raise UsageError(f"--ssb-recipient is not of type {key_type}")
    elif cfg.environment != "dev":
        raise UsageError(
            "give --ssb-recipient: SSB makes its own key ('sendemodul keygen --type age-pq') and sends "
            "the TPF its public half"
        )
    ids = {role: f"{role}-{year}" for role in ("tpf", "ssb")}
    for key_id in ids.values():
        if (cfg.keys_dir / f"{key_id}.toml").exists():
            raise AlreadyExists(f"{cfg.keys_dir / f'{key_id}.toml'} already exists; not overwriting it")

    written = []
    publics = {}
    tpf_secret, publics["tpf"] = keydir.generate_age_identity(key_type)
    written.append(add_identity(cfg.private_dir / "tpf.agekey", tpf_secret, ids["tpf"]))
    del tpf_secret
    if ssb_recipient is None:
        ssb_secret, publics["ssb"] = keydir.generate_age_identity(key_type)
        written.append(add_identity(cfg.private_dir / "ssb.agekey", ssb_secret, f"{ids['ssb']} (development only)"))
        del ssb_secret
    else:
        publics["ssb"] = ssb_recipient.strip()
    keys = {}
    for role, key_id in ids.items():
        keys[role] = keydir.RecipientKey(
            key_id=key_id,
            role=role,
            public=publics[role],
            valid_from=valid_from,
            valid_to=valid_to,
            comment=f"{role.upper()} {key_type} key for {year}",
        )
        write_file(cfg.keys_dir / f"{key_id}.toml", keys[role].to_toml(), mode=0o644)
    return Rotated(keys["tpf"], keys["ssb"], tuple(written))
