"""SSB's answers: a delivered upload becomes ``accepted`` or ``returned``, once, and the e-mail that tells the unit."""

import json

from sendemodul.answer import redact_ids
from sendemodul.errors import AnswerMismatch, AnswerReplayed, AnswerUnknown
from sendemodul.store.connections import utcnow


def _clean_error(error):
    """A row of SSB's error list as the unit may see it: anything that looks like an ID number blanked."""
    return {
        "row_id": error["row_id"],
        "journalnr": redact_ids(error["journalnr"]),
        "severity": error["severity"],
        "rule": error["rule"],
        "field": error["field"],
        "message": redact_ids(error["message"]),
    }


class Answers:
    """The ``answers`` rows and the states ``accepted`` and ``returned`` of ``uploads``."""

    def record_answer(self, answer, *, signed_by, actor):
        """Record a verified :class:`~sendemodul.answer.Answer` (its signature already checked) in one transaction:
        the upload must have been delivered, under this reference, as exactly this package, and not be answered
        yet. Raises :class:`AnswerUnknown`, :class:`AnswerMismatch` or :class:`AnswerReplayed` and changes nothing
        otherwise. Returns the upload's new status."""
        now = utcnow()
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM answers WHERE answer_id = ?", (answer.answer_id,)).fetchone():
                raise AnswerReplayed.detail(f"answer {answer.answer_id} was recorded before")
            row = conn.execute(
                "SELECT unit, register, periode, container_id, package_sha256, status, test FROM uploads"
                " WHERE reference = ?",
                (answer.reference,),
            ).fetchone()
            if row is None:
                raise AnswerUnknown.detail(f"no delivery {answer.reference}")
            unit, register, periode, container_id, package_sha256, status, test = row
            if status in ("accepted", "returned"):
                raise AnswerReplayed.detail(f"{answer.reference} is already {status}")
            if status != "delivered" or test:
                raise AnswerUnknown.detail(f"{answer.reference} is {status}, not delivered")
            expected = {"unit": unit, "register": register, "periode": periode, "container_id": container_id}
            if package_sha256 is not None:  # deliveries from before this column was filled carry none
                expected["package_sha256"] = package_sha256
            wrong = sorted(name for name, value in expected.items() if getattr(answer, name) != value)
            if wrong:
                raise AnswerMismatch.detail(f"{', '.join(wrong)} differ from the delivery {answer.reference}")
            conn.execute(
                "INSERT INTO answers (answer_id, reference, decision, message, errors, errors_omitted, created,"
                " received_at, signed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    answer.answer_id,
                    answer.reference,
                    answer.decision,
                    redact_ids(answer.message),
                    json.dumps([_clean_error(e) for e in answer.errors], ensure_ascii=False),
                    answer.errors_omitted,
                    answer.created,
                    now,
                    signed_by,
                ),
            )
            conn.execute(
                "UPDATE uploads SET status = ?, answered_at = ?, updated_at = ? WHERE reference = ?",
                (answer.decision, now, now, answer.reference),
            )
            self._audit_in(
                conn,
                f"upload.{answer.decision}",
                actor,
                unit,
                {
                    "reference": answer.reference,
                    "answer_id": answer.answer_id,
                    "errors": len(answer.errors) + answer.errors_omitted,
                    "signed_by": signed_by,
                },
            )
        return answer.decision

    def refuse_answer(self, code, *, actor, reference=None, answer_id=None):
        """Audit an answer that was refused (nothing else changes): why (an error code), and what it claimed to be."""
        detail = {"code": code}
        if reference is not None:
            detail["reference"] = reference
        if answer_id is not None:
            detail["answer_id"] = answer_id
        self.audit("answer.refused", actor=actor, detail=detail)

    def answer(self, reference):
        """SSB's answer to an upload as the unit sees it (decision, message, errors, errors_omitted, received_at),
        or None."""
        row = self._row(
            "SELECT decision, message, errors, errors_omitted, received_at FROM answers WHERE reference = ?",
            (reference,),
        )
        if row is not None:
            row["errors"] = json.loads(row["errors"])
        return row

    def upload_with_answer(self, reference):
        """The upload row with ``answer`` added (None until SSB has answered), or None."""
        row = self.upload(reference)
        if row is not None:
            row["answer"] = self.answer(reference) if row["status"] in ("accepted", "returned") else None
            row["review"] = self.review_of(reference)
        return row

    def uploads_with_answers(self, unit):
        """:meth:`list_uploads` of ``unit``, each row with ``answer`` added (None until SSB has answered)."""
        answers = self.answers_of_unit(unit)
        rows = self.list_uploads(unit)
        reviews = self.reviews_of_unit(unit)
        for row in rows:
            row["answer"] = answers.get(row["reference"])
            row["review"] = reviews.get(row["reference"])
        return rows

    def answers_of_unit(self, unit):
        """{reference: answer} for every answered upload of ``unit``."""
        rows = self._rows(
            "SELECT a.reference, a.decision, a.message, a.errors, a.errors_omitted, a.received_at FROM answers a"
            " JOIN uploads u ON u.reference = a.reference WHERE u.unit = ?",
            (str(unit),),
        )
        result = {}
        for row in rows:
            row["errors"] = json.loads(row["errors"])
            result[row.pop("reference")] = row
        return result

    # -- the e-mail when an answer arrives ----------------------------------------------------------------------

    def claim_answer_mail(self):
        """Take the oldest answer whose e-mail is pending (``pending -> sending``); its row joined with the upload and
        the unit (name, e-mail), or None. A crash after this leaves it ``sending``: never sent twice."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT answer_id FROM answers WHERE mail_state = 'pending' ORDER BY received_at, answer_id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE answers SET mail_state = 'sending', mail_at = ? WHERE answer_id = ?", (utcnow(), row[0])
            )
        found = self._row(
            "SELECT a.answer_id, a.reference, a.decision, a.message, a.errors, a.errors_omitted, a.received_at,"
            " up.unit, up.register, up.periode, up.received_at AS upload_received_at, u.name AS unit_name,"
            " u.email AS unit_email FROM answers a JOIN uploads up ON up.reference = a.reference"
            " JOIN units u ON u.unit = up.unit WHERE a.answer_id = ?",
            (row[0],),
        )
        found["errors"] = json.loads(found["errors"])
        return found

    def answer_recipients(self, unit, register):
        """Who is told of an answer: ``[(email, language)]`` of the active persons of ``unit`` who may report
        ``register`` (one e-mail each, in their language); the unit's own address when it has none."""
        from sendemodul.persons import registers_of

        rows = self._rows(
            "SELECT email, language, registers FROM persons WHERE unit = ? AND state = 'active' AND role = 'reporter'"
            " ORDER BY email",
            (str(unit),),
        )
        people = [(r["email"], r["language"]) for r in rows if register in registers_of(r["registers"])]
        if people:
            return people
        row = self._row("SELECT email FROM units WHERE unit = ?", (str(unit),))
        return [(row["email"], "nb")] if row else []

    def sender_address(self, reference):
        """``[(email, language)]``: the person who sent ``reference`` (issue 16), else the unit's address."""
        row = self._row(
            "SELECT p.email, p.language FROM uploads up JOIN persons p ON p.person_id = up.person_id"
            " WHERE up.reference = ? AND p.state = 'active'",
            (reference,),
        )
        if row is not None:
            return [(row["email"], row["language"])]
        row = self._row(
            "SELECT u.email FROM uploads up JOIN units u ON u.unit = up.unit WHERE up.reference = ?", (reference,)
        )
        return [(row["email"], "nb")] if row else []

    def answer_mail_done(self, answer_id, state):
        """``state``: ``sent``, or ``pending`` again when the relay failed (a later check retries)."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE answers SET mail_state = ?, mail_at = ? WHERE answer_id = ?", (state, utcnow(), answer_id)
            )
