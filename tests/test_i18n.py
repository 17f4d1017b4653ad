"""Bokmål and Nynorsk: the catalogs are complete and compiled, the language is chosen as Norwegian services choose
it, texts render in the recipient's standard, and a unit's written standard is stored and used."""

import dataclasses
import datetime
import re
import typing

import pytest
from babel.messages.pofile import read_po
from conftest import STAVANGER, run_cli
from support.wait import wait_for
from twisted.web.test.requesthelper import DummyRequest

from sendemodul import config, i18n, i18n_catalogs, letters, messages_nb, morning_mail
from sendemodul.i18n import Msg
from sendemodul.store import Store


def _catalog(lang):
    with i18n_catalogs.po_path(lang).open("rb") as f:
        return read_po(f, locale=lang, domain=i18n.DOMAIN)


@pytest.fixture(scope="module")
def extracted():
    return i18n_catalogs.extract()


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_text_in_the_code_is_in_the_catalog(extracted, lang):
    """Every text marked in the templates, the Python code, messages_nb and the profiles has an entry (run
    scripts/i18n after adding one); the catalog holds no entry that nothing uses any more."""
    ids = {m.id for m in _catalog(lang) if m.id}
    wanted = {m.id for m in extracted if m.id}
    assert sorted(wanted - ids) == [], "not in the catalog: run scripts/i18n, then translate"
    assert sorted(ids - wanted) == [], "no longer used: run scripts/i18n"


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_no_catalog_has_an_empty_or_fuzzy_entry(lang):
    """Each entry of the nb and nn catalogs has a translation, none fuzzy (these need a translator's eye)."""
    assert i18n_catalogs.untranslated(_catalog(lang)) == [], f"untranslated or fuzzy in {lang}"


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_the_shipped_mo_files_are_compiled_from_the_catalogs(lang):
    """The .mo in the package is what the .po compiles to now (run scripts/i18n after editing a .po)."""
    assert i18n_catalogs.mo_path(lang).read_bytes() == i18n_catalogs.compiled(lang)


def test_translations_keep_their_placeholders():
    """A Nynorsk text has the same %(name)s and {name} fields as its Bokmål id, or rendering it would fail."""
    fields = re.compile(r"%\(\w+\)s|\{\w+\}")
    for message in _catalog("nn"):
        if message.id:
            assert sorted(fields.findall(message.string)) == sorted(fields.findall(message.id)), message.id


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("nn-NO,nn;q=0.9,nb;q=0.8", "nn"),
        ("nb-NO,nb;q=0.9,nn;q=0.8,en;q=0.5", "nb"),
        ("en-GB,en;q=0.9,nn;q=0.5", "nn"),
        ("no;q=0.9,nn;q=0.3", "nb"),
        ("nb;q=0.2,nn;q=0.7", "nn"),
        ("nn;q=0", None),
        ("en-US,de", None),
        ("", None),
        ("nn;q=bad,nb", "nb"),
    ],
)
def test_accept_language_picks_our_preferred_language(header, expected):
    assert i18n.from_accept_language(header) == expected


class CookieRequest(DummyRequest):
    cookies_in: typing.ClassVar[dict] = {}

    def getCookie(self, name):
        return self.cookies_in.get(name)


def _request(args=None, cookie=None, accept=None):
    request = CookieRequest([b""])
    request.args = args or {}
    request.cookies_in = {i18n.COOKIE: cookie} if cookie else {}
    if accept:
        request.requestHeaders.setRawHeaders(b"accept-language", [accept])
    return request


def test_a_request_language_is_the_query_then_the_cookie_then_accept_language_then_bokmal():
    assert i18n.request_language(_request({b"lang": [b"nn"]}, cookie=b"nb", accept=b"nb")) == "nn"
    assert i18n.request_language(_request({b"lang": [b"xx"]}, cookie=b"nn", accept=b"nb")) == "nn"
    assert i18n.request_language(_request(cookie=b"nb", accept=b"nn")) == "nb"
    assert i18n.request_language(_request(accept=b"nn-NO")) == "nn"
    assert i18n.request_language(_request(accept=b"sv")) == "nb"
    assert i18n.request_language(_request()) == "nb"


def test_a_msg_reads_as_bokmal_and_renders_in_nynorsk():
    text = messages_nb.login_field("kommunenr_unknown", k="9999", year=2026)
    assert text == "Kommunenummeret 9999 finnes ikke i 2026. Kontroller nummeret."
    assert text.in_language("nn") == "Kommunenummeret 9999 finst ikkje i 2026. Kontroller nummeret."
    late = messages_nb.status_nb({"status": "received", "late": 1})
    assert late == "Mottatt (etter fristen)" and late.in_language("nn") == "Motteke (etter fristen)"
    assert messages_nb.melding("session", "nn") == "Økta di har gått ut. Logg inn på nytt."
    assert i18n.text_in("nn", "Bergen kommune") == "Bergen kommune"  # plain data is never translated


def test_templates_print_a_msg_in_their_language():
    """A Msg handed to a template (here: an error page's message) comes out in the page's language."""
    env = letters.environment("nn")
    env.filters["oslo_time"] = str
    html = env.get_template("web/error.html.j2").render(
        message=Msg(messages_nb.MESSAGES["not_found"]),
        session=None,
        path="/",
        session_idle_seconds=900,
        session_warn_seconds=120,
    )
    assert '<html lang="nn">' in html and "Fann ikkje innsendinga." in html and "Det gjekk ikkje" in html
    assert "Fant ikke" not in html


def test_the_pin_letter_is_in_the_units_written_standard():
    server = dataclasses.make_dataclass("S", ["public_url", "sftp_port"])("https://sendemodul.example", 8022)
    cfg = dataclasses.make_dataclass("C", ["server"])(server)
    unit = {
        "name": "Sogndal kommune",
        "orgnr": "964967636",
        "kommunenr": "4640",
        "bydel": "00",
        "unit": "4640-00-964967636",
        "language": "nn",
    }
    nn = letters.render_pin_letter(cfg, unit, "ABCD-EFGH")
    assert '<html lang="nn">' in nn and "Ta godt vare på brevet" in nn and "Oppbevar" not in nn
    nb = letters.render_pin_letter(cfg, {**unit, "language": "neutral"}, "ABCD-EFGH")
    assert '<html lang="nb">' in nb and "Oppbevar brevet trygt" in nb


def test_unit_language_is_set_by_the_admin_cli_and_kept_by_the_store(tmp_path):
    """``admin unit add/set --language``: nb by default, nn or neutral by choice, anything else refused."""
    home = tmp_path / "home"
    run_cli("admin", "init", "--home", home)
    run_cli("admin", "unit", "add", STAVANGER, "--name", "Stavanger kommune", "--email", "s@example.org", home=home)
    run_cli(
        "admin",
        "unit",
        "add",
        "4640-00-964967636",
        "--name",
        "Sogndal kommune",
        "--email",
        "k@example.org",
        "--language",
        "nn",
        home=home,
    )
    bad = run_cli("admin", "unit", "set", STAVANGER, "--language", "en", home=home, check=False)
    assert bad.returncode != 0 and "en" in bad.stderr
    run_cli("admin", "unit", "set", STAVANGER, "--language", "neutral", home=home)
    listed = run_cli("admin", "unit", "list", "--json", home=home).stdout
    assert '"language": "neutral"' in listed and '"language": "nn"' in listed
    nothing = run_cli("admin", "unit", "set", STAVANGER, home=home, check=False)
    assert nothing.returncode != 0 and "ERROR" in nothing.stderr


def test_the_morning_email_renders_in_nynorsk():
    cfg = dataclasses.make_dataclass("C", ["server"])(
        dataclasses.make_dataclass("S", ["public_url"])("https://sendemodul.example")
    )
    start = datetime.datetime(2026, 1, 14, 7, tzinfo=datetime.UTC)
    end = datetime.datetime(2026, 1, 15, 7, tzinfo=datetime.UTC)
    rows = [
        {
            "reference": "SM-20260115-BBBBBBBB",
            "register": "11F",
            "periode": 2026,
            "status": "received",
            "received_at": "2026-01-15T06:30:00Z",
            "invalid_ids": 2,
        }
    ]
    subject, body = morning_mail.render(cfg, STAVANGER, "Stavanger kommune", rows, start, end, "nn")
    assert subject == f"sendemodul: status for {STAVANGER} 15.01.2026"
    assert "Dette er oversikta frå sendemodul" in body and "motteke" in body and "Mottatt" not in body
    assert "2 ugyldige ID-nummer; sjå kvitteringa" in body
    assert "E-posten er send automatisk" in body
    _, nb_body = morning_mail.render(cfg, STAVANGER, "Stavanger kommune", rows, start, end)
    assert "Dette er oversikten fra sendemodul" in nb_body and "Mottatt" in nb_body


def test_a_unit_language_survives_in_the_store(tmp_path):
    store = Store.create(tmp_path / "s.db")
    from conftest import add_unit

    unit = add_unit(store, STAVANGER)
    assert store.get_unit(unit)["language"] == "nb"
    store.set_unit(unit, actor="test", language="nn")
    assert store.get_unit(unit)["language"] == "nn"
    store.close()


@pytest.mark.integration
def test_a_unit_set_to_nynorsk_gets_its_morning_email_in_nynorsk_on_a_real_smtp_server(tmp_path):
    """Two units with activity, one set to nn with the admin CLI: at 08:00 the SMTP server on loopback (aiosmtpd)
    receives the nn unit's e-mail in Nynorsk (Content-Language: nn) and the other's in Bokmål."""
    from aiosmtpd.controller import Controller
    from test_mail import Collect, _record, free_port

    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        home = tmp_path / "home"
        run_cli("admin", "init", "--dev", "--home", home)
        run_cli("admin", "unit", "add", STAVANGER, "--name", "Stavanger kommune", "--email", "s@example.org", home=home)
        run_cli(
            "admin",
            "unit",
            "add",
            "4640-00-964967636",
            "--name",
            "Sogndal kommune",
            "--email",
            "sogndal@example.org",
            home=home,
        )
        run_cli("admin", "unit", "set", "4640-00-964967636", "--language", "nn", home=home)
        cfg = config.load(home)
        cfg = dataclasses.replace(cfg, mail=dataclasses.replace(cfg.mail, enabled=True, smtp_port=controller.port))
        store = Store.open(cfg.db_path)
        store.complete_mail_day("2026-01-14")
        _record(store, "SM-20260115-BBBBBBBB", STAVANGER, "2026-01-15T06:30:00Z")
        _record(store, "SM-20260115-NNNNNNNN", "4640-00-964967636", "2026-01-15T06:40:00Z")
        at = datetime.datetime(2026, 1, 15, 7, 0, 5, tzinfo=datetime.UTC)
        assert morning_mail.MorningMail(cfg, store).run(at) == 2
        store.close()
        wait_for(lambda: len(handler.messages) == 2, timeout=5, message="two e-mails at the SMTP server")
    finally:
        controller.stop()
    by_rcpt = {rcpt[0]: msg for _, rcpt, msg in handler.messages}
    nn = by_rcpt["sogndal@example.org"]
    body = nn.get_content()
    assert nn["Content-Language"] == "nn"
    assert "Til Sogndal kommune (4640-00-964967636)" in body
    assert "Dette er oversikta frå sendemodul over innsendingar og behandling frå" in body
    assert "SM-20260115-NNNNNNNN: 11F 2026, motteke" in body and ": Motteke" in body
    assert "Kvitteringar og status:" in body and "E-posten er send automatisk" in body
    for bokmal in ("oversikten fra", "mottatt", "Mottatt", "Kvitteringer", "Denne e-posten er sendt"):
        assert bokmal not in body
    nb = by_rcpt["s@example.org"]
    assert nb["Content-Language"] == "nb" and "Dette er oversikten fra sendemodul" in nb.get_content()


def test_check_report_in_nynorsk_bokmal_and_english():
    """``sendemodul check --lang``: the report's own words from the catalogs, titles and a rule's Msg translated, a
    text not in the catalogs as written; JSON keys and severities stay codes; English stays the default."""
    from sendemodul.profiles.rules.report import Finding, Report, Severity

    message = Msg(messages_nb.MESSAGES["refused"])
    report = Report(register="11F", periode=2026, unit=STAVANGER, title="Økonomisk sosialhjelp (KOSTRA-skjema 11F)")
    report.records = 3
    for finding in (
        Finding(Severity.ERROR, "CODE", 2, "00000002", "KJONN", message),
        Finding(Severity.WARNING, "X", None, None, None, "as written"),
    ):
        report.findings.append(finding)
        report.count(finding)
    english = report.to_text()
    assert "Result: ERROR (0 fatal, 1 error, 1 warning, 0 info) in 3 records, exit code 2" in english
    assert (
        "ERROR   CODE Ugyldig kode: 1 funn\n        line 2, journalnr 00000002, KJONN: Filen ble avvist.\n" in english
    )
    report.lang = "nn"
    text = report.to_text()
    assert text.startswith("Kontrollrapport: Økonomisk sosialhjelp (KOSTRA-skjema 11F)\n")
    assert "eining 1103-00-964965226" in text
    assert "ERROR   CODE Ugyldig kode: 1 funn\n        linje 2, journalnr 00000002, KJONN: Fila vart avvist.\n" in text
    assert "WARNING X: 1 funn\n        dokumentet: as written\n" in text
    assert "Resultat: ERROR (fatale: 0, feil: 1, åtvaringar: 1, info: 0); postar: 3; avslutningskode 2" in text
    html = report.to_html()
    assert '<html lang="nn">' in html and "<th>Alvorsgrad</th>" in html and "Fila vart avvist." in html
    assert '"severity": "ERROR"' in report.to_json() and '"result": "ERROR"' in report.to_json()
    report.lang = "nb"
    assert "Alvorlighetsgrad" in report.to_html() and "advarsler: 1" in report.to_text()
    report.findings[0] = Finding(Severity.ERROR, "SCHEMA", 4, None, None, "x")
    report.count(report.findings[0])
    report.lang = "nn"
    assert "SCHEMA Ukjend attributt, element eller tekst: 1 funn" in report.to_text()


def test_check_cli_takes_lang_and_refuses_others(tmp_path):
    extract = tmp_path / "bad.txt"
    extract.write_text("not a record\n")
    args = ("check", "-r", "11F", "-p", "2026", "-u", "0301-00-958935420")
    nn = run_cli(*args, "--lang", "nn", extract, check=False)
    assert nn.returncode == 2 and "Resultat: FATAL" in nn.stdout and "postar: 0" in nn.stdout
    assert "Result: FATAL" in run_cli(*args, extract, check=False).stdout
    bad = run_cli(*args, "--lang", "sv", extract, check=False)
    assert bad.returncode != 0 and "ERROR" in bad.stderr and "sv" in bad.stderr


def test_a_15f_report_in_nynorsk_translates_the_controls_messages_with_their_values():
    """SSB's barnevern controls give their messages as Msg: in Nynorsk the words change, the numbers stay."""
    from test_barnevern_controls import check, individ, melding

    report = check(individ(melding(start="2026-01-01", end="2026-03-01")))
    english = report.to_text()
    assert "Meldingen (nr. 1) er behandlet på mer enn 8 dager (fristen er 7)" in english
    report.lang = "nn"
    text = report.to_text()
    assert "Meldinga (nr. 1) er behandla på meir enn 8 dagar (fristen er 7)" in text
    assert "Meldingen" not in text
    report = check(individ(start="2026-06-15", end="2026-05-01"))
    report.lang = "nn"
    assert "Individet har verken meldingar, planar eller tiltak i året" in report.to_text()


def bokmal_only_texts():
    """Fragments of the Bokmål texts that their Nynorsk translation does not contain: the literal parts of each
    message id (between placeholders and tags) of 6 characters or more, found in no Nynorsk text. A Nynorsk page or
    answer that holds one of them holds Bokmål left over."""
    catalog = _catalog("nn")
    nynorsk = [m.string for m in catalog if m.id]
    fragments = set()
    for m in catalog:
        if not m.id or m.string == m.id:
            continue
        for part in re.split(r"%\(\w+\)s|\{\w+\}|<[^>]+>", m.id):
            part = part.strip(" .,:;()")
            if len(part) >= 6 and not any(part in text for text in nynorsk):
                fragments.add(part)
    return sorted(fragments)


def bokmal_left_in(text):
    """The Bokmål-only fragments (:func:`bokmal_only_texts`) found in ``text``."""
    return [fragment for fragment in bokmal_only_texts() if fragment in text]


#: Where the fronts answer with an error code: the JSON errors, the early answers before a body, the raw answers of
#: a request that could not be read, the passkeys' JSON; and the store/intake errors' own codes.
_ANSWERED_CODE = re.compile(
    r"(?:json_error\(request, \d+, |answer_early\(\d+, |answer_raw\(\d+, |_error\(request, \d+, )\"(\w+)\""
)


def test_every_error_code_the_fronts_answer_with_has_its_own_melding():
    """A code without its own text would get the generic "Filen ble avvist." (wrong for a URL too long, a timeout):
    every code an answer is written with, and every intake error's code, has a text of its own in MESSAGES, and so
    a Nynorsk form in the catalog."""
    import pathlib

    from sendemodul import errors

    web = pathlib.Path(i18n.__file__).parent / "web"
    answered = {code for path in web.glob("*.py") for code in _ANSWERED_CODE.findall(path.read_text())}
    assert {"bad_request", "uri_too_long", "header_too_large", "timeout", "too_large"} <= answered  # the scan works
    # Not the front's: the pseudonymizer decrypts parts, SSB opens packages; "container" is the generic refusal.
    behind_the_front = {"container", "decrypt", "part_content", "package", "seal", "seal_signature"}
    intake = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, (errors.IntakeError, errors.ContainerError))
    }
    assert behind_the_front <= intake  # the exclusions name real codes
    assert sorted((answered | intake) - behind_the_front - set(messages_nb.MESSAGES)) == []


def _nn_request(path=b"/api/v1/uploads", args=None, accept=None):
    request = _request(args, accept=accept)
    request.uri = request.path = path
    return request


def test_json_answers_write_every_msg_in_the_requests_language():
    """The API's receipts say what counts in sentences (a Msg in ``melding``), its errors have a ``melding``: a JSON
    answer writes each in the request's language, and says which in Content-Language."""
    import json

    from sendemodul.receipt import Receipt
    from sendemodul.web.errors import json_error, json_response

    row = {
        "reference": "SM-20260115-BBBBBBBB",
        "status": "received",
        "unit": STAVANGER,
        "register": "11F",
        "periode": 2026,
        "size": 10,
        "sha256": "0" * 64,
        "received_at": "2026-01-15T06:30:00Z",
        "late": 0,
        "test": 0,
    }
    receipt = Receipt.from_row(row, row).to_json()
    request = _nn_request(accept=b"nn-NO")
    body = json.loads(json_response(request, 201, {"uploads": [receipt]}))
    melding = body["uploads"][0]["melding"]
    assert melding == "Denne innsendinga er den nyaste for 11F 2026, og det er ho som gjeld.", melding
    assert bokmal_left_in(melding) == [] and request.responseHeaders.getRawHeaders(b"content-language") == [b"nn"]
    nb = json.loads(json_response(_nn_request(), 201, receipt))["melding"]
    assert nb.startswith("Denne innsendingen er den nyeste for 11F 2026") and bokmal_left_in(nb)
    error = json.loads(json_error(_nn_request(args={b"lang": [b"nn"]}), 404, "not_found", "No such upload."))
    assert error == {"error": "not_found", "message": "No such upload.", "melding": "Fann ikkje innsendinga."}


def test_early_answers_take_the_language_from_the_request_line_and_headers():
    """An answer written before twisted.web parsed the request (an upload refused before its body, a request line
    too long) follows ``?lang=``, then the ``sprak`` cookie, then Accept-Language, as the pages do."""
    import json

    from twisted.web.http_headers import Headers

    from sendemodul.web.answers import error_body

    assert i18n.early_language(b"/api/v1/uploads/x.tar?lang=nn", Headers()) == "nn"
    assert i18n.early_language(b"/api/v1/uploads/x.tar?lang=nb", Headers({b"cookie": [b"sprak=nn"]})) == "nb"
    assert i18n.early_language(b"/x", Headers({b"cookie": [b"a=b; sprak=nn"], b"accept-language": [b"nb"]})) == "nn"
    assert i18n.early_language(b"/x", Headers({b"accept-language": [b"nn-NO,nb;q=0.5"]})) == "nn"
    assert i18n.early_language(None, None) == "nb"
    body = json.loads(error_body("uri_too_long", "The request's URL is too long.", "nn"))
    assert body["melding"] == "Adressa er for lang."
    assert json.loads(error_body("timeout", "x"))["melding"].startswith("Innsendingen tok for lang tid")


def test_sftp_receipts_speak_the_units_written_standard():
    """SFTP has no Accept-Language: a receipt's ``melding`` is in the unit's written standard; ``message`` stays
    English for scripts."""
    import json

    from sendemodul.sftp.receipts import receipt_bytes

    row = {
        "reference": "SM-20260115-BBBBBBBB",
        "status": "received",
        "unit": STAVANGER,
        "register": "11F",
        "periode": 2026,
        "size": 10,
        "sha256": "0" * 64,
        "received_at": "2026-01-15T06:30:00Z",
        "late": 0,
        "test": 1,
    }
    nn = json.loads(receipt_bytes(row, None, "nn"))
    assert nn["melding"].startswith("Dette er ei testinnsending") and bokmal_left_in(nn["melding"]) == []
    assert nn["message"].startswith("A test upload")
    assert json.loads(receipt_bytes(row, None))["melding"].startswith("Dette er en testinnsending")


def _curl(server, *args):
    """curl against the server (its own CA), as the unit's script would call it: ``(status, headers, json body)``."""
    import json
    import subprocess

    proc = subprocess.run(
        ["curl", "-sS", "-i", "--cacert", str(server.home / "tls" / "server.pem"), "--max-time", "60", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    head, _, body = proc.stdout.replace("\r\n", "\n").partition("\n\n")
    while head.startswith("HTTP/1.1 100"):  # curl's "100 Continue" before the answer
        head, _, body = body.partition("\n\n")
    status = int(head.split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head.splitlines()[1:])}
    return status, headers, json.loads(body)


@pytest.mark.integration
def test_the_api_and_sftp_answer_in_nynorsk_when_asked_on_a_real_server(tmp_path):
    """Over real HTTPS (curl) and SFTP (paramiko): with Accept-Language nn the upload's receipt says what counts in
    Nynorsk; so do the status (``?lang=nn``), a 404 (the language cookie), an upload refused before its body
    (``?lang=nn`` in the URL) and a request whose headers are too large; over SFTP a unit set to nn reads its
    receipts in Nynorsk (with the listed size the file's). No Bokmål-only text of the catalogs is left in any."""
    import json

    import paramiko
    from server import DEMO, Server, make_container

    server = Server(tmp_path / "home").init()
    server.start()
    try:
        container = tmp_path / "oslo-11f.tar"
        make_container(server.home, container, records=3)
        auth = ("-u", f"{DEMO}:{server.pin}")
        url = f"{server.url}/api/v1/uploads"
        status, headers, receipt = _curl(server, *auth, "-H", "Accept-Language: nn", "-T", container, f"{url}/")
        assert status == 201 and headers["content-language"] == "nn", receipt
        assert receipt["melding"].startswith("Denne innsendinga er den nyaste for 11F")
        assert receipt["message"].startswith("This upload is the newest")
        reference = receipt["reference"]
        _, _, nb = _curl(server, *auth, f"{url}/{reference}")
        assert nb["melding"].startswith("Denne innsendingen er den nyeste") and bokmal_left_in(nb["melding"])
        _, _, nn = _curl(server, *auth, f"{url}/{reference}?lang=nn")
        _, _, listed = _curl(server, *auth, "-H", "Accept-Language: nn-NO, nb;q=0.5", f"{url}/")
        status, _, missing = _curl(server, *auth, "-b", "sprak=nn", f"{url}/SM-20260101-AAAAAAAA")
        assert status == 404 and missing["melding"] == "Fann ikkje innsendinga."
        status, headers, early = _curl(
            server, *auth, "-T", container, f"{url}/ugyldig%01navn?lang=nn"
        )  # a control byte
        assert status == 400 and early["error"] == "invalid" and headers["content-language"] == "nn"
        status, _, raw = _curl(server, "-H", "X-Stor: " + "x" * 70_000, f"{url}/?lang=nn")
        assert status == 431 and raw["melding"] == "Førespurnaden har for store hovud.", raw
        for text in (receipt, nn, listed, missing, early, raw):
            assert bokmal_left_in(json.dumps(text, ensure_ascii=False)) == [], text

        run_cli("admin", "unit", "set", DEMO, "--language", "nn", home=server.home)
        transport = paramiko.Transport(("127.0.0.1", server.sftp_port))
        transport.connect(username=DEMO, password=server.pin)
        try:
            sftp = paramiko.SFTPClient.from_transport(transport)
            name = f"{reference}.json"
            size = {a.filename: a.st_size for a in sftp.listdir_attr("/receipts")}[name]
            data = sftp.open(f"/receipts/{name}").read()
        finally:
            transport.close()
        assert size == len(data)
        by_sftp = json.loads(data)
        assert by_sftp["melding"].startswith("Denne innsendinga er den nyaste") and bokmal_left_in(data.decode()) == []
    finally:
        server.stop()
