"""Access for reviewers (issue 17): applications for reviewer access made in the web, decided by the reviewers of the
fylke applied for, and the reviewer persons themselves, who belong to a fylke and not to a unit (``persons.unit``
NULL, role ``statsforvalter``). Names and e-mail addresses stay in these rows: the audit names an application by its
opaque id and a person by theirs."""

from sendemodul.errors import ApplicationDecided, NotFound
from sendemodul.persons import REVIEWER_ROLE
from sendemodul.store.connections import utcnow

#: At most this many open applications per fylke: the form is public, so the table's growth is bounded even when
#: many sources apply (each source's applications also count toward its score, as failed logins do).
MAX_OPEN_APPLICATIONS = 200

_APPLICATION = (
    "SELECT application_id, name, email, fylke, language, state, created_at, decided_by, decided_at, person_id"
    " FROM reviewer_applications"
)


class ReviewerAccess:
    """The ``reviewer_applications`` rows and the reviewer persons without a unit."""

    # -- applications --------------------------------------------------------------------------------------------

    def apply_for_reviewer_access(self, *, application_id, name, email, fylke, language):
        """Record an application (state ``open``). Returns ``"open"`` when it is recorded, ``"duplicate"`` when
        the e-mail address has an open application already (nothing changes), ``"full"`` when the fylke has
        :data:`MAX_OPEN_APPLICATIONS` open ones. Audited with the application id and the fylke only."""
        with self.transaction() as conn:
            count = conn.execute(
                "SELECT count(*) FROM reviewer_applications WHERE fylke = ? AND state = 'open'", (fylke,)
            ).fetchone()[0]
            if count >= MAX_OPEN_APPLICATIONS:
                return "full"
            added = conn.execute(
                "INSERT INTO reviewer_applications (application_id, name, email, fylke, language, state, created_at)"
                " VALUES (?, ?, ?, ?, ?, 'open', ?) ON CONFLICT (email) WHERE state = 'open' DO NOTHING",
                (application_id, name, email, fylke, language, utcnow()),
            ).rowcount
            if added != 1:
                return "duplicate"
            self._audit_in(
                conn, "reviewer_application.received", "web", None, {"application": application_id, "fylke": fylke}
            )
        return "open"

    def reviewer_applications(self, fylke, solved=False):
        """The open applications of ``fylke`` (``solved``: the decided ones), oldest open first, newest decided
        first."""
        if solved:
            return self._rows(
                f"{_APPLICATION} WHERE fylke = ? AND state IN ('approved', 'refused')"
                " ORDER BY decided_at DESC, application_id",
                (fylke,),
            )
        return self._rows(
            f"{_APPLICATION} WHERE fylke = ? AND state = 'open' ORDER BY created_at, application_id", (fylke,)
        )

    def reviewer_application(self, application_id):
        return self._row(f"{_APPLICATION} WHERE application_id = ?", (application_id,))

    def _open_application_in(self, conn, application_id, fylke):
        """In a transaction: the open application's row of ``fylke``; NotFound for an unknown one or one of another
        fylke (a reviewer does not learn that it exists), ApplicationDecided for a decided one."""
        cursor = conn.execute(f"{_APPLICATION} WHERE application_id = ? AND fylke = ?", (application_id, fylke))
        row = cursor.fetchone()
        if row is None:
            raise NotFound(f"no application {application_id} for fylke {fylke}")
        names = [d[0] for d in cursor.description]
        application = dict(zip(names, row, strict=False))
        if application["state"] != "open":
            raise ApplicationDecided()
        return application

    def approve_reviewer_application(self, application_id, *, fylke, actor_person_id, person_id, token):
        """A reviewer of ``fylke`` approves an open application: in one transaction the applicant becomes a reviewer
        person of the fylke (:meth:`_register_reviewer_in`, with the enrolment ``token``) and the application is
        ``approved``; both audited with the acting reviewer. Returns ``(application, person, needs_enrolment)``."""
        now = utcnow()
        with self.transaction() as conn:
            application = self._open_application_in(conn, application_id, fylke)
            actor = f"person:{actor_person_id}"
            person_id, needs = self._register_reviewer_in(
                conn,
                person_id=person_id,
                name=application["name"],
                email=application["email"],
                language=application["language"],
                fylke=fylke,
                token=token,
                actor=actor,
            )
            conn.execute(
                "UPDATE reviewer_applications SET state = 'approved', decided_by = ?, decided_at = ?, person_id = ?"
                " WHERE application_id = ?",
                (actor_person_id, now, person_id, application_id),
            )
            self._audit_in(
                conn,
                "reviewer_application.approved",
                actor,
                None,
                {"application": application_id, "fylke": fylke, "person": person_id},
            )
        return self.reviewer_application(application_id), self.person(person_id), needs

    def refuse_reviewer_application(self, application_id, *, fylke, actor_person_id):
        """A reviewer of ``fylke`` refuses an open application; audited with the acting reviewer. Returns the
        application."""
        with self.transaction() as conn:
            self._open_application_in(conn, application_id, fylke)
            conn.execute(
                "UPDATE reviewer_applications SET state = 'refused', decided_by = ?, decided_at = ?"
                " WHERE application_id = ?",
                (actor_person_id, utcnow(), application_id),
            )
            self._audit_in(
                conn,
                "reviewer_application.refused",
                f"person:{actor_person_id}",
                None,
                {"application": application_id, "fylke": fylke},
            )
        return self.reviewer_application(application_id)

    # -- reviewer persons (no unit) --------------------------------------------------------------------------------

    def register_reviewer(self, *, person_id, name, email, language, fylke, token, actor):
        """The operator's way (``sendemodul admin person add --role statsforvalter --fylke NN`` without a unit):
        as an approved application, without one. Returns ``(person_row, needs_enrolment)``."""
        with self.transaction() as conn:
            person_id, needs = self._register_reviewer_in(
                conn,
                person_id=person_id,
                name=name,
                email=email,
                language=language,
                fylke=fylke,
                token=token,
                actor=actor,
            )
        return self.person(person_id), needs

    def _register_reviewer_in(self, conn, *, person_id, name, email, language, fylke, token, actor):
        """A reviewer person of ``fylke`` without a unit: a new e-mail address makes a ``pending`` person; an
        existing reviewer gets the fylke (a person reviews one fylke), the name and the written standard, and, when
        not active (pending, or disabled: they enrol anew), a new enrolment link (``token``: ``(token_hash,
        expires_at)``; older unused links dropped). Returns ``(person_id, needs_enrolment)``."""
        now = utcnow()
        row = conn.execute("SELECT person_id, state FROM persons WHERE unit IS NULL AND email = ?", (email,)).fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO persons (person_id, unit, name, email, language, registers, state, role, fylke,"
                " created_at) VALUES (?, NULL, ?, ?, ?, '', 'pending', ?, ?, ?)",
                (person_id, name, email, language, REVIEWER_ROLE, fylke, now),
            )
            state, event = "pending", "person.register"
        else:
            person_id, state = row
            if state == "disabled":
                conn.execute(
                    "UPDATE persons SET state = 'pending', totp_secret = NULL, totp_pending = NULL,"
                    " disabled_at = NULL WHERE person_id = ?",
                    (person_id,),
                )
                conn.execute("DELETE FROM recovery_codes WHERE person_id = ?", (person_id,))
                conn.execute("DELETE FROM passkeys WHERE person_id = ?", (person_id,))
                state = "pending"
            conn.execute(
                "UPDATE persons SET name = ?, language = ?, role = ?, fylke = ? WHERE person_id = ?",
                (name, language, REVIEWER_ROLE, fylke, person_id),
            )
            event = "person.register_more"
        needs = state == "pending"
        if needs:
            conn.execute("DELETE FROM enrolment_tokens WHERE person_id = ? AND used_at IS NULL", (person_id,))
            conn.execute(
                "INSERT INTO enrolment_tokens (token_hash, person_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (token[0], person_id, now, token[1]),
            )
        self._audit_in(conn, event, actor, None, {"person": person_id, "role": REVIEWER_ROLE, "fylke": fylke})
        return person_id, needs

    def reviewer_by_email(self, email):
        """The reviewer person without a unit with ``email`` (any state), or None."""
        return self._row("SELECT * FROM persons WHERE unit IS NULL AND email = ?", (email,))

    def login_reviewer(self, email):
        """The active reviewer person without a unit with ``email``, or None (the login without a unit)."""
        return self._row(
            "SELECT * FROM persons WHERE unit IS NULL AND email = ? AND state = 'active' AND role = ?"
            " AND fylke IS NOT NULL",
            (email, REVIEWER_ROLE),
        )

    def list_reviewers(self, fylke=None):
        """Reviewer persons without a unit (of one fylke, or all)."""
        if fylke is None:
            return self._rows("SELECT * FROM persons WHERE unit IS NULL ORDER BY fylke, email")
        return self._rows("SELECT * FROM persons WHERE unit IS NULL AND fylke = ? ORDER BY email", (fylke,))
