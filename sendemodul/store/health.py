"""What the metrics and ``/readyz`` read: the heartbeats of the processes, and one snapshot of the uploads' states,
the pipeline's lag and the delivery attempts."""

import datetime

from sendemodul.store.connections import utcnow


def _age(text, now):
    if not text:
        return 0.0
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return max(0.0, (now - moment).total_seconds())


class Health:
    """The ``heartbeats`` rows, and aggregate queries over ``uploads`` (counts and ages only: no unit, no ID)."""

    def heartbeat(self, process):
        """``process`` (``worker``, ``forwarder``, ``front``) is alive now: /readyz checks the age of this row."""
        now = utcnow()
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO heartbeats (process, at) VALUES (?, ?) ON CONFLICT (process) DO UPDATE SET at = ?",
                (process, now, now),
            )

    def heartbeats(self):
        """``{process: at}`` (ISO UTC text) of every process that has beaten."""
        return {r["process"]: r["at"] for r in self._rows("SELECT process, at FROM heartbeats")}

    def metrics_snapshot(self, now):
        """Counts by status and register, the oldest waiting upload of each stage (as an age in seconds, 0 when
        none waits), deliveries and failed delivery attempts, and the heartbeats' ages. ``now``: aware datetime."""
        conn = self.conn()
        states = {
            (status, register): n
            for status, register, n in conn.execute(
                "SELECT status, register, count(*) FROM uploads GROUP BY status, register"
            )
        }
        oldest_received = conn.execute(
            "SELECT min(received_at) FROM uploads WHERE status IN ('received', 'pseudonymizing')"
        ).fetchone()[0]
        oldest_queued = conn.execute(
            "SELECT min(coalesce(pseudonymized_at, received_at)) FROM uploads WHERE status = 'queued' AND test = 0"
        ).fetchone()[0]
        delivered, failed = conn.execute(
            # (CAST: PostgreSQL's sum of BIGINTs is numeric)
            "SELECT count(delivered_at), CAST(coalesce(sum(attempts), 0) AS BIGINT) FROM uploads"
        ).fetchone()
        return {
            "states": states,
            "pseudonymizer_lag": _age(oldest_received, now),
            "forwarder_lag": _age(oldest_queued, now),
            "delivered": delivered,
            "failed_attempts": failed,
            "heartbeat_ages": {process: _age(at, now) for process, at in self.heartbeats().items()},
        }
