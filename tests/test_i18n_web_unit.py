"""Unit tier: the HTTPS front's language (``?lang=``, the ``sprak`` cookie, ``Accept-Language``) on every kind of
answer: pages, the 404/405/500 pages, a missing static file, the API's ``melding``; the language switch and the
session keep-alive. Rendered with a ``DummyRequest`` through the real resource tree (tests/test_web_unit.py)."""

from test_web_unit import WebRequest, WebTestCase

from sendemodul import i18n
from sendemodul.web.errors import internal_error_page
from sendemodul.web.sessions import COOKIE

NN = [(b"accept-language", b"nn-NO,nn;q=0.9")]


class LanguageTests(WebTestCase):
    def page(self, request, status, lang):
        self.assertEqual(request.responseCode, status)
        body = self.body(request).decode()
        self.assertIn(f'<html lang="{lang}">', body)
        self.assertEqual(self.header(request, b"content-language"), lang.encode())
        return body

    def test_the_login_page_follows_query_then_cookie_then_accept_language(self):
        self.assertIn("Hopp til hovudinnhaldet", self.page(self.get(b"/", headers=NN), 200, "nn"))
        self.page(self.get(b"/", headers=NN, cookies={i18n.COOKIE: b"nb"}), 200, "nb")
        self.page(self.get(b"/", headers=NN, cookies={i18n.COOKIE: b"nb"}, args={b"lang": b"nn"}), 200, "nn")
        self.page(self.get(b"/"), 200, "nb")

    def test_404_405_and_a_missing_static_file_are_our_pages_in_the_requests_language(self):
        body = self.page(self.get(b"/finnes-ikke", headers=NN), 404, "nn")
        self.assertIn("Fann ikkje sida", body)
        self.page(self.get(b"/static/finst-ikkje.css", headers=NN), 404, "nn")
        self.page(self.get(b"/static/", headers=NN), 404, "nn")
        request = self.get(b"/innsendinger", method=b"DELETE", cookies={i18n.COOKIE: b"nn"})
        self.assertIn("Sida kan ikkje brukast på denne måten.", self.page(request, 405, "nn"))
        self.assertIn(b"GET", self.header(request, b"allow"))

    def test_the_500_page_is_in_the_requests_language(self):
        body = internal_error_page(WebRequest(b"/", headers=NN)).decode()
        self.assertIn('<html lang="nn">', body)
        self.assertIn("Noko gjekk gale hos oss.", body)

    def test_the_api_melding_is_in_the_requests_language_and_message_stays_english(self):
        body = self.json(self.get(b"/api/v1/uploads", headers=NN))
        self.assertEqual(body["error"], "unauthorized")
        self.assertTrue(body["message"].startswith("Login failed"))
        self.assertTrue(body["melding"].startswith("Innlogginga gjekk ikkje."))
        self.assertTrue(self.json(self.get(b"/api/v1/uploads"))["melding"].startswith("Innloggingen mislyktes."))

    def test_the_switch_sets_a_cookie_and_returns_to_a_page_of_this_site_only(self):
        request = self.get(b"/sprak", args={b"lang": b"nn", b"neste": b"/tilgjengelighet"})
        self.assertEqual((request.responseCode, self.header(request, b"location")), (303, b"/tilgjengelighet"))
        value, options = request.cookies[i18n.COOKIE]
        self.assertEqual(value, b"nn")
        self.assertTrue(options["secure"] and options["httpOnly"])
        for target in (b"//evil.example/", b"https://evil.example/", b"/\\evil.example", b"javascript:alert(1)"):
            request = self.get(b"/sprak", args={b"lang": b"nn", b"neste": target})
            self.assertEqual(self.header(request, b"location"), b"/", target)

    def test_keep_alive_renews_a_live_session_and_refuses_without_one(self):
        self.assertEqual(self.get(b"/okt").responseCode, 401)
        cookie, _ = self.log_in()
        self.clock.advance(600)
        self.assertEqual(self.get(b"/okt", cookies={COOKIE: cookie}).responseCode, 204)
        self.clock.advance(600)  # 1200 s after the login, 600 after the renewal: alive (idle limit 900)
        self.assertEqual(self.get(b"/okt", cookies={COOKIE: cookie}).responseCode, 204)
        self.clock.advance(901)
        self.assertEqual(self.get(b"/okt", cookies={COOKIE: cookie}).responseCode, 401)

    def test_pages_of_a_session_carry_the_warning_with_the_idle_time(self):
        cookie, _ = self.log_in()
        body = self.page(self.get(b"/opplasting", cookies={COOKIE: cookie, i18n.COOKIE: b"nn"}), 200, "nn")
        self.assertIn('data-idle-seconds="900" data-warn-seconds="120"', body)
        self.assertIn("Hald fram med økta", body)
        self.assertIn('href="/tilgjengelighet"', body)
