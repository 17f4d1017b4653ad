"""The HTTPS front's one place that turns errors into HTTP: status codes for intake's refusals, JSON error
bodies ``{error, message, melding}``, and the finishing of a deferred answer (an unexpected failure becomes a
logged 500, never a request left hanging)."""

import functools
import html
import json

from twisted.logger import Logger
from twisted.web import resource, server
from twisted.web.http_headers import Headers

from sendemodul import i18n, messages_nb
from sendemodul.errors import (
    ContainerError,
    ContainerReplayed,
    LoginRevoked,
    RegisterNotPermitted,
    SpoolFull,
    TooManyUploads,
    UploadTooLarge,
    WindowClosed,
)
from sendemodul.web.answers import BASE_HEADERS

log = Logger()


def status_for(error):
    """The HTTP status for an intake refusal."""
    if isinstance(error, UploadTooLarge):
        return 413
    if isinstance(error, LoginRevoked):
        return 401
    if isinstance(error, SpoolFull):
        return 507
    if isinstance(error, TooManyUploads):
        return 429
    if isinstance(error, ContainerReplayed):
        return 409
    if isinstance(error, (WindowClosed, RegisterNotPermitted)):
        return 403
    if isinstance(error, ContainerError):
        return 422
    return 400


_EXTRA_REASONS = {422: b"Unprocessable Content", 507: b"Insufficient Storage"}


def json_body(lang, body):
    """``body`` as the API's JSON bytes, every :class:`~sendemodul.i18n.Msg` in it written in ``lang``."""
    return json.dumps(i18n.localized(lang, body), ensure_ascii=False, indent=1).encode("utf-8") + b"\n"


def _json_headers(request, status):
    """Status, content type and language of a JSON answer; the language (the request's) is returned."""
    lang = i18n.request_language(request)
    request.setResponseCode(status, _EXTRA_REASONS.get(status))
    request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
    request.setHeader(b"Content-Language", lang.encode("ascii"))
    return lang


def json_response(request, status, body):
    """A JSON answer; every :class:`~sendemodul.i18n.Msg` in ``body`` (a ``melding``, a receipt's "what counts")
    is written in the request's language (``?lang=``, the cookie, ``Accept-Language``), as the pages are."""
    return json_body(_json_headers(request, status), body)


def error_body(code, message):
    """The JSON error body ``{error, message, melding}`` (the ``melding`` still a :class:`~sendemodul.i18n.Msg`)."""
    return {"error": code, "message": message, "melding": messages_nb.melding(code)}


@functools.lru_cache(maxsize=64)
def refusal_bytes(code, message, lang):
    """The encoded body of a refused login (401 ``unauthorized``, 503 ``busy``) in ``lang``: the same bytes
    :func:`json_error` would render, made once per language. A storm of wrong PINs gets these answers by the
    thousand; encoding each anew was a measurable part of the reactor's time per refusal. Only for the fixed
    refusals (the key is a code, a constant message and a language, so the cache stays small)."""
    return json_body(lang, error_body(code, message))


@functools.lru_cache(maxsize=8)
def busy_answer(message, lang):
    """The 503 ``busy`` answer to an API read whose login was refused busy, as ``(before_date, after_date)``: the
    header lines before the ``Date`` header (the security headers) and the rest of the answer after it (its own
    headers, then the chunked body), byte for byte what ``ApiAuthenticated`` writes through the ``Request``
    (``web.site.SecureRequest.refused_at_once`` writes it without one). The header names as Twisted writes them."""
    before, after = Headers(), Headers()
    for name, value in BASE_HEADERS:
        before.addRawHeader(name, value)
    after.addRawHeader(b"Retry-After", b"5")
    after.addRawHeader(b"Content-Type", b"application/json; charset=utf-8")
    after.addRawHeader(b"Content-Language", lang.encode("ascii"))
    after.addRawHeader(b"Transfer-Encoding", b"chunked")
    body = refusal_bytes("busy", message, lang)

    def lines(headers):
        return b"".join(
            b"%s: %s\r\n" % (name, value) for name, values in headers.getAllRawHeaders() for value in values
        )

    return lines(before), lines(after) + b"\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


def _auth_challenge(request, status):
    if status == 401 and request.requestHeaders.hasHeader(b"authorization"):
        # Only to clients that use Basic auth: a browser would answer it with a password dialog.
        request.setHeader(b"WWW-Authenticate", b'Basic realm="sendemodul", charset="UTF-8"')


def json_error(request, status, code, message):
    _auth_challenge(request, status)
    return json_response(request, status, error_body(code, message))


def json_refusal(request, status, code, message):
    """:func:`json_error` for a refused login, whose ``message`` is one of a few constants: the body from
    :func:`refusal_bytes`."""
    _auth_challenge(request, status)
    if status == 503:
        request.login_busy = True  # for the access log (:meth:`sendemodul.web.site.Site.log`): counted, not logged
    return refusal_bytes(code, message, _json_headers(request, status))


def internal_error_page(request):
    """The 500 page: plain, from no template (a template may be what failed), in the request's language."""
    lang = i18n.request_language(request)
    title = html.escape(messages_nb.page_text("internal_error_title", lang))
    text = html.escape(messages_nb.page_text("internal_error", lang))
    return (
        f'<!doctype html>\n<html lang="{lang}">\n<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title} – Sendemodul</title>"
        '<link rel="stylesheet" href="/static/style.css"></head>\n'
        f'<body><main id="innhold"><h1>{title}</h1><p>{text}</p><p><a href="/">Sendemodul</a></p></main></body>\n'
        "</html>\n"
    ).encode()


def finish(request, body):
    if not request.finished and request.channel is not None:
        request.write(body)
        request.finish()


def respond(request, d):
    """Finish ``request`` with the bytes ``d`` fires with; an unexpected failure becomes a logged 500, never a
    request left hanging."""

    def failed(failure):
        log.failure("request failed", failure)
        request.setResponseCode(500)
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        return internal_error_page(request)

    d.addErrback(failed)
    d.addCallback(lambda body: finish(request, body))
    d.addErrback(lambda f: log.failure("could not finish the response", f))
    return server.NOT_DONE_YET


class NotFoundJSON(resource.Resource):
    isLeaf = True

    def render(self, request):
        return json_error(request, 404, "not_found", "No such resource.")
