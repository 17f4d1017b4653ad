"""The new SSH algorithms with real clients against the real server on loopback (issue 23): OpenSSH's sftp and
paramiko forcing each AEAD cipher and EtM MAC, RSA user keys with rsa-sha2-*, ssh-rsa (SHA-1) refused, and a bit
flipped on the wire closing the connection."""

import json
import socket
import subprocess
import threading
from typing import ClassVar

import paramiko
import pytest
from conftest import BIN
from cryptography.hazmat.primitives import hashes
from server import DEMO, Server, make_container
from support.wait import WaitTimeout, wait_for

pytestmark = pytest.mark.integration

SERVER_SIG_ALGS = "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("interop")
    srv = Server(base / "home").init()
    srv.keys = {}
    for kind, extra in (("ed25519", []), ("rsa", ["-b", "3072"])):
        path = base / f"id_{kind}"
        subprocess.run(["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-f", str(path)], check=True)
        subprocess.run(
            [str(BIN), "admin", "sshkey", "add", DEMO, f"{path}.pub", "--home", str(srv.home)],
            check=True,
            capture_output=True,
        )
        srv.keys[kind] = path
    srv.container = base / "upload.tar"
    make_container(srv.home, srv.container, records=20_000)  # several 256 KiB channel packets
    srv.start()
    yield srv
    srv.stop()


def log_events(srv):
    path = srv.home / "log" / "sendemodul.json"
    events = []
    for line in path.read_text().splitlines():
        line = line.strip("\x1e").strip()
        if line:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events


def new_events(srv, before, fmt_start, wait_seconds=5):
    """Events whose format starts with ``fmt_start``, logged after the first ``before`` events."""

    def found():
        return [e for e in log_events(srv)[before:] if e.get("log_format", "").startswith(fmt_start)]

    try:
        return wait_for(found, timeout=wait_seconds, interval=0.1)
    except WaitTimeout:
        return []


def sftp(srv, batch, *, key, options=(), verbose=False):
    cmd = [
        "sftp",
        "-P",
        str(srv.sftp_port),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=DEBUG3" if verbose else "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=20",
        "-o",
        "PasswordAuthentication=no",
        "-o",
        "IdentitiesOnly=yes",
        "-i",
        str(key),
        *options,
        "-b",
        "-",
        f"{DEMO}@127.0.0.1",
    ]
    return subprocess.run(cmd, input=batch, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "cipher, mac",
    [
        ("chacha20-poly1305@openssh.com", "<implicit>"),
        ("aes128-gcm@openssh.com", "<implicit>"),
        ("aes256-gcm@openssh.com", "<implicit>"),
        ("aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
        ("aes256-ctr", "hmac-sha2-512-etm@openssh.com"),
        ("aes192-ctr", "hmac-sha2-256"),
    ],
)
def test_openssh_sftp_uploads_with_each_cipher_and_mac(server, cipher, mac):
    before = len(log_events(server))
    options = ["-o", f"Ciphers={cipher}"]
    if mac != "<implicit>":
        options += ["-o", f"MACs={mac}"]
    name = f"{cipher.split('@')[0]}-{mac.split('@')[0]}.tar".replace("<", "").replace(">", "")
    proc = sftp(server, f"put {server.container} {name}\nls /receipts\n", key=server.keys["ed25519"], options=options)
    assert proc.returncode == 0, proc.stderr
    (event,) = new_events(server, before, "SSH {what}")
    assert (event["cipher_in"], event["cipher_out"]) == (cipher, cipher)
    assert (event["mac_in"], event["mac_out"]) == (mac, mac)
    assert event["strict"] == "yes"  # OpenSSH 9.2 (Debian) offers kex-strict-c-v00@openssh.com
    assert new_events(server, before, "SFTP login by")


@pytest.mark.parametrize(
    "cipher, mac",
    [
        ("chacha20-poly1305@openssh.com", "<implicit>"),
        ("aes256-gcm@openssh.com", "<implicit>"),
        ("aes128-ctr", "hmac-sha2-512-etm@openssh.com"),
    ],
)
def test_openssh_renews_keys_during_an_upload(server, cipher, mac):
    """RekeyLimit=256K: several key exchanges under the new ciphers in one upload (strict KEX resets the sequence
    numbers at each NEWKEYS; GCM's counter starts again from the new IV)."""
    before = len(log_events(server))
    options = ["-o", f"Ciphers={cipher}", "-o", "RekeyLimit=256K"]
    if mac != "<implicit>":
        options += ["-o", f"MACs={mac}"]
    proc = sftp(server, f"put {server.container} rekey.tar\n", key=server.keys["ed25519"], options=options)
    assert proc.returncode == 0, proc.stderr
    events = new_events(server, before, "SSH {what}")
    assert len(events) >= 3 and events[0]["what"] == "keys in use"
    assert all(e["what"] == "keys renewed" and e["cipher_in"] == cipher and e["mac_in"] == mac for e in events[1:])


def test_openssh_picks_an_aead_cipher_by_default(server):
    before = len(log_events(server))
    proc = sftp(server, "ls /receipts\n", key=server.keys["ed25519"])
    assert proc.returncode == 0, proc.stderr
    (event,) = new_events(server, before, "SSH {what}")
    assert event["cipher_in"] in ("chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def test_openssh_sftp_with_an_rsa_3072_key_signs_with_rsa_sha2_512(server):
    before = len(log_events(server))
    proc = sftp(server, f"put {server.container} rsa.tar\n", key=server.keys["rsa"], verbose=True)
    assert proc.returncode == 0, proc.stderr
    assert "no mutual signature algorithm" not in proc.stderr
    assert f"server-sig-algs=<{SERVER_SIG_ALGS}>" in proc.stderr
    assert "rsa-sha2-512" in [line.split()[-2] for line in proc.stderr.splitlines() if "signing using" in line]
    (event,) = new_events(server, before, "SSH key login for {unit} ({algorithm})")
    assert event["algorithm"] == "rsa-sha2-512"


def test_ssh_rsa_sha1_user_signatures_are_refused_and_logged(server):
    """OpenSSH limited to ssh-rsa gives up by itself (not in server-sig-algs); a client that ignores the list, here
    paramiko told to sign with SHA-1, is refused by the server with the reason in the log."""
    proc = sftp(server, "ls\n", key=server.keys["rsa"], options=["-o", "PubkeyAcceptedAlgorithms=ssh-rsa"])
    assert proc.returncode != 0
    before = len(log_events(server))

    class Sha1RSAKey(paramiko.RSAKey):  # paramiko 4+ no longer signs with SHA-1 itself
        HASHES: ClassVar[dict[str, type]] = {**paramiko.RSAKey.HASHES, "ssh-rsa": hashes.SHA1}

    class LegacyTransport(paramiko.Transport):  # as a client from before RFC 8308: no server-sig-algs
        _preferred_pubkeys = ("ssh-rsa",)

        def _parse_ext_info(self, msg):
            pass

    key = Sha1RSAKey.from_private_key_file(str(server.keys["rsa"]))

    def legacy_client():
        sock = socket.create_connection(("127.0.0.1", server.sftp_port), timeout=20)
        t = LegacyTransport(sock)
        try:
            t.start_client(timeout=20)
            with pytest.raises(paramiko.AuthenticationException):
                t.auth_publickey(DEMO, key)
        finally:
            t.close()

    in_thread(legacy_client)
    refused = new_events(server, before, "SSH key login for {unit} refused")
    assert refused and all("ssh-rsa (SHA-1)" in e["reason"] and e["algorithm"] == "ssh-rsa" for e in refused)


def paramiko_session(srv, *, key=None, ciphers=None, macs=None, upload=None):
    sock = socket.create_connection(("127.0.0.1", srv.sftp_port), timeout=20)
    t = paramiko.Transport(sock)
    try:
        options = t.get_security_options()
        if ciphers:
            options.ciphers = ciphers
        if macs:
            options.digests = macs
        t.connect(username=DEMO, pkey=key or paramiko.Ed25519Key.from_private_key_file(str(srv.keys["ed25519"])))
        result = {
            "cipher": t.remote_cipher,
            "mac": t.remote_mac,
            "local_cipher": t.local_cipher,
            "sig_algs": t.server_extensions.get("server-sig-algs"),
        }
        if upload:
            sftp = paramiko.SFTPClient.from_transport(t)
            result["size"] = sftp.put(str(upload), upload.name).st_size
        return result
    finally:
        t.close()


def in_thread(f, *args, **kwargs):
    out = {}

    def run():
        try:
            out["value"] = f(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            out["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "paramiko session hung"
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_paramiko_logs_in_with_an_rsa_key_and_sees_our_server_sig_algs(server):
    key = paramiko.RSAKey.from_private_key_file(str(server.keys["rsa"]))
    before = len(log_events(server))
    got = in_thread(paramiko_session, server, key=key, upload=server.container)
    assert got["size"] == server.container.stat().st_size
    sig_algs = got["sig_algs"]
    assert (sig_algs.decode() if isinstance(sig_algs, bytes) else sig_algs) == SERVER_SIG_ALGS
    (event,) = new_events(server, before, "SSH key login for {unit} ({algorithm})")
    assert event["algorithm"] in ("rsa-sha2-512", "rsa-sha2-256")


@pytest.mark.parametrize(
    "cipher, mac",
    [
        ("aes128-gcm@openssh.com", None),
        ("aes256-gcm@openssh.com", None),
        ("aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
        ("aes256-ctr", "hmac-sha2-512-etm@openssh.com"),
    ],
)
def test_paramiko_uploads_with_each_cipher_it_knows(server, tmp_path, cipher, mac):
    """paramiko is a second, independent implementation of GCM and EtM (it has no chacha20-poly1305)."""
    path = tmp_path / f"paramiko-{cipher.split('@')[0]}.tar"
    path.write_bytes(server.container.read_bytes())
    got = in_thread(paramiko_session, server, ciphers=(cipher,), macs=(mac,) if mac else None, upload=path)
    assert got["cipher"] == got["local_cipher"] == cipher and got["size"] == path.stat().st_size
    if mac:
        assert got["mac"] == mac


class BitFlipper:
    """A TCP proxy on loopback that flips one bit of the client's stream once ``after`` bytes have passed."""

    def __init__(self, target_port, after):
        self.target_port = target_port
        self.after = after
        self.flipped = False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        client, _ = self.listener.accept()
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        back = threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True)
        back.start()
        self._pump(client, upstream, True)
        back.join(30)

    def _pump(self, src, dst, flip):
        seen = 0
        try:
            while data := src.recv(65536):
                if flip and not self.flipped and seen + len(data) > self.after:
                    data = bytearray(data)
                    data[max(0, self.after - seen)] ^= 0x04
                    data = bytes(data)
                    self.flipped = True
                seen += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.listener.close()


@pytest.mark.parametrize(
    "cipher, mac",
    [
        ("chacha20-poly1305@openssh.com", None),
        ("aes128-gcm@openssh.com", None),
        ("aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
    ],
)
def test_a_bit_flipped_on_the_wire_closes_the_connection(server, cipher, mac):
    """Half a megabyte into an upload one bit changes between OpenSSH's sftp and the server: the server refuses
    the packet, closes the connection, and the upload is not received."""
    before = len(log_events(server))
    received_before = server.spool("received")
    proxy = BitFlipper(server.sftp_port, after=512 * 1024)
    try:
        options = ["-o", f"Ciphers={cipher}"] + (["-o", f"MACs={mac}"] if mac else [])
        cmd = [
            "sftp",
            "-P",
            str(proxy.port),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=20",
            "-o",
            "PasswordAuthentication=no",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
            str(server.keys["ed25519"]),
            *options,
            "-b",
            "-",
            f"{DEMO}@127.0.0.1",
        ]
        proc = subprocess.run(
            cmd, input=f"put {server.container} flipped.tar\n", capture_output=True, text=True, timeout=120
        )
    finally:
        proxy.close()
    assert proxy.flipped
    assert proc.returncode != 0
    refused = new_events(server, before, "SSH packet refused")
    assert refused and (refused[0]["reason"] == "bad MAC" or refused[0]["reason"].startswith("bad packet length"))
    # the refused connection's partial upload is discarded (its incoming file goes); nothing reached received/
    wait_for(lambda: server.spool("incoming") == [], timeout=10, message="the partial upload to be discarded")
    assert server.spool("received") == received_before
