"""A real SMTP server on loopback for the tests (aiosmtpd), keeping what it receives in order. The ``smtp`` fixture
of tests/conftest.py is one per test; a module that needs one for all its tests (a module-scoped server sends to it)
uses :func:`smtp_server` in a fixture of its own."""

import contextlib
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller

from sendemodul.testing.peers import free_port


class Collect:
    """The handler: ``messages`` holds each message received as ``(mail_from, rcpt_tos, message)``, the message
    parsed (``email.policy.default``); ``port`` is the server's once :func:`smtp_server` started it."""

    def __init__(self):
        self.messages = []
        self.port = None

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 OK"


@contextlib.contextmanager
def smtp_server():
    """A running SMTP server on 127.0.0.1 (its handler, :class:`Collect`), stopped on leaving."""
    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    try:
        yield handler
    finally:
        controller.stop()
