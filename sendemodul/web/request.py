"""The HTTP request that streams upload bodies into the spool (never Twisted's temp file or memory buffer).

When the headers of ``PUT /api/v1/uploads/<name>`` have arrived, :meth:`UploadRequest.gotLength` pauses reading,
refuses a declared length over the limit at once (413), and authenticates (HTTP Basic, or the web session cookie
plus the CSRF token header) *before* any body byte is stored. Only then does it answer ``100 Continue`` (if the
client asked) and stream the body into :meth:`Intake.begin`'s incoming file, pausing the transport while the disk
lags. A body that passes the limit, a failed login or a client that is too slow is answered at once and the
connection closed; the partial file is deleted. Every other request may carry at most a small body in memory.
"""

import io
import re
from urllib.parse import unquote_to_bytes

from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import server

from sendemodul import i18n
from sendemodul.errors import LoginBusy, TooManyUploads, UploadTooLarge
from sendemodul.web.answers import BASE_HEADERS, LINGER_SECONDS, REASONS, error_body
from sendemodul.web.channel import RequestLineChannel  # noqa: F401 (importable from here, as before the split)
from sendemodul.web.credentials import basic_credentials, login_avatar

log = Logger()

UPLOAD_PREFIX = b"/api/v1/uploads/"
#: What an upload's name (the last part of its URL) may be.
UPLOAD_NAME_RE = re.compile(r"^[^/\\\x00-\x1f]{1,255}$")
MAX_SMALL_BODY = 64 * 1024
MAX_DISCARD_BYTES = 16 * 1024 * 1024

#: A byte no path segment of ours may hold (percent-decoded): NUL, the other C0 controls and DEL.
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


def bad_segment(segment):
    """True for a (percent-decoded) path segment that no resource of ours has: one with a NUL or another control
    byte, or one that is not UTF-8. Such a segment is answered 404 before any resource sees it (the static files
    would hand it to the file system: a NUL made ``os.stat`` raise, a 500)."""
    if _CONTROL.search(segment):
        return True
    try:
        segment.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def upload_name_ok(path):
    """True when the request path (bytes, as on the request line) of ``PUT /api/v1/uploads/<name>`` names an upload
    that the API accepts: checked before the body, so that nothing is stored for a name refused after it."""
    segment = unquote_to_bytes(path.partition(b"?")[0][len(UPLOAD_PREFIX) :].partition(b"/")[0])
    return not bad_segment(segment) and bool(UPLOAD_NAME_RE.match(segment.decode("utf-8")))


class _UploadBody:
    """What ``request.content`` is for an upload: the body went to the spool, not here."""

    def __init__(self):
        self.size = 0

    def tell(self):
        return self.size

    def seek(self, *args):
        return 0

    def read(self, *args):
        return b""

    def close(self):
        pass


class _SmallBody(io.BytesIO):
    """A bounded in-memory body for ordinary requests (forms)."""


class UploadRequest(server.Request):
    upload = None  # the IncomingFile while a body streams into the spool
    upload_error = None  # set when the upload failed during the body (answered already)
    upload_unit = None
    rejection = None  # (status, code, message, headers) for a refused upload whose body is being discarded

    def __init__(self, channel, *args, clock=None, **kwargs):
        """``clock``: the ``IReactorTime`` for this request's deadlines; by default the site's reactor (a ``Clock``
        in tests)."""
        super().__init__(channel, *args, **kwargs)
        self.clock = clock if clock is not None else channel.site.reactor
        self._early = False
        self._buffer = []
        self._waiting_login = False
        self._expect_continue = False
        self._received = None  # requestReceived's arguments, held back while the login runs
        self._request_line = (None, None, None)  # (method, path, version) as soon as the line is in
        limits = self.app.config.limits
        self._deadline = self._call_later(limits.header_timeout_seconds, self._too_slow, "headers")
        # The login grace: a request that has not logged in must be complete this long after its connection opened
        # or the previous request on it ended (``Channel.head_started``), however it trickles.
        started = getattr(channel, "head_started", None)
        spent = self.clock.seconds() - started if started is not None else 0
        self._grace = self._call_later(max(0, limits.login_grace_seconds - spent), self._grace_over)

    # -- helpers -------------------------------------------------------------------------------------------

    @property
    def app(self):
        return self.channel.site.app

    def _call_later(self, seconds, f, *args):
        return self.clock.callLater(seconds, f, *args)

    def _cancel_deadline(self):
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _cancel_grace(self):
        """The request has logged in, or is complete: the login grace no longer applies."""
        if self._grace is not None and self._grace.active():
            self._grace.cancel()
        self._grace = None

    def request_line_received(self, method, path, version):
        """Called by :class:`RequestLineChannel` when the request line has been read (before the headers)."""
        self._request_line = (method, path, version)

    def setHeader(self, name, value):
        if name.lower() == b"server":  # no version banner
            return
        super().setHeader(name, value)

    def source(self):
        peer = self.channel.transport.getPeer() if self.channel.transport else None
        return getattr(peer, "host", None)

    def answer_early(self, status, code, message, extra_headers=()):
        """Answer before the body is complete (or instead of reading it), then close the connection."""
        if self._early or self.channel.transport is None:
            return
        self._early = True
        self._cancel_deadline()
        self._cancel_grace()
        log.info("answered {status} {code} before the body", status=status, code=code)
        lang = self.early_language()
        body = error_body(code, message, lang)
        headers = [
            (b"Content-Type", b"application/json; charset=utf-8"),
            (b"Content-Language", lang.encode("ascii")),
            (b"Content-Length", b"%d" % len(body)),
            (b"Connection", b"close"),
        ]
        if status == 401 and self.requestHeaders.hasHeader(b"authorization"):
            extra_headers = (*extra_headers, (b"WWW-Authenticate", b'Basic realm="sendemodul", charset="UTF-8"'))
        headers += [*BASE_HEADERS, *extra_headers]
        # The channel's own header writer, outside the Request: the body is still arriving, so the Request's
        # write/finish (which would start the next request on this connection) cannot be used.
        self.channel.writeHeaders(b"HTTP/1.1", b"%d" % status, REASONS.get(status, b"Error"), headers)
        transport = self.channel.transport
        transport.write(body)
        self._drop_upload()
        # Lingering close: read and discard what the client is still sending for a moment, so that closing with
        # unread data does not reset the connection before the client has read the answer.
        transport.resumeProducing()
        self._call_later(LINGER_SECONDS, self.channel.loseConnection)  # (unregisters the channel as producer)

    def early_language(self):
        """The language of an answer before twisted.web parsed the request (its ``args`` and cookies): from the
        request line's ``?lang=`` and the headers read so far (:func:`i18n.early_language`)."""
        return i18n.early_language(self._request_line[1], self.requestHeaders)

    def answered_by_channel(self):
        """The channel answered for this request (it could not be read) and is closing: no answer of ours follows."""
        self._early = True
        self._cancel_deadline()
        self._cancel_grace()
        self._drop_upload()

    def _drop_upload(self):
        if self.upload is not None:
            upload, self.upload = self.upload, None
            self.app.intake.abort(upload)

    def _too_slow(self, phase):
        log.info("request too slow ({phase}): closing", phase=phase)
        self.answer_early(408, "timeout", "The request took too long; nothing was kept. Send it again.")

    def _grace_over(self):
        """The login grace is over and the request has neither logged in nor been completely received. An upload
        refused at its headers (its body being read and thrown away) gets that refusal now; anything else 408."""
        if self.rejection is not None:
            log.info("refused upload still sending at the end of the login grace: closing")
            self.answer_early(*self.rejection)
        else:
            self._too_slow("login grace")

    # -- the body --------------------------------------------------------------------------------------------

    def gotLength(self, length):
        self._cancel_deadline()
        command, path, _ = self._request_line
        if command == b"PUT" and path.startswith(UPLOAD_PREFIX):
            self.content = _UploadBody()
            if not upload_name_ok(path):
                self.answer_early(400, "invalid", "The name in the URL is not a valid file name.")
                return
            self._start_upload(length)
        else:
            if length is not None and length > MAX_SMALL_BODY:
                self.content = _SmallBody()
                self.answer_early(413, "too_large", "The request body is too large.")
                return
            self.content = _SmallBody()

    def _start_upload(self, length):
        limit = self.app.config.limits.max_upload_bytes
        if length is not None and length > limit:
            self.answer_early(
                413, UploadTooLarge.code, f"The upload is larger than the server accepts ({limit:,} bytes)."
            )
            return
        expect = self.requestHeaders.getRawHeaders(b"expect")
        self.requestHeaders.removeHeader(b"expect")  # we answer 100-continue ourselves, after the login
        self._expect_continue = bool(
            expect and expect[0].lower() == b"100-continue" and self._request_line[2] == b"HTTP/1.1"
        )
        self.channel.transport.pauseProducing()
        self._waiting_login = True
        self._deadline = self._call_later(self.app.config.limits.max_upload_seconds, self._too_slow, "upload")
        d = defer.maybeDeferred(self._authenticate)
        d.addCallbacks(self._authenticated_upload, self._login_failed)
        d.addErrback(self._internal_error)

    def _authenticate(self):
        """The login (``auth.UnitAvatar``) for this request: Basic auth, or session cookie + CSRF header. Fails with
        UnauthorizedLogin."""
        header = self.requestHeaders.getRawHeaders(b"authorization")
        if header:
            return login_avatar(self.app.portal, basic_credentials(header[0], self.source()))
        return self.app.session_login(self, csrf=True)

    def _authenticated_upload(self, avatar):
        self._waiting_login = False
        if self._early or self.channel.transport is None:
            return
        self._cancel_grace()  # logged in: from here on the upload's own limits (max_upload_seconds, size) apply
        unit = self.upload_unit = avatar.parsed
        try:
            self.upload = self.app.intake.begin(
                unit,
                epoch=avatar.epoch,
                on_pressure=self._pressure,
                protocol="https",
                person=getattr(avatar, "person", None),
            )
        except TooManyUploads as e:
            self.refuse(429, e.code, str(e), ((b"Retry-After", b"10"),))
            return
        except OSError as e:
            from sendemodul.incoming import storage_error

            err = storage_error(e)
            self.answer_early(507, err.code, str(err))
            return
        if self._expect_continue:
            self.channel.writeHeaders(b"HTTP/1.1", b"100", b"Continue", [])
        buffered, self._buffer = self._buffer, []
        for data in buffered:
            self._write_upload(data)
        if self._early:
            return
        self.channel.transport.resumeProducing()
        if self._received is not None:  # the whole body came while the login ran
            super().requestReceived(*self._received)

    def _login_failed(self, failure):
        self._waiting_login = False
        if self._early:  # answered meanwhile (the login grace ran out while the login was checked)
            return
        if failure.check(LoginBusy):
            self.refuse(503, "busy", str(failure.value), ((b"Retry-After", b"5"),))
        elif failure.check(UnauthorizedLogin):
            self.refuse(401, "unauthorized", "Login failed: check the unit and the PIN.")
        else:
            self._internal_error(failure)

    def refuse(self, status, code, message, extra_headers=()):
        """Refuse the upload without storing any of it. A client waiting for ``100 Continue`` is answered at once;
        one that is already sending (browsers never wait) has the body read and thrown away and gets the answer
        in the ordinary way, which every client understands; past ``MAX_DISCARD_BYTES`` it is cut off."""
        if self._expect_continue:
            self.answer_early(status, code, message, extra_headers)
            return
        self.rejection = (status, code, message, extra_headers)
        transport = self.channel.transport
        if transport is not None:
            transport.resumeProducing()
        if self._received is not None:
            super().requestReceived(*self._received)

    def _internal_error(self, failure):
        log.failure("upload start failed", failure)
        self.answer_early(500, "error", "Internal error; nothing was kept. Try again later.")

    def _pressure(self, paused):
        transport = self.channel.transport
        if transport is None or self._early:
            return
        if paused:
            transport.pauseProducing()
        else:
            transport.resumeProducing()

    def _write_upload(self, data):
        try:
            self.upload.write(data)
        except UploadTooLarge as e:
            self.answer_early(413, e.code, str(e))
        except Exception as e:  # noqa: BLE001 - a storage error of an earlier write, whatever its type, is kept and answered
            self.upload_error = e
            self.answer_early(507 if getattr(e, "code", "") == "no_space" else 503, getattr(e, "code", "error"), str(e))
        else:
            self.content.size += len(data)

    def handleContentChunk(self, data):
        if self._early:
            return
        if self.rejection is not None:
            self.content.size += len(data)
            if self.content.size > MAX_DISCARD_BYTES:
                self.answer_early(*self.rejection)
            return
        if isinstance(self.content, _UploadBody):
            if self.upload is None:
                self._buffer.append(data)  # the login is still running; reading is paused
            else:
                self._write_upload(data)
        elif self.content.tell() + len(data) > MAX_SMALL_BODY:
            self.answer_early(413, "too_large", "The request body is too large.")
        else:
            self.content.write(data)

    def requestReceived(self, command, path, version):
        self._cancel_deadline()
        if self._early:
            return
        if self._waiting_login:  # the grace still runs: the login must end within it
            self._received = (command, path, version)
            return
        self._cancel_grace()
        super().requestReceived(command, path, version)

    def finish(self):
        # An upload whose body came in but that no resource took (a method or path that does not take uploads)
        # would otherwise stay in the spool and count against the unit's uploads in progress.
        self._drop_upload()
        return super().finish()

    def connectionLost(self, reason):
        self._cancel_deadline()
        self._cancel_grace()
        if not self.finished:
            self._drop_upload()
        super().connectionLost(reason)
