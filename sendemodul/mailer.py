"""Sending one e-mail: to the configured SMTP relay when ``[mail] enabled = true``, else (a dev home, or a home
whose relay is not set up yet) as an ``.eml`` file under ``<home>/mail/``, as Django's file e-mail backend does, so
that nothing is lost and a developer can open the message. Blocking: call it off the reactor thread."""

import datetime
import os
import secrets
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sendemodul.errors import SendemodulError


class MailFailed(SendemodulError):
    """The e-mail could not be handed to the mail relay."""

    code = "mail_failed"


def mail_dir(cfg):
    return cfg.home / "mail"


def message(cfg, to, subject, body):
    msg = EmailMessage()
    msg["From"] = cfg.mail.from_address
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="sendemodul")
    msg.set_content(body)
    return msg


def send(cfg, to, subject, body, *, smtp=smtplib.SMTP):
    """Send one e-mail; returns where it went: ``"smtp"`` or the path of the ``.eml`` file."""
    msg = message(cfg, to, subject, body)
    if cfg.mail.enabled:
        try:
            with smtp(cfg.mail.smtp_host, cfg.mail.smtp_port, timeout=cfg.mail.timeout_seconds) as relay:
                relay.send_message(msg)
        except (OSError, smtplib.SMTPException) as e:
            relay_name = f"{cfg.mail.smtp_host}:{cfg.mail.smtp_port}"
            raise MailFailed(f"the mail relay {relay_name} failed: {type(e).__name__}") from None
        return "smtp"
    folder = mail_dir(cfg)
    folder.mkdir(mode=0o700, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    path = folder / f"{stamp}-{secrets.token_hex(4)}.eml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(msg.as_bytes())
    return path
