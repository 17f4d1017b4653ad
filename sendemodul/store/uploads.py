"""Uploads through their life: recorded at intake, pseudonymized by the worker, delivered by the forwarder."""

from sendemodul.errors import AlreadyRecorded, LoginRevoked, NotFound, StoreError
from sendemodul.store.connections import utcnow


class Uploads:
    """The ``uploads`` and ``feedback`` rows, and each step's change of an upload's status."""

    def upload(self, reference):
        return self._row("SELECT * FROM uploads WHERE reference = ?", (reference,))

    def upload_by_container_id(self, container_id):
        return self._row("SELECT * FROM uploads WHERE container_id = ?", (container_id,))

    def upload_exists(self, reference):
        return self.upload(reference) is not None

    def record_upload(self, row, *, actor, credential_epoch=None):
        """Record an accepted upload (``row``: reference, unit, register, periode, container_id, sha256, size,
        status, test, late, received_at) and mark older uploads of the same unit/register/periode (and the same
        test flag) superseded. Returns the stored row; raises :class:`AlreadyRecorded` if the container_id (or the
        reference) is already recorded.

        ``credential_epoch``: the epoch of the login that uploaded (intake always gives it). In the same
        transaction, the unit must still be active with that epoch, else :class:`LoginRevoked` and nothing is
        recorded: a revoke committed before this is refused, one after it came after the receipt."""
        columns = (
            "reference",
            "unit",
            "register",
            "periode",
            "container_id",
            "sha256",
            "size",
            "status",
            "test",
            "late",
            "received_at",
        )
        with self.transaction() as conn:
            if credential_epoch is not None:
                current = conn.execute(
                    "SELECT credential_epoch FROM units WHERE unit = ? AND disabled_at IS NULL", (row["unit"],)
                ).fetchone()
                if current is None or current[0] != credential_epoch:
                    raise LoginRevoked()
            if row.get("person_id"):  # uploaded in a person's web session (issue 16)
                columns = (*columns, "person_id")
            if row.get("no_participants"):
                columns = (*columns, "no_participants")
            inserted = conn.execute(
                f"INSERT INTO uploads ({', '.join(columns)}, updated_at) VALUES ({', '.join('?' * len(columns))}, ?)"
                " ON CONFLICT DO NOTHING",
                (*(row[c] for c in columns), row["received_at"]),
            ).rowcount
            if not inserted:
                raise AlreadyRecorded()
            conn.execute(
                "UPDATE uploads SET superseded_by = ?, updated_at = ? WHERE unit = ? AND register = ? AND periode = ?"
                " AND test = ? AND reference != ? AND superseded_by IS NULL",
                (
                    row["reference"],
                    row["received_at"],
                    row["unit"],
                    row["register"],
                    row["periode"],
                    row["test"],
                    row["reference"],
                ),
            )
            self._audit_in(
                conn,
                "upload.received",
                actor,
                row["unit"],
                {
                    "reference": row["reference"],
                    "register": row["register"],
                    "periode": row["periode"],
                    "size": row["size"],
                    "sha256": row["sha256"],
                    "test": bool(row["test"]),
                    "late": bool(row["late"]),
                    **({"person": row["person_id"]} if row.get("person_id") else {}),
                    **({"no_participants": True} if row.get("no_participants") else {}),
                },
            )
        return self.upload(row["reference"])

    def list_uploads(self, unit=None):
        if unit is None:
            return self._rows("SELECT * FROM uploads ORDER BY received_at, reference")
        return self._rows("SELECT * FROM uploads WHERE unit = ? ORDER BY received_at, reference", (str(unit),))

    def current_upload(self, unit, register, periode):
        """The upload that counts now for the unit, register and periode (:mod:`sendemodul.standing`): the newest
        production upload, which no other superseded; None while only tests (or nothing) were sent."""
        return self._row(
            "SELECT * FROM uploads WHERE unit = ? AND register = ? AND periode = ? AND test = 0"
            " AND superseded_by IS NULL ORDER BY received_at DESC, reference DESC LIMIT 1",
            (str(unit), register, periode),
        )

    def status(self, register, periode):
        """Every registered unit with its newest upload for the register and periode (None when missing)."""
        return self._rows(
            "SELECT u.unit, u.kommunenr, u.bydel, u.name, u.email, u.disabled_at, up.reference, up.status, up.late,"
            " up.test, up.received_at,"
            " up.delivered_at, up.reason"
            " FROM units u LEFT JOIN uploads up ON up.reference = ("
            "   SELECT reference FROM uploads x WHERE x.unit = u.unit AND x.register = ? AND x.periode = ?"
            "   AND x.test = 0 ORDER BY x.received_at DESC, x.rowid DESC LIMIT 1)"
            " ORDER BY u.unit",
            (register, periode),
        )

    # -- the pseudonymizer (worker) ----------------------------------------------------------------------------

    def reset_pseudonymizing(self):
        """At worker start: uploads left ``pseudonymizing`` by a crash go back to ``received``. Returns them."""
        with self.transaction() as conn:
            refs = [r[0] for r in conn.execute("SELECT reference FROM uploads WHERE status = 'pseudonymizing'")]
            conn.execute(
                "UPDATE uploads SET status = 'received', updated_at = ? WHERE status = 'pseudonymizing'", (utcnow(),)
            )
        return refs

    def claim_received(self):
        """Take the oldest ``received`` upload for pseudonymizing (status -> ``pseudonymizing``); None if none."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT reference FROM uploads WHERE status = 'received' ORDER BY received_at, rowid LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            claimed = conn.execute(
                "UPDATE uploads SET status = 'pseudonymizing', updated_at = ?"
                " WHERE reference = ? AND status = 'received'",
                (utcnow(), row[0]),
            ).rowcount
            if not claimed:  # cannot happen while write transactions run one at a time; never claim twice
                raise StoreError(f"upload {row[0]} was claimed by another worker")
        return self.upload(row[0])

    def finish_pseudonymizing(
        self,
        reference,
        *,
        status,
        feedback,
        feedback_omitted,
        package_size,
        package_sha256,
        counts,
        actor,
        records=None,
    ):
        """Record a pseudonymized upload: ``status`` is ``queued`` (to be forwarded), ``awaiting_review`` (a register
        with ``[[review]]``: an open task for the unit's fylke first) or ``tested`` (a test upload, never forwarded);
        ``feedback`` holds (row_id, id_type, id_class) of the invalid IDs."""
        now = utcnow()
        with self.transaction() as conn:
            conn.execute("DELETE FROM feedback WHERE reference = ?", (reference,))
            conn.executemany(
                "INSERT INTO feedback (reference, row_id, id_type, id_class) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                [(reference, *f) for f in feedback],
            )
            conn.execute(
                "UPDATE uploads SET status = ?, feedback_omitted = ?, package_size = ?, package_sha256 = ?,"
                " pseudonymized_at = ?, updated_at = ?, reason = NULL, attempts = 0, next_attempt_at = NULL,"
                " last_error = NULL WHERE reference = ? AND status = 'pseudonymizing'",
                (status, feedback_omitted, package_size, package_sha256, now, now, reference),
            )
            row = conn.execute("SELECT unit FROM uploads WHERE reference = ?", (reference,)).fetchone()
            self._audit_in(
                conn,
                "upload.pseudonymized",
                actor,
                row[0] if row else None,
                {
                    "reference": reference,
                    "status": status,
                    "counts": counts,
                    "invalid": len(feedback) + feedback_omitted,
                },
            )
            if status == "awaiting_review":
                self._open_review_in(conn, reference, {"records": records, "id_classes": counts}, actor)

    def quarantine_upload(self, reference, reason, *, actor):
        """Stop an upload that failed after intake; ``reason`` is shown to the unit (no ID, no content)."""
        now = utcnow()
        with self.transaction() as conn:
            conn.execute(
                "UPDATE uploads SET status = 'quarantined', reason = ?, updated_at = ? WHERE reference = ?",
                (reason, now, reference),
            )
            row = conn.execute("SELECT unit FROM uploads WHERE reference = ?", (reference,)).fetchone()
            self._audit_in(
                conn, "upload.quarantined", actor, row[0] if row else None, {"reference": reference, "reason": reason}
            )

    def upload_with_feedback(self, reference):
        """The upload row with its ``feedback`` rows and SSB's ``answer`` (None until there is one) added, or None."""
        row = self.upload_with_answer(reference)
        if row is not None:
            row["feedback"] = self.feedback(reference)
        return row

    def feedback(self, reference):
        """The invalid IDs of an upload by row id, field and class (never the ID itself)."""
        return self._rows(
            "SELECT row_id, id_type, id_class FROM feedback WHERE reference = ? ORDER BY row_id, id_type", (reference,)
        )

    def uploads_with_status(self, *statuses):
        marks = ", ".join("?" * len(statuses))
        return self._rows(f"SELECT * FROM uploads WHERE status IN ({marks}) ORDER BY received_at, rowid", statuses)

    # -- the forwarder -----------------------------------------------------------------------------------------

    def next_delivery(self, now):
        """The oldest ``queued`` production upload whose next attempt is due at ``now`` (ISO UTC), or None."""
        return self._row(
            "SELECT * FROM uploads WHERE status = 'queued' AND test = 0"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
            " ORDER BY received_at, rowid LIMIT 1",
            (now,),
        )

    def delivery_failed(self, reference, error, next_attempt_at):
        with self.transaction() as conn:
            conn.execute(
                "UPDATE uploads SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,"
                " updated_at = ? WHERE reference = ? AND status = 'queued'",
                (error, next_attempt_at, utcnow(), reference),
            )

    def mark_delivered(self, reference, *, actor):
        """Record the delivery time. Only a ``queued`` upload can become ``delivered`` (exactly once)."""
        now = utcnow()
        with self.transaction() as conn:
            changed = conn.execute(
                "UPDATE uploads SET status = 'delivered', delivered_at = ?, updated_at = ?,"
                " next_attempt_at = NULL WHERE reference = ? AND status = 'queued'",
                (now, now, reference),
            ).rowcount
            if changed:
                row = conn.execute("SELECT unit FROM uploads WHERE reference = ?", (reference,)).fetchone()
                self._audit_in(conn, "upload.delivered", actor, row[0], {"reference": reference})
        return bool(changed)

    def requeue(self, reference, *, actor):
        """An admin sends an upload round again: ``quarantined`` -> ``received`` (pseudonymize again), or a
        ``queued`` one is retried at once. Returns the new status."""
        with self.transaction() as conn:
            row = conn.execute("SELECT unit, status FROM uploads WHERE reference = ?", (reference,)).fetchone()
            if row is None:
                raise NotFound(f"no upload {reference} (see 'sendemodul admin uploads')")
            unit, status = row
            if status == "quarantined":
                new = "received"
                conn.execute(
                    "UPDATE uploads SET status = 'received', reason = NULL, updated_at = ? WHERE reference = ?",
                    (utcnow(), reference),
                )
            elif status == "queued":
                new = "queued"
                conn.execute(
                    "UPDATE uploads SET next_attempt_at = NULL, updated_at = ? WHERE reference = ?",
                    (utcnow(), reference),
                )
            else:
                raise StoreError(f"upload {reference} is {status}; only quarantined or queued uploads can be requeued")
            self._audit_in(conn, "upload.requeue", actor, unit, {"reference": reference, "from": status})
        return new
