"""Which morning e-mails are done: the days completed and each unit's e-mail claimed or sent."""

from sendemodul.store.connections import utcnow


class MailLog:
    """The ``mail_days`` and ``mail_sent`` rows, and the activity a day's e-mail reports."""

    def last_mail_day(self):
        """The newest day (``YYYY-MM-DD``, Oslo) whose morning e-mails are done, or None."""
        row = self.conn().execute("SELECT max(day) FROM mail_days").fetchone()
        return row[0] if row else None

    def complete_mail_day(self, day):
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO mail_days (day, completed_at) VALUES (?, ?) ON CONFLICT DO NOTHING", (day, utcnow())
            )

    def activity(self, start, end):
        """Uploads received or changed in [start, end) (ISO UTC strings), with their unit's name, e-mail and written
        standard."""
        return self._rows(
            "SELECT up.*, u.name AS unit_name, u.email AS unit_email, u.language AS unit_language"
            " FROM uploads up JOIN units u ON u.unit = up.unit"
            " WHERE u.disabled_at IS NULL AND ((up.received_at >= ? AND up.received_at < ?)"
            " OR (up.updated_at >= ? AND up.updated_at < ?)) ORDER BY up.unit, up.received_at, up.reference",
            (start, end, start, end),
        )

    def claim_mail(self, day, unit):
        """Mark the e-mail of ``unit`` for ``day`` as being sent; False if it was sent (or tried) before. A crash
        after this leaves it claimed: an e-mail is never sent twice (at most once)."""
        with self.transaction() as conn:
            claimed = conn.execute(
                "INSERT INTO mail_sent (day, unit, state, at) VALUES (?, ?, 'sending', ?) ON CONFLICT DO NOTHING",
                (day, unit, utcnow()),
            ).rowcount
        return claimed == 1

    def mail_sent(self, day, unit):
        with self.transaction() as conn:
            conn.execute(
                "UPDATE mail_sent SET state = 'sent', at = ? WHERE day = ? AND unit = ?", (utcnow(), day, unit)
            )
            self._audit_in(conn, "mail.sent", "mailer", unit, {"day": day})

    def mail_failed(self, day, unit):
        """The relay refused or was unreachable before accepting: release the claim so a later run retries."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM mail_sent WHERE day = ? AND unit = ? AND state = 'sending'", (day, unit))

    def mails(self):
        return self._rows("SELECT * FROM mail_sent ORDER BY day, unit")
