"""Reporting persons (issue 16): the person rows, their skjema 999 registrations, enrolment tokens, recovery codes,
passkeys, and the one-time use of TOTP steps and recovery codes (each a compare-and-set ``UPDATE``, so two logins
racing with the same code cannot both win). Only hashes and ciphertext of secrets reach these tables
(:mod:`sendemodul.persons`)."""

from sendemodul.errors import NotFound, StoreError
from sendemodul.persons import PERSON_REGISTERS, audit_actor
from sendemodul.store.connections import utcnow


class Persons:
    """Persons of units, their registrations and second factors."""

    def register_person(self, unit, *, person_id, name, email, mobile, language, registers, registration, token, actor):
        """Record a skjema 999 registration. A new (unit, e-mail) makes a ``pending`` person; an existing one gets
        the registers added (a new registration for more registers, as SSB asks). ``token``: ``(token_hash,
        expires_at)`` of a new enrolment link, stored (and older unused links of the person dropped) unless the
        person is already active. Returns ``(person_row, needs_enrolment)``."""
        now = utcnow()
        with self.transaction() as conn:
            self.require_unit(unit)
            row = conn.execute(
                "SELECT person_id, registers, state FROM persons WHERE unit = ? AND email = ?", (str(unit), email)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO persons (person_id, unit, name, email, mobile, language, registers, state, role,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 'reporter', ?)",
                    (person_id, str(unit), name, email, mobile or None, language, ",".join(registers), now),
                )
                state, event = "pending", "person.register"
            else:
                person_id, old, state = row
                merged = [r for r in PERSON_REGISTERS if r in set(old.split(",")) | set(registers)]
                if state == "disabled":  # registered again after being disabled: enrols anew
                    conn.execute(
                        "UPDATE persons SET state = 'pending', totp_secret = NULL, totp_pending = NULL,"
                        " disabled_at = NULL WHERE person_id = ?",
                        (person_id,),
                    )
                    conn.execute("DELETE FROM recovery_codes WHERE person_id = ?", (person_id,))
                    conn.execute("DELETE FROM passkeys WHERE person_id = ?", (person_id,))
                    state = "pending"
                conn.execute(
                    "UPDATE persons SET registers = ?, name = ?, mobile = coalesce(?, mobile), language = ?"
                    " WHERE person_id = ?",
                    (",".join(merged), name, mobile or None, language, person_id),
                )
                event = "person.register_more"
            conn.execute(
                "INSERT INTO person_registrations (person_id, at, actor, registers, unit_name, responsible_name,"
                " responsible_phone, responsible_email) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    person_id,
                    now,
                    actor,
                    ",".join(registers),
                    registration.get("unit_name", ""),
                    registration.get("responsible_name", ""),
                    registration.get("responsible_phone", ""),
                    registration.get("responsible_email", ""),
                ),
            )
            needs = state == "pending"
            if needs:
                conn.execute("DELETE FROM enrolment_tokens WHERE person_id = ? AND used_at IS NULL", (person_id,))
                conn.execute(
                    "INSERT INTO enrolment_tokens (token_hash, person_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                    (token[0], person_id, now, token[1]),
                )
            self._audit_in(conn, event, actor, str(unit), {"person": person_id, "registers": ",".join(registers)})
        return self.person(person_id), needs

    def person(self, person_id):
        return self._row("SELECT * FROM persons WHERE person_id = ?", (person_id,))

    def person_by_email(self, unit, email):
        return self._row("SELECT * FROM persons WHERE unit = ? AND email = ?", (str(unit), email))

    def require_person(self, unit, email):
        row = self.person_by_email(unit, email)
        if row is None:
            raise NotFound(f"unit {unit} has no person with the e-mail address {email}")
        return row

    def list_persons(self, unit=None):
        sql = "SELECT * FROM persons"
        params: tuple = ()
        if unit is not None:
            sql += " WHERE unit = ?"
            params = (str(unit),)
        return self._rows(sql + " ORDER BY unit, email", params)

    def disable_person(self, person_id, *, actor):
        """Disable a person: no login any more (their open web sessions end at their next request)."""
        with self.transaction() as conn:
            row = conn.execute("SELECT unit FROM persons WHERE person_id = ?", (person_id,)).fetchone()
            if row is None:
                raise NotFound(f"no person {person_id}")
            conn.execute(
                "UPDATE persons SET state = 'disabled', disabled_at = ?, totp_pending = NULL WHERE person_id = ?",
                (utcnow(), person_id),
            )
            conn.execute("DELETE FROM enrolment_tokens WHERE person_id = ? AND used_at IS NULL", (person_id,))
            self._audit_in(conn, "person.disable", actor, row[0], {"person": person_id})

    def set_person_registers(self, person_id, registers, *, actor):
        with self.transaction() as conn:
            row = conn.execute("SELECT unit FROM persons WHERE person_id = ?", (person_id,)).fetchone()
            if row is None:
                raise NotFound(f"no person {person_id}")
            conn.execute("UPDATE persons SET registers = ? WHERE person_id = ?", (",".join(registers), person_id))
            self._audit_in(
                conn, "person.registers", actor, row[0], {"person": person_id, "registers": ",".join(registers)}
            )

    def person_is_active(self, person_id):
        return self._row("SELECT 1 FROM persons WHERE person_id = ? AND state = 'active'", (person_id,)) is not None

    # -- enrolment ------------------------------------------------------------------------------------------------

    def enrolment_person(self, token_hash):
        """The person an enrolment link is for, while the link is unused and unexpired and the person not disabled;
        else None."""
        return self._row(
            "SELECT p.*, t.expires_at AS link_expires_at FROM enrolment_tokens t JOIN persons p"
            " ON p.person_id = t.person_id"
            " WHERE t.token_hash = ? AND t.used_at IS NULL AND t.expires_at > ? AND p.state != 'disabled'",
            (token_hash, utcnow()),
        )

    def extend_enrolment_token(self, token_hash, expires_at):
        """Give an unused, unexpired enrolment link the new ``expires_at`` (its page's "more time"); audited with
        the person's opaque id. False if the link is used, expired or unknown."""
        now = utcnow()
        with self.transaction() as conn:
            row = conn.execute(
                "UPDATE enrolment_tokens SET expires_at = ? WHERE token_hash = ? AND used_at IS NULL"
                " AND expires_at > ? RETURNING person_id",
                (expires_at, token_hash, now),
            ).fetchone()
            if row is None:
                return False
            unit = conn.execute("SELECT unit FROM persons WHERE person_id = ?", (row[0],)).fetchone()[0]
            self._audit_in(conn, "person.enrolment_extended", "web", unit, {"person": row[0]})
        return True

    def set_pending_totp(self, person_id, sealed):
        """Keep ``sealed`` (an encrypted new secret) as the person's pending secret unless one is pending already;
        returns the pending one (so a reload of the enrolment page shows the same QR code)."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE persons SET totp_pending = ? WHERE person_id = ? AND totp_pending IS NULL",
                (sealed, person_id),
            )
            return conn.execute("SELECT totp_pending FROM persons WHERE person_id = ?", (person_id,)).fetchone()[0]

    def complete_enrolment(self, token_hash, person_id, *, step, recovery_hashes):
        """Use the enrolment link once: the pending secret becomes the person's (``step`` its first used step),
        the recovery codes are replaced, the person is active. False if the link was used or expired meanwhile."""
        now = utcnow()
        with self.transaction() as conn:
            used = conn.execute(
                "UPDATE enrolment_tokens SET used_at = ? WHERE token_hash = ? AND person_id = ? AND used_at IS NULL"
                " AND expires_at > ?",
                (now, token_hash, person_id, now),
            ).rowcount
            if used != 1:
                return False
            conn.execute(
                "UPDATE persons SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = ?,"
                " state = 'active', activated_at = ? WHERE person_id = ? AND totp_pending IS NOT NULL",
                (step, now, person_id),
            )
            conn.execute("DELETE FROM recovery_codes WHERE person_id = ?", (person_id,))
            for code_hash in recovery_hashes:
                conn.execute("INSERT INTO recovery_codes (person_id, code_hash) VALUES (?, ?)", (person_id, code_hash))
            unit = conn.execute("SELECT unit FROM persons WHERE person_id = ?", (person_id,)).fetchone()[0]
            self._audit_in(conn, "person.enrol", audit_actor(person_id), unit, {"person": person_id})
        return True

    def activate_person_with_secret(self, person_id, sealed, recovery_hashes, *, actor):
        """Dev homes and tests: make a person active with a known (encrypted) TOTP secret at once."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE persons SET totp_secret = ?, totp_pending = NULL, state = 'active', activated_at = ?"
                " WHERE person_id = ?",
                (sealed, utcnow(), person_id),
            )
            conn.execute("DELETE FROM enrolment_tokens WHERE person_id = ?", (person_id,))
            for code_hash in recovery_hashes:
                conn.execute("INSERT INTO recovery_codes (person_id, code_hash) VALUES (?, ?)", (person_id, code_hash))
            unit = conn.execute("SELECT unit FROM persons WHERE person_id = ?", (person_id,)).fetchone()[0]
            self._audit_in(conn, "person.enrol", actor, unit, {"person": person_id})

    # -- second factors ---------------------------------------------------------------------------------------------

    def login_person(self, unit, email):
        """The active person of ``unit`` with ``email``, or None."""
        return self._row("SELECT * FROM persons WHERE unit = ? AND email = ? AND state = 'active'", (str(unit), email))

    def use_totp_step(self, person_id, step):
        """Record that the person used TOTP ``step``; False if that step (or a later one) was used already."""
        with self.transaction() as conn:
            return (
                conn.execute(
                    "UPDATE persons SET totp_last_step = ? WHERE person_id = ? AND totp_last_step < ?"
                    " AND state = 'active'",
                    (step, person_id, step),
                ).rowcount
                == 1
            )

    def use_recovery_code(self, person_id, code_hash):
        """Spend one recovery code; False if it is unknown or spent."""
        with self.transaction() as conn:
            done = (
                conn.execute(
                    "UPDATE recovery_codes SET used_at = ? WHERE person_id = ? AND code_hash = ? AND used_at IS NULL",
                    (utcnow(), person_id, code_hash),
                ).rowcount
                == 1
            )
            if done:
                left = conn.execute(
                    "SELECT count(*) FROM recovery_codes WHERE person_id = ? AND used_at IS NULL", (person_id,)
                ).fetchone()[0]
                unit = conn.execute("SELECT unit FROM persons WHERE person_id = ?", (person_id,)).fetchone()[0]
                self._audit_in(
                    conn, "person.recovery_code", audit_actor(person_id), unit, {"person": person_id, "left": left}
                )
            return done

    def recovery_codes_left(self, person_id):
        return (
            self.conn()
            .execute("SELECT count(*) FROM recovery_codes WHERE person_id = ? AND used_at IS NULL", (person_id,))
            .fetchone()[0]
        )

    # -- passkeys -------------------------------------------------------------------------------------------------

    def add_passkey(self, person_id, credential_id, public_key, sign_count):
        with self.transaction() as conn:
            row = conn.execute("SELECT unit FROM persons WHERE person_id = ?", (person_id,)).fetchone()
            if row is None:
                raise StoreError(f"no person {person_id}")
            conn.execute(
                "INSERT INTO passkeys (credential_id, person_id, public_key, sign_count, added_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (credential_id, person_id, public_key, sign_count, utcnow()),
            )
            self._audit_in(conn, "person.passkey_add", audit_actor(person_id), row[0], {"person": person_id})

    def passkeys(self, person_id):
        return self._rows("SELECT * FROM passkeys WHERE person_id = ? ORDER BY added_at", (person_id,))

    def passkey(self, credential_id):
        return self._row("SELECT * FROM passkeys WHERE credential_id = ?", (credential_id,))

    def use_passkey(self, credential_id, old_count, new_count):
        """Record a passkey's new signature counter (compare-and-set on the old one)."""
        with self.transaction() as conn:
            return (
                conn.execute(
                    "UPDATE passkeys SET sign_count = ?, last_used_at = ? WHERE credential_id = ? AND sign_count = ?",
                    (new_count, utcnow(), credential_id, old_count),
                ).rowcount
                == 1
            )
