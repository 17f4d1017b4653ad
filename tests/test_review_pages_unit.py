"""Unit tier: the county governor's pages (sendemodul/web/review.py) over a real store, rendered with a
DummyRequest: only a statsforvalter's session sees them, only its own fylke's tasks, metadata and counts only;
"Returner" needs 1 to 4,000 characters (4,001 refused with a clear message); every decision needs the CSRF token."""

import os
import shutil
import tempfile

from conftest import add_unit
from support.fakes import web_app
from test_web_unit import WebRequest
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import getChildForRequest
from twisted.web.server import NOT_DONE_YET

from sendemodul.store import Store
from sendemodul.web.sessions import COOKIE, PersonLogin
from sendemodul.web.site import Root

OSLO = "0301-00-958935420"
BERGEN = "4601-00-964338531"
TASK = "SM-20270115-AAAAAAAA"


def _awaiting(store, reference, unit):
    store.record_upload(
        {
            "reference": reference,
            "unit": unit,
            "register": "15F",
            "periode": 2026,
            "container_id": "00000000-0000-4000-8000-00000000000a",
            "sha256": "0" * 64,
            "size": 1234,
            "status": "received",
            "test": 0,
            "late": 0,
            "received_at": "2027-01-15T08:00:00Z",
        },
        actor="test",
    )
    store.claim_received()
    store.finish_pseudonymizing(
        reference,
        status="awaiting_review",
        feedback=[],
        feedback_omitted=0,
        package_size=10,
        package_sha256="1" * 64,
        counts={"FNR": 3, "BAD_CHECKSUM": 1},
        records=4,
        actor="worker",
    )


class ReviewPagesTests(SynchronousTestCase):
    def setUp(self):
        directory = tempfile.mkdtemp(prefix="review-pages-")  # not trial's mktemp: it writes under the working dir
        self.addCleanup(shutil.rmtree, directory)
        self.store = Store.create(os.path.join(directory, "sendemodul.db"))
        self.addCleanup(self.store.close)
        self.unit = add_unit(self.store, OSLO, name="Oslo kommune")
        add_unit(self.store, BERGEN, name="Bergen kommune")
        _awaiting(self.store, TASK, OSLO)
        self.app = web_app(Clock(), store=self.store)
        self.root = Root(self.app)

    def session(self, fylke=None, role="statsforvalter"):
        """A web session; with ``fylke``, of an active person with ``role`` for that fylke (a real persons row, as
        the session check asks the store whether its person is still active)."""
        session = self.app.sessions.create(self.unit, 0)
        if fylke is not None:
            person_id = f"p-{role}-{fylke}"
            self.store.conn().execute(
                "INSERT INTO persons (person_id, unit, name, email, state, role, fylke, created_at)"
                " VALUES (?, ?, 'Kari Nordmann', ?, 'active', ?, ?, '2027-01-01T00:00:00Z')"
                " ON CONFLICT (person_id) DO NOTHING",
                (person_id, OSLO, f"{person_id}@example.org", role, fylke),
            )
            session.person = PersonLogin(person_id, "Kari Nordmann", (), role, fylke)
        return session

    def get(self, path, session, args=None):
        return self.request(WebRequest(path.encode(), cookies={COOKIE: session.token.encode()}, args=args))

    def post(self, path, session, args, csrf=True):
        if csrf:
            args = {**args, b"csrf": session.csrf.encode()}
        return self.request(
            WebRequest(path.encode(), method=b"POST", cookies={COOKIE: session.token.encode()}, args=args)
        )

    def request(self, request):
        resource = getChildForRequest(self.root, request)
        result = resource.render(request)
        if result is not NOT_DONE_YET:
            request.write(result)
            request.finish()
        return request, b"".join(request.written).decode("utf-8")

    def test_only_a_reviewer_sees_the_pages(self):
        for session in (self.session(), self.session("03", role="reporter")):
            request, _ = self.get("/oppgaver/", session)
            self.assertEqual(request.responseCode, 404)

    def test_a_reviewer_sees_only_their_fylke_and_counts_only(self):
        _, text = self.get("/oppgaver/", self.session("03"))
        self.assertIn(TASK, text)
        self.assertIn("Åpne oppgaver", text)
        _, text = self.get("/oppgaver/", self.session("46"))
        self.assertNotIn(TASK, text)
        request, _ = self.get(f"/oppgaver/{TASK}", self.session("46"))
        self.assertEqual(request.responseCode, 404)
        _, text = self.get(f"/oppgaver/{TASK}", self.session("03"))
        self.assertIn("BAD_CHECKSUM", text)
        self.assertIn('id="poster">4<', text)
        self.assertIn("Godkjenn", text)

    def test_returner_needs_1_to_4000_characters_and_the_csrf_token(self):
        session = self.session("03")
        request, _ = self.post(f"/oppgaver/{TASK}", session, {b"handling": b"returner", b"melding": b"x"}, csrf=False)
        self.assertEqual(request.responseCode, 403)
        request, text = self.post(f"/oppgaver/{TASK}", session, {b"handling": b"returner", b"melding": b"x" * 4001})
        self.assertEqual(request.responseCode, 400)
        self.assertIn("1 til 4000 tegn", text)
        self.assertEqual(self.store.upload(TASK)["status"], "awaiting_review")
        request, _ = self.post(f"/oppgaver/{TASK}", session, {b"handling": b"returner", b"melding": b"y" * 4000})
        self.assertEqual(request.responseCode, 303)
        self.assertEqual(self.store.upload(TASK)["status"], "review_returned")
        _, text = self.get("/oppgaver/arkiv", session)
        self.assertIn(TASK, text)
        request, text = self.post(f"/oppgaver/{TASK}", session, {b"handling": b"godkjenn"})
        self.assertEqual(request.responseCode, 400)
        self.assertIn("allerede løst", text)

    def test_godkjenn_queues_the_delivery_for_ssb(self):
        request, _ = self.post(f"/oppgaver/{TASK}", self.session("03"), {b"handling": b"godkjenn"})
        self.assertEqual(request.responseCode, 303)
        self.assertEqual(self.store.upload(TASK)["status"], "queued")
        _, text = self.get("/oppgaver/status", self.session("03"), {b"register": b"15F", b"periode": b"2026"})
        self.assertIn("Oslo kommune", text)
        self.assertNotIn("Bergen kommune", text)
