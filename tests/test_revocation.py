"""Issue 14, finding 1: revoking a PIN, disabling a unit or issuing it a new PIN ends what is already open.

A real server process and real clients: a web session logged in through the login form (cookie + CSRF token), an
open paramiko SFTP session, an upload in progress on each front; then the real admin CLI (another process) runs
``admin pin revoke``, ``admin unit disable`` or ``admin pin issue``. Afterwards the web session is gone (a redirect
to the login page), its PUT is refused, the SFTP connection is closed (within the credential watch's poll), both
uploads in progress are refused, and nothing of them is kept: no file in the spool, no row in the database, so
nothing can reach SSB.
"""

import http.client
import json
import re
import socket
import sqlite3
import ssl
import subprocess
import urllib.parse

import paramiko
import pytest
from conftest import run_cli
from server import DEMO, Server, add_unit, make_container
from support.wait import wait_for

pytestmark = pytest.mark.integration

#: One unit per command, so that each test starts from a unit with a PIN and no uploads.
UNITS = {
    ("web", "pin revoke"): "0301-01-958935420",
    ("web", "unit disable"): "0301-02-958935420",
    ("web", "pin issue"): "0301-03-958935420",
    ("sftp", "pin revoke"): "0301-04-958935420",
    ("sftp", "unit disable"): "0301-05-958935420",
    ("sftp", "pin issue"): "0301-06-958935420",
    ("sftp", "sshkey remove"): "0301-07-958935420",
}
COMMANDS = {
    "pin revoke": ("admin", "pin", "revoke"),
    "unit disable": ("admin", "unit", "disable"),
    "pin issue": ("admin", "pin", "issue"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("revoke")
    # About the unit's credentials ending what they opened: the web session is the unit's PIN alone here.
    srv = Server(base / "home", sections={"auth": "web_requires_person = false"}).init()
    srv.units = {}
    for unit in UNITS.values():
        key = base / f"{unit}.key"
        srv.units[unit] = (add_unit(srv.home, unit, key), key)
    srv.ssh_key = base / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(srv.ssh_key)], check=True)
    run_cli("admin", "sshkey", "add", UNITS["sftp", "sshkey remove"], f"{srv.ssh_key}.pub", "--home", srv.home)
    srv.start()
    yield srv
    srv.stop()


class Browser:
    """A web client that keeps cookies, as a browser does: the login form, then pages and API calls with the
    session cookie and the CSRF token from the page."""

    def __init__(self, server):
        self.server = server
        self.context = ssl.create_default_context(cafile=str(server.home / "tls" / "server.pem"))
        self.context.check_hostname = False
        self.cookies = {}
        self.csrf = None

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.server.https_port, context=self.context, timeout=60)
        try:
            all_headers = dict(headers or {})
            if self.cookies:
                all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            data = response.read()
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

    def log_in(self, unit, pin):
        status, _, _ = self.request("GET", "/")
        assert status == 200
        kommunenr, bydel, orgnr = unit.split("-")
        form = urllib.parse.urlencode(
            {
                "kommunenr": kommunenr,
                "bydel": bydel,
                "orgnr": orgnr,
                "pin": pin,
                "csrf": self.cookies["__Host-sendemodul-login"],
            }
        )
        status, location, _ = self.request("POST", "/", form, {"Content-Type": "application/x-www-form-urlencoded"})
        assert (status, location) == (303, "/opplasting")
        status, _, page = self.request("GET", "/opplasting")
        assert status == 200
        self.csrf = re.search(rb'<meta name="csrf-token" content="([^"]+)">', page).group(1).decode()

    def put(self, name, data):
        """``PUT /api/v1/uploads/<name>`` with the session cookie and the CSRF token (as the upload page does)."""
        return self.request(
            "PUT",
            f"/api/v1/uploads/{name}",
            data,
            {"X-CSRF-Token": self.csrf, "Content-Type": "application/octet-stream"},
        )

    def start_put(self, name, data):
        """The same PUT on a raw TLS socket with only the first half of the body sent; returns the socket."""
        sock = self.context.wrap_socket(socket.create_connection(("127.0.0.1", self.server.https_port), timeout=60))
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        sock.sendall(
            (
                f"PUT /api/v1/uploads/{name} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
                f"X-CSRF-Token: {self.csrf}\r\nContent-Length: {len(data)}\r\n\r\n"
            ).encode()
            + data[: len(data) // 2]
        )
        return sock


def finish_put(sock, data):
    """Send the rest of the body and read the whole answer."""
    sock.sendall(data[len(data) // 2 :])
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
        if b"\r\n\r\n" in answer and answer.rstrip().endswith(b"}"):
            break
    sock.close()
    return answer


def rows_of(server, unit):
    """The unit's upload rows, straight from the database (read-only)."""
    conn = sqlite3.connect(f"file:{server.home / 'sendemodul.db'}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT reference FROM uploads WHERE unit = ?", (unit,))]
    finally:
        conn.close()


def containers_for(server, unit, key, tmp_path, *names):
    made = {}
    for name in names:
        path = tmp_path / f"{name}.tar"
        make_container(server.home, path, unit=unit, signing_key=key, records=2)
        made[name] = path.read_bytes()
    return made


def assert_nothing_kept(server, unit, accepted, received):
    """No part left in incoming/, nothing new in received/ or the outbox, no new row for the unit."""
    wait_for(lambda: server.spool("incoming") == [], timeout=10, message="the refused uploads to be removed")
    assert rows_of(server, unit) == accepted
    assert server.spool("received") == received and server.spool("outbox") == []


def old_pin_is_refused_and_a_new_one_works(server, unit, pin, command, container):
    old = paramiko.Transport(("127.0.0.1", server.sftp_port))
    with pytest.raises(paramiko.AuthenticationException):
        old.connect(username=unit, password=pin)
    old.close()
    if command == "pin issue":
        new_pin = run_cli("admin", "pin", "issue", unit, "--home", server.home).stdout.strip().splitlines()[-1]
        browser = Browser(server)
        browser.log_in(unit, new_pin)
        status, _, body = browser.put("new-pin.tar", container)
        assert status == 201, body
    assert http_basic_list(server, DEMO, server.pin) == 200  # another unit is not touched


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_admin_command_ends_the_web_session_and_refuses_its_upload_in_progress(server, tmp_path, command):
    unit = UNITS["web", command]
    pin, key = server.units[unit]
    containers = containers_for(server, unit, key, tmp_path, "before", "after", "in-progress", "new-pin")
    browser = Browser(server)
    browser.log_in(unit, pin)
    status, _, body = browser.put("before.tar", containers["before"])  # the cookie and the token work
    assert status == 201, body
    assert browser.request("GET", "/innsendinger")[0] == 200
    accepted, received = rows_of(server, unit), server.spool("received")
    incoming = len(server.spool("incoming"))
    upload = browser.start_put("in-progress.tar", containers["in-progress"])
    wait_for(lambda: len(server.spool("incoming")) == incoming + 1, timeout=10, message="the upload to begin")

    run_cli(*COMMANDS[command], unit, "--home", server.home)  # the admin, in another process

    status, location, _ = browser.request("GET", "/innsendinger")
    assert (status, location) == (303, "/"), "the web session outlived the change of credentials"
    status, _, body = browser.put("after.tar", containers["after"])
    assert status == 401, body
    answer = finish_put(upload, containers["in-progress"])  # the upload that was in progress when it ran
    assert answer.startswith(b"HTTP/1.1 401") and b'"login_revoked"' in answer, answer[:600]
    assert_nothing_kept(server, unit, accepted, received)
    old_pin_is_refused_and_a_new_one_works(server, unit, pin, command, containers["new-pin"])


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_admin_command_closes_the_sftp_session_and_drops_its_upload_in_progress(server, tmp_path, command):
    unit = UNITS["sftp", command]
    pin, key = server.units[unit]
    containers = containers_for(server, unit, key, tmp_path, "before", "after", "in-progress", "new-pin")
    transport = paramiko.Transport(("127.0.0.1", server.sftp_port))
    transport.connect(username=unit, password=pin)
    sftp = paramiko.SFTPClient.from_transport(transport)
    with sftp.open("before.tar", "wb") as f:  # the session works
        f.write(containers["before"])
    accepted, received = rows_of(server, unit), server.spool("received")
    assert len(accepted) == 1
    incoming = len(server.spool("incoming"))
    upload = sftp.open("in-progress.tar", "wb")
    half = len(containers["in-progress"]) // 2
    upload.write(containers["in-progress"][:half])
    wait_for(lambda: len(server.spool("incoming")) == incoming + 1, timeout=10, message="the upload to begin")

    run_cli(*COMMANDS[command], unit, "--home", server.home)  # the admin, in another process

    # closed within the credential watch's poll (auth.credential_poll_seconds, 1 s)
    wait_for(lambda: not transport.is_active(), timeout=10, message="the SFTP connection to be closed")
    with pytest.raises((OSError, EOFError, paramiko.SSHException)):
        upload.write(containers["in-progress"][half:])
        upload.close()
    with pytest.raises((OSError, EOFError, paramiko.SSHException)):
        sftp.open("after.tar", "wb").write(containers["after"])
    transport.close()
    assert_nothing_kept(server, unit, accepted, received)
    old_pin_is_refused_and_a_new_one_works(server, unit, pin, command, containers["new-pin"])


def http_basic_list(server, unit, pin):
    import base64

    context = ssl.create_default_context(cafile=str(server.home / "tls" / "server.pem"))
    context.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", server.https_port, context=context, timeout=60)
    try:
        auth = base64.b64encode(f"{unit}:{pin}".encode()).decode()
        conn.request("GET", "/api/v1/uploads", headers={"Authorization": f"Basic {auth}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_removing_the_ssh_key_closes_the_session_it_opened(server, tmp_path):
    """An unattended system logged in with its SSH key; ``admin sshkey remove`` closes that connection too."""
    unit = UNITS["sftp", "sshkey remove"]
    _pin, signing_key = server.units[unit]
    [container] = containers_for(server, unit, signing_key, tmp_path, "in-progress").values()
    key = paramiko.Ed25519Key.from_private_key_file(str(server.ssh_key))
    transport = paramiko.Transport(("127.0.0.1", server.sftp_port))
    transport.connect(username=unit, pkey=key)
    sftp = paramiko.SFTPClient.from_transport(transport)
    incoming = len(server.spool("incoming"))
    upload = sftp.open("in-progress.tar", "wb")
    upload.write(container[: len(container) // 2])
    wait_for(lambda: len(server.spool("incoming")) == incoming + 1, timeout=10, message="the upload to begin")
    [fingerprint] = [
        k["fingerprint"]
        for k in json.loads(run_cli("admin", "sshkey", "list", unit, "--json", "--home", server.home).stdout)
    ]

    run_cli("admin", "sshkey", "remove", unit, fingerprint, "--home", server.home)

    wait_for(lambda: not transport.is_active(), timeout=10, message="the SFTP connection to be closed")
    transport.close()
    wait_for(lambda: server.spool("incoming") == [], timeout=10, message="the upload in progress to be removed")
    assert rows_of(server, unit) == []
    again = paramiko.Transport(("127.0.0.1", server.sftp_port))
    with pytest.raises(paramiko.AuthenticationException):
        again.connect(username=unit, pkey=key)
    again.close()
