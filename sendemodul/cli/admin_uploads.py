"""``sendemodul admin uploads``, ``status``, ``requeue``, ``audit``: the uploads, delivery status, the audit log."""

import datetime
from pathlib import Path

import click

from sendemodul import audit as auditmod
from sendemodul import config, status_list
from sendemodul.cli.admin_options import ACTOR, emit, home_option, json_option, open_store
from sendemodul.errors import AuditError, BackupError, UsageError
from sendemodul.expected import expected_units
from sendemodul.registers import REGISTERS
from sendemodul.timefmt import OSLO

# -- uploads, status, audit ----------------------------------------------------------------------------------

UPLOAD_COLUMNS = [
    ("reference", "REFERENCE"),
    ("unit", "UNIT"),
    ("register", "REGISTER"),
    ("periode", "PERIODE"),
    ("status", "STATUS"),
    ("size", "BYTES"),
    ("received_at", "RECEIVED"),
    ("delivered_at", "DELIVERED"),
]


@click.command()
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


@click.command()
@home_option
@click.option("--register", "-r", required=True, type=click.Choice(REGISTERS))
@click.option("--periode", "-p", required=True, type=click.IntRange(2000, 2100), help="The reporting year.")
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Judge the deadline as on this day (YYYY-MM-DD, default: today in Norway), e.g. to see who will be late.",
)
@json_option
def status(home, register, periode, today, as_json):
    """Every unit that must report REGISTER for PERIODE, with the state of its newest delivery.

    States: delivered, received (on its way to SSB), awaiting review, accepted, returned, quarantined; missing
    (nothing yet), late (nothing, and the deadline has passed); "not registered" (the code list says it must
    report, but no unit is registered for it: add it with 'admin unit add'). Which units must report: every kommune
    valid in PERIODE, Oslo as a whole or per bydel, see [[expected]] in config.toml.

    \b
    Example:
      sendemodul admin status --register 11F --periode 2026
      sendemodul admin status --register IPLOS --periode 2026 --json
    """
    cfg, store = open_store(home)
    day = today.date() if today else datetime.datetime.now(OSLO).date()
    rows = status_list.status_rows(
        expected_units(cfg, register, periode), store.status(register, periode), cfg.window_for(register, periode), day
    )
    if as_json:
        emit(rows, [], True)
        return
    emit(
        rows,
        [
            ("region", "REGION"),
            ("unit", "UNIT"),
            ("name", "NAME"),
            ("state", "STATE"),
            ("reference", "REFERENCE"),
            ("received_at", "RECEIVED"),
            ("delivered_at", "DELIVERED"),
        ],
        False,
    )
    summary = ", ".join(f"{n} {state}" for state, n in status_list.counts(rows).items())
    click.echo(f"{len(rows)} units: {summary}")


@click.command("staff-token")
@home_option
def staff_token(home):
    """Make a new token for the staff's status page (/statusliste on the HTTPS front); the old one stops working.

    Staff log in with HTTP Basic, user name "staff" and this token (needs [staff] enabled = true). The token is
    printed as the last line, once; only its SHA-256 is kept, in HOME/staff-token.sha256.

    \b
    Example:
      sendemodul admin staff-token
      curl -u "staff:$TOKEN" "https://tpf.example.org/statusliste?register=11F&periode=2026"
    """
    from sendemodul import staff

    cfg = config.load(home)
    token = staff.new_token(cfg.home)
    if not cfg.staff.enabled:
        click.echo("note: [staff] enabled is false in config.toml: the page stays off until you set it", err=True)
    click.echo(token)


@click.command()
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


@click.command("backup")
@home_option
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--with-private-keys",
    is_flag=True,
    help="Also copy HOME/private (the TPF's identities, the pseudonym master key): keep such a backup apart.",
)
def backup_command(home, directory, with_private_keys):
    """Back the home up into DIRECTORY (new or empty) while the server runs, and check the backup.

    Copies the database (SQLite's online backup API), the spool files it references, config.toml, the key
    directory, the TLS certificate and the SSH host key, with a manifest of sizes and SHA-256. Then checks it:
    integrity_check, every referenced file with its recorded size and SHA-256, the audit chain.

    \b
    Example:
      sendemodul admin backup /srv/backup/sendemodul-$(date +%F)
    """
    from sendemodul import backup

    cfg = config.load(home)
    if cfg.store.url:  # the home's sendemodul.db is no longer the database (docs/cluster.md)
        raise BackupError(
            "[store] url names a PostgreSQL database: back it up with PostgreSQL's own tools (pg_dump, base backups); "
            "'admin backup' copies the embedded SQLite database"
        )
    manifest, report = backup.make_backup(cfg.home, directory, with_private=with_private_keys)
    click.echo(
        f"backup {directory}: {len(manifest['files'])} files, {report['uploads']} uploads, "
        f"{report['files']} spool files, {report['audit_rows']} audit rows; checked: OK"
    )


@click.command("restore")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--home",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The new state home: a directory that does not exist yet or is empty.",
)
def restore_command(directory, home):
    """Restore the backup in DIRECTORY into a new, empty home, and check it there the same way as the backup.

    Start the server on the new home afterwards; the pseudonymizer and the forwarder go on from the database's
    states (a delivered upload is not delivered again).

    \b
    Example:
      sendemodul admin restore /srv/backup/sendemodul-2027-01-16 --home /srv/sendemodul-restored
    """
    from sendemodul import backup

    report = backup.restore(directory, home)
    click.echo(
        f"restored into {home}: {report['uploads']} uploads, {report['files']} spool files, "
        f"{report['audit_rows']} audit rows; checked: OK"
    )


@click.group("audit")
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
