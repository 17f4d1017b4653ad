"""WCAG 2.1 AA and both written standards, in a real browser (Debian's Chromium via Playwright, axe-core offline):

- axe finds 0 violations (tags wcag2a, wcag2aa, wcag21a, wcag21aa) on every page in Bokmål and Nynorsk;
- every page has ``<html lang>`` of its language and reflows at 320 CSS pixels without horizontal scrolling;
- a page in Nynorsk holds no Bokmål-only text of the catalogs;
- a keyboard-only walk (Tab, Shift+Tab, Enter, Space) logs in (the unit, then the person with a one-time code),
  uploads a file and reaches the receipt, with a visible focus on every stop (a screenshot of the stop focused
  differs from one unfocused);
- the session warning comes before the session runs out, and continuing renews the session;
- the enrolment page (the e-mailed one-time link) warns before its link runs out, "more time" keeps the link alive
  past its first end, and once it has run out the page says how to get a new one.
"""

import html
import re
import time

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import run_cli
from playwright.sync_api import sync_playwright
from server import Server, make_container, new_person
from test_i18n import bokmal_only_texts
from test_web_browser import CHROMIUM_ARGS

from sendemodul import i18n, totp
from sendemodul.testing.module_walk import intercept_file_choosers

pytestmark = pytest.mark.integration

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
NARROW = {"width": 320, "height": 640}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("a11y") / "home", sections={"staff": "enabled = true"}).init()
    srv.staff_token = run_cli("admin", "staff-token", home=srv.home).stdout.strip().splitlines()[-1]
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def container(tmp_path_factory, server):
    """A new container for each walk: one sent before would open the "sent before" receipt (issue 27)."""
    path = tmp_path_factory.mktemp("container") / "oslo-11f.tar"
    make_container(server.home, path, records=5)
    return path


BOKMAL_ONLY = bokmal_only_texts()


#: What a reader meets besides the text: the title, labels and alternatives, and the texts the scripts show.
_READ_TEXT = """() => {
  const parts = [document.title, document.body.innerText];
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      if (["aria-label", "alt", "title", "placeholder"].includes(attr.name) || attr.name.startsWith("data-melding")) {
        parts.push(attr.value);
      }
    }
    if (el.hidden || el.closest("[hidden]")) { parts.push(el.textContent); }
  }
  return parts.join(" ");
}"""


def _text_of(page):
    """The page as a reader meets it (text, hidden messages the scripts may show, title, labels, the scripts' texts;
    not ids or class names), spaces collapsed."""
    return " ".join(html.unescape(page.evaluate(_READ_TEXT)).split())


def check_page(page, lang, name):
    """axe (0 violations), <html lang>, no Bokmål left in a Nynorsk page, and reflow at 320 px."""
    assert page.get_attribute("html", "lang") == lang, name
    result = Axe().run(page, options={"runOnly": {"type": "tag", "values": TAGS}})
    violations = [(v["id"], v["help"], [n["target"] for n in v["nodes"]]) for v in result.response["violations"]]
    assert violations == [], f"{name} ({lang}): {violations}"
    text = _text_of(page)
    left = [fragment for fragment in BOKMAL_ONLY if fragment in text]
    if lang == "nn":
        assert left == [], f"{name}: Bokmål in the Nynorsk page"
    else:
        assert left, f"{name}: the check sees none of the page's Bokmål"  # so that it can fail
    size = page.viewport_size
    page.set_viewport_size(NARROW)
    width = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size(size)
    assert width <= NARROW["width"], f"{name} ({lang}) scrolls sideways at 320 px: {width}"


def _login(page, server, pin=None, kommunenr="0301", bydel="00", orgnr="958935420"):
    page.fill("#kommunenr", kommunenr)
    page.fill("#bydel", bydel)
    page.fill("#orgnr", orgnr)
    page.fill("#pin", server.pin if pin is None else pin)
    page.click("form[action='/'] button[type=submit]")
    page.wait_for_load_state()


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_page_in_both_languages_passes_axe_reflows_and_has_its_lang(browser, server, container, lang):
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    try:
        page.goto(server.url + "/")
        if lang == "nn":  # the language switch on the login page sets the cookie for the rest of the visit
            page.click(".language-switch a[lang=nn]")
            page.wait_for_load_state()
            assert page.url.rstrip("/") == server.url
        check_page(page, lang, "login")
        _login(page, server, kommunenr="9999", bydel="16", orgnr="987654321", pin="")
        assert page.is_visible("#feiloppsummering a[href='#kommunenr']")
        check_page(page, lang, "login with field errors")
        _login(page, server, pin="AAAA-BBBB-CCCC")
        check_page(page, lang, "login refused")
        page.goto(server.url + "/tilgjengelighet")
        check_page(page, lang, "statement, logged out")
        assert page.goto(server.url + "/finnes-ikke").status == 404
        check_page(page, lang, "404")
        page.goto(server.url + "/krypteringsmodul")
        check_page(page, lang, "the browser module's page (no release published)")
        page.goto(server.url + "/")
        _login(page, server)
        assert page.url.endswith("/hvem-er-du")
        check_page(page, lang, "the person step")
        page.click("form[action='/hvem-er-du'] button[type=submit]")  # nothing filled in: the errors
        page.wait_for_load_state()
        check_page(page, lang, "the person step with errors")
        email, secret = new_person(server.home)
        page.fill("#email", email)
        page.fill("#code", totp.code_at(secret, time.time()))
        page.click("form[action='/hvem-er-du'] button[type=submit]")
        page.wait_for_url(re.compile(r".*/mine-skjema$"))
        check_page(page, lang, "Mine skjema (the overview)")
        page.goto(server.url + "/passnokler")
        check_page(page, lang, "passkeys")
        page.goto(server.url + "/opplasting")
        check_page(page, lang, "upload")
        page.goto(server.url + "/registrer-person")
        check_page(page, lang, "registration (skjema 999), page 1")
        page.click("#neste")
        page.wait_for_load_state()
        check_page(page, lang, "registration, page 2")
        page.click("#kontroller")  # nothing filled in: the check step lists what is wrong
        page.wait_for_load_state()
        check_page(page, lang, "registration, the check step")
        assert page.goto(server.url + "/innmelding/" + "A" * 43).status == 404
        check_page(page, lang, "an enrolment link that is gone")
        page.goto(server.url + "/opplasting")
        page.click("#send")  # no file chosen: the error summary
        page.wait_for_selector("#feil", state="visible")
        check_page(page, lang, "upload, no file")
        page.evaluate("document.getElementById('okt-varsel').hidden = false")
        check_page(page, lang, "upload, session warning")
        page.set_input_files("#fil", str(container))
        page.click("#send")
        page.wait_for_url(re.compile(r".*/kvittering/SM-\d{8}-\w{8}$"), timeout=60_000)
        check_page(page, lang, "receipt")
        page.goto(server.url + "/innsendinger")
        check_page(page, lang, "list")
        assert page.goto(server.url + "/kvittering/SM-20260101-AAAAAAAA").status == 404
        check_page(page, lang, "receipt not found")
        page.goto(server.url + "/tilgjengelighet")
        check_page(page, lang, "statement, logged in")
        page.route("**/innsendinger", lambda route: route.continue_(method="DELETE"))
        assert page.goto(server.url + "/innsendinger").status == 405
        check_page(page, lang, "405")
    finally:
        context.close()
    staff = browser.new_context(
        ignore_https_errors=True, http_credentials={"username": "staff", "password": server.staff_token}
    )
    page = staff.new_page()
    try:
        assert page.goto(f"{server.url}/statusliste?register=11F&periode=2026&lang={lang}").status == 200
        check_page(page, lang, "the staff's status list")
    finally:
        staff.close()


def test_lang_query_serves_one_visit_and_accept_language_counts_after_the_cookie(browser, server):
    context = browser.new_context(ignore_https_errors=True, locale="nn-NO")
    page = context.new_page()
    try:
        page.goto(server.url + "/")
        assert page.get_attribute("html", "lang") == "nn"  # Accept-Language: nn-NO
        page.goto(server.url + "/?lang=nb")
        assert page.get_attribute("html", "lang") == "nb"  # this visit only
        page.goto(server.url + "/tilgjengelighet")
        assert page.get_attribute("html", "lang") == "nn"
        page.click(".language-switch a[lang=nb]")  # the switch: a cookie, stronger than Accept-Language
        page.wait_for_load_state()
        assert page.url.endswith("/tilgjengelighet") and page.get_attribute("html", "lang") == "nb"
        page.goto(server.url + "/finnes-ikke")
        assert page.get_attribute("html", "lang") == "nb"
        page.goto(server.url + "/sprak?lang=nn&neste=//evil.example/")  # never a redirect off the site
        assert page.url.rstrip("/") == server.url and page.get_attribute("html", "lang") == "nn"
        assert "Logg inn" in page.title()
    finally:
        context.close()


def _focus_shows(page, selector):
    """The focused element at ``selector`` looks different (its surroundings included, where the outline is drawn)
    from the same place once Shift+Tab moved the focus away; Tab brings the focus back."""
    assert page.evaluate("s => document.activeElement.matches(s)", selector), f"focus is not on {selector}"
    box = page.locator(selector).bounding_box()
    clip = {
        "x": max(box["x"] - 8, 0),
        "y": max(box["y"] - 8, 0),
        "width": box["width"] + 16,
        "height": box["height"] + 16,
    }
    focused = page.screenshot(clip=clip)
    page.keyboard.press("Shift+Tab")
    unfocused = page.screenshot(clip=clip)
    page.keyboard.press("Tab")
    assert focused != unfocused, f"no visible focus on {selector}"


def _tab_to(page, selector, limit=30):
    """Press Tab until ``selector`` has the focus, checking the visible focus at every stop on the way."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        current = page.evaluate("document.activeElement.id || document.activeElement.tagName")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            _focus_shows(page, selector)
            return
        if current not in ("BODY", "HTML"):
            _focus_shows(page, f"#{current}" if page.evaluate("!!document.activeElement.id") else ":focus")
    raise AssertionError(f"Tab never reached {selector}")


def test_keyboard_only_login_upload_and_receipt_with_visible_focus(browser, server, tmp_path):
    """Tab, Shift+Tab, Enter and Space only (and typing into the fields): the skip link first, login, the file
    chosen with Space, sent with Enter, the receipt's links reached by Tab; every stop shows its focus."""
    container = tmp_path / "keyboard.tar"
    make_container(server.home, container, records=5)  # a file of its own: not one sent before
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    try:
        page.goto(server.url + "/")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"
        assert page.is_visible(".skip-link")
        _focus_shows(page, ".skip-link")
        page.keyboard.press("Enter")  # skips the header: the next Tab is inside main
        page.keyboard.press("Tab")
        assert page.evaluate("!!document.activeElement.closest('main')")
        page.keyboard.press("Shift+Tab")
        _tab_to(page, "#kommunenr")
        page.keyboard.type("0301")
        _tab_to(page, "#bydel")  # it holds 00 already
        _tab_to(page, "#orgnr")
        page.keyboard.type("958935420")
        _tab_to(page, "#pin")
        page.keyboard.type(server.pin)
        _tab_to(page, "form[action='/'] button[type=submit]")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*/hvem-er-du$"))
        email, secret = new_person(server.home)
        _tab_to(page, "#email")
        page.keyboard.type(email)
        _tab_to(page, "#code")
        page.keyboard.type(totp.code_at(secret, time.time()))
        _tab_to(page, "form[action='/hvem-er-du'] button[type=submit]")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*/mine-skjema$"))
        _tab_to(page, "nav a[href='/opplasting']")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*/opplasting$"))
        _tab_to(page, "#fil")
        intercept_file_choosers(page)
        with page.expect_file_chooser() as chooser:
            page.keyboard.press("Space")
        chooser.value.set_files(str(container))
        _tab_to(page, "#send")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*/kvittering/SM-\d{8}-\w{8}$"), timeout=60_000)
        assert page.inner_text("#referanse").startswith("SM-")
        _tab_to(page, "main a[href='/innsendinger']")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*/innsendinger$"))
    finally:
        context.close()


def test_the_session_warning_comes_before_the_session_ends_and_continuing_renews_it(browser, tmp_path):
    """With an 8-second idle limit the warning opens 2 seconds before the end, with the focus on its button;
    Enter on it renews the session, which is still alive after the first 8 seconds have passed."""
    srv = Server(tmp_path / "home", extra_config="").init()
    config = srv.home / "config.toml"
    config.write_text(config.read_text().replace("[limits]\n", "[limits]\nsession_idle_seconds = 8\n", 1))
    srv.start()
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    try:
        page.goto(srv.url + "/")
        _login(page, srv)
        assert page.url.endswith("/hvem-er-du")  # a page of the unit's session: the warning is there too
        page.wait_for_selector("#okt-varsel", state="visible", timeout=10_000)
        assert page.evaluate("document.activeElement.id") == "okt-forleng"
        assert "Økten din går snart ut" in page.inner_text("#okt-varsel")
        page.keyboard.press("Enter")
        page.wait_for_selector("#okt-varsel", state="hidden", timeout=5_000)
        # The warning comes again 6 seconds after the renewal, past the first 8 seconds of the session: it is alive
        # then only because it was renewed.
        page.wait_for_selector("#okt-varsel", state="visible", timeout=10_000)
        page.goto(srv.url + "/hvem-er-du")
        assert page.url.endswith("/hvem-er-du")  # not sent back to the login page
    finally:
        context.close()
        srv.stop()


def _pending_person(home, lang):
    """A person registered through the real code (skjema 999's, as the web and the CLI call it) who has not enrolled:
    the path of the link in their e-mail (an .eml file: mail is off in the test home)."""
    import dataclasses
    import datetime
    import secrets

    from sendemodul import config, enrolment, identity
    from sendemodul.store import Store

    cfg = config.load(home)
    cfg = dataclasses.replace(cfg, mail=dataclasses.replace(cfg.mail, enabled=False))
    store = Store.open(cfg.db_path)
    try:
        email = f"p{secrets.token_hex(4)}@example.org"
        unit = identity.parse_unit("0301-00-958935420", datetime.date.today().year)
        done = enrolment.register(
            cfg, store, unit, name="Kari Nordmann", email=email, mobile="", language=lang, registers=("11F",),
            registration={}, actor="test",
        )  # fmt: skip
    finally:
        store.close()
    link = done.mail.read_text().split("/innmelding/")[1].split()[0]
    done.mail.unlink()
    return "/innmelding/" + link


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_the_enrolment_link_warns_before_it_runs_out_and_more_time_keeps_it_alive(browser, tmp_path, lang):
    """With a 24-second link (limits.enrolment_link_seconds) the warning opens 6 seconds before the end, with the
    focus on "more time"; Enter there gives the link 24 seconds again (the live region says so). The warning comes
    again after the link's first 24 seconds, and the link still opens then; nothing on the page fails axe. Left
    alone, the warning turns into the message that the link has run out and how to get a new one, and the link is
    gone."""
    link_seconds = 24
    srv = Server(tmp_path / "home", extra_config="").init()
    config = srv.home / "config.toml"
    config.write_text(
        config.read_text().replace("[limits]\n", f"[limits]\nenrolment_link_seconds = {link_seconds}\n", 1)
    )
    srv.start()
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    try:
        # The link's time runs from its making, inside _pending_person (a CLI run, seconds under load): the bounds
        # are taken on either side of it.
        before_made = time.monotonic()
        path = _pending_person(srv.home, lang)
        after_made = time.monotonic()
        page.goto(f"{srv.url}{path}?lang={lang}")
        assert page.is_hidden("#lenke-varsel")
        page.wait_for_selector("#lenke-varsel", state="visible", timeout=30_000)
        assert time.monotonic() - before_made >= link_seconds - 6 - 2, "the warning came too early"
        assert page.evaluate("document.activeElement.id") == "lenke-forleng"
        page.keyboard.press("Enter")
        page.wait_for_selector("#lenke-varsel", state="hidden", timeout=5_000)
        said = {"nb": "Lenken gjelder nå like lenge", "nn": "Lenkja gjeld no like lenge"}[lang]
        page.wait_for_function("s => document.getElementById('lenke-status').textContent.includes(s)", arg=said)
        # The warning comes again 18 seconds after "more time": past the link's first 24 seconds, and the link
        # still opens then only because it was given more time.
        page.wait_for_selector("#lenke-varsel", state="visible", timeout=30_000)
        assert context.request.get(f"{srv.url}{path}").status == 200
        assert time.monotonic() - after_made > link_seconds
        expected = {"nb": "Lenken for å ta i bruk innloggingen går snart ut", "nn": "Lenkja for å ta i bruk"}[lang]
        assert expected in page.inner_text("#lenke-varsel")
        check_page(page, lang, "enrolment, the link's warning")
        page.wait_for_selector("#lenke-utlopt", state="visible", timeout=30_000)
        assert page.is_hidden("#lenke-forleng") and page.get_attribute("#lenke-utlopt", "role") == "alert"
        gone = {"nb": "Be enheten registrere deg på nytt", "nn": "Be eininga registrere deg på nytt"}[lang]
        assert gone in page.inner_text("#lenke-utlopt")
        check_page(page, lang, "enrolment, the link has run out")
        assert context.request.get(f"{srv.url}{path}").status == 404
    finally:
        context.close()
        srv.stop()


def test_the_reviewers_pages_in_both_languages_pass_axe_and_hold_no_bokmal_in_nynorsk(browser, tmp_path):
    """The county governor's pages (issue 17) with real tasks: two 15F deliveries wait for review (the embedded
    pseudonymizer put them there). In each language a reviewer for fylke 03 sees the open tasks, a task, its return
    form refused without a message (the error state), returns it, and sees the archive, the solved task and the
    units' status list: axe, <html lang>, reflow and (in Nynorsk) no Bokmål, on every one."""
    from server import make_extract_container
    from support.wait import wait_for
    from test_pipeline import curl_upload, uploads
    from test_review_browser import _reviewer

    review = '\n[[review]]\nregister = "15F"\nby = "statsforvalter"\n'
    srv = Server(tmp_path / "home", review, worker=True).init()
    srv.start()
    try:
        references = []
        for seed in (1, 2):
            path = tmp_path / f"15f-{seed}.tar"
            make_extract_container(srv.home, path, register="15F", records=4, seed=seed)
            references.append(curl_upload(srv, path)["reference"])
        for reference in references:
            wait_for(
                lambda r=reference: uploads(srv.home)[r]["status"] == "awaiting_review",
                timeout=90,
                interval=0.2,
                message=f"{reference} waiting for review",
            )
        for lang, reference in zip(i18n.LANGUAGES, references, strict=True):
            context = browser.new_context(ignore_https_errors=True)
            page = context.new_page()
            try:
                page.goto(f"{srv.url}/sprak?lang={lang}&neste=/")  # the switch's cookie, for the whole visit
                _login(page, srv)
                email, secret = _reviewer(srv, "03")
                page.fill("#email", email)
                page.fill("#code", totp.code_at(secret, time.time()))
                page.click("form[action='/hvem-er-du'] button[type=submit]")
                page.wait_for_url(re.compile(r".*/mine-skjema$"))
                page.click("nav a[href='/oppgaver/']")
                page.wait_for_load_state()
                assert page.is_visible(f"a[href='/oppgaver/{reference}']")
                check_page(page, lang, "the reviewer's open tasks")
                page.click(f"a[href='/oppgaver/{reference}']")
                page.wait_for_url(re.compile(rf".*/oppgaver/{reference}$"))
                check_page(page, lang, "a task with its return form")
                page.click("button[value=returner]")  # no message: refused
                page.wait_for_selector("#feil")
                check_page(page, lang, "the return form with its error")
                page.fill("#melding", {"nb": "Mangler tiltak.", "nn": "Tiltaka manglar."}[lang])  # the reviewer's words
                page.click("button[value=returner]")
                page.wait_for_url(re.compile(r".*/oppgaver$"))
                check_page(page, lang, "the open tasks after a return")
                page.goto(srv.url + "/oppgaver/arkiv")
                assert page.is_visible(f"a[href='/oppgaver/{reference}']")
                check_page(page, lang, "the archive")
                page.goto(f"{srv.url}/oppgaver/{reference}")
                check_page(page, lang, "a solved task")
                page.goto(srv.url + "/oppgaver/status")
                check_page(page, lang, "the units' status list")
            finally:
                context.close()
    finally:
        srv.stop()


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_the_reviewer_access_form_and_the_reviewer_login_pass_axe_in_both_languages(browser, server, lang):
    """The two public pages of the county governor's access (issue 17, item 4): the application for reviewer access
    (``/tilgang``) empty and refused with its error summary, and the login without a unit (``/statsforvalter``)
    refused without a code: axe, <html lang>, reflow and (in Nynorsk) no Bokmål, on each."""
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    try:
        page.goto(f"{server.url}/sprak?lang={lang}&neste=/tilgang")
        assert page.is_visible("form[action='/tilgang']")
        check_page(page, lang, "the application for reviewer access")
        page.click("form[action='/tilgang'] button[type=submit]")
        assert page.is_visible("#feiloppsummering a[href='#name']")
        check_page(page, lang, "the application refused, with its error summary")
        page.goto(f"{server.url}/statsforvalter")
        assert page.is_visible("form[action='/statsforvalter']")
        check_page(page, lang, "the reviewer's login without a unit")
        page.click("form[action='/statsforvalter'] button[type=submit]")
        assert page.is_visible("#feiloppsummering")
        check_page(page, lang, "the reviewer's login refused, with its error summary")
    finally:
        context.close()
