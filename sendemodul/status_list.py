"""The status list of one register and periode: every expected unit with the state of its newest delivery, as
``admin status``, its ``--json``, the staff page and the reminders see it. Pure: rows in, rows out.

A unit's state comes from its newest production upload through :data:`UPLOAD_STATES` (one line per upload status,
so a new status slots in). Without an upload a unit is ``missing`` until the deadline and ``late`` after it. A region
that must report but has no registered unit is ``not registered``: the operator must register it (and send its PIN).
A registered unit outside the expected list shows only once it has delivered, marked ``expected: false``.
"""

import datetime
from typing import Any

from sendemodul.config.sections import Window
from sendemodul.expected import ExpectedUnit

#: How an upload's status shows in the status list: on its way to SSB counts as received.
UPLOAD_STATES = {
    "received": "received",
    "pseudonymizing": "received",
    "queued": "received",
    "awaiting_review": "awaiting review",
    "delivered": "delivered",
    "accepted": "accepted",
    "returned": "returned",
    "review_returned": "returned by reviewer",
    "quarantined": "quarantined",
    "rejected": "rejected",
}

MISSING = "missing"
LATE = "late"
NOT_REGISTERED = "not registered"
#: The states in which a unit has not delivered: reminders go to these.
UNDELIVERED = (MISSING, LATE)


def overdue(window: Window | None, today: datetime.date) -> bool:
    """Whether the deadline of ``window`` has passed on ``today`` (no deadline: never)."""
    return bool(window and window.deadline and today > window.deadline)


def state_of(status: str | None, is_overdue: bool) -> str:
    """The state shown for a unit whose newest upload has ``status`` (None: no upload)."""
    if status is None:
        return LATE if is_overdue else MISSING
    return UPLOAD_STATES.get(status, status.replace("_", " "))


def status_rows(
    expected: list[ExpectedUnit], registered: list[dict[str, Any]], window: Window | None, today: datetime.date
) -> list[dict[str, Any]]:
    """One row per expected region (and per unexpected unit that delivered), in region order.

    ``registered``: the store's ``status`` rows (each unit with its newest upload's columns, None when it has none).
    Several units in one region (a new orgnr): the one with the newest upload counts, else the first active one."""
    is_overdue = overdue(window, today)
    by_region: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in registered:
        by_region.setdefault((row["kommunenr"], row["bydel"]), []).append(row)

    def pick(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
        delivered = [r for r in rows if r["reference"]]
        if delivered:
            return max(delivered, key=lambda r: r["received_at"])
        active = [r for r in rows if r["disabled_at"] is None]
        candidates = active or rows
        return candidates[0] if candidates else None

    out: list[dict[str, Any]] = []
    seen = set()
    for unit in expected:
        key = (unit.kommunenr, unit.bydel)
        seen.add(key)
        chosen = pick(by_region.get(key, []))
        if chosen is None:
            out.append(_row(unit.region, None, unit.name, NOT_REGISTERED, expected=True))
        else:
            out.append(_row(unit.region, chosen, chosen["name"], state_of(chosen["status"], is_overdue), expected=True))
    for key, rows in by_region.items():
        other = pick(rows)
        if key not in seen and other is not None and other["reference"]:
            region = f"{key[0]}-{key[1]}"
            out.append(_row(region, other, other["name"], state_of(other["status"], False), expected=False))
    out.sort(key=lambda r: r["region"])
    return out


def _row(region: str, row: dict[str, Any] | None, name: str, state: str, *, expected: bool) -> dict[str, Any]:
    row = row or {}
    return {
        "region": region,
        "unit": row.get("unit"),
        "name": name,
        "state": state,
        "status": row.get("status"),
        "reference": row.get("reference"),
        "late": bool(row.get("late")),
        "received_at": row.get("received_at"),
        "delivered_at": row.get("delivered_at"),
        "reason": row.get("reason"),
        "expected": expected,
        "disabled": bool(row.get("disabled_at")),
    }


def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """How many units are in each state."""
    result: dict[str, int] = {}
    for row in rows:
        result[row["state"]] = result.get(row["state"], 0) + 1
    return dict(sorted(result.items()))
