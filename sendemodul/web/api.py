"""The JSON API of the HTTPS front (DESIGN.md section 13): ``PUT /api/v1/uploads/{name}`` (Basic auth or the web
session) -> 201 + JSON receipt; ``GET /api/v1/uploads``; ``GET /api/v1/uploads/{reference}``; ``GET /api/v1/keys``.
Errors are JSON ``{error, message, melding}`` (:mod:`sendemodul.web.errors`)."""

import datetime

from twisted.cred.error import UnauthorizedLogin
from twisted.logger import Logger
from twisted.web import resource

from sendemodul import messages_nb, standing
from sendemodul.errors import (
    ContainerError,
    IntakeError,
    LoginBusy,
    SendemodulError,
    UploadIncomplete,
)
from sendemodul.receipt import Receipt
from sendemodul.timefmt import OSLO
from sendemodul.web.app import AppResource
from sendemodul.web.errors import NotFoundJSON, json_error, json_refusal, json_response, respond, status_for
from sendemodul.web.request import UPLOAD_NAME_RE

log = Logger()

#: The API's message for a failed login (the ``melding`` says it in Bokmål or Nynorsk).
LOGIN_FAILED = "Login failed: check the unit and the PIN."


def _upload_json(row, current):
    """An upload as the API shows it: its receipt (with what counts now; ``current`` is the upload that counts for
    its register and periode) and how it went on."""
    body = Receipt.from_row(row, current).to_json()
    del body["duplicate"]
    body["reason"] = row["reason"]
    body["delivered_at"] = row.get("delivered_at")
    body["answered_at"] = row.get("answered_at")
    return body


def _uploads_json(rows):
    current = standing.current_uploads(rows)
    return [_upload_json(row, current.get(standing.group(row))) for row in rows]


def upload_with_standing(store, reference):
    """In a DB thread: the upload with its feedback rows, and the upload that counts now for its register and
    periode, as ``(row, current)``; ``(None, None)`` if there is no such upload."""
    row = store.upload_with_feedback(reference)
    if row is None:
        return None, None
    if standing.is_current(row):
        return row, row
    return row, store.current_upload(row["unit"], row["register"], row["periode"])


class ApiAuthenticated(AppResource):
    """A GET resource that first authenticates, then calls ``self.get(request, unit) -> Deferred[(status, body)]``."""

    isLeaf = True

    def render_GET(self, request):
        d = self.app.authenticate(request)
        d.addCallback(lambda unit: self.get(request, unit))
        d.addCallback(lambda result: json_response(request, *result))
        d.addErrback(self._failed, request)
        return respond(request, d)

    def _failed(self, failure, request):
        if failure.check(LoginBusy):
            request.setHeader(b"Retry-After", b"5")
            return json_refusal(request, 503, "busy", str(failure.value))
        if failure.check(UnauthorizedLogin):
            return json_refusal(request, 401, "unauthorized", LOGIN_FAILED)
        log.failure("API request failed", failure)
        return json_error(request, 500, "error", "Internal error.")


class UploadList(ApiAuthenticated):
    def get(self, request, unit):
        d = self.app.run_db(self.app.store.list_uploads, unit)
        return d.addCallback(lambda rows: (200, {"unit": str(unit), "uploads": _uploads_json(rows)}))


class UploadStatus(ApiAuthenticated):
    def __init__(self, app, reference):
        super().__init__(app)
        self.reference = reference

    def get(self, request, unit):
        def found(found):
            row, current = found
            if row is None or row["unit"] != str(unit):  # another unit's upload does not exist for you
                return 404, {
                    "error": "not_found",
                    "message": "No such upload.",
                    "melding": messages_nb.melding("not_found"),
                }
            body = _upload_json(row, current)
            body["feedback"] = [
                {"row_id": f["row_id"], "id_type": f["id_type"], "class": f["id_class"]} for f in row["feedback"]
            ]
            body["feedback_omitted"] = row.get("feedback_omitted") or 0
            body["answer"] = row.get("answer")  # SSB's: decision, message, errors by row id and journalnummer
            body["review"] = row.get("review")  # the county governor's: state, message, decided_at
            return 200, body

        return self.app.run_db(upload_with_standing, self.app.store, self.reference).addCallback(found)


class UploadResource(AppResource):
    """``PUT /api/v1/uploads/{name}``: the body was streamed to the spool by UploadRequest; finish the intake."""

    isLeaf = True

    def __init__(self, app, name):
        super().__init__(app)
        self.name = name

    def render_GET(self, request):
        return UploadStatus(self.app, self.name).render_GET(request)

    def render_PUT(self, request):
        if getattr(request, "rejection", None) is not None:
            status, code, message, headers = request.rejection
            for name, value in headers:
                request.setHeader(name, value)
            return json_error(request, status, code, message)
        upload = getattr(request, "upload", None)
        if upload is None:
            return json_error(request, 400, "incomplete", UploadIncomplete().message)
        request.upload = None  # ours now: a lost connection no longer discards it
        if not UPLOAD_NAME_RE.match(self.name):
            self.app.intake.abort(upload)
            return json_error(request, 400, "invalid", "The name in the URL is not a valid file name.")
        d = self.app.intake.finish(upload)
        d.addCallbacks(self._accepted, self._refused, callbackArgs=(request,), errbackArgs=(request,))
        return respond(request, d)

    def _accepted(self, receipt, request):
        request.setHeader(b"Location", f"/api/v1/uploads/{receipt.reference}".encode("ascii"))
        return json_response(request, 200 if receipt.duplicate else 201, receipt.to_json())

    def _refused(self, failure, request):
        if failure.check(IntakeError, ContainerError, SendemodulError):
            error = failure.value
            return json_error(request, status_for(error), error.code, str(error))
        log.failure("upload failed", failure)
        return json_error(request, 500, "error", "Internal error; nothing was kept. Try again later.")


class Uploads(UploadList):
    isLeaf = False

    def getChild(self, path, request):
        if path == b"":
            return self
        return UploadResource(self.app, path.decode("utf-8", "replace"))


class Keys(AppResource):
    """``GET /api/v1/keys``: the recipient keys the encryption module must use today (public; no login)."""

    isLeaf = True

    def render_GET(self, request):
        d = self.app.run_db(self._keys)
        d.addCallback(lambda body: json_response(request, 200, body))
        return respond(request, d)

    def _keys(self):
        directory = self.app.keys.current()
        today = datetime.datetime.now(OSLO).date()
        return {
            "keys": [
                {
                    "key_id": k.key_id,
                    "role": k.role,
                    "public": k.public,
                    "valid_from": k.valid_from.isoformat(),
                    "valid_to": k.valid_to.isoformat(),
                    "current": k.valid_on(today),
                }
                for k in directory
            ]
        }


class ApiNode(resource.Resource):
    """A path segment of the API: unknown children are JSON 404s."""

    def getChild(self, path, request):
        return NotFoundJSON()

    def render(self, request):
        return NotFoundJSON().render(request)
