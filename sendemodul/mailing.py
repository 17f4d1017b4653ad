"""What the morning e-mail and the reminders share: the moment of a day's mail (Oslo time, DST-aware), the
templates (jinja2 in the recipient's written standard, :mod:`sendemodul.i18n`) and the one SMTP path to the relay."""

import datetime
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import jinja2

from sendemodul import i18n, resources
from sendemodul.timefmt import OSLO


def send_moment(day, hour):
    """The aware UTC datetime of ``hour``:00 Oslo time on ``day`` (DST-aware)."""
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=OSLO).astimezone(datetime.UTC)


def send(cfg, to, subject, body, *, smtp=smtplib.SMTP, lang=None):
    """Hand one plain-text e-mail to ``to`` (a list of addresses) to the configured relay: the one SMTP path that
    the morning e-mail and the reminders share; ``lang`` (nb or nn) is said in ``Content-Language``. Raises
    ``OSError`` or ``smtplib.SMTPException`` when the relay is unreachable or refuses."""
    message = EmailMessage()
    message["From"] = cfg.mail.from_address
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain="sendemodul")
    message.set_content(body)
    if lang:
        message["Content-Language"] = lang  # after set_content, which drops every Content-* header
    with smtp(cfg.mail.smtp_host, cfg.mail.smtp_port, timeout=cfg.mail.timeout_seconds) as client:
        client.send_message(message)


def templates(lang=i18n.DEFAULT):
    """The e-mails' template environment in ``lang``: plain text (no HTML escaping), every name required."""
    return i18n.environment(lang, jinja2.FileSystemLoader(resources.templates_dir()), autoescape=False)
