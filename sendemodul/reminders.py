"""Reminder e-mails ("purring", issue 19): on the days ``[[reminder]]`` sets before and after a window's deadline,
each unit that must report and has still delivered nothing for that register and periode gets one e-mail, at
``mail.send_hour`` Norwegian time, sent by the morning e-mail's SMTP code.

Who is missing comes from the status list (:mod:`sendemodul.status_list`): any production upload counts, so an
empty "Ingen deltakere" delivery stops the reminders. A reminder day is caught up after downtime for at most
``mail.catch_up_days`` days, as the morning e-mail is. "Never twice": each (register, periode, day, unit) is claimed
in the database before it is handed to the relay and marked sent after; a crash between the two leaves it claimed.
A relay that refuses releases the claim and ends the run, so the next check retries.
"""

import datetime
import smtplib

from twisted.logger import Logger

from sendemodul import i18n, status_list
from sendemodul.expected import expected_units
from sendemodul.i18n import Msg
from sendemodul.mailing import send, send_moment, templates
from sendemodul.messages_nb import MAIL
from sendemodul.registers import REGISTERS
from sendemodul.timefmt import OSLO

log = Logger()


def reminder_days(cfg):
    """Every configured reminder as ``(day, register, periode, deadline)``, sorted by day, without repeats."""
    found = set()
    periodes = sorted({w.periode for w in cfg.windows})
    for rule in cfg.reminders:
        for register in REGISTERS if rule.register == "*" else (rule.register,):
            for periode in periodes if rule.periode is None else (rule.periode,):
                window = cfg.window_for(register, periode)
                if window is None or window.deadline is None:
                    continue
                deadline = window.deadline
                for n in rule.days_before:
                    found.add((deadline - datetime.timedelta(days=n), register, periode, deadline))
                for n in rule.days_after:
                    found.add((deadline + datetime.timedelta(days=n), register, periode, deadline))
    return sorted(found)


def due(cfg, now):
    """The reminders due at ``now`` (aware): their moment has come, within the last ``mail.catch_up_days`` days."""
    today = now.astimezone(OSLO).date()
    oldest = today - datetime.timedelta(days=cfg.mail.catch_up_days - 1)
    return [r for r in reminder_days(cfg) if oldest <= r[0] and send_moment(r[0], cfg.mail.send_hour) <= now]


def render(cfg, row, register, periode, deadline, day, lang=i18n.DEFAULT):
    """(subject, body) of one unit's reminder, in ``lang`` (the unit's written standard, språklova § 15)."""
    body = (
        templates(lang)
        .get_template("mail/reminder.txt.j2")
        .render(
            unit=row["unit"],
            unit_name=row["name"],
            register=register,
            periode=periode,
            deadline=f"{deadline:%d.%m.%Y}",
            overdue=day > deadline,
            public_url=cfg.server.public_url,
        )
    )
    subject = Msg(MAIL["reminder_subject"], register=register, periode=periode, unit=row["unit"]).in_language(lang)
    return subject, body


class Reminders:
    """``run(now)`` sends the reminders due at ``now``; blocking (call it in a thread). Returns the number sent."""

    def __init__(self, cfg, store, *, smtp=smtplib.SMTP):
        self.cfg = cfg
        self.store = store
        self.smtp = smtp

    def run(self, now):
        sent = 0
        for day, register, periode, deadline in due(self.cfg, now):
            if self.store.reminder_day_done(register, periode, day.isoformat()):
                continue
            count, complete = self._send_day(day, register, periode, deadline)
            sent += count
            if not complete:
                break  # the relay failed: this day again at the next check
            self.store.complete_reminder_day(register, periode, day.isoformat())
        return sent

    def missing(self, register, periode, day):
        """The status rows of the registered, active units that have delivered nothing (as judged on ``day``)."""
        rows = status_list.status_rows(
            expected_units(self.cfg, register, periode),
            self.store.status(register, periode),
            self.cfg.window_for(register, periode),
            day,
        )
        return [
            r
            for r in rows
            if r["state"] in status_list.UNDELIVERED and r["unit"] and r["expected"] and not r["disabled"]
        ]

    def _send_day(self, day, register, periode, deadline):
        sent = 0
        for row in self.missing(register, periode, day):
            unit = row["unit"]
            if not self.store.claim_reminder(register, periode, day.isoformat(), unit):
                continue
            unit_row = self.store.get_unit(unit)
            lang = i18n.language(unit_row["language"] if unit_row else None)
            subject, body = render(self.cfg, row, register, periode, deadline, day, lang)
            try:
                addresses = self.store.reminder_addresses(unit, register)
                send(self.cfg, addresses, subject, body, smtp=self.smtp, lang=lang)
            except (OSError, smtplib.SMTPException) as e:
                self.store.reminder_failed(register, periode, day.isoformat(), unit)
                log.warn(
                    "reminder to {unit} ({register} {periode}, {day}) failed: {error}",
                    unit=unit,
                    register=register,
                    periode=periode,
                    day=day.isoformat(),
                    error=type(e).__name__,
                )
                return sent, False
            self.store.reminder_sent(register, periode, day.isoformat(), unit)
            sent += 1
            log.info(
                "reminder sent to {unit} ({register} {periode}, {day})",
                unit=unit,
                register=register,
                periode=periode,
                day=day.isoformat(),
            )
        return sent, True
