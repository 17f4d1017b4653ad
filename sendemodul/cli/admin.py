"""``sendemodul admin ...``: the operator's commands (synchronous, no reactor; same DB and keys as the server)."""

import datetime

import click

from sendemodul import home as homemod
from sendemodul import identity
from sendemodul.cli.admin_keys import keys_group
from sendemodul.cli.admin_options import ACTOR, home_option
from sendemodul.cli.admin_persons import person
from sendemodul.cli.admin_store import migrate_store
from sendemodul.cli.admin_units import pin, sshkey, unit
from sendemodul.cli.admin_uploads import (
    audit_group,
    backup_command,
    requeue,
    restore_command,
    staff_token,
    status,
    uploads,
)

__all__ = ["admin", "home_option", "register"]


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
@click.option(
    "--dev",
    is_flag=True,
    help="Also create development keys (TPF, SSB, pseudonym master key) and a demo unit with its PIN.",
)
@click.option(
    "--key-type",
    type=click.Choice(["age-pq", "age"]),
    default="age-pq",
    show_default=True,
    help="With --dev: the type of the TPF and SSB age keys (age-pq: hybrid post-quantum ML-KEM-768 + "
    "X25519; age: classic X25519).",
)
def init(home, dev, key_type):
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

        demo = devkeys.create(cfg, store, actor=ACTOR, key_type=key_type)
        click.echo(f"  dev keys:      {cfg.private_dir}/ (TPF, SSB, TPF signing, pseudonym master key)")
        click.echo(f"  key directory: {cfg.keys_dir}/")
        click.echo(
            f"  demo unit:     {demo.unit}  PIN in {demo.pin_path}, signing key {demo.signing_key_path}"
        )  # safe: names the PIN, never its value
        from sendemodul import enrolment

        demo_unit = identity.parse_unit(demo.unit, datetime.date.today().year)
        person, secret_path = enrolment.create_demo_person(cfg, store, demo_unit, actor=ACTOR)
        click.echo(
            f"  demo person:   {person['email']}  TOTP secret in {secret_path}; a current code: "
            f"sendemodul admin person code {demo.unit} {person['email']}"
        )  # safe: names the secret's file, never its value
    store.close()
    from sendemodul import privileges

    if privileges.apply_ownership(cfg):  # [process] users, as root: each file to the one process that needs it
        found = privileges.accounts(cfg)
        click.echo(
            f"  owners:        keys -> {found.worker.name}, TLS/SSH/log/DB -> {found.front.name}, "
            f"DB and spool shared through group {found.group} (docs/operations.md)"
        )


# The unit, PIN and SSH key commands, the key rotation and the upload, status and audit commands live in their own
# modules.
for _command in (
    unit,
    pin,
    sshkey,
    person,
    keys_group,
    uploads,
    status,
    staff_token,
    requeue,
    audit_group,
    backup_command,
    restore_command,
    migrate_store,
):
    admin.add_command(_command)


def register(cli):
    cli.add_command(admin)
