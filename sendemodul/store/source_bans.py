"""Sources (client addresses) banned for failed logins, shared by every front that uses the database."""


class SourceBans:
    """The ``source_bans`` rows: a ban one front decided, for every front to enforce."""

    def ban_source(self, source, until):
        """Record that ``source`` is banned until ``until`` (seconds since the epoch); a longer ban stays."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO source_bans (source, until) VALUES (?, ?) ON CONFLICT (source) DO UPDATE SET until ="
                " CASE WHEN excluded.until > source_bans.until THEN excluded.until ELSE source_bans.until END",
                (source, float(until)),
            )

    def source_bans(self, now):
        """``[(source, until)]`` of every ban still running at ``now``; removes the ones that ended (a statement of
        its own: nothing is read and written back)."""
        conn = self.conn()
        conn.execute("DELETE FROM source_bans WHERE until <= ?", (float(now),))
        return [(row[0], row[1]) for row in conn.execute("SELECT source, until FROM source_bans ORDER BY source")]
