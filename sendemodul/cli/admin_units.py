"""``sendemodul admin unit``, ``pin``, ``sshkey``: reporting units, their PINs and their SSH keys."""

from pathlib import Path

import click

from sendemodul import auth, i18n, sshkeys
from sendemodul import home as homemod
from sendemodul.cli.admin_options import ACTOR, EMAIL_RE, emit, home_option, json_option, open_store, unit_argument
from sendemodul.errors import UsageError
from sendemodul.sftp import compat

# -- units ---------------------------------------------------------------------------------------------------


@click.group()
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
@click.option(
    "--signing-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The unit's Ed25519 public signing key (unit.key.pub from 'sendemodul keygen').",
)
@click.option(
    "--language",
    type=click.Choice(i18n.UNIT_STANDARDS),
    default="nb",
    show_default=True,
    help="The written standard the kommune has chosen (language act section 15): its PIN letters and e-mails are "
    "in Bokmål (nb) or Nynorsk (nn); a language-neutral kommune (neutral) gets Bokmål.",
)
def unit_add(home, unit, name, email, signing_key, language):
    """Register a unit, e.g. a kommune (bydel 00) or an Oslo bydel (01-15).

    \b
    Example:
      sendemodul admin unit add 1103-00-964965226 --name "Stavanger kommune" --email kostra@example.org \\
          --signing-key stavanger.key.pub
      sendemodul admin unit add 4640-00-964967636 --name "Sogndal kommune" --email kostra@example.org --language nn
    """
    if not name.strip():
        raise UsageError("--name must not be empty")
    if not EMAIL_RE.match(email):
        raise UsageError(f"--email {email!r} is not an e-mail address")
    key = _read_signing_key(signing_key) if signing_key else None
    _, store = open_store(home)
    store.add_unit(unit, name=name.strip(), email=email, actor=ACTOR, language=language)
    if key:
        store.add_signing_key(unit, public_key=key[0], fingerprint=key[1], actor=ACTOR)
    click.echo(f"Registered {unit} ({name.strip()})" + (f" with signing key {key[1]}" if key else ""))
    click.echo(f"Next: sendemodul admin pin issue {unit}")  # safe: names the PIN, never its value


@unit.command("set")
@home_option
@unit_argument
@click.option(
    "--language",
    type=click.Choice(i18n.UNIT_STANDARDS),
    help="The written standard the kommune has chosen: nb (Bokmål), nn (Nynorsk) or neutral (gets Bokmål).",
)
@click.option("--name", help="The unit's new name.")
@click.option("--email", help="The new address for receipts and the morning e-mail.")
def unit_set(home, unit, language, name, email):
    """Change a unit's written standard, name or e-mail address.

    \b
    Example:
      sendemodul admin unit set 4640-00-964967636 --language nn
    """
    if language is None and name is None and email is None:
        raise UsageError("nothing to change: give --language, --name or --email")
    if name is not None and not name.strip():
        raise UsageError("--name must not be empty")
    if email is not None and not EMAIL_RE.match(email):
        raise UsageError(f"--email {email!r} is not an e-mail address")
    _, store = open_store(home)
    store.set_unit(unit, actor=ACTOR, language=language, name=name.strip() if name else None, email=email)
    changed = ", ".join(f"{k} {v}" for k, v in (("language", language), ("name", name), ("email", email)) if v)
    click.echo(f"Changed {unit}: {changed}")


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
        {
            "unit": r["unit"],
            "name": r["name"],
            "email": r["email"],
            "status": "disabled" if r["disabled_at"] else "active",
            "language": r["language"],
            "pin_issued_at": r["pin_issued_at"],
            "ssh_keys": r["ssh_keys"],
            "signing_keys": r["signing_keys"],
        }
        for r in store.list_units()
    ]
    emit(
        rows,
        [
            ("unit", "UNIT"),
            ("name", "NAME"),
            ("status", "STATUS"),
            ("language", "LANGUAGE"),
            ("pin_issued_at", "PIN ISSUED"),
            ("signing_keys", "SIGNING KEYS"),
            ("ssh_keys", "SSH KEYS"),
            ("email", "E-MAIL"),
        ],
        as_json,
    )


@unit.command("disable")
@home_option
@unit_argument
def unit_disable(home, unit):
    """Disable a unit: it can no longer log in and its PIN is revoked. Its uploads stay.

    A running server ends the unit's open web sessions and SFTP connections within auth.credential_poll_seconds
    (each web request and each upload checks at once); an upload in progress is refused and nothing of it kept.

    \b
    Example:
      sendemodul admin unit disable 0301-12-958935420
    """
    _, store = open_store(home)
    store.disable_unit(unit, actor=ACTOR)
    click.echo(f"Disabled {unit}")


# -- PINs ----------------------------------------------------------------------------------------------------


@click.group()
def pin():
    """Issue and revoke PINs. A PIN is shown once, when it is issued, and never stored in clear.

    \b
    Example:
      sendemodul admin pin issue 0301-12-958935420 --letter pin-alna.html
    """


@pin.command("issue")
@home_option
@unit_argument
@click.option(
    "--letter",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a printable PIN letter (HTML) to this file (mode 0600).",
)
def pin_issue(home, unit, letter):
    """Issue a new PIN for UNIT; the previous PIN stops working at once.

    What the previous PIN opened ends too: a running server ends the unit's web sessions and SFTP connections within
    auth.credential_poll_seconds, and an upload in progress is refused.

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
    click.echo(
        f"New PIN for {unit} (shown once; the previous PIN no longer works):"
    )  # safe: names the PIN, never its value
    click.echo(new_pin)


@pin.command("revoke")
@home_option
@unit_argument
def pin_revoke(home, unit):
    """Revoke UNIT's PIN: it can no longer log in with a PIN until a new one is issued.

    A running server ends the unit's open web sessions and SFTP connections (also those that logged in with an SSH
    key) within auth.credential_poll_seconds, and an upload in progress is refused.

    \b
    Example:
      sendemodul admin pin revoke 0301-12-958935420
    """
    _, store = open_store(home)
    store.revoke_pin(unit, actor=ACTOR)
    click.echo(f"Revoked the PIN of {unit}")  # safe: names the PIN, never its value


# -- SSH keys ------------------------------------------------------------------------------------------------


@click.group()
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
    algorithm, public_key, comment, fp = sshkeys.parse_public_key(file.read_text(encoding="utf-8", errors="replace"))
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
    emit(
        rows,
        [("fingerprint", "FINGERPRINT"), ("algorithm", "TYPE"), ("comment", "COMMENT"), ("added_at", "ADDED")],
        as_json,
    )


@sshkey.command("remove")
@home_option
@unit_argument
@click.argument("fingerprint")
def sshkey_remove(home, unit, fingerprint):
    """Remove one of UNIT's SSH keys, named by its fingerprint (see 'sshkey list').

    A running server ends the unit's open sessions (web and SFTP, whatever they logged in with) within
    auth.credential_poll_seconds: the unit logs in again.

    \b
    Example:
      sendemodul admin sshkey remove 0301-12-958935420 SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s
    """
    _, store = open_store(home)
    store.remove_ssh_key(unit, fingerprint, actor=ACTOR)
    click.echo(f"Removed SSH key {fingerprint} of {unit}")
