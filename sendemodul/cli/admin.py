"""``sendemodul admin ...``: the operator's commands (synchronous, no reactor; same DB and keys as the server)."""

import datetime
import json
import re
from pathlib import Path

import click

from sendemodul import audit as auditmod
from sendemodul import auth, config, home as homemod, identity, sshkeys
from sendemodul.errors import AuditError, UsageError
from sendemodul.registers import REGISTERS
from sendemodul.sftp import compat
from sendemodul.store import Store
from sendemodul.timefmt import OSLO

ACTOR = "admin"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def home_option(f):
    return click.option(
        "--home", type=click.Path(file_okay=False, path_type=Path), envvar="SENDEMODUL_HOME",
        default=config.DEFAULT_HOME, show_default=True, show_envvar=True,
        help="The state home (database, config, keys, spool).",
    )(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)


def open_store(home):
    cfg = config.load(home)
    return cfg, Store.open(cfg.db_path)


def unit_argument(f):
    return click.argument("unit", metavar="UNIT", callback=lambda ctx, param, value: _parse_unit(value))(f)


def _parse_unit(value):
    return identity.parse_unit(value, datetime.date.today().year)


def print_table(rows, columns):
    """A plain aligned text table; ``columns`` is a list of (key, heading)."""
    cells = [[heading for _, heading in columns]]
    cells += [["" if row.get(key) is None else str(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for i, r in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            click.echo("  ".join("-" * w for w in widths))
    if not rows:
        click.echo("(none)")


def emit(rows, columns, as_json):
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print_table(rows, columns)


@click.group()
def admin():
    """Operator commands: the state home, units, PINs, SSH keys, uploads, audit.

    \b
    Example:
      sendemodul admin init --dev
      sendemodul admin unit add 0301-12-958935420 --name "Oslo kommune, bydel Alna" --email kostra@example.org
      sendemodul admin pin issue 0301-12-958935420
    """


@admin.command()
@home_option
@click.option("--dev", is_flag=True,
              help="Also create development keys (TPF, SSB, pseudonym master key) and a demo unit with its PIN.")
def init(home, dev):
    """Create the state home: database, config, TLS certificate, SSH host key.

    With --dev, also the development key material under <home>/private/ (mode 0600), the dev key directory
    <home>/keys/, the dev SSB inbox <home>/ssb-inbox/, and a demo unit whose PIN and signing key are written
    under <home>/demo/.

    \b
    Example:
      sendemodul admin init --dev --home ./var
    """
    cfg, store = homemod.init_home(home, environment="dev" if dev else "production")
    click.echo(f"Initialised {cfg.home}")
    click.echo(f"  database:      {cfg.db_path}")
    click.echo(f"  config:        {cfg.config_path}")
    click.echo(f"  TLS cert:      {cfg.tls_cert_path} (self-signed)")
    click.echo(f"  SSH host key:  {cfg.ssh_host_key_path}")
    if dev:
        from sendemodul import devkeys

        demo = devkeys.create(cfg, store, actor=ACTOR)
        click.echo(f"  dev keys:      {cfg.private_dir}/ (TPF, SSB, TPF signing, pseudonym master key)")
        click.echo(f"  key directory: {cfg.keys_dir}/")
        click.echo(f"  demo unit:     {demo.unit}  PIN in {demo.pin_path}, signing key {demo.signing_key_path}")  # safe: names the PIN, never its value
    store.close()
    from sendemodul import privileges

    if privileges.apply_ownership(cfg):  # [process] users, as root: each file to the one process that needs it
        found = privileges.accounts(cfg)
        click.echo(f"  owners:        keys -> {found.worker.name}, TLS/SSH/log/DB -> {found.front.name}, "
                   f"DB and spool shared through group {found.group} (docs/operations.md)")


# -- units ---------------------------------------------------------------------------------------------------


@admin.group()
def unit():
    """Register, list and disable reporting units (kommunenr-bydel-orgnr).

    \b
    Example:
      sendemodul admin unit list
    """


@unit.command("add")
@home_option
@unit_argument
@click.option("--name", required=True, help="The unit's name, e.g. 'Stavanger kommune'.")
@click.option("--email", required=True, help="Where receipts and the morning e-mail go.")
@click.option("--signing-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The unit's Ed25519 public signing key (unit.key.pub from 'sendemodul keygen').")
def unit_add(home, unit, name, email, signing_key):
    """Register a unit, e.g. a kommune (bydel 00) or an Oslo bydel (01-15).

    \b
    Example:
      sendemodul admin unit add 1103-00-964965226 --name "Stavanger kommune" --email kostra@example.org \\
          --signing-key stavanger.key.pub
    """
    if not name.strip():
        raise UsageError("--name must not be empty")
    if not EMAIL_RE.match(email):
        raise UsageError(f"--email {email!r} is not an e-mail address")
    key = _read_signing_key(signing_key) if signing_key else None
    _, store = open_store(home)
    store.add_unit(unit, name=name.strip(), email=email, actor=ACTOR)
    if key:
        store.add_signing_key(unit, public_key=key[0], fingerprint=key[1], actor=ACTOR)
    click.echo(f"Registered {unit} ({name.strip()})" + (f" with signing key {key[1]}" if key else ""))
    click.echo(f"Next: sendemodul admin pin issue {unit}")  # safe: names the PIN, never its value


def _read_signing_key(path):
    algorithm, public_key, _, fp = sshkeys.parse_public_key(path.read_text(encoding="utf-8", errors="replace"))
    if algorithm != "ssh-ed25519":
        raise UsageError(f"{path}: a signing key must be ssh-ed25519 (made by 'sendemodul keygen'), not {algorithm}")
    return public_key, fp


@unit.command("list")
@home_option
@json_option
def unit_list(home, as_json):
    """List registered units with their PIN, key and status.

    \b
    Example:
      sendemodul admin unit list --json
    """
    _, store = open_store(home)
    rows = [
        {"unit": r["unit"], "name": r["name"], "email": r["email"],
         "status": "disabled" if r["disabled_at"] else "active",
         "pin_issued_at": r["pin_issued_at"], "ssh_keys": r["ssh_keys"], "signing_keys": r["signing_keys"]}
        for r in store.list_units()
    ]
    emit(rows, [("unit", "UNIT"), ("name", "NAME"), ("status", "STATUS"), ("pin_issued_at", "PIN ISSUED"),
                ("signing_keys", "SIGNING KEYS"), ("ssh_keys", "SSH KEYS"), ("email", "E-MAIL")], as_json)


@unit.command("disable")
@home_option
@unit_argument
def unit_disable(home, unit):
    """Disable a unit: it can no longer log in and its PIN is revoked. Its uploads stay.

    \b
    Example:
      sendemodul admin unit disable 0301-12-958935420
    """
    _, store = open_store(home)
    store.disable_unit(unit, actor=ACTOR)
    click.echo(f"Disabled {unit}")


# -- PINs ----------------------------------------------------------------------------------------------------


@admin.group()
def pin():
    """Issue and revoke PINs. A PIN is shown once, when it is issued, and never stored in clear.

    \b
    Example:
      sendemodul admin pin issue 0301-12-958935420 --letter pin-alna.html
    """


@pin.command("issue")
@home_option
@unit_argument
@click.option("--letter", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a printable PIN letter (HTML) to this file (mode 0600).")
def pin_issue(home, unit, letter):
    """Issue a new PIN for UNIT; the previous PIN stops working at once.

    The PIN is printed as the last line of standard output. It is not stored anywhere: note it now.

    \b
    Example:
      sendemodul admin pin issue 0301-12-958935420
    """
    cfg, store = open_store(home)
    row = store.require_unit(unit)
    if letter and letter.exists():
        raise UsageError(f"--letter {letter} already exists; not overwriting it")
    new_pin = auth.generate_pin()
    store.set_pin(unit, auth.hash_pin(new_pin), actor=ACTOR)
    if letter:
        from sendemodul import letters

        homemod.write_file(letter, letters.render_pin_letter(cfg, row, new_pin))
        click.echo(f"PIN letter written to {letter}")  # safe: names the PIN, never its value
    click.echo(f"New PIN for {unit} (shown once; the previous PIN no longer works):")  # safe: names the PIN, never its value
    click.echo(new_pin)


@pin.command("revoke")
@home_option
@unit_argument
def pin_revoke(home, unit):
    """Revoke UNIT's PIN: it can no longer log in with a PIN until a new one is issued.

    \b
    Example:
      sendemodul admin pin revoke 0301-12-958935420
    """
    _, store = open_store(home)
    store.revoke_pin(unit, actor=ACTOR)
    click.echo(f"Revoked the PIN of {unit}")  # safe: names the PIN, never its value


# -- SSH keys ------------------------------------------------------------------------------------------------


@admin.group()
def sshkey():
    """Manage the SSH public keys a unit's systems may log in with over SFTP.

    \b
    Example:
      sendemodul admin sshkey add 0301-12-958935420 id_ed25519.pub
    """


@sshkey.command("add")
@home_option
@unit_argument
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def sshkey_add(home, unit, file):
    """Add an SSH public key (OpenSSH format: ed25519, ECDSA, or RSA >= 3072 bits) for UNIT.

    \b
    Example:
      sendemodul admin sshkey add 0301-12-958935420 ~/.ssh/id_ed25519.pub
    """
    algorithm, public_key, comment, fp = sshkeys.parse_public_key(
        file.read_text(encoding="utf-8", errors="replace"))
    cfg, store = open_store(home)
    store.add_ssh_key(unit, algorithm=algorithm, public_key=public_key, fingerprint=fp, comment=comment, actor=ACTOR)
    click.echo(f"Added {algorithm} key {fp} for {unit}")
    click.echo(compat.key_clients_text(algorithm, accept_ssh_rsa_sha1=cfg.sftp.accept_ssh_rsa_sha1))


@sshkey.command("list")
@home_option
@unit_argument
@json_option
def sshkey_list(home, unit, as_json):
    """List UNIT's SSH keys with their fingerprints.

    \b
    Example:
      sendemodul admin sshkey list 0301-12-958935420
    """
    _, store = open_store(home)
    store.require_unit(unit)
    rows = [{k: r[k] for k in ("fingerprint", "algorithm", "comment", "added_at")} for r in store.ssh_keys(unit)]
    emit(rows, [("fingerprint", "FINGERPRINT"), ("algorithm", "TYPE"), ("comment", "COMMENT"),
                ("added_at", "ADDED")], as_json)


@sshkey.command("remove")
@home_option
@unit_argument
@click.argument("fingerprint")
def sshkey_remove(home, unit, fingerprint):
    """Remove one of UNIT's SSH keys, named by its fingerprint (see 'sshkey list').

    \b
    Example:
      sendemodul admin sshkey remove 0301-12-958935420 SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s
    """
    _, store = open_store(home)
    store.remove_ssh_key(unit, fingerprint, actor=ACTOR)
    click.echo(f"Removed SSH key {fingerprint} of {unit}")


# -- uploads, status, audit ----------------------------------------------------------------------------------

UPLOAD_COLUMNS = [("reference", "REFERENCE"), ("unit", "UNIT"), ("register", "REGISTER"), ("periode", "PERIODE"),
                  ("status", "STATUS"), ("size", "BYTES"), ("received_at", "RECEIVED"),
                  ("delivered_at", "DELIVERED")]


@admin.command()
@home_option
@json_option
def uploads(home, as_json):
    """List every upload with its state.

    \b
    Example:
      sendemodul admin uploads --json
    """
    _, store = open_store(home)
    emit(store.list_uploads(), UPLOAD_COLUMNS, as_json)


@admin.command()
@home_option
@click.option("--register", required=True, type=click.Choice(REGISTERS))
@click.option("--periode", required=True, type=click.IntRange(2000, 2100), help="The reporting year.")
@json_option
def status(home, register, periode, as_json):
    """Every registered unit with its latest delivery for REGISTER and PERIODE (missing when none).

    \b
    Example:
      sendemodul admin status --register 11F --periode 2026
    """
    cfg, store = open_store(home)
    window = cfg.window_for(register, periode)
    today = datetime.datetime.now(OSLO).date()
    overdue = bool(window and window.deadline and today > window.deadline)
    rows = [
        {"unit": r["unit"], "name": r["name"], "state": _state(r["status"], overdue), "status": r["status"],
         "reference": r["reference"], "late": bool(r["late"]), "received_at": r["received_at"],
         "delivered_at": r["delivered_at"], "reason": r["reason"]}
        for r in store.status(register, periode)
    ]
    emit(rows, [("unit", "UNIT"), ("name", "NAME"), ("state", "STATE"), ("reference", "REFERENCE"),
                ("received_at", "RECEIVED"), ("delivered_at", "DELIVERED")], as_json)


#: How an upload's status shows in the status list: on its way to SSB counts as received.
_STATES = {"received": "received", "pseudonymizing": "received", "queued": "received", "delivered": "delivered",
           "quarantined": "quarantined", "rejected": "rejected"}


def _state(status, overdue):
    """delivered, received, quarantined or rejected; with no upload: missing, or late once the deadline passed."""
    if status is None:
        return "late" if overdue else "missing"
    return _STATES.get(status, status)


@admin.command()
@home_option
@click.argument("reference")
def requeue(home, reference):
    """Send an upload round again: a quarantined one is pseudonymized again, a queued one is retried at once.

    \b
    Example:
      sendemodul admin requeue SM-20270115-7KQ2XW9D
    """
    from sendemodul.spool import Spool

    cfg, store = open_store(home)
    row = store.upload(reference)
    if row is None:
        raise UsageError(f"no upload {reference} (see 'sendemodul admin uploads')")
    if row["status"] == "quarantined":
        Spool(cfg.spool_dir).from_quarantine(reference)
    new = store.requeue(reference, actor=ACTOR)
    click.echo(f"{reference}: {row['status']} -> {new}")


@admin.group("audit")
def audit_group():
    """The hash-chained audit log.

    \b
    Example:
      sendemodul admin audit verify
    """


@audit_group.command("verify")
@home_option
def audit_verify(home):
    """Check that no audit row was edited, deleted, inserted or reordered; names the first bad row.

    \b
    Example:
      sendemodul admin audit verify
    """
    _, store = open_store(home)
    problem = auditmod.verify(store.audit_entries(), store.audit_head())
    if problem is not None:
        raise AuditError(f"audit log damaged: {problem}")
    seq, head = store.audit_head()
    click.echo(f"audit log intact: {seq} rows, head {head[:16]}")


def register(cli):
    cli.add_command(admin)
