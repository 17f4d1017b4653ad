"""``sendemodul admin uploads``, ``status``, ``requeue``, ``audit``: the uploads, delivery status, the audit log."""

import datetime

import click

from sendemodul import audit as auditmod
from sendemodul.cli.admin_options import ACTOR, emit, home_option, json_option, open_store
from sendemodul.errors import AuditError, UsageError
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
        {
            "unit": r["unit"],
            "name": r["name"],
            "state": _state(r["status"], overdue),
            "status": r["status"],
            "reference": r["reference"],
            "late": bool(r["late"]),
            "received_at": r["received_at"],
            "delivered_at": r["delivered_at"],
            "reason": r["reason"],
        }
        for r in store.status(register, periode)
    ]
    emit(
        rows,
        [
            ("unit", "UNIT"),
            ("name", "NAME"),
            ("state", "STATE"),
            ("reference", "REFERENCE"),
            ("received_at", "RECEIVED"),
            ("delivered_at", "DELIVERED"),
        ],
        as_json,
    )


#: How an upload's status shows in the status list: on its way to SSB counts as received.
_STATES = {
    "received": "received",
    "pseudonymizing": "received",
    "queued": "received",
    "delivered": "delivered",
    "accepted": "accepted",
    "returned": "returned",
    "awaiting_review": "awaiting review",
    "review_returned": "returned by reviewer",
    "quarantined": "quarantined",
    "rejected": "rejected",
}


def _state(status, overdue):
    """delivered, received, quarantined or rejected; with no upload: missing, or late once the deadline passed."""
    if status is None:
        return "late" if overdue else "missing"
    return _STATES.get(status, status)


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
