"""Unit tier: the web resources (sendemodul/web/site.py) rendered with a ``DummyRequest``: the login page and its
form, sessions on a ``Clock``, the upload list and status API, and the API's refusal paths. A real ``WebApp`` and
``Root`` over a fake portal, intake and store; no Site, no socket. (The upload body itself: test_upload_request_unit.)
"""

import base64
import json

from support.fakes import OTHER, PIN, UNIT, FakePortal, FakeStore, row, web_app
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import getChildForRequest
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from sendemodul import identity
from sendemodul.web.api import UploadResource
from sendemodul.web.sessions import COOKIE, LOGIN_COOKIE
from sendemodul.web.site import Root

OTHER_UNIT = identity.Unit(*OTHER.split("-"))

MINE = "SM-20270115-AAAAAAAA"
THEIRS = "SM-20270115-BBBBBBBB"
IDLE_SECONDS = 900


class WebRequest(DummyRequest):
    """A DummyRequest with what our resources use of ``server.Request``: cookies, the source, a channel."""

    def __init__(self, path, method=b"GET", headers=(), cookies=None, args=None):
        super().__init__([p for p in path.split(b"/")[1:]] or [b""])
        self.method = method
        self.uri = self.path = path
        self.channel = object()
        for name, value in headers:
            self.requestHeaders.addRawHeader(name, value)
        self.received_cookies = dict(cookies or {})
        self.cookies = {}
        self.args = {k: [v] for k, v in (args or {}).items()}

    def getCookie(self, name):
        return self.received_cookies.get(name)

    def addCookie(self, name, value, **kwargs):
        self.cookies[name] = (value, kwargs)

    def source(self):
        return "127.0.0.1"


def basic(unit=UNIT, pin=PIN):
    return (b"authorization", b"Basic " + base64.b64encode(f"{unit}:{pin}".encode()))


class WebTestCase(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.portal = FakePortal()
        self.store = FakeStore([row(MINE), row(THEIRS, unit=OTHER)])
        self.app = web_app(self.clock, portal=self.portal, store=self.store, session_idle_seconds=IDLE_SECONDS)
        self.root = Root(self.app)

    def render(self, request):
        """Render ``request`` through the resource tree; returns it once finished."""
        resource = getChildForRequest(self.root, request)
        result = resource.render(request)
        if result is not NOT_DONE_YET:
            request.write(result)
            request.finish()
        self.assertTrue(request.finished, "the request was left hanging")
        return request

    def get(self, path, **kwargs):
        return self.render(WebRequest(path, **kwargs))

    def body(self, request):
        return b"".join(request.written)

    def json(self, request):
        self.assertEqual(request.responseHeaders.getRawHeaders(b"content-type"), [b"application/json; charset=utf-8"])
        return json.loads(self.body(request))

    def header(self, request, name):
        return (request.responseHeaders.getRawHeaders(name) or [None])[0]

    def log_in(self):
        """A web session for UNIT through the login form; returns (session cookie value, csrf token)."""
        page = self.get(b"/")
        token = page.cookies[LOGIN_COOKIE][0]
        done = self.render(
            WebRequest(
                b"/",
                b"POST",
                headers=[(b"origin", b"https://localhost"), (b"host", b"localhost")],
                cookies={LOGIN_COOKIE: token},
                args={
                    b"kommunenr": b"0301",
                    b"bydel": b"12",
                    b"orgnr": b"958935420",
                    b"pin": PIN.encode(),
                    b"csrf": token,
                },
            )
        )
        self.assertEqual((done.responseCode, self.header(done, b"location")), (303, b"/opplasting"))
        cookie = done.cookies[COOKIE][0]
        return cookie, self.app.sessions.get(cookie.decode()).csrf


class LoginPageTests(WebTestCase):
    def test_the_login_page_sets_a_login_csrf_cookie_and_puts_it_in_the_form(self):
        request = self.get(b"/")
        self.assertEqual(request.responseCode, 200)
        token, options = request.cookies[LOGIN_COOKIE]
        self.assertIn(token, self.body(request))
        self.assertEqual((options["secure"], options["httpOnly"], options["sameSite"]), (True, True, "strict"))

    def test_a_post_without_the_login_cookie_is_403(self):
        request = self.render(WebRequest(b"/", b"POST", args={b"kommunenr": b"0301", b"csrf": b"x"}))
        self.assertEqual(request.responseCode, 403)
        self.assertEqual(self.portal.attempts, [])

    def test_a_post_from_another_origin_is_403(self):
        token = self.get(b"/").cookies[LOGIN_COOKIE][0]
        request = self.render(
            WebRequest(
                b"/",
                b"POST",
                headers=[(b"origin", b"https://evil.example"), (b"host", b"localhost")],
                cookies={LOGIN_COOKIE: token},
                args={b"csrf": token},
            )
        )
        self.assertEqual(request.responseCode, 403)

    def test_malformed_fields_are_400_with_a_message_per_field_and_no_login_attempt(self):
        token = self.get(b"/").cookies[LOGIN_COOKIE][0]
        request = self.render(
            WebRequest(
                b"/",
                b"POST",
                cookies={LOGIN_COOKIE: token},
                args={b"kommunenr": b"12", b"bydel": b"1", b"orgnr": b"123", b"pin": b"", b"csrf": token},
            )
        )
        self.assertEqual(request.responseCode, 400)
        body = self.body(request).decode()
        for message in ("fire siffer", "to siffer", "ni siffer", "PIN-koden"):
            self.assertIn(message, body)
        self.assertEqual(self.portal.attempts, [])

    def test_a_wrong_pin_is_401_and_the_pin_is_not_echoed(self):
        token = self.get(b"/").cookies[LOGIN_COOKIE][0]
        request = self.render(
            WebRequest(
                b"/",
                b"POST",
                cookies={LOGIN_COOKIE: token},
                args={
                    b"kommunenr": b"0301",
                    b"bydel": b"12",
                    b"orgnr": b"958935420",
                    b"pin": b"WRONG-PIN-0000",
                    b"csrf": token,
                },
            )
        )
        self.assertEqual(request.responseCode, 401)
        self.assertNotIn(b"WRONG-PIN-0000", self.body(request))
        self.assertNotIn(COOKIE, request.cookies)

    def test_the_right_pin_starts_a_session_and_redirects_to_the_upload_page(self):
        cookie, _ = self.log_in()
        self.assertEqual(self.portal.attempts, [UNIT])
        self.assertEqual(self.get(b"/", cookies={COOKIE: cookie}).responseCode, 303)  # already logged in
        page = self.get(b"/opplasting", cookies={COOKIE: cookie})
        self.assertEqual(page.responseCode, 200)

    def test_a_session_ends_after_session_idle_seconds_on_the_clock(self):
        cookie, _ = self.log_in()
        self.clock.advance(IDLE_SECONDS)
        self.assertEqual(self.get(b"/opplasting", cookies={COOKIE: cookie}).responseCode, 200)  # touched again
        self.clock.advance(IDLE_SECONDS + 1)
        request = self.get(b"/opplasting", cookies={COOKIE: cookie})
        self.assertEqual((request.responseCode, self.header(request, b"location")), (303, b"/"))

    def test_a_session_ends_after_session_max_seconds_however_busy(self):
        """Issue 14: requests renew the idle timeout but not the absolute lifetime (8 h by default)."""
        self.assertEqual(self.app.sessions.max_seconds, 8 * 3600)
        cookie, _ = self.log_in()
        for _ in range(8 * 3600 // (IDLE_SECONDS // 2)):  # a request every 7.5 minutes for 8 hours
            self.clock.advance(IDLE_SECONDS // 2)
            self.assertEqual(self.get(b"/opplasting", cookies={COOKIE: cookie}).responseCode, 200)
        self.clock.advance(1)
        request = self.get(b"/opplasting", cookies={COOKIE: cookie})
        self.assertEqual((request.responseCode, self.header(request, b"location")), (303, b"/"))
        self.assertEqual(self.json(self.get(b"/api/v1/uploads", cookies={COOKIE: cookie}))["error"], "unauthorized")

    def test_a_session_ends_at_its_next_request_once_the_units_credentials_change(self):
        """Issue 14: the session remembers its login's credential epoch; each request compares it with the store."""
        cookie, _ = self.log_in()
        other = self.app.sessions.create(OTHER_UNIT, 0)
        self.store.epochs[UNIT] = 7  # admin pin revoke/issue or unit disable, in another process
        request = self.get(b"/innsendinger", cookies={COOKIE: cookie})
        self.assertEqual((request.responseCode, self.header(request, b"location")), (303, b"/"))
        self.assertIsNone(self.app.sessions.get(cookie.decode()), "the stale session was kept")
        self.assertEqual(self.get(b"/opplasting", cookies={COOKIE: other.token.encode()}).responseCode, 200)
        self.store.epochs[OTHER] = None  # disabled
        self.assertEqual(self.get(b"/opplasting", cookies={COOKIE: other.token.encode()}).responseCode, 303)

    def test_end_unit_ends_only_the_units_sessions_of_other_epochs(self):
        sessions = self.app.sessions
        old, new, other = sessions.create(UNIT, 1), sessions.create(UNIT, 2), sessions.create(OTHER, 1)
        self.assertEqual(sessions.end_unit(UNIT, 2), 1)
        self.assertEqual([sessions.get(s.token) is not None for s in (old, new, other)], [False, True, True])
        self.assertEqual(sessions.end_unit(OTHER, None), 1)  # disabled: every one
        self.assertIsNone(sessions.get(other.token))

    def test_logout_needs_the_sessions_csrf_token(self):
        cookie, csrf = self.log_in()
        refused = self.render(WebRequest(b"/logg-ut", b"POST", cookies={COOKIE: cookie}))
        self.assertEqual(refused.responseCode, 403)
        done = self.render(WebRequest(b"/logg-ut", b"POST", cookies={COOKIE: cookie}, args={b"csrf": csrf.encode()}))
        self.assertEqual(done.responseCode, 303)
        self.assertEqual(self.get(b"/opplasting", cookies={COOKIE: cookie}).responseCode, 303)


class PagesTests(WebTestCase):
    def test_pages_for_logged_in_units_redirect_to_login_without_a_session(self):
        for path in (b"/opplasting", b"/innsendinger", b"/kvittering/" + MINE.encode()):
            request = self.get(path)
            self.assertEqual((request.responseCode, self.header(request, b"location")), (303, b"/"), path)

    def test_the_deliveries_page_lists_only_the_units_own_uploads(self):
        cookie, _ = self.log_in()
        body = self.body(self.get(b"/innsendinger", cookies={COOKIE: cookie}))
        self.assertIn(MINE.encode(), body)
        self.assertNotIn(THEIRS.encode(), body)

    def test_another_units_receipt_page_does_not_exist(self):
        cookie, _ = self.log_in()
        self.assertEqual(self.get(b"/kvittering/" + MINE.encode(), cookies={COOKIE: cookie}).responseCode, 200)
        self.assertEqual(self.get(b"/kvittering/" + THEIRS.encode(), cookies={COOKIE: cookie}).responseCode, 404)
        self.assertEqual(self.get(b"/kvittering/not-a-reference", cookies={COOKIE: cookie}).responseCode, 404)


class WhatCountsTests(WebTestCase):
    """The receipt and the list say, for every state, which upload counts now; a file sent again never gets the
    green "received" line."""

    OLD = "SM-20270110-CCCCCCCC"
    NEW = "SM-20270112-DDDDDDDD"

    def setUp(self):
        super().setUp()
        self.store.rows = {
            self.OLD: {**row(self.OLD), "received_at": "2027-01-10T08:00:00Z", "superseded_by": self.NEW},
            self.NEW: {**row(self.NEW), "received_at": "2027-01-12T09:30:00Z"},
            THEIRS: self.store.rows[THEIRS],
        }
        self.cookie, _ = self.log_in()

    def page(self, path, **kwargs):
        request = self.get(path, cookies={COOKIE: self.cookie}, **kwargs)
        self.assertEqual(request.responseCode, 200)
        return self.body(request).decode("utf-8")

    def test_the_newest_uploads_receipt_is_green_and_says_it_counts(self):
        body = self.page(b"/kvittering/" + self.NEW.encode())
        self.assertIn("Filen er mottatt og lagret", body)
        self.assertIn("det er den som gjelder", body)

    def test_a_superseded_receipt_is_not_green_and_names_the_upload_that_counts(self):
        body = self.page(b"/kvittering/" + self.OLD.encode())
        self.assertNotIn("Filen er mottatt og lagret", body)
        self.assertIn("gjelder ikke lenger", body)
        self.assertIn(f'<span class="ref">{self.NEW}</span>, sendt 12.01.2027 kl. 10:30', body)
        self.assertIn("krypterer du uttrekket på nytt", body)

    def test_the_receipt_of_a_file_sent_again_says_so_and_never_shows_the_green_line(self):
        for reference in (self.OLD, self.NEW):
            body = self.page(b"/kvittering/" + reference.encode(), args={b"igjen": b"1"})
            self.assertIn("<h1>Filen er sendt inn før</h1>", body)
            self.assertNotIn("Filen er mottatt og lagret", body)
            self.assertIn(f'referansen <span class="ref">{reference}</span>', body)
        self.assertIn(f'<span class="ref">{self.NEW}</span> gjelder fortsatt', body)

    def test_every_state_says_what_counts_and_only_a_counting_upload_on_its_way_is_green(self):
        for status, test, green, says in (
            ("received", 0, True, "det er den som gjelder"),
            ("pseudonymizing", 0, True, "det er den som gjelder"),
            ("queued", 0, True, "det er den som gjelder"),
            ("delivered", 0, True, "det er den som gjelder"),
            ("quarantined", 0, False, "stoppet og blir ikke levert til SSB"),
            ("tested", 1, False, "testinnsending"),
        ):
            self.store.rows[self.NEW].update(status=status, test=test)
            body = self.page(b"/kvittering/" + self.NEW.encode())
            self.assertEqual("Filen er mottatt og lagret" in body, green, status)
            self.assertRegex(body, f'id="gjelder">[^<]*{says}', status)
            listed = self.page(b"/innsendinger")
            self.assertIn('class="gjelder">', listed)
        # while the newest is stopped, the older one says so too
        self.store.rows[self.NEW].update(status="quarantined", test=0)
        self.assertIn("er stoppet og blir ikke levert til SSB", self.page(b"/kvittering/" + self.OLD.encode()))

    def test_the_list_says_for_each_upload_whether_it_counts(self):
        body = self.page(b"/innsendinger")
        self.assertIn("Ja, den nyeste", body)
        self.assertIn(f'Nei, <span class="ref">{self.NEW}</span> gjelder', body)

    def test_the_api_says_the_same_as_the_pages(self):
        body = self.json(self.get(b"/api/v1/uploads/" + self.OLD.encode(), headers=[basic()]))
        self.assertEqual((body["counts"], body["counting_reference"]), (False, self.NEW))
        self.assertIn("gjelder ikke lenger", body["melding"])
        listed = {u["reference"]: u for u in self.json(self.get(b"/api/v1/uploads", headers=[basic()]))["uploads"]}
        self.assertEqual((listed[self.OLD]["counts"], listed[self.NEW]["counts"]), (False, True))


class UploadPageTests(WebTestCase):
    def test_the_form_is_checked_by_the_page_with_its_own_messages(self):
        """novalidate: the browser's own "required" bubble (in the browser's language) never shows; the page's
        messages are in the page, ready for the script."""
        cookie, _ = self.log_in()
        body = self.body(self.get(b"/opplasting", cookies={COOKIE: cookie})).decode("utf-8")
        self.assertIn('<form id="opplasting"', body)
        self.assertRegex(body, r'<form id="opplasting"[^>]* novalidate')
        self.assertIn('data-melding-ingen-fil="Velg en fil først."', body)
        self.assertIn('id="feilsammendrag"', body)


class FaviconTests(WebTestCase):
    def test_the_favicon_is_a_real_icon_a_browser_may_keep(self):
        request = self.get(b"/favicon.ico")
        self.assertIn(request.responseCode, (None, 200))  # (a DummyRequest's code stays None unless set)
        self.assertEqual(self.header(request, b"content-type"), b"image/vnd.microsoft.icon")
        self.assertEqual(self.header(request, b"cache-control"), b"public, max-age=604800")
        data = self.body(request)
        self.assertEqual(data[:4], b"\0\0\1\0")  # an ICO header
        self.assertIn(b"\x89PNG", data)


class ApiTests(WebTestCase):
    def test_the_upload_list_has_only_the_units_own_uploads(self):
        request = self.get(b"/api/v1/uploads", headers=[basic()])
        self.assertEqual(request.responseCode, 200)
        body = self.json(request)
        self.assertEqual((body["unit"], [u["reference"] for u in body["uploads"]]), (UNIT, [MINE]))

    def test_the_upload_list_also_answers_a_web_session_without_csrf(self):
        cookie, _ = self.log_in()
        self.assertEqual(self.get(b"/api/v1/uploads", cookies={COOKIE: cookie}).responseCode, 200)

    def test_no_credentials_is_401_without_a_basic_challenge(self):
        request = self.get(b"/api/v1/uploads")
        self.assertEqual((request.responseCode, self.json(request)["error"]), (401, "unauthorized"))
        self.assertIsNone(self.header(request, b"www-authenticate"))

    def test_a_wrong_pin_and_an_unknown_unit_get_the_same_401_with_a_basic_challenge(self):
        answers = []
        for unit, pin in ((UNIT, "0000-0000-0000"), ("0301-00-000000000", PIN), ("garbage", "")):
            request = self.get(b"/api/v1/uploads", headers=[basic(unit, pin)])
            answers.append((request.responseCode, self.body(request), self.header(request, b"www-authenticate")))
        self.assertEqual(len(set(answers)), 1, answers)
        self.assertEqual(answers[0][0], 401)
        self.assertIn(b"Basic", answers[0][2])

    def test_a_busy_login_is_503_with_retry_after(self):
        from sendemodul.errors import LoginBusy

        self.portal.pending = defer.fail(LoginBusy("The server is busy; try again in a few seconds."))
        request = self.get(b"/api/v1/uploads", headers=[basic()])
        self.assertEqual((request.responseCode, self.header(request, b"retry-after")), (503, b"5"))
        self.assertEqual(self.json(request)["error"], "busy")

    def test_an_upload_of_another_unit_is_404_like_one_that_does_not_exist(self):
        mine = self.get(b"/api/v1/uploads/" + MINE.encode(), headers=[basic()])
        self.assertEqual((mine.responseCode, self.json(mine)["feedback"]), (200, []))
        theirs = self.get(b"/api/v1/uploads/" + THEIRS.encode(), headers=[basic()])
        missing = self.get(b"/api/v1/uploads/SM-20270115-CCCCCCCC", headers=[basic()])
        self.assertEqual((theirs.responseCode, self.body(theirs)), (missing.responseCode, self.body(missing)))
        self.assertEqual(self.json(theirs)["error"], "not_found")

    def test_an_unknown_api_path_is_a_json_404(self):
        for path in (b"/api", b"/api/v2", b"/api/v1/nothing"):
            request = self.get(path)
            self.assertEqual((request.responseCode, self.json(request)["error"]), (404, "not_found"), path)

    def test_an_unexpected_store_error_is_a_logged_500_not_a_hanging_request(self):
        def broken(unit):
            raise RuntimeError("database is gone")

        self.store.list_uploads = broken
        request = self.get(b"/api/v1/uploads", headers=[basic()])
        self.assertEqual(request.responseCode, 500)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class UploadResourceTests(WebTestCase):
    """``PUT /api/v1/uploads/{name}`` when UploadRequest did not hand over a body (its own tests cover the body)."""

    def put(self, request_attributes):
        request = WebRequest(b"/api/v1/uploads/a.tar", b"PUT")
        for name, value in request_attributes.items():
            setattr(request, name, value)
        return self.render(request)

    def test_a_put_without_a_streamed_body_is_400_incomplete(self):
        request = self.put({})
        self.assertEqual((request.responseCode, self.json(request)["error"]), (400, "incomplete"))

    def test_a_rejected_upload_is_answered_with_its_status_and_headers(self):
        request = self.put(
            {"rejection": (429, "too_many_uploads", "Wait for one to finish.", ((b"Retry-After", b"10"),))}
        )
        body = self.json(request)
        self.assertEqual(
            (request.responseCode, body["error"], body["message"]), (429, "too_many_uploads", "Wait for one to finish.")
        )
        self.assertEqual(self.header(request, b"retry-after"), b"10")
        self.assertTrue(body["melding"])

    def test_a_get_of_an_upload_name_is_a_status_lookup(self):
        request = self.get(b"/api/v1/uploads/" + MINE.encode(), headers=[basic()])
        self.assertEqual(self.json(request)["reference"], MINE)
        self.assertIsInstance(getChildForRequest(self.root, WebRequest(b"/api/v1/uploads/x.tar")), UploadResource)
