"""Wrong second-factor codes count against the source like wrong PINs (issue 16): after ``auth.source_ban_score``
failures the source is banned (even a right code, even the PIN step, is refused from it), while the same person
logs in from another address at once: no lockout of a person that an attacker could trigger."""

import http.client
import re
import ssl
import time
import urllib.parse

import pytest
from server import DEMO, Server, new_person

from sendemodul import totp

pytestmark = pytest.mark.integration


class Client:
    """Cookies, the login form's and the session's CSRF tokens, over TLS from a chosen loopback address."""

    def __init__(self, server, source):
        self.server, self.source = server, source
        self.context = ssl.create_default_context(cafile=str(server.home / "tls" / "server.pem"))
        self.context.check_hostname = False
        self.cookies = {}

    def request(self, method, path, form=None):
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.server.https_port, context=self.context, timeout=60, source_address=(self.source, 0)
        )
        try:
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if form else {}
            if self.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request(method, path, body=urllib.parse.urlencode(form) if form else None, headers=headers)
            response = conn.getresponse()
            data = response.read().decode("utf-8")
            for cookie in response.msg.get_all("Set-Cookie") or []:
                name, _, rest = cookie.partition("=")
                value = rest.split(";", 1)[0]
                if value:
                    self.cookies[name] = value
                else:
                    self.cookies.pop(name, None)
            return response.status, response.getheader("Location"), data
        finally:
            conn.close()

    def unit_login(self):
        self.request("GET", "/")
        kommunenr, bydel, orgnr = DEMO.split("-")
        form = {"kommunenr": kommunenr, "bydel": bydel, "orgnr": orgnr, "pin": self.server.pin}
        return self.request("POST", "/", {**form, "csrf": self.cookies.get("__Host-sendemodul-login", "")})

    def person_step(self, email, code):
        _, _, page = self.request("GET", "/hvem-er-du")
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)
        return self.request("POST", "/hvem-er-du", {"csrf": csrf, "email": email, "code": code})


def refused(attempt):
    """True when the server refuses ``attempt``: a 401, or (a banned source) its connection closed at accept."""
    try:
        return attempt()[0] == 401
    except (ConnectionResetError, ssl.SSLError, http.client.RemoteDisconnected):
        return True


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("abuse") / "home", sections={"auth": "source_ban_score = 5"}).init()
    srv.start()
    yield srv
    srv.stop()


def test_wrong_codes_ban_the_source_not_the_person(server):
    email, secret = new_person(server.home)
    attacker = Client(server, "127.0.0.2")
    assert attacker.unit_login()[:2] == (303, "/hvem-er-du")
    wrong = "000000" if totp.code_at(secret, time.time()) != "000000" else "111111"
    statuses = [attacker.person_step(email, wrong)[0] for _ in range(5)]
    assert statuses == [401] * 5
    # banned now: the connection of this source is closed at once, with a right code or for the PIN step
    assert refused(lambda: attacker.person_step(email, totp.code_at(secret, time.time())))
    assert refused(lambda: Client(server, "127.0.0.2").unit_login())

    # the person is not locked out: from another address the right code works at once
    person = Client(server, "127.0.0.3")
    assert person.unit_login()[:2] == (303, "/hvem-er-du")
    status, location, _ = person.person_step(email, totp.code_at(secret, time.time() + 30))
    assert (status, location) == (303, "/mine-skjema")
    assert person.request("GET", "/mine-skjema")[0] == 200
