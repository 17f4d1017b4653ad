"""The storm's early busy answer on the HTTPS front's channel: a connection's first bytes that are one whole API read
with HTTP Basic, whose login the hash budget refuses busy at once, answered 503 and closed before Twisted's line parser
and a ``Request`` exist.

Its own module because it is the storm's fast path and nothing else: a handful of rules on the raw head, the login
started early and handed to the request when it is not refused at once, and the close that does not wait for the
client's close_notify. The rest of the channel (the head deadline against slowloris, the login grace) stays with the
Site in :mod:`sendemodul.web.site`, whose ``Channel`` mixes this in; the same answer through a ``Request``
(``SecureRequest.refused_at_once``) stays there too, beside the request class it belongs to.
"""

import re

from OpenSSL import SSL
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import datetimeToString

from sendemodul import i18n
from sendemodul.errors import LoginBusy
from sendemodul.web.credentials import basic_credentials, login
from sendemodul.web.errors import busy_answer

log = Logger()

#: The first bytes of a connection that :meth:`BusyHead.dataReceived` may answer itself when the login is refused
#: busy at once: one whole HTTP/1.1 ``GET`` of an API read (the paths of :data:`~sendemodul.web.site.API_READ_PATH`,
#: no query) and its header lines, each a plain token name and a printable value, and nothing after the blank line (no
#: body, no second request). Anything else goes to Twisted's parser as it came.
BUSY_HEAD = re.compile(
    rb"GET /api/v1/uploads(?:/[A-Za-z0-9._~-]*)? HTTP/1\.1\r\n((?:[A-Za-z0-9-]+:[\x20-\x7e]*\r\n){1,8})\r\n\Z"
)

#: The headers such a head may carry (lower case, each at most once): none that could change the answer's language
#: (``Cookie``, ``Accept-Language``), its length or framing (``Content-Length``, ``Transfer-Encoding``, ``Expect``).
BUSY_HEAD_NAMES = frozenset((b"host", b"authorization", b"connection", b"user-agent", b"accept"))

#: The longest head answered so (far below Twisted's limits on a line and on all header lines).
BUSY_HEAD_BYTES = 2048


class BusyHead:
    """Mixed into the front's HTTP channel (``web.site.Channel``, before Twisted's channel in its bases): the
    connection's first bytes answered from their raw head when the login is refused busy at once
    (:meth:`answered_busy_head`). Uses the channel's ``site``, ``transport``, timeouts and ``_cancel_head_deadline``.
    """

    #: Answer a storm's login that is refused busy at once from its raw head, before any ``Request`` exists
    #: (:meth:`answered_busy_head`). Off only in tests, to compare its bytes with the request's path.
    answer_busy_head = True

    #: Whether the next :meth:`dataReceived` is the connection's first (only that one may be answered from its head).
    _first_data = True

    #: ``(Authorization value, Deferred)`` of a login that :meth:`answered_busy_head` started and that was not
    #: refused at once, while Twisted parses the same head: the request takes it (:meth:`take_started_login`).
    _started_login = None

    def dataReceived(self, data):
        if self._first_data:
            self._first_data = False
            if self.answer_busy_head and self.answered_busy_head(data):
                return
        super().dataReceived(data)

    def answered_busy_head(self, data):
        """For the first bytes of a connection that are one whole ``GET /api/v1/uploads[/...]`` with HTTP Basic and
        ``Connection: close`` (:data:`BUSY_HEAD`): log in now, and if the login is refused busy at once (the hash
        budget is spent, or the hash pool is full) write the answer and close, before Twisted's line parser and a
        ``Request`` exist. True if answered.

        This is the storm's case: wrong PINs by the hundred a second, each on a new TLS connection sending one such
        head. The bytes are those :meth:`SecureRequest.refused_at_once` writes (tests/test_web_site_unit.py compares
        the three paths: here, there, and the resource tree), in Bokmål (the head carries nothing that chooses a
        language), the access log counts it as :meth:`Site.log` counts a busy answer, and the connection closes as
        the channel closes it after a ``Connection: close`` request. Any other outcome of the login goes on the
        ordinary way with the same login: Twisted parses the same bytes at once, and the request takes the login
        started here (:meth:`take_started_login`), so there is one login per request as before."""
        if len(data) > BUSY_HEAD_BYTES or not data.startswith(b"GET /api/v1/uploads"):
            return False
        head = BUSY_HEAD.match(data)
        if head is None:
            return False
        headers = {}
        for line in head.group(1).split(b"\r\n")[:-1]:
            name, _, value = line.partition(b":")
            name = name.lower()
            if name in headers or name not in BUSY_HEAD_NAMES:
                return False
            headers[name] = value.strip(b" \t")
        authorization = headers.get(b"authorization")
        if authorization is None or headers.get(b"connection", b"").lower() != b"close":
            return False
        peer = self.transport.getPeer()
        outcome = []

        def seen(result):
            outcome.append(result)
            return result

        d = login(self.site.app.portal, basic_credentials(authorization, getattr(peer, "host", None))).addBoth(seen)
        if not (outcome and isinstance(outcome[0], Failure) and isinstance(outcome[0].value, LoginBusy)):
            self._started_login = (authorization, d)
            try:
                super().dataReceived(data)
            finally:
                if self._started_login is not None:  # not taken (cannot happen for a head that matched): not lost
                    self._started_login = None
                    d.addErrback(lambda failure: None)
                    log.error("a login started for a request was not taken by it")
            return True
        d.addErrback(lambda failure: None)  # answered here
        self._cancel_head_deadline()
        if self.timeOut is not None:  # as Twisted does for a request being answered; not restored: the channel closes
            self.setTimeout(None)
        self._raw_answered = True  # what the client still sends is thrown away until the close
        before_date, after_date = busy_answer(str(outcome[0].value), i18n.DEFAULT)
        self.transport.write(
            b"".join(
                (
                    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n",
                    before_date,
                    b"Date: ",
                    datetimeToString(),
                    b"\r\n",
                    after_date,
                )
            )
        )
        self.site.count_busy_refusal()
        self._close_without_waiting()
        return True

    def _close_without_waiting(self):
        """Close as nginx closes after an answered request: our close_notify, then the TCP close, without waiting
        for the client's close_notify (one reactor event and a TLS record less per refused login in a storm).

        Only here: the connection's first bytes were one whole request, nothing after it, ``Connection: close``,
        so nothing the client sent is left unread when the socket closes (the kernel sends a FIN, not a reset);
        the client's own close_notify, sent after it has read ours and so the whole answer, meets a closed socket.
        The worst a client that sends more meanwhile gets is a reset in place of a 503 busy, the same "try later".
        Done by telling OpenSSL the peer's close_notify is in (``RECEIVED_SHUTDOWN``), so that its ``shutdown``
        completes at once and Twisted's TLS layer closes the transport as after a two-way shutdown."""
        handle = getattr(self.transport, "getHandle", lambda: None)()
        if isinstance(handle, SSL.Connection):
            handle.set_shutdown(handle.get_shutdown() | SSL.RECEIVED_SHUTDOWN)
        self.loseConnection()

    def take_started_login(self, authorization):
        """The Deferred login :meth:`answered_busy_head` started for this ``Authorization`` value, or None."""
        started, self._started_login = self._started_login, None
        if started is None:
            return None
        if started[0] != authorization:  # not this request's (cannot happen): keep it from being lost unseen
            started[1].addErrback(lambda failure: None)
            return None
        return started[1]
