"""The SFTP client matrix (issue 23): every client a municipality is likely to run logs in with the PIN and with an
Ed25519, an ECDSA P-256 and an RSA 3072 key, and uploads a real container, against one real server for the module.

Clients: OpenSSH's ``sftp``, paramiko, PuTTY's ``psftp``, curl's ``sftp://`` (libssh2), ``rclone`` and ``lftp`` (whose
sftp runs the OpenSSH client), each as installed; paramiko and PuTTY a second time told to prefer an AEAD cipher,
as both support one but put AES-CTR first in their own default order (the client's order decides, RFC 4253 7.1).
For each cell the negotiated key exchange, cipher, MAC and signature algorithm are read from the server's JSON log.

The one cell allowed to fail is libssh2 1.10 (Debian 12's curl) with an RSA key: it signs with ``ssh-rsa`` (SHA-1)
only, which the server refuses by default; a second server with ``[sftp] accept_ssh_rsa_sha1 = true`` lets it in.
ssh-audit runs last (it spends the source's connection-rate burst) and may warn only about the algorithms a named
client needs (``AUDIT_WARNINGS_NEEDED_BY``).

With ``SFTP_MATRIX_JSON=path`` the module writes what it found there; ``scripts/sftp_clients_doc.py`` turns that into
docs/sftp-clients.md.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import paramiko
import pytest
from conftest import BIN
from cryptography.hazmat.primitives import hashes
from server import DEMO, Server, make_container
from support.wait import pace, wait_for

pytestmark = pytest.mark.integration

LOGINS = ("pin", "ed25519", "ecdsa", "rsa")
KEYGEN = {"ed25519": ["-t", "ed25519"], "ecdsa": ["-t", "ecdsa", "-b", "256"], "rsa": ["-t", "rsa", "-b", "3072"]}
AEAD = {"chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"}
SIGNATURES = {"ed25519": {"ssh-ed25519"}, "ecdsa": {"ecdsa-sha2-nistp256"}, "rsa": {"rsa-sha2-512", "rsa-sha2-256"}}
SSH_OPTIONS = [
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=20",
]
#: A PuTTY saved session (``psftp -load aead``) with ChaCha20 and AES-GCM before AES (CTR), as a user sets it in
#: PuTTY's or WinSCP's "Encryption options".
PUTTY_AEAD_SESSION = "Cipher=chacha20,aesgcm,aes,3des,WARN,des,blowfish,arcfour\n"

#: Each ssh-audit warning, and the client of the matrix that needs the algorithm it warns about.
AUDIT_WARNINGS_NEEDED_BY = {
    ("kex", "curve25519-sha256"): "OpenSSH 9.2 (Debian 12, also under lftp), PuTTY 0.78, libssh2 1.10 (curl) and "
    "rclone 1.60 have no mlkem768x25519-sha256; OpenSSH 9.2's sntrup761x25519 we lack",
    ("kex", "curve25519-sha256@libssh.org"): "paramiko without mlkem768x25519-sha256 (Debian 12's python3-paramiko "
    "2.12) names curve25519 only so",
    ("mac", "hmac-sha2-256"): "libssh2 1.10 (curl, PHP ssh2) has no encrypt-then-MAC MAC",
    ("mac", "hmac-sha2-512"): "libssh2 1.10 (curl, PHP ssh2) has no encrypt-then-MAC MAC (its second choice)",
}

#: What the module found, for scripts/sftp_clients_doc.py (written when SFTP_MATRIX_JSON is set).
FOUND = {"clients": {}, "cells": [], "ssh_audit": None}


def _write_found():
    target = os.environ.get("SFTP_MATRIX_JSON")
    if target:
        Path(target).write_text(json.dumps(FOUND, indent=1, sort_keys=True) + "\n")


def _first_line(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return (proc.stdout or proc.stderr).strip().splitlines()[0]


def client_versions():
    curl = _first_line(["curl", "-V"])
    libssh2 = re.search(r"libssh2/(\S+)", curl)
    return {
        "openssh": _first_line(["ssh", "-V"]).split(",")[0],
        "paramiko": f"paramiko {paramiko.__version__}",
        "psftp": "PuTTY psftp "
        + _first_line(["psftp", "-V"]).split("Release")[-1].strip()
        + " (Debian "
        + _first_line(["dpkg-query", "-W", "-f", "${Version}\n", "putty-tools"])
        + ")",
        "curl": f"curl {curl.split()[1]}, libssh2 {libssh2.group(1) if libssh2 else '?'}",
        "rclone": _first_line(["rclone", "version"]),
        "lftp": "lftp " + re.search(r"Version (\S+)", _first_line(["lftp", "--version"])).group(1),
    }


class Peer:
    """A server of the module: the Server process, its keys and log, and the clients' files."""

    def __init__(self, base, srv, keys):
        self.base, self.srv, self.keys = base, srv, keys
        self.host_fingerprint = subprocess.run(
            ["ssh-keygen", "-lf", str(srv.home / "ssh" / "host_ed25519.pub")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[1]
        self.uploads = 0

    def events(self):
        out = []
        for line in (self.srv.home / "log" / "sendemodul.json").read_text().splitlines():
            line = line.strip("\x1e").strip()
            if line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def container(self):
        self.uploads += 1
        path = self.base / f"upload-{self.uploads}.tar"
        make_container(self.srv.home, path)
        return path


def _start(base, *, keys, sftp_section=""):
    srv = Server(base / "home", sections={"sftp": sftp_section} if sftp_section else None).init()
    srv.accepts_sha1 = bool(sftp_section)
    added = {}
    for kind, path in keys.items():
        proc = subprocess.run(
            [str(BIN), "admin", "sshkey", "add", DEMO, f"{path}.pub", "--home", str(srv.home)],
            check=True,
            capture_output=True,
            text=True,
        )
        added[kind] = proc.stdout
    srv.start()
    peer = Peer(base, srv, keys)
    peer.sshkey_add_output = added
    return peer


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    base = tmp_path_factory.mktemp("keys")
    out = {}
    for kind, args in KEYGEN.items():
        path = base / f"id_{kind}"
        subprocess.run(["ssh-keygen", "-q", *args, "-N", "", "-f", str(path)], check=True)
        subprocess.run(["puttygen", str(path), "-O", "private", "-o", f"{path}.ppk"], check=True, capture_output=True)
        out[kind] = path
    putty_home = base / "putty-home"
    (putty_home / ".putty" / "sessions").mkdir(parents=True)
    (putty_home / ".putty" / "sessions" / "aead").write_text(PUTTY_AEAD_SESSION)
    out["putty_home"] = putty_home
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory, keys):
    FOUND["clients"] = client_versions()
    peer = _start(tmp_path_factory.mktemp("matrix"), keys={k: keys[k] for k in KEYGEN})
    peer.putty_home = keys["putty_home"]
    yield peer
    peer.srv.stop()
    _write_found()


@pytest.fixture(scope="module")
def sha1_server(tmp_path_factory, keys):
    """A second server, with ``[sftp] accept_ssh_rsa_sha1 = true``; only the RSA key registered."""
    peer = _start(tmp_path_factory.mktemp("sha1"), keys={"rsa": keys["rsa"]}, sftp_section="accept_ssh_rsa_sha1 = true")
    yield peer
    peer.srv.stop()
    _write_found()


# ---- the clients: each uploads ``path`` as ``name`` and returns (succeeded, what it printed) ----------------------


def _run(cmd, *, env=None, input=None):
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=90,
        input=input,
        env={**os.environ, **(env or {})},
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    return proc.returncode == 0, proc.stdout + proc.stderr


def openssh(peer, login, path, name):
    cmd = ["sftp", "-P", str(peer.srv.sftp_port), *SSH_OPTIONS]
    if login == "pin":  # -b implies BatchMode, which would never ask for a password
        cmd = ["sshpass", "-p", peer.srv.pin, *cmd, "-o", "PubkeyAuthentication=no", "-o", "BatchMode=no"]
    else:
        cmd += ["-o", "PasswordAuthentication=no", "-o", "IdentitiesOnly=yes", "-i", str(peer.keys[login])]
    return _run([*cmd, "-b", "-", f"{DEMO}@127.0.0.1"], input=f"put {path} {name}\n")


def _paramiko(peer, login, path, name, *, prefer_aead):
    sock = socket.create_connection(("127.0.0.1", peer.srv.sftp_port), timeout=20)
    t = paramiko.Transport(sock)
    try:
        if prefer_aead:  # as a script would: GCM first, the rest in paramiko's order
            options = t.get_security_options()
            options.ciphers = (
                *[c for c in options.ciphers if c in AEAD],
                *[c for c in options.ciphers if c not in AEAD],
            )
        if login == "pin":
            t.connect(username=DEMO, password=peer.srv.pin)
        else:
            t.connect(username=DEMO, pkey=paramiko.PKey.from_path(peer.keys[login]))
        size = paramiko.SFTPClient.from_transport(t).put(str(path), name).st_size
        return size == path.stat().st_size, f"{t.remote_cipher} {t.remote_mac}"
    except (paramiko.SSHException, OSError) as e:
        return False, repr(e)
    finally:
        t.close()


def paramiko_default(peer, login, path, name):
    return _paramiko(peer, login, path, name, prefer_aead=False)


def paramiko_aead(peer, login, path, name):
    return _paramiko(peer, login, path, name, prefer_aead=True)


def _psftp(peer, login, path, name, *, load=()):
    batch = peer.base / f"{name}.psftp"
    batch.write_text(f"put {path} {name}\nquit\n")
    auth = ["-pw", peer.srv.pin] if login == "pin" else ["-i", f"{peer.keys[login]}.ppk"]
    env = {"HOME": str(peer.putty_home)} if load else None
    ok, out = _run(
        [
            "psftp",
            *load,
            "-batch",
            "-hostkey",
            peer.host_fingerprint,
            "-P",
            str(peer.srv.sftp_port),
            "-l",
            DEMO,
            *auth,
            "-b",
            str(batch),
            "127.0.0.1",
        ],
        env=env,
    )
    return ok and f"=> remote:/{name}" in out, out


def psftp_default(peer, login, path, name):
    return _psftp(peer, login, path, name)


def psftp_aead(peer, login, path, name):
    return _psftp(peer, login, path, name, load=("-load", "aead"))


def curl(peer, login, path, name):
    auth = (
        ["-u", f"{DEMO}:{peer.srv.pin}"]
        if login == "pin"
        else ["-u", f"{DEMO}:", "--key", str(peer.keys[login]), "--pubkey", f"{peer.keys[login]}.pub"]
    )
    return _run(
        [
            "curl",
            "-sS",
            "--insecure",
            "--connect-timeout",
            "20",
            *auth,
            "-T",
            str(path),
            f"sftp://127.0.0.1:{peer.srv.sftp_port}/{name}",
        ]
    )


def rclone(peer, login, path, name):
    if login == "pin":
        obscured = subprocess.run(
            ["rclone", "obscure", peer.srv.pin], capture_output=True, text=True, check=True
        ).stdout.strip()
        auth = ["--sftp-pass", obscured]
    else:
        auth = ["--sftp-key-file", str(peer.keys[login])]
    config = peer.base / "rclone.conf"
    config.touch()
    return _run(
        [
            "rclone",
            "copyto",
            "--config",
            str(config),
            "--retries",
            "1",
            "--low-level-retries",
            "1",
            "--sftp-host",
            "127.0.0.1",
            "--sftp-port",
            str(peer.srv.sftp_port),
            "--sftp-user",
            DEMO,
            *auth,
            str(path),
            f":sftp:{name}",
        ]
    )


def lftp(peer, login, path, name):
    ssh = ["ssh", "-a", "-x", *SSH_OPTIONS]
    if login == "pin":  # lftp answers ssh's password prompt itself
        ssh += ["-o", "PubkeyAuthentication=no"]
        user = f"{DEMO},{peer.srv.pin}"
    else:
        ssh += [
            "-o",
            "PasswordAuthentication=no",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
            str(peer.keys[login]),
        ]
        user = f"{DEMO},"
    script = (
        f"set sftp:connect-program '{' '.join(ssh)}'; set net:max-retries 1; "
        f"open -u {user} -p {peer.srv.sftp_port} sftp://127.0.0.1; put {path} -o {name}"
    )
    return _run(["lftp", "-c", script])


#: client -> (runner, version key, whether its negotiation must be AEAD: True, or the cipher/MAC kind it picks)
CLIENTS = {
    "openssh": (openssh, "openssh", "aead"),
    "paramiko": (paramiko_default, "paramiko", "ctr+eam"),  # supports GCM, prefers aes128-ctr + hmac-sha2-256
    "paramiko-aead-first": (paramiko_aead, "paramiko", "aead"),
    "psftp": (psftp_default, "psftp", "ctr+eam"),  # supports ChaCha20 and GCM, prefers aes256-ctr + hmac-sha2-256
    "psftp-aead-first": (psftp_aead, "psftp", "aead"),
    "curl": (curl, "curl", "ctr+eam"),  # libssh2 1.10: neither AEAD nor encrypt-then-MAC
    "rclone": (rclone, "rclone", "aead"),
    "lftp": (lftp, "lftp", "aead"),
}


def run_cell(peer, client, login, *, expect_ok=True):
    # The server admits a burst of 10 new connections from one source, then 5 a second (sftp/server.py, against
    # DHEat floods); some clients open several (lftp retries at once). A second between cells keeps the matrix, run
    # from one address, inside that allowance, as one municipality's client is.
    pace(1.0)
    runner = CLIENTS[client][0]
    before = len(peer.events())
    path = peer.container()
    name = f"{client}-{login}.tar"
    ok, output = runner(peer, login, path, name)
    assert ok == expect_ok, output

    def explain():
        logged = [e.get("log_format", "")[:60] for e in peer.events()[before:]]
        return f"{client} {login}: {output}\nserver log since: {logged}"

    events = wait_for(lambda: _cell_events(peer.events()[before:], uploaded=expect_ok), timeout=30, message=explain)
    negotiated, login_event, upload = events
    cell = {
        "client": client,
        "login": login,
        "ok": ok,
        "server": "sha1" if peer.srv.accepts_sha1 else "default",
        "kex": negotiated["kex"],
        "cipher_in": negotiated["cipher_in"],
        "cipher_out": negotiated["cipher_out"],
        "mac_in": negotiated["mac_in"],
        "mac_out": negotiated["mac_out"],
        "strict_kex": negotiated["strict"],
        "signature": "password" if login == "pin" else login_event.get("algorithm"),
        "refusal": login_event.get("reason"),
        "upload": upload and upload["outcome"],
        "key_login_logged": bool(login_event),
    }
    FOUND["cells"].append(cell)
    return cell


def _cell_events(events, *, uploaded):
    """(the first key exchange's event, the key login or refusal event (or {} for a PIN), the upload event)."""
    negotiated = [e for e in events if e.get("log_format", "").startswith("SSH {what}") and e["what"] == "keys in use"]
    logins = [e for e in events if e.get("log_format", "").startswith("SSH key login for")]
    uploads = [e for e in events if e.get("log_format", "").startswith("upload {reference}")]
    if not negotiated:
        return None
    if uploaded:
        if not uploads or not [e for e in events if e.get("log_format") == "SFTP login by {unit}"]:
            return None
        accepted = [e for e in logins if "refused" not in e["log_format"]]
        return negotiated[0], (accepted[-1] if accepted else {}), uploads[-1]
    refused = [e for e in logins if "refused" in e["log_format"]]
    return (negotiated[0], refused[-1], None) if refused else None


def _check_negotiation(cell, kind):
    assert cell["cipher_in"] == cell["cipher_out"] and cell["mac_in"] == cell["mac_out"], cell
    if kind == "aead":
        assert cell["cipher_in"] in AEAD and cell["mac_in"] == "<implicit>", cell
    else:  # the client has no AEAD cipher, or puts AES-CTR first in its own order
        assert re.fullmatch(r"aes(128|192|256)-ctr", cell["cipher_in"]), cell
        assert cell["mac_in"] in ("hmac-sha2-256", "hmac-sha2-512"), cell
    assert cell["kex"] in ("mlkem768x25519-sha256", "curve25519-sha256", "curve25519-sha256@libssh.org"), cell


CELLS = [(client, login) for client in CLIENTS for login in LOGINS if (client, login) != ("curl", "rsa")]


@pytest.mark.parametrize("client, login", CELLS)
def test_client_logs_in_and_uploads(server, client, login):
    cell = run_cell(server, client, login)
    assert cell["upload"] == "accepted", cell
    _check_negotiation(cell, CLIENTS[client][2])
    if login == "pin":
        assert cell["key_login_logged"] is False, cell  # the PIN, not a key, let it in
    else:
        assert cell["signature"] in SIGNATURES[login], cell


def test_libssh2_1_10_with_an_rsa_key_is_refused_by_default_for_its_sha1_signature(server):
    """curl (libssh2 1.10) signs with ssh-rsa only: refused, with the reason in the log."""
    cell = run_cell(server, "curl", "rsa", expect_ok=False)
    assert cell["signature"] == "ssh-rsa" and "accept_ssh_rsa_sha1 = false" in cell["refusal"], cell
    _check_negotiation(cell, "ctr+eam")


def test_libssh2_1_10_with_an_rsa_key_gets_in_when_sha1_is_accepted(sha1_server):
    cell = run_cell(sha1_server, "curl", "rsa")
    assert cell["upload"] == "accepted" and cell["signature"] == "ssh-rsa", cell
    _check_negotiation(cell, "ctr+eam")


def test_sshkey_add_names_the_clients_each_key_works_with(server, sha1_server):
    assert "not with libssh2 < 1.11 (curl, PHP ssh2)" in server.sshkey_add_output["rsa"]
    assert "Works with all the SFTP clients" in server.sshkey_add_output["ed25519"]
    assert "Works with all the SFTP clients" in server.sshkey_add_output["ecdsa"]
    assert "only because [sftp] accept_ssh_rsa_sha1 = true" in sha1_server.sshkey_add_output["rsa"]


class Sha1RSAKey(paramiko.RSAKey):
    """paramiko 4 and later no longer sign with SHA-1 at all: the SHA-1 hash is put back here."""

    HASHES = {**paramiko.RSAKey.HASHES, "ssh-rsa": hashes.SHA1}  # noqa: RUF012 - paramiko's own attribute


class Sha1Transport(paramiko.Transport):
    """paramiko 5 has ``ssh-rsa`` neither in its list nor its hashes (``disabled_algorithms`` for rsa-sha2-* alone
    leaves it no RSA algorithm), and it would keep to our server-sig-algs: as a client from before RFC 8308 it
    ignores EXT_INFO."""

    _preferred_pubkeys = (*paramiko.Transport._preferred_pubkeys, "ssh-rsa")

    def _parse_ext_info(self, msg):
        pass


def _paramiko_sha1_login(peer):
    """paramiko signing with ssh-rsa (RSA with SHA-1) only; returns True when the server let it in."""
    sock = socket.create_connection(("127.0.0.1", peer.srv.sftp_port), timeout=20)
    t = Sha1Transport(sock, disabled_algorithms={"pubkeys": ["rsa-sha2-512", "rsa-sha2-256"]})
    try:
        t.start_client(timeout=20)
        try:
            t.auth_publickey(DEMO, Sha1RSAKey.from_private_key_file(str(peer.keys["rsa"])))
        except paramiko.AuthenticationException:
            return False
        return t.is_authenticated()
    finally:
        t.close()


@pytest.mark.parametrize("which", ["default", "sha1"])
def test_ssh_rsa_sha1_signer_is_let_in_only_when_configured(server, sha1_server, which):
    peer = server if which == "default" else sha1_server
    before = len(peer.events())
    let_in = _paramiko_sha1_login(peer)
    logged = wait_for(
        lambda: [e for e in peer.events()[before:] if e.get("log_format", "").startswith("SSH key login for")],
        timeout=30,
    )
    if which == "default":
        assert not let_in
        assert all("refused" in e["log_format"] and e["algorithm"] == "ssh-rsa" for e in logged), logged
        assert "ssh-rsa (SHA-1) signatures are not accepted (sftp.accept_ssh_rsa_sha1 = false)" in logged[0]["reason"]
    else:
        assert let_in
        assert [e["algorithm"] for e in logged if "refused" not in e["log_format"]] == ["ssh-rsa"], logged


def test_ssh_audit_warns_only_about_what_a_named_client_needs(server):
    """No failure and no CVE; each warning is one of AUDIT_WARNINGS_NEEDED_BY; mlkem768x25519-sha256 first.
    Runs last: ssh-audit spends the source's connection-rate burst."""
    audit = shutil.which("ssh-audit", path=str(Path(sys.executable).parent)) or "ssh-audit"
    port = str(server.srv.sftp_port)
    # first the text for docs/sftp-clients.md, without the connection-rate test, then the JSON with it
    text = subprocess.run(
        [audit, "-n", "--skip-rate-test", "-p", port, "127.0.0.1"], capture_output=True, text=True, timeout=120
    )
    proc = subprocess.run([audit, "-j", "-p", port, "127.0.0.1"], capture_output=True, text=True, timeout=120)
    report = json.loads(proc.stdout)
    FOUND["ssh_audit"] = {
        "version": _audit_version(audit),
        "output": text.stdout.replace(port, "PORT"),
        "exit_code": text.returncode,
    }
    assert "# key exchange algorithms" in text.stdout, text.stdout + text.stderr
    assert text.returncode == 2  # warnings, no failure
    failures = [
        (s, i["algorithm"])
        for s in ("kex", "key", "enc", "mac")
        for i in report.get(s, [])
        if i.get("notes", {}).get("fail")
    ]
    assert failures == []
    assert report.get("cves", []) == []
    warnings = {
        (s, i["algorithm"])
        for s in ("kex", "key", "enc", "mac")
        for i in report.get(s, [])
        if i.get("notes", {}).get("warn")
    }
    assert warnings == set(AUDIT_WARNINGS_NEEDED_BY)
    assert report["kex"][0]["algorithm"] == "mlkem768x25519-sha256"
    assert any(k["algorithm"] == "kex-strict-s-v00@openssh.com" for k in report["kex"])
    # the one note: we support strict KEX (Terrapin), but a peer without it could still choose chacha20-poly1305
    notes = [n for n in report["additional_notes"] if "properly supports the strict key exchange method" not in n]
    assert notes == []
    assert proc.returncode == 2  # warnings, no failure


def _audit_version(audit):
    proc = subprocess.run(
        [sys.executable, "-c", "import importlib.metadata as m; print(m.version('ssh-audit'))"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return f"ssh-audit {proc.stdout.strip()}" if proc.returncode == 0 else Path(audit).name
