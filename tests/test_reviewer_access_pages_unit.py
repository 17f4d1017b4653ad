"""Unit tier: the pages of access for reviewers (sendemodul/web/review_access.py) over a real store, rendered with a
DummyRequest: the public application form (CSRF cookie, each bad field named in the error summary in Bokmål and
Nynorsk, the source scored per application), the reviewer's login without a unit (the session reaches the
reviewer's pages and no unit's page), and an application as a task that only its fylke's reviewer decides."""

import shutil
import tempfile

from support.fakes import web_app
from test_web_unit import WebRequest
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import getChildForRequest
from twisted.web.server import NOT_DONE_YET

from sendemodul import enrolment, reviewer_access, totp
from sendemodul.store import Store
from sendemodul.web.sessions import COOKIE, LOGIN_COOKIE
from sendemodul.web.site import Root

T0 = 1_790_000_000
GOOD = {b"name": b"Kari Vestland", b"email": b"kari@sfvl.example.org", b"fylke": b"46", b"language": b"nb"}


class AccessPagesTests(SynchronousTestCase):
    def setUp(self):
        directory = tempfile.mkdtemp(prefix="access-pages-")
        self.addCleanup(shutil.rmtree, directory)
        self.store = Store.create(f"{directory}/sendemodul.db")
        self.addCleanup(self.store.close)
        self.clock = Clock()
        self.clock.advance(T0)
        self.app = web_app(self.clock, store=self.store, home=directory)
        self.scores = []
        self.app.score_failure = lambda source, score: self.scores.append((source, score)) or False
        self.root = Root(self.app)

    def request(self, path, method=b"GET", args=None, cookies=None, headers=()):
        request = WebRequest(path.encode(), method=method, args=args, cookies=cookies, headers=headers)
        resource = getChildForRequest(self.root, request)
        result = resource.render(request)
        if result is not NOT_DONE_YET:
            request.write(result)
            request.finish()
        self.clock.advance(1)  # the failure delay
        return request, b"".join(request.written).decode("utf-8")

    def post_form(self, path, args, headers=()):
        """A public form's POST with its double-submit token (cookie and field)."""
        get, _ = self.request(path)
        token = get.cookies[LOGIN_COOKIE][0]
        return self.request(path, b"POST", {**args, b"csrf": token}, cookies={LOGIN_COOKIE: token}, headers=headers)

    def reviewer(self, fylke, email):
        """An enrolled reviewer of ``fylke`` without a unit: ``(person, secret)``."""
        done = reviewer_access.register_reviewer(
            self.app.config, self.store, name=f"Reviewer {fylke}", email=email, language="nb", fylke=fylke, actor="t"
        )
        token = done.mail.read_text().split("/innmelding/")[1].split()[0]
        _, secret = enrolment.open_enrolment(self.app.config, self.store, token)
        now = self.clock.seconds()
        enrolment.confirm_enrolment(self.app.config, self.store, token, totp.code_at(secret, now - 30), now - 30)
        return done.person, secret

    def log_in(self, email, secret):
        request, _ = self.post_form(
            "/statsforvalter",
            {b"email": email.encode(), b"code": totp.code_at(secret, self.clock.seconds()).encode()},
        )
        self.assertEqual(request.responseCode, 303)
        self.assertEqual(request.responseHeaders.getRawHeaders(b"location"), [b"/oppgaver/"])
        return {COOKIE: request.cookies[COOKIE][0]}

    def test_the_form_lists_the_fylker_and_needs_its_token(self):
        request, text = self.request("/tilgang")
        self.assertIn('<option value="46">Vestland (46)</option>', text)
        self.assertIn(LOGIN_COOKIE, request.cookies)
        request, _ = self.request("/tilgang", b"POST", {**GOOD, b"csrf": b"forged"}, cookies={LOGIN_COOKIE: b"x"})
        self.assertEqual(request.responseCode, 403)
        self.assertEqual(self.store.reviewer_applications("46"), [])

    def test_bad_fields_are_named_in_the_error_summary_in_both_languages(self):
        bad = {b"name": b"", b"email": b"kari(at)example", b"fylke": b"99", b"language": b"nb"}
        request, text = self.post_form("/tilgang", bad)
        self.assertEqual(request.responseCode, 400)
        self.assertIn('id="feiloppsummering"', text)
        for field, message in (
            ("name", "Skriv navnet ditt."),
            ("email", "Skriv en gyldig e-postadresse (jobb)"),
            ("fylke", "Velg fylket du skal være statsforvalter for."),
        ):
            self.assertIn(f'<li><a href="#{field}">{message}', text)
            self.assertIn(f'id="{field}-feil"', text)
        request, text = self.post_form("/tilgang", bad, headers=((b"accept-language", b"nn"),))
        self.assertEqual(request.responseCode, 400)
        self.assertIn('<html lang="nn">', text)
        self.assertIn("Skriv namnet ditt.", text)
        self.assertIn("Vel fylket du skal vere statsforvaltar for.", text)
        self.assertEqual(self.store.reviewer_applications("46"), [])
        self.assertEqual(self.scores, [])

    def test_an_application_is_received_and_scores_its_source(self):
        request, text = self.post_form("/tilgang", GOOD)
        self.assertEqual(request.responseCode, 200)
        self.assertIn("Statsforvalteren i Vestland avgjør søknaden", text)
        self.assertEqual(self.scores, [("127.0.0.1", 2)])
        [application] = self.store.reviewer_applications("46")
        self.assertEqual((application["name"], application["state"]), ("Kari Vestland", "open"))
        self.app.source_banned = lambda source: True
        request, text = self.post_form("/tilgang", {**GOOD, b"email": b"other@example.org"})
        self.assertEqual(request.responseCode, 429)
        self.assertEqual(len(self.store.reviewer_applications("46")), 1)

    def test_a_reviewer_logs_in_without_a_unit_and_reaches_only_the_reviewer_pages(self):
        person, secret = self.reviewer("46", "ola@sfvl.example.org")
        request, text = self.post_form("/statsforvalter", {b"email": b"ola@sfvl.example.org", b"code": b"000000"})
        self.assertEqual(request.responseCode, 401)
        self.assertIn("Denne innloggingen er for statsforvalteren", text)
        self.assertEqual(self.scores, [("127.0.0.1", 1)])
        cookies = self.log_in("ola@sfvl.example.org", secret)
        request, text = self.request("/oppgaver/", cookies=cookies)
        self.assertEqual(request.responseCode, 200)
        self.assertIn("Åpne oppgaver", text)
        self.assertIn("Reviewer 46", text)
        for path in ("/mine-skjema", "/innsendinger", "/opplasting", "/registrer-person"):
            request, _ = self.request(path, cookies=cookies)
            self.assertEqual(request.responseHeaders.getRawHeaders(b"location"), [b"/"], path)
        request, _ = self.request("/", cookies=cookies)
        self.assertEqual(request.responseHeaders.getRawHeaders(b"location"), [b"/oppgaver/"])
        request, _ = self.request("/api/v1/uploads", cookies=cookies)
        self.assertEqual(request.responseCode, 401)
        self.store.disable_person(person["person_id"], actor="test")
        request, _ = self.request("/oppgaver/", cookies=cookies)
        self.assertEqual(request.responseCode, 404)

    def test_only_the_fylkes_reviewer_sees_and_decides_an_application(self):
        _, secret46 = self.reviewer("46", "ola@sfvl.example.org")
        _, secret03 = self.reviewer("03", "per@sfov.example.org")
        self.post_form("/tilgang", GOOD)
        [application] = self.store.reviewer_applications("46")
        path = f"/oppgaver/tilgang/{application['application_id']}"
        oslo = self.log_in("per@sfov.example.org", secret03)
        _, text = self.request("/oppgaver/", cookies=oslo)
        self.assertNotIn("Kari Vestland", text)
        request, _ = self.request(path, cookies=oslo)
        self.assertEqual(request.responseCode, 404)
        session = self.app.sessions.get(oslo[COOKIE].decode())
        request, _ = self.request(path, b"POST", {b"handling": b"godkjenn", b"csrf": session.csrf}, cookies=oslo)
        self.assertEqual(request.responseCode, 404)
        self.assertEqual(self.store.reviewer_application(application["application_id"])["state"], "open")

        vestland = self.log_in("ola@sfvl.example.org", secret46)
        _, text = self.request("/oppgaver/", cookies=vestland)
        self.assertIn(f'href="{path}">Kari Vestland</a>', text)
        session = self.app.sessions.get(vestland[COOKIE].decode())
        request, _ = self.request(path, b"POST", {b"handling": b"godkjenn"}, cookies=vestland)
        self.assertEqual(request.responseCode, 403)  # no CSRF token
        request, _ = self.request(path, b"POST", {b"handling": b"godkjenn", b"csrf": session.csrf}, cookies=vestland)
        self.assertEqual(request.responseCode, 303)
        self.assertEqual(self.store.reviewer_application(application["application_id"])["state"], "approved")
        self.assertEqual(self.store.reviewer_by_email("kari@sfvl.example.org")["fylke"], "46")
        request, text = self.request(path, b"POST", {b"handling": b"avsla", b"csrf": session.csrf}, cookies=vestland)
        self.assertEqual(request.responseCode, 400)
        self.assertIn("Søknaden er allerede avgjort.", text)
        _, text = self.request("/oppgaver/arkiv", cookies=vestland)
        self.assertIn("Kari Vestland", text)

    def test_a_reviewer_moved_to_another_fylke_loses_the_session(self):
        _, secret = self.reviewer("46", "ola@sfvl.example.org")
        cookies = self.log_in("ola@sfvl.example.org", secret)
        self.assertEqual(self.request("/oppgaver/", cookies=cookies)[0].responseCode, 200)
        reviewer_access.register_reviewer(
            self.app.config, self.store, name="Ola", email="ola@sfvl.example.org", language="nb", fylke="03", actor="t"
        )
        request, _ = self.request("/oppgaver/", cookies=cookies)
        self.assertEqual(request.responseCode, 404)
        self.assertIsNone(self.app.sessions.get(cookies[COOKIE].decode()))
