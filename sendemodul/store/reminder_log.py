"""Which reminders are done: the reminder days completed and each unit's reminder claimed or sent."""

from sendemodul.store.connections import utcnow


class ReminderLog:
    """The ``reminder_days`` and ``reminders_sent`` rows."""

    def reminder_day_done(self, register, periode, day):
        row = (
            self.conn()
            .execute(
                "SELECT 1 FROM reminder_days WHERE register = ? AND periode = ? AND day = ?", (register, periode, day)
            )
            .fetchone()
        )
        return row is not None

    def complete_reminder_day(self, register, periode, day):
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO reminder_days (register, periode, day, completed_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (register, periode, day, utcnow()),
            )

    def claim_reminder(self, register, periode, day, unit):
        """Mark the reminder of ``unit`` for ``day`` as being sent; False if it was sent (or tried) before. A crash
        after this leaves it claimed: a reminder is never sent twice (at most once)."""
        with self.transaction() as conn:
            claimed = conn.execute(
                "INSERT INTO reminders_sent (register, periode, day, unit, state, at) VALUES (?, ?, ?, ?, 'sending', ?)"
                " ON CONFLICT DO NOTHING",
                (register, periode, day, unit, utcnow()),
            ).rowcount
        return claimed == 1

    def reminder_sent(self, register, periode, day, unit):
        with self.transaction() as conn:
            conn.execute(
                "UPDATE reminders_sent SET state = 'sent', at = ? WHERE register = ? AND periode = ? AND day = ?"
                " AND unit = ?",
                (utcnow(), register, periode, day, unit),
            )
            self._audit_in(
                conn, "reminder.sent", "mailer", unit, {"register": register, "periode": periode, "day": day}
            )

    def reminder_failed(self, register, periode, day, unit):
        """The relay refused or was unreachable: release the claim so a later run retries."""
        with self.transaction() as conn:
            conn.execute(
                "DELETE FROM reminders_sent WHERE register = ? AND periode = ? AND day = ? AND unit = ?"
                " AND state = 'sending'",
                (register, periode, day, unit),
            )

    def reminders(self):
        return self._rows("SELECT * FROM reminders_sent ORDER BY register, periode, day, unit")

    def reminder_addresses(self, unit, register):
        """Where a unit's reminder for ``register`` goes: the unit's address and those of its active persons who may
        report the register (issue 16), each once, the unit's first."""
        from sendemodul.persons import registers_of

        row = self.conn().execute("SELECT email FROM units WHERE unit = ?", (str(unit),)).fetchone()
        addresses = [row[0]] if row else []
        persons = (
            self.conn()
            .execute(
                "SELECT email, registers FROM persons WHERE unit = ? AND state = 'active' AND role = 'reporter'"
                " ORDER BY email",
                (str(unit),),
            )
            .fetchall()
        )
        for email, registers in persons:
            if register in registers_of(registers) and email not in addresses:
                addresses.append(email)
        return addresses
