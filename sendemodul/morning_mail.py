"""The morning e-mail (DESIGN.md section 8): at 08:00 Europe/Oslo (DST-aware), one e-mail per unit with activity in
the day before, rendered with jinja2, sent over SMTP to the configured relay; caught up after downtime; never sent
twice.

Each day ``D`` covers uploads received or changed in ``[D-1 08:00, D 08:00)`` Norwegian time. A day is done when
every unit's e-mail of it is sent; the days missed while the server was down are sent (oldest first, at most
``mail.catch_up_days``) at the next check. "Never twice": a unit's e-mail for a day is claimed in the database
before it is handed to the relay and marked sent after; a crash between the two leaves it claimed (at most once).
A relay that refuses or cannot be reached releases the claim, so a later check retries.
"""

import datetime
import smtplib

from twisted.application import service
from twisted.internet import task
from twisted.logger import Logger

from sendemodul import i18n
from sendemodul.i18n import Msg
from sendemodul.mailing import send, send_moment, templates
from sendemodul.messages_nb import MAIL, status_nb
from sendemodul.timefmt import OSLO, oslo_display, oslo_display_of_text, utc_text

log = Logger()

ACTOR = "mailer"

__all__ = ["MorningMail", "MorningMailService", "due_days", "render", "send", "send_moment"]


def due_days(last_done, now, *, hour, catch_up_days):
    """The days whose morning e-mail is due at ``now`` (aware) after ``last_done`` (a date or None), oldest first."""
    today = now.astimezone(OSLO).date()
    newest = today if now >= send_moment(today, hour) else today - datetime.timedelta(days=1)
    oldest = newest - datetime.timedelta(days=catch_up_days - 1)
    if last_done is not None:
        oldest = max(oldest, last_done + datetime.timedelta(days=1))
    days = []
    day = oldest
    while day <= newest:
        days.append(day)
        day += datetime.timedelta(days=1)
    return days


def render(cfg, unit, unit_name, uploads, start, end, lang=i18n.DEFAULT):
    """(subject, body) of one unit's morning e-mail, in ``lang`` (the unit's written standard, språklova § 15)."""
    items = [
        {
            "reference": u["reference"],
            "register": u["register"],
            "periode": u["periode"],
            "received_at_local": oslo_display_of_text(u["received_at"]),
            "status_text": status_nb(u),
            "delivered_at_local": oslo_display_of_text(u.get("delivered_at")),
            "reason": u.get("reason"),
            "invalid_ids": u.get("invalid_ids", 0),
            "answer_message": (u.get("answer") or {}).get("message"),
            "answer_errors": len((u.get("answer") or {}).get("errors") or ())
            + ((u.get("answer") or {}).get("errors_omitted") or 0),
        }
        for u in uploads
    ]
    body = (
        templates(lang)
        .get_template("mail/morning.txt.j2")
        .render(
            unit=unit,
            unit_name=unit_name,
            uploads=items,
            public_url=cfg.server.public_url,
            start=oslo_display(start),
            end=oslo_display(end),
        )
    )
    date = end.astimezone(OSLO).strftime("%d.%m.%Y")
    subject = Msg(MAIL["morning_subject"], unit=unit, date=date).in_language(lang)
    return subject, body


class MorningMail:
    """``run(now)`` sends what is due at ``now``; blocking (call it in a thread). Returns the number sent."""

    def __init__(self, cfg, store, *, smtp=smtplib.SMTP):
        self.cfg = cfg
        self.store = store
        self.smtp = smtp

    def run(self, now):
        mail = self.cfg.mail
        last = self.store.last_mail_day()
        last = datetime.date.fromisoformat(last) if last else None
        sent = 0
        for day in due_days(last, now, hour=mail.send_hour, catch_up_days=mail.catch_up_days):
            count, complete = self._send_day(day)
            sent += count
            if not complete:
                break  # the relay failed: try this day again at the next check
            self.store.complete_mail_day(day.isoformat())
        return sent

    def _send_day(self, day):
        hour = self.cfg.mail.send_hour
        end = send_moment(day, hour)
        start = send_moment(day - datetime.timedelta(days=1), hour)
        by_unit = {}
        for row in self.store.activity(utc_text(start), utc_text(end)):
            row["invalid_ids"] = len(self.store.feedback(row["reference"])) + (row.get("feedback_omitted") or 0)
            row["answer"] = self.store.answer(row["reference"])
            by_unit.setdefault(row["unit"], []).append(row)
        sent = 0
        for unit, rows in by_unit.items():
            if not self.store.claim_mail(day.isoformat(), unit):
                continue
            lang = i18n.language(rows[0].get("unit_language"))
            subject, body = render(self.cfg, unit, rows[0]["unit_name"], rows, start, end, lang)
            try:
                send(self.cfg, [rows[0]["unit_email"]], subject, body, smtp=self.smtp, lang=lang)
            except (OSError, smtplib.SMTPException) as e:
                self.store.mail_failed(day.isoformat(), unit)
                log.warn(
                    "morning e-mail to {unit} for {day} failed: {error}",
                    unit=unit,
                    day=day.isoformat(),
                    error=type(e).__name__,
                )
                return sent, False
            self.store.mail_sent(day.isoformat(), unit)
            sent += 1
            log.info("morning e-mail sent to {unit} for {day}", unit=unit, day=day.isoformat())
        return sent, True


class MorningMailService(service.Service):
    """Checks every ``mail.check_seconds`` (and at start: the catch-up) whether a morning e-mail or a reminder is
    due. ``on_run(kind, sent)`` is told of each run (the metrics count them)."""

    def __init__(self, cfg, store, run_db, clock, *, now=None, on_run=lambda kind, sent: None):
        from sendemodul.reminders import Reminders

        self.mailer = MorningMail(cfg, store)
        self.reminders = Reminders(cfg, store) if cfg.reminders else None
        self.on_run = on_run
        self.run_db = run_db
        self.interval = cfg.mail.check_seconds
        self.now = now or (lambda: datetime.datetime.now(datetime.UTC))
        self.loop = task.LoopingCall(self._check)
        self.loop.clock = clock
        self._running = None

    def startService(self):
        super().startService()
        self.loop.start(self.interval, now=True)

    def stopService(self):
        super().stopService()
        if self.loop.running:
            self.loop.stop()
        return self._running

    def _run(self, now):
        """In a database thread: the morning e-mail, then the reminders (each failing on its own)."""
        sent = self.mailer.run(now)
        self.on_run("morning", sent)
        if self.reminders is not None:
            self.on_run("reminder", self.reminders.run(now))
        return sent

    def _check(self):
        d = self.run_db(self._run, self.now())
        d.addErrback(lambda f: log.failure("morning e-mail check failed", f))
        self._running = d
        return d
