"""The HTTP/1.1 channel of the HTTPS front: it hands each request its request line early, and answers what it
cannot read itself (a request line or header over the limit, Twisted's own 400s) with our headers."""

from twisted.logger import Logger

from sendemodul import i18n
from sendemodul._twisted import BadRequestAnsweringChannel
from sendemodul.web.answers import BASE_HEADERS, LINGER_SECONDS, REASONS, error_body

log = Logger()


class RequestLineChannel(BadRequestAnsweringChannel):
    """An HTTP/1.1 channel that hands each request its request line as soon as the line has been read, and answers
    what it cannot read itself, with our headers.

    Twisted makes the request when the request line arrives but sets ``method``, ``path`` and ``clientproto`` only
    once the whole body is in; :meth:`UploadRequest.gotLength` must know them before the body.

    Twisted's limits on the head (``MAX_LENGTH`` for one line, ``totalHeadersSize`` for all of them, 16 KiB each)
    close the connection without a word when a line is too long (``lineLengthExceeded``; a line that has not ended
    yet waits for the header deadline first) and write a bare 400 for too many header bytes. Here a line over the
    limit is answered 431 (414 for the request line) as soon as the limit is passed, as are too many header bytes,
    and Twisted's own 400s get the security headers (:meth:`answer_bad_request`).
    """

    _head_bytes = 0  # bytes of the current request's line and header lines so far (Twisted's totalHeadersSize)
    _raw_answered = False  # answered here (not by a request): what still comes is thrown away until the close

    def dataReceived(self, data):
        if self._raw_answered:
            return
        super().dataReceived(data)

    def lineReceived(self, line):
        if self._raw_answered:  # more lines of the same read, after the answer
            return
        self._head_bytes += len(line)
        if self._head_bytes > self.totalHeadersSize:
            self.answer_raw(431, "header_too_large", "The request's headers are too large.")
            return
        count = len(self.requests)
        super().lineReceived(line)
        if len(self.requests) > count:  # that was the request line of a new request, and Twisted accepted it
            parts = line.split()
            request = self.requests[-1]
            if len(parts) == 3 and hasattr(request, "request_line_received"):
                request.request_line_received(*parts)

    def allHeadersReceived(self):
        self._head_bytes = 0
        super().allHeadersReceived()

    def lineLengthExceeded(self, line):
        if self._head_bytes == 0:  # no line of this request yet: it is the request line
            self.answer_raw(414, "uri_too_long", "The request's URL is too long.")
        else:
            self.answer_raw(431, "header_too_large", "A header of the request is too large.")

    def answer_bad_request(self):
        self.answer_raw(400, "bad_request", "The request is malformed.")

    def answer_raw(self, status, code, message):
        """Answer a request that no request object answers (it could not be read) with our headers and a JSON
        body, throw away what the client still sends, and close after a lingering moment (as
        :meth:`UploadRequest.answer_early` does, so that the client reads the answer rather than a reset)."""
        if self._raw_answered or self.transport is None:
            return
        self._raw_answered = True
        log.info("answered {status} {code} before a request could be read", status=status, code=code)
        for request in self.requests:
            if hasattr(request, "answered_by_channel"):
                request.answered_by_channel()
        # The language of the request being read, as far as its line and headers came in (else Bokmål).
        reading = self.requests[-1] if self.requests else None
        lang = reading.early_language() if hasattr(reading, "early_language") else i18n.DEFAULT
        body = error_body(code, message, lang)
        self.writeHeaders(
            b"HTTP/1.1",
            b"%d" % status,
            REASONS.get(status, b"Error"),
            [
                (b"Content-Type", b"application/json; charset=utf-8"),
                (b"Content-Language", lang.encode("ascii")),
                (b"Content-Length", b"%d" % len(body)),
                (b"Connection", b"close"),
                *BASE_HEADERS,
            ],
        )
        self.transport.write(body)
        self.transport.resumeProducing()
        self.callLater(LINGER_SECONDS, self.loseConnection)
