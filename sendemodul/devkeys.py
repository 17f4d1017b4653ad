"""Development key material and the demo unit (``sendemodul admin init --dev``).

In dev every key lives in one home for convenience: the TPF and SSB age identities, the TPF and SSB signing keys and
the pseudonym master key under ``<home>/private/`` (0600), their public halves in the key directory ``<home>/keys/``.
Even so the front process never loads a private age key: only the pseudonymizer and ``ssb open`` do.
"""

import datetime
import secrets
from dataclasses import dataclass
from pathlib import Path

from sendemodul import auth, identity, keydir, signing, sshkeys
from sendemodul.home import write_file

DEMO_UNIT = "0301-00-958935420"
DEMO_NAME = "Oslo kommune (demo)"
DEMO_EMAIL = "kostra-demo@example.org"


@dataclass(frozen=True)
class Demo:
    unit: str
    pin_path: Path
    signing_key_path: Path


def _age_pair(cfg, role, key_id, valid_from, valid_to, key_type):
    secret, recipient = keydir.generate_age_identity(key_type)
    write_file(cfg.private_dir / f"{role}.agekey", f"# {key_id} (development only)\n{secret}\n")
    key = keydir.RecipientKey(
        key_id=key_id, role=role, public=recipient, valid_from=valid_from, valid_to=valid_to, comment="development key"
    )
    write_file(cfg.keys_dir / f"{key_id}.toml", key.to_toml(), mode=0o644)


def _signing_pair(cfg, role, valid_from, valid_to):
    """``<home>/private/<role>.key`` (Ed25519, 0600) and its public half as ``<role>-dev`` in the key directory."""
    key_id = f"{role}-dev"
    key = signing.write_new_key(cfg.private_dir / f"{role}.key", key_id)
    write_file(
        cfg.keys_dir / f"{key_id}.toml",
        keydir.RecipientKey(
            key_id=key_id,
            role=role,
            public=signing.public_line(key, key_id).strip(),
            valid_from=valid_from,
            valid_to=valid_to,
            comment="development key",
        ).to_toml(),
        mode=0o644,
    )


def create(cfg, store, *, actor, key_type="age-pq"):
    """Write the dev keys and register the demo unit with a PIN and signing key. Returns where they are.

    The TPF and SSB age keys are of ``key_type``: ``age-pq`` (hybrid post-quantum, the default) or ``age`` (X25519,
    what earlier releases made)."""
    today = datetime.date.today()
    valid_from, valid_to = today.replace(month=1, day=1), today.replace(year=today.year + 2, month=12, day=31)
    _age_pair(cfg, "tpf", "tpf-dev", valid_from, valid_to, key_type)
    _age_pair(cfg, "ssb", "ssb-dev", valid_from, valid_to, key_type)
    for role in ("tpf-signing", "ssb-signing"):  # the TPF's key signs seals, SSB's signs its answers (issue 17)
        _signing_pair(cfg, role, valid_from, valid_to)
    write_file(cfg.private_dir / "pseudonym-master.key", secrets.token_hex(32) + "\n")
    (cfg.home / "ssb-inbox").mkdir(mode=0o700, exist_ok=True)
    (cfg.home / "ssb-answers").mkdir(mode=0o700, exist_ok=True)

    demo_dir = cfg.home / "demo"
    demo_dir.mkdir(mode=0o700, exist_ok=True)
    unit = identity.parse_unit(DEMO_UNIT, today.year)
    store.add_unit(unit, name=DEMO_NAME, email=DEMO_EMAIL, actor=actor)
    key_path = demo_dir / "unit.key"
    key = signing.write_new_key(key_path, f"{DEMO_UNIT} demo")
    line = signing.public_line(key, "")

    _, public_key, _, fingerprint = sshkeys.parse_public_key(line)
    store.add_signing_key(unit, public_key=public_key, fingerprint=fingerprint, actor=actor)
    pin = auth.generate_pin()
    store.set_pin(unit, auth.hash_pin(pin), actor=actor)
    pin_path = write_file(demo_dir / "pin.txt", pin + "\n")  # dev only: the one place a PIN is kept on purpose
    write_file(demo_dir / "unit.txt", DEMO_UNIT + "\n", mode=0o644)
    return Demo(unit=DEMO_UNIT, pin_path=pin_path, signing_key_path=key_path)
