"""The e-mails that tell a unit about a delivery's answer: SSB's (accepted, or returned with SSB's message and error
list), and the county governor's return of a reviewed delivery (with the reviewer's message); sent by the front as
soon as either is recorded, over the same SMTP relay as the morning e-mail.

At most once: an answer's e-mail is claimed in the database (``pending -> sending``) before it is handed to the
relay and marked ``sent`` after; a relay that refuses or cannot be reached puts it back to ``pending`` for the next
check. The e-mail holds the reference, SSB's message and the rows by journalnummer and row id: never an ID number
(the TPF blanked anything like one when it recorded the answer) and never data.
"""

import smtplib

from twisted.application import service
from twisted.internet import task
from twisted.logger import Logger

from sendemodul import mailing
from sendemodul.timefmt import oslo_display_of_text

log = Logger()

#: The most rows of the error list an e-mail shows; the receipt page has them all.
MAIL_ROWS = 50

SUBJECTS = {
    "accepted": "sendemodul: SSB har godkjent {reference} ({register} {periode})",
    "returned": "sendemodul: SSB har returnert {reference} ({register} {periode})",
}


def render(cfg, row):
    """(subject, body) of the e-mail for one answer row (:meth:`~sendemodul.store.Store.claim_answer_mail`)."""
    errors = row["errors"]
    body = _body(
        "mail/answer.txt.j2",
        cfg,
        row,
        decision=row["decision"],
        errors=errors[:MAIL_ROWS],
        more=len(errors) - min(len(errors), MAIL_ROWS) + (row["errors_omitted"] or 0),
    )
    return SUBJECTS[row["decision"]].format(**row), body


def _body(template, cfg, row, **extra):
    """A delivery e-mail's text: ``template`` with what every such e-mail names (unit, reference, register and
    period, the message, when it was received, where to look) and ``extra``."""
    return (
        mailing.templates()
        .get_template(template)
        .render(
            unit=row["unit"],
            unit_name=row["unit_name"],
            reference=row["reference"],
            register=row["register"],
            periode=row["periode"],
            message=row["message"],
            received_at_local=oslo_display_of_text(row["upload_received_at"]),
            public_url=cfg.server.public_url,
            **extra,
        )
    )


def render_review(cfg, row):
    """(subject, body) of the e-mail for a delivery the county governor returned."""
    body = _body("mail/review-returned.txt.j2", cfg, row)
    subject = "sendemodul: statsforvalteren har returnert {reference} ({register} {periode})".format(**row)
    return subject, body


class AnswerMail:
    """``run()`` sends every pending e-mail about an answer or a returned review; blocking (call it in a thread).
    Returns the number sent."""

    def __init__(self, cfg, store, *, smtp=smtplib.SMTP):
        self.cfg = cfg
        self.store = store
        self.smtp = smtp

    def run(self):
        sent = 0
        kinds = (
            (
                self.store.claim_answer_mail,
                render,
                lambda row: self.store.answer_recipients(row["unit"], row["register"]),
                self.store.answer_mail_done,
                "answer_id",
            ),
            (
                self.store.claim_review_mail,
                render_review,
                lambda row: self.store.sender_address(row["reference"]),
                self.store.review_mail_done,
                "reference",
            ),
        )
        for claim, make, recipients, done, key in kinds:
            while (row := claim()) is not None:
                # one e-mail to each person (their language once the catalogs exist: nb for now); a relay that fails
                # at the first leaves the e-mail pending for the next check, one that fails later does not resend
                count = 0
                for address, _language in recipients(row):
                    if not self._send(row, address, *make(self.cfg, row)):
                        break
                    count += 1
                if count == 0:
                    done(row[key], "pending")
                    return sent
                done(row[key], "sent")
                sent += count
        return sent

    def _send(self, row, address, subject, body):
        """Hand one e-mail to the relay (:func:`sendemodul.mailing.send`); False if it refused or is unreachable."""
        try:
            mailing.send(self.cfg, [address], subject, body, smtp=self.smtp)
        except (OSError, smtplib.SMTPException) as e:
            log.warn("e-mail about {reference} failed: {error}", reference=row["reference"], error=type(e).__name__)
            return False
        log.info("e-mail about {reference} sent to a person of {unit}", reference=row["reference"], unit=row["unit"])
        return True


class AnswerMailService(service.Service):
    """Looks for answers to tell every ``mail.check_seconds``, in a database thread."""

    def __init__(self, cfg, store, run_db, clock):
        self.mailer = AnswerMail(cfg, store)
        self.run_db = run_db
        self.loop = task.LoopingCall(self._check)
        self.loop.clock = clock
        self.interval = cfg.mail.check_seconds
        self._running = None

    def startService(self):
        super().startService()
        self.loop.start(self.interval, now=True)

    def stopService(self):
        super().stopService()
        if self.loop.running:
            self.loop.stop()
        return self._running

    def _check(self):
        d = self.run_db(self.mailer.run)
        d.addErrback(lambda f: log.failure("answer e-mail check failed", f))
        self._running = d
        return d
