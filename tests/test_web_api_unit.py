"""Unit tier for the HTTPS front's resources (``DummyRequest``, no server): the API's upload resource."""

import json
from pathlib import Path

from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyChannel, DummyRequest

from sendemodul import config
from sendemodul.web.api import UploadResource, Uploads
from sendemodul.web.app import WebApp


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
