"""The HTTPS front's one place that turns errors into HTTP: status codes for intake's refusals, JSON error
bodies ``{error, message, melding}``, and the finishing of a deferred answer (an unexpected failure becomes a
logged 500, never a request left hanging)."""

import json

from twisted.logger import Logger
from twisted.web import resource, server

from sendemodul import messages_nb
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


def json_response(request, status, body):
    request.setResponseCode(status, _EXTRA_REASONS.get(status))
    request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
    return json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"


def json_error(request, status, code, message):
    if status == 401 and request.requestHeaders.hasHeader(b"authorization"):
        # Only to clients that use Basic auth: a browser would answer it with a password dialog.
        request.setHeader(b"WWW-Authenticate", b'Basic realm="sendemodul", charset="UTF-8"')
    return json_response(request, status, {"error": code, "message": message, "melding": messages_nb.melding(code)})


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
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return b"Intern feil / internal error\n"

    d.addErrback(failed)
    d.addCallback(lambda body: finish(request, body))
    d.addErrback(lambda f: log.failure("could not finish the response", f))
    return server.NOT_DONE_YET


class NotFoundJSON(resource.Resource):
    isLeaf = True

    def render(self, request):
        return json_error(request, 404, "not_found", "No such resource.")
