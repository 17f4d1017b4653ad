"""Review before delivery (issue 17): a delivery of a register with ``[[review]]`` waits, after pseudonymizing, as
an open task for the reviewers of the unit's fylke, who approve it (queued to SSB) or return it to the unit."""

import json

from sendemodul.errors import NotFound, ReviewDecided, ReviewMessageInvalid, ReviewOwnDelivery
from sendemodul.identity.codelists import fylke_of
from sendemodul.store.connections import utcnow

#: A returned delivery's message to the unit: 1 to this many characters (as in Bufdir's portal).
MAX_REVIEW_MESSAGE_CHARS = 4000

_LIST = (
    "SELECT r.reference, r.fylke, r.state, r.counts, r.previous, r.message, r.decided_by, r.decided_at,"
    " r.created_at, up.unit, up.register, up.periode, up.received_at, up.status, up.size, up.late, u.name AS unit_name"
    " FROM reviews r JOIN uploads up ON up.reference = r.reference JOIN units u ON u.unit = up.unit"
)


def _decoded(row):
    if row is not None:
        row["counts"] = json.loads(row["counts"])
    return row


class Reviews:
    """The ``reviews`` rows and the states ``awaiting_review`` and ``review_returned`` of ``uploads``."""

    def _open_review_in(self, conn, reference, counts, actor):
        """In the pseudonymizer's transaction: the open task for the unit's fylke, linked to the newest returned
        delivery of the same unit, register and periode (the one this corrects), if any."""
        unit, register, periode = conn.execute(
            "SELECT unit, register, periode FROM uploads WHERE reference = ?", (reference,)
        ).fetchone()
        previous = conn.execute(
            "SELECT r.reference FROM reviews r JOIN uploads up ON up.reference = r.reference WHERE up.unit = ?"
            " AND up.register = ? AND up.periode = ? AND r.state = 'returned' AND r.reference != ?"
            " ORDER BY r.decided_at DESC LIMIT 1",
            (unit, register, periode, reference),
        ).fetchone()
        fylke = fylke_of(unit[:4]) or "00"
        conn.execute(
            "INSERT INTO reviews (reference, fylke, state, counts, previous, created_at) VALUES (?, ?, 'open', ?, ?, ?)"
            " ON CONFLICT (reference) DO NOTHING",
            (reference, fylke, json.dumps(counts, sort_keys=True), previous[0] if previous else None, utcnow()),
        )
        self._audit_in(
            conn,
            "review.opened",
            actor,
            unit,
            {"reference": reference, "fylke": fylke, "previous": previous[0] if previous else None},
        )

    def review_tasks(self, fylke, solved=False):
        """The open tasks of ``fylke`` (``solved``: the decided ones, the archive), newest first."""
        states = ("approved", "returned") if solved else ("open",)
        marks = ", ".join("?" * len(states))
        rows = self._rows(
            f"{_LIST} WHERE r.fylke = ? AND r.state IN ({marks}) ORDER BY r.created_at DESC, r.reference",
            (fylke, *states),
        )
        return [_decoded(row) for row in rows]

    def review_task(self, reference):
        """One task with its upload's metadata, or None."""
        return _decoded(self._row(f"{_LIST} WHERE r.reference = ?", (reference,)))

    def review_of(self, reference):
        """The review of an upload as its unit sees it (state, message, decided_at), or None."""
        return self._row("SELECT state, message, decided_at FROM reviews WHERE reference = ?", (reference,))

    def reviews_of_unit(self, unit):
        """{reference: review as the unit sees it} for every reviewed upload of ``unit``."""
        rows = self._rows(
            "SELECT r.reference, r.state, r.message, r.decided_at FROM reviews r JOIN uploads up"
            " ON up.reference = r.reference WHERE up.unit = ?",
            (str(unit),),
        )
        return {row.pop("reference"): row for row in rows}

    def claim_review_mail(self):
        """Take the oldest returned review whose e-mail is pending (``pending -> sending``), joined with the upload
        and the unit; or None. At most once, as the answers' e-mails."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT reference FROM reviews WHERE mail_state = 'pending' ORDER BY decided_at, reference LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE reviews SET mail_state = 'sending' WHERE reference = ?", (row[0],))
        return self._row(
            "SELECT r.reference, r.message, up.unit, up.register, up.periode, up.received_at AS upload_received_at,"
            " u.name AS unit_name, u.email AS unit_email FROM reviews r JOIN uploads up ON up.reference = r.reference"
            " JOIN units u ON u.unit = up.unit WHERE r.reference = ?",
            (row[0],),
        )

    def review_mail_done(self, reference, state):
        with self.transaction() as conn:
            conn.execute("UPDATE reviews SET mail_state = ? WHERE reference = ?", (state, reference))

    def set_person_role(self, person_id, role, fylke, *, actor):
        """Make a person a reviewer (``statsforvalter`` for ``fylke``) or a ``reporter`` again; audited."""
        with self.transaction() as conn:
            row = conn.execute("SELECT unit FROM persons WHERE person_id = ?", (person_id,)).fetchone()
            if row is None:
                raise NotFound(f"no person {person_id}")
            conn.execute(
                "UPDATE persons SET role = ?, fylke = ? WHERE person_id = ?",
                (role, fylke if role == "statsforvalter" else None, person_id),
            )
            self._audit_in(conn, "person.role", actor, row[0], {"person": person_id, "role": role, "fylke": fylke})

    def decide_review(self, reference, *, decision, message, person_id, fylke, sender=None):
        """A reviewer of ``fylke`` (opaque ``person_id``) approves (``decision="approved"``: the upload is queued to
        SSB) or returns (``"returned"``, with ``message`` of 1 to 4,000 characters) an open task. ``sender``: the
        person id who sent the delivery, when known; the reviewer may not be that person. Audited with the acting
        person. A task of another fylke does not exist for the reviewer (:class:`NotFound`)."""
        if decision not in ("approved", "returned"):
            raise ValueError(f"decision must be approved or returned, not {decision!r}")
        message = (message or "").strip()
        if decision == "returned" and not 1 <= len(message) <= MAX_REVIEW_MESSAGE_CHARS:
            raise ReviewMessageInvalid()
        if sender is not None and sender == person_id:
            raise ReviewOwnDelivery()
        now = utcnow()
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT r.state, up.unit, up.status FROM reviews r JOIN uploads up ON up.reference = r.reference"
                " WHERE r.reference = ? AND r.fylke = ?",
                (reference, fylke),
            ).fetchone()
            if row is None:
                raise NotFound(f"no review task {reference}")
            state, unit, status = row
            if state != "open" or status != "awaiting_review":
                raise ReviewDecided()
            conn.execute(
                "UPDATE reviews SET state = ?, message = ?, decided_by = ?, decided_at = ?, mail_state = ?"
                " WHERE reference = ?",
                (
                    decision,
                    message or None,
                    person_id,
                    now,
                    "pending" if decision == "returned" else "none",
                    reference,
                ),
            )
            conn.execute(
                "UPDATE uploads SET status = ?, next_attempt_at = NULL, updated_at = ? WHERE reference = ?",
                ("queued" if decision == "approved" else "review_returned", now, reference),
            )
            self._audit_in(
                conn,
                f"review.{decision}",
                person_id,
                unit,
                {"reference": reference, "fylke": fylke, "message_chars": len(message)},
            )
