"""Unit tier for the HTTPS front's resources (``DummyRequest``, no server): the API's upload resource."""

import json
from pathlib import Path

from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyChannel, DummyRequest

from sendemodul import auth, config
from sendemodul.web.api import LOGIN_FAILED, UploadList, UploadResource, Uploads
from sendemodul.web.app import WebApp
from sendemodul.web.errors import json_error, json_refusal, refusal_bytes


def make_app():
    return WebApp(
        config.Config(home=Path("/nonexistent")),
        portal=None,
        intake=None,
        store=None,
        run_db=None,
        clock=task.Clock(),
        keys=None,
    )


def put(resource, **attributes):
    request = DummyRequest([])
    request.method = b"PUT"
    request.channel = DummyChannel()
    for name, value in attributes.items():
        setattr(request, name, value)
    body = resource.render_PUT(request)
    return request, json.loads(body)


class UploadResourceTests(SynchronousTestCase):
    def test_a_name_under_uploads_is_an_upload_resource(self):
        child = Uploads(make_app()).getChild(b"11f-2026.tar", DummyRequest([]))
        self.assertIsInstance(child, UploadResource)
        self.assertEqual(child.name, "11f-2026.tar")

    def test_a_refused_upload_is_answered_with_the_refusal(self):
        """The request refused the upload while its headers arrived; the resource answers with that refusal."""
        rejection = (429, "too_many", "Too many uploads.", ((b"Retry-After", b"10"),))
        request, body = put(UploadResource(make_app(), "a.tar"), rejection=rejection)
        self.assertEqual(request.responseCode, 429)
        self.assertEqual(request.responseHeaders.getRawHeaders(b"retry-after"), [b"10"])
        self.assertEqual((body["error"], body["message"]), ("too_many", "Too many uploads."))

    def test_a_put_without_a_streamed_body_is_incomplete(self):
        request, body = put(UploadResource(make_app(), "a.tar"))
        self.assertEqual(request.responseCode, 400)
        self.assertEqual(body["error"], "incomplete")


def answer(function, lang, status, code, message, authorization=True):
    """(status, headers, body) of ``function`` (json_error or json_refusal) on a request in ``lang``."""
    request = DummyRequest([])
    request.args = {b"lang": [lang.encode()]}
    if authorization:
        request.requestHeaders.setRawHeaders(b"authorization", [b"Basic eDp5"])
    body = function(request, status, code, message)
    return request.responseCode, sorted(request.responseHeaders.getAllRawHeaders()), body


class RefusalBodyTests(SynchronousTestCase):
    """A refused login's body is made once per language (errors.refusal_bytes); what the client gets must be
    exactly what json_error renders, in both languages, with the same status and headers."""

    REFUSALS = (
        (401, "unauthorized", LOGIN_FAILED),
        (503, "busy", str(auth.Busy())),
        (503, "busy", str(auth.Throttled("unit"))),
    )

    def test_the_made_once_bodies_equal_the_rendered_ones_in_both_languages(self):
        for lang in ("nb", "nn"):
            for status, code, message in self.REFUSALS:
                for authorization in (True, False):
                    with self.subTest(lang=lang, status=status, authorization=authorization):
                        rendered = answer(json_error, lang, status, code, message, authorization)
                        made_once = answer(json_refusal, lang, status, code, message, authorization)
                        self.assertEqual(made_once, rendered)
                        self.assertEqual(made_once, answer(json_refusal, lang, status, code, message, authorization))

    def test_the_languages_differ(self):
        """(So that the test above compares both languages, not one twice.)"""
        nb = json.loads(answer(json_refusal, "nb", 401, "unauthorized", LOGIN_FAILED)[2])
        nn = json.loads(answer(json_refusal, "nn", 401, "unauthorized", LOGIN_FAILED)[2])
        self.assertEqual(nb["message"], nn["message"])
        self.assertNotEqual(nb["melding"], nn["melding"])

    def test_the_api_answers_a_refused_login_with_the_made_once_body(self):
        from twisted.cred.error import UnauthorizedLogin
        from twisted.python.failure import Failure

        for error, status in ((UnauthorizedLogin(), 401), (auth.Throttled("source"), 503)):
            request = DummyRequest([])
            request.args = {b"lang": [b"nn"]}
            request.requestHeaders.setRawHeaders(b"authorization", [b"Basic eDp5"])
            body = UploadList(make_app())._failed(Failure(error), request)
            self.assertEqual(request.responseCode, status)
            code = "unauthorized" if status == 401 else "busy"
            message = LOGIN_FAILED if status == 401 else str(auth.Busy())
            self.assertIs(body, refusal_bytes(code, message, "nn"))
            self.assertEqual(body, answer(json_error, "nn", status, code, message)[2])
