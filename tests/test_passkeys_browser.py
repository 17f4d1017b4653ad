"""Passkeys (issue 16) in Chromium with its virtual authenticator (CDP ``WebAuthn.addVirtualAuthenticator``): a person
adds a passkey and logs in with it in the second step; an answer with a bad signature is refused, and an answer
replayed (against no challenge, or against a new one) is refused."""

import re
import time

import pytest
from server import Server, new_person
from support.browsers import send_unit_login

from sendemodul import totp

pytestmark = pytest.mark.integration

GET_ASSERTION = """async () => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const post = (url, body) => fetch(url, {method: "POST", headers: {"X-CSRF-Token": csrf,
      "Content-Type": "application/json"}, body: JSON.stringify(body || {})});
  const options = await (await post("/passnokkel/valg")).json();
  const credential = await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options)});
  return credential.toJSON();
}"""

POST_ANSWER = """async ([answer, fresh]) => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const post = (url, body) => fetch(url, {method: "POST", headers: {"X-CSRF-Token": csrf,
      "Content-Type": "application/json"}, body: JSON.stringify(body || {})});
  if (fresh) await post("/passnokkel/valg");
  const r = await post("/passnokkel/logg-inn", answer);
  return [r.status, await r.json()];
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("passkeys") / "home").init().start()
    yield srv
    srv.stop()


@pytest.fixture
def page(chromium):
    """A page in a fresh context with Chromium's virtual authenticator (``page.authenticator``, ``page.cdp``)."""
    context = chromium.new_context(ignore_https_errors=True)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    page.authenticator = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )["authenticatorId"]
    page.cdp = cdp
    yield page
    context.close()


def base(server):
    return f"https://localhost:{server.https_port}"  # a passkey's relying party is a host name, never an address


def unit_login(page, server):
    send_unit_login(page, base(server), server.pin)
    page.wait_for_url(re.compile(r".*/hvem-er-du$"))


def log_out(page):
    page.click("text=Logg ut")
    page.wait_for_url(re.compile(r"https://localhost:\d+/$"))


def test_add_a_passkey_log_in_with_it_and_refuse_bad_signatures_and_replays(page, server):
    email, secret = new_person(server.home)
    unit_login(page, server)
    page.fill("#email", email)
    page.fill("#code", totp.code_at(secret, time.time()))
    page.click("form[action='/hvem-er-du'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/mine-skjema$"))
    page.goto(base(server) + "/passnokler")
    assert page.is_visible("#ingen-passnokler")
    page.click("#passnokkel-registrer")
    page.wait_for_selector("#passnokler li")
    assert len(page.cdp.send("WebAuthn.getCredentials", {"authenticatorId": page.authenticator})["credentials"]) == 1
    log_out(page)

    # the second step with the passkey
    unit_login(page, server)
    page.click("#passnokkel-logg-inn")
    page.wait_for_url(re.compile(r".*/mine-skjema$"))
    log_out(page)

    # a replayed answer: used once it logs in; again, with no challenge or against a new one, it is refused
    unit_login(page, server)
    answer = page.evaluate(GET_ASSERTION)
    assert page.evaluate(POST_ANSWER, [answer, False])[0] == 200
    page.goto(base(server) + "/mine-skjema")
    log_out(page)
    unit_login(page, server)
    status, body = page.evaluate(POST_ANSWER, [answer, False])
    assert status == 401 and body["error"] == "passkey_failed"
    status, body = page.evaluate(POST_ANSWER, [answer, True])
    assert status == 401 and body["error"] == "passkey_failed"
    page.goto(base(server) + "/mine-skjema")
    assert page.url.endswith("/hvem-er-du")  # still only the unit's step

    # a bad signature
    page.cdp.send("WebAuthn.setResponseOverrideBits", {"authenticatorId": page.authenticator, "isBogusSignature": True})
    page.click("#passnokkel-logg-inn")
    page.wait_for_selector("#passnokkel-feil:not([hidden])")
    assert "Innloggingen med passnøkkel mislyktes" in page.inner_text("#passnokkel-feil")
    assert page.url.endswith("/hvem-er-du")
