"""The hash-chained audit log's rows (the chain itself is :mod:`sendemodul.audit`)."""

from sendemodul import audit
from sendemodul.store.connections import utcnow


class AuditLog:
    """Appending to the audit log, inside a write transaction or in its own, and reading it back."""

    def _audit_in(self, conn, event, actor, unit, detail):
        head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        seq, prev_hash = (head[0] + 1, head[1]) if head else (1, audit.GENESIS)
        entry = audit.Entry(
            seq=seq,
            at=utcnow(),
            event=event,
            actor=actor,
            unit=unit,
            detail=audit.canonical_detail(detail),
            prev_hash=prev_hash,
        )
        row_hash = entry.compute_hash()
        conn.execute(
            "INSERT INTO audit (seq, at, event, actor, unit, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.seq, entry.at, entry.event, entry.actor, entry.unit, entry.detail, entry.prev_hash, row_hash),
        )
        conn.execute(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            (seq, row_hash),
        )
        return seq

    def audit(self, event, *, actor, unit=None, detail=None):
        """Append one audit event (its own transaction). Returns its sequence number."""
        with self.transaction() as conn:
            return self._audit_in(conn, event, actor, unit, detail or {})

    def audit_entries(self):
        """Every audit row in storage order, as :class:`audit.StoredEntry`."""
        for row in self.conn().execute(
            "SELECT seq, at, event, actor, unit, detail, prev_hash, hash FROM audit ORDER BY rowid"
        ):
            yield audit.StoredEntry(*row)

    def audit_head(self):
        row = self.conn().execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        return (row[0], row[1]) if row else (0, audit.GENESIS)
