"""The e-mail that tells a unit SSB has answered a delivery (accepted, or returned with SSB's message and error
list), sent by the front as soon as the answer is recorded, over the same SMTP relay as the morning e-mail.

At most once: an answer's e-mail is claimed in the database (``pending -> sending``) before it is handed to the
relay and marked ``sent`` after; a relay that refuses or cannot be reached puts it back to ``pending`` for the next
check. The e-mail holds the reference, SSB's message and the rows by journalnummer and row id: never an ID number
(the TPF blanked anything like one when it recorded the answer) and never data.
"""

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from twisted.application import service
from twisted.internet import task
from twisted.logger import Logger

from sendemodul.morning_mail import _templates
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
    body = (
        _templates()
        .get_template("mail/answer.txt.j2")
        .render(
            unit=row["unit"],
            unit_name=row["unit_name"],
            reference=row["reference"],
            register=row["register"],
            periode=row["periode"],
            decision=row["decision"],
            message=row["message"],
            received_at_local=oslo_display_of_text(row["upload_received_at"]),
            errors=errors[:MAIL_ROWS],
            more=len(errors) - min(len(errors), MAIL_ROWS) + (row["errors_omitted"] or 0),
            public_url=cfg.server.public_url,
        )
    )
    return SUBJECTS[row["decision"]].format(**row), body


class AnswerMail:
    """``run()`` sends every pending answer e-mail; blocking (call it in a thread). Returns the number sent."""

    def __init__(self, cfg, store, *, smtp=smtplib.SMTP):
        self.cfg = cfg
        self.store = store
        self.smtp = smtp

    def run(self):
        sent = 0
        while (row := self.store.claim_answer_mail()) is not None:
            subject, body = render(self.cfg, row)
            message = EmailMessage()
            message["From"] = self.cfg.mail.from_address
            message["To"] = row["unit_email"]
            message["Subject"] = subject
            message["Date"] = formatdate(localtime=False, usegmt=True)
            message["Message-ID"] = make_msgid(domain="sendemodul")
            message.set_content(body)
            try:
                with self.smtp(
                    self.cfg.mail.smtp_host, self.cfg.mail.smtp_port, timeout=self.cfg.mail.timeout_seconds
                ) as smtp:
                    smtp.send_message(message)
            except (OSError, smtplib.SMTPException) as e:
                self.store.answer_mail_done(row["answer_id"], "pending")
                log.warn(
                    "e-mail about SSB's answer to {reference} failed: {error}",
                    reference=row["reference"],
                    error=type(e).__name__,
                )
                return sent
            self.store.answer_mail_done(row["answer_id"], "sent")
            sent += 1
            log.info(
                "e-mail about SSB's answer to {reference} sent to {unit}", reference=row["reference"], unit=row["unit"]
            )
        return sent


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
