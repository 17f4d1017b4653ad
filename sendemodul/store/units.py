"""Units and their credentials: PIN hashes, SSH keys, manifest signing keys."""

from sendemodul.errors import AlreadyExists, NotFound, StoreError, UnitNotFound
from sendemodul.store.connections import utcnow


class Units:
    """The registered units and what they log in and sign with."""

    def add_unit(self, unit, *, name, email, actor, language="nb"):
        """Register a unit (an ``identity.Unit``); ``language`` is its written standard (nb, nn or neutral)."""
        with self.transaction() as conn:
            try:
                conn.execute(
                    "INSERT INTO units (unit, kommunenr, bydel, orgnr, name, email, created_at, language)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (str(unit), unit.kommunenr, unit.bydel, unit.orgnr, name, email, utcnow(), language),
                )
            except self.integrity_error:
                raise AlreadyExists(f"unit {unit} is already registered") from None
            self._audit_in(conn, "unit.add", actor, str(unit), {"name": name, "language": language})

    def set_unit(self, unit, *, actor, language=None, name=None, email=None):
        """Change a unit's written standard, name or e-mail address (what is None stays)."""
        changes = {k: v for k, v in (("language", language), ("name", name), ("email", email)) if v is not None}
        if not changes:
            return
        with self.transaction() as conn:
            self.require_unit(unit)
            assignments = ", ".join(f"{column} = ?" for column in changes)
            conn.execute(f"UPDATE units SET {assignments} WHERE unit = ?", (*changes.values(), str(unit)))
            self._audit_in(conn, "unit.set", actor, str(unit), {k: v for k, v in changes.items() if k != "email"})

    def get_unit(self, unit):
        return self._row("SELECT * FROM units WHERE unit = ?", (str(unit),))

    def require_unit(self, unit):
        row = self.get_unit(unit)
        if row is None:
            raise UnitNotFound(f"unit {unit} is not registered (see 'sendemodul admin unit list')")
        return row

    def list_units(self):
        return self._rows(
            "SELECT u.*, p.issued_at AS pin_issued_at,"
            " (SELECT count(*) FROM ssh_keys k WHERE k.unit = u.unit) AS ssh_keys,"
            " (SELECT count(*) FROM signing_keys s WHERE s.unit = u.unit AND s.revoked_at IS NULL) AS signing_keys"
            " FROM units u LEFT JOIN pins p ON p.unit = u.unit ORDER BY u.unit"
        )

    def disable_unit(self, unit, *, actor):
        """Disable a unit: it can no longer log in; its PIN is revoked and its sessions end. Its history stays."""
        with self.transaction() as conn:
            self.require_unit(unit)
            conn.execute(
                "UPDATE units SET disabled_at = ? WHERE unit = ? AND disabled_at IS NULL", (utcnow(), str(unit))
            )
            conn.execute("DELETE FROM pins WHERE unit = ?", (str(unit),))
            self._end_sessions_in(conn, unit)
            self._audit_in(conn, "unit.disable", actor, str(unit), {})

    # -- PINs --------------------------------------------------------------------------------------------------

    def set_pin(self, unit, phc, *, actor):
        """Store a new PIN hash for an active unit, replacing the previous one."""
        with self.transaction() as conn:
            row = self.require_unit(unit)
            if row["disabled_at"]:
                raise StoreError(f"unit {unit} is disabled")
            conn.execute(
                "INSERT INTO pins (unit, phc, issued_at) VALUES (?, ?, ?)"
                " ON CONFLICT (unit) DO UPDATE SET phc = excluded.phc, issued_at = excluded.issued_at",
                (str(unit), phc, utcnow()),
            )
            self._end_sessions_in(conn, unit)  # a new PIN replaces the old one: what the old one opened ends
            self._audit_in(conn, "pin.issue", actor, str(unit), {})

    def revoke_pin(self, unit, *, actor):
        with self.transaction() as conn:
            self.require_unit(unit)
            if conn.execute("DELETE FROM pins WHERE unit = ?", (str(unit),)).rowcount == 0:
                raise NotFound(f"unit {unit} has no PIN to revoke")
            self._end_sessions_in(conn, unit)
            self._audit_in(conn, "pin.revoke", actor, str(unit), {})

    def login_pin_hash(self, unit):
        """The PIN hash of an active unit, or None (unknown, disabled, or no PIN)."""
        return self.login_pin(unit)[0]

    def login_pin(self, unit):
        """``(phc, epoch)``: the PIN hash of an active unit and its credential epoch, read together (one statement),
        so a login checked against this hash is remembered under the epoch that hash belongs to; ``(None, None)``
        for an unknown, disabled or PIN-less unit."""
        row = (
            self.conn()
            .execute(
                "SELECT p.phc, u.credential_epoch FROM pins p JOIN units u ON u.unit = p.unit"
                " WHERE p.unit = ? AND u.disabled_at IS NULL",
                (str(unit),),
            )
            .fetchone()
        )
        return (row[0], row[1]) if row else (None, None)

    # -- credential epochs: ending what a changed credential opened (issue 14) ---------------------------------

    def _end_sessions_in(self, conn, unit):
        """Raise the unit's credential epoch above every unit's, in the caller's transaction: each login checked
        under the old epoch is over (the server ends its sessions and refuses its uploads)."""
        conn.execute(
            "UPDATE units SET credential_epoch = (SELECT max(credential_epoch) FROM units) + 1 WHERE unit = ?",
            (str(unit),),
        )

    def credential_epoch(self, unit):
        """The credential epoch of an active unit, or None (unknown or disabled: no login of it is valid)."""
        row = (
            self.conn()
            .execute("SELECT credential_epoch FROM units WHERE unit = ? AND disabled_at IS NULL", (str(unit),))
            .fetchone()
        )
        return row[0] if row else None

    def credential_changes(self, since):
        """``(unit, epoch, active)`` of every unit whose epoch was raised past ``since``, oldest first (``active``
        False for a disabled unit). Cheap: an index range over the epochs (what the server polls)."""
        return [
            (unit, epoch, bool(active))
            for unit, epoch, active in self.conn().execute(
                "SELECT unit, credential_epoch, disabled_at IS NULL FROM units WHERE credential_epoch > ?"
                " ORDER BY credential_epoch",
                (since,),
            )
        ]

    def max_credential_epoch(self):
        return self.conn().execute("SELECT coalesce(max(credential_epoch), 0) FROM units").fetchone()[0]

    def unit_is_active(self, unit):
        row = self._row("SELECT 1 FROM units WHERE unit = ? AND disabled_at IS NULL", (str(unit),))
        return row is not None

    # -- SSH keys ----------------------------------------------------------------------------------------------

    def add_ssh_key(self, unit, *, algorithm, public_key, fingerprint, comment, actor):
        with self.transaction() as conn:
            self.require_unit(unit)
            try:
                conn.execute(
                    "INSERT INTO ssh_keys (unit, algorithm, public_key, fingerprint, comment, added_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (str(unit), algorithm, public_key, fingerprint, comment, utcnow()),
                )
            except self.integrity_error:
                raise AlreadyExists(f"unit {unit} already has the SSH key {fingerprint}") from None
            self._audit_in(conn, "sshkey.add", actor, str(unit), {"fingerprint": fingerprint})

    def ssh_keys(self, unit):
        return self._rows("SELECT * FROM ssh_keys WHERE unit = ? ORDER BY id", (str(unit),))

    def remove_ssh_key(self, unit, fingerprint, *, actor):
        with self.transaction() as conn:
            self.require_unit(unit)
            cur = conn.execute("DELETE FROM ssh_keys WHERE unit = ? AND fingerprint = ?", (str(unit), fingerprint))
            if cur.rowcount == 0:
                raise NotFound(f"unit {unit} has no SSH key {fingerprint}")
            self._end_sessions_in(conn, unit)  # a session that logged in with the key ends with it
            self._audit_in(conn, "sshkey.remove", actor, str(unit), {"fingerprint": fingerprint})

    # -- signing keys (the unit's Ed25519 key that signs container manifests) ---------------------------------

    def add_signing_key(self, unit, *, public_key, fingerprint, actor):
        with self.transaction() as conn:
            self.require_unit(unit)
            try:
                conn.execute(
                    "INSERT INTO signing_keys (unit, public_key, fingerprint, added_at) VALUES (?, ?, ?, ?)",
                    (str(unit), public_key, fingerprint, utcnow()),
                )
            except self.integrity_error:
                raise AlreadyExists(f"unit {unit} already has the signing key {fingerprint}") from None
            self._audit_in(conn, "signingkey.add", actor, str(unit), {"fingerprint": fingerprint})

    def signing_keys(self, unit):
        """The unit's current (not revoked) signing keys."""
        return self._rows("SELECT * FROM signing_keys WHERE unit = ? AND revoked_at IS NULL ORDER BY id", (str(unit),))
