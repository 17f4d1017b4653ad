"""What every answer of the HTTPS front carries, and the pieces of the answers written outside a twisted.web
``Request`` (by :class:`~sendemodul.web.channel.RequestLineChannel` for a request it could not read, and by
:meth:`~sendemodul.web.request.UploadRequest.answer_early` before the body): the security headers, the reason
phrases, the JSON error body and the lingering close."""

import json

from sendemodul import i18n, messages_nb

LINGER_SECONDS = 2

#: Headers on every response (the resources add CSP etc. for pages; these also go on early raw answers).
BASE_HEADERS = (
    (b"Strict-Transport-Security", b"max-age=63072000; includeSubDomains"),
    (b"X-Content-Type-Options", b"nosniff"),
    (b"X-Frame-Options", b"DENY"),
    (b"Referrer-Policy", b"same-origin"),  # no-referrer would make browsers send "Origin: null"
    (b"Cache-Control", b"no-store"),
    (
        b"Content-Security-Policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"Cross-Origin-Opener-Policy", b"same-origin"),
    (b"Cross-Origin-Resource-Policy", b"same-origin"),
)

REASONS = {
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    408: b"Request Timeout",
    414: b"URI Too Long",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    413: b"Content Too Large",
    503: b"Service Unavailable",
    507: b"Insufficient Storage",
}


def error_body(code, message, lang=i18n.DEFAULT):
    """The JSON error body of an early answer; ``melding`` in ``lang`` (:func:`i18n.early_language`)."""
    body = {"error": code, "message": message, "melding": messages_nb.melding(code, lang)}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")
