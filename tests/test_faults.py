"""Faults with real peers against a real server process: kill -9 of the front in the middle of uploads, the spool on
a full filesystem, and idle half-open (slowloris) connections over HTTPS and SFTP."""

import base64
import contextlib
import hashlib
import http.client
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import paramiko
import pytest
from conftest import run_cli
from server import DEMO, Server, make_container
from support.wait import WaitTimeout, pace, wait_for
from test_pipeline import Sshd, ssb_open

pytestmark = pytest.mark.integration  # every test here runs a server subprocess or a real peer


class FaultServer(Server):
    """A Server whose console output is drained in a thread (a chatty server never blocks on a full pipe), and that
    can be killed with SIGKILL and started again on the same home."""

    def init(self, limits=""):
        super().init()
        if limits:
            config = self.home / "config.toml"
            config.write_text(config.read_text().replace("[limits]\n", f"[limits]\n{limits}\n", 1))
        return self

    def start(self):
        super().start()
        self._drain = threading.Thread(target=self._read_output, args=(self.proc,), daemon=True)
        self._drain.start()
        return self

    def _read_output(self, proc):
        for line in proc.stdout:
            self.output.append(line)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._drain.join(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self._drain.join(10)
        return "".join(self.output)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def db_uploads(home):
    return {row["reference"]: row for row in json.loads(run_cli("admin", "uploads", "--json", home=home).stdout)}


def tls_context():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def tls_socket(port, timeout=60):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return tls_context().wrap_socket(raw)


def put_head(name, length, pin, unit=DEMO):
    token = base64.b64encode(f"{unit}:{pin}".encode()).decode()
    return (
        f"PUT /api/v1/uploads/{name} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {token}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    ).encode()


def curl_put(server, path, name=None, max_time=60):
    """Upload with the curl binary; returns (HTTP status, parsed JSON answer)."""
    proc = subprocess.run(
        [
            "curl",
            "-sS",
            "--cacert",
            str(server.home / "tls" / "server.pem"),
            "--max-time",
            str(max_time),
            "-u",
            f"{DEMO}:{server.pin}",
            "-T",
            str(path),
            "-w",
            "\n%{http_code}",
            f"{server.url}/api/v1/uploads/{name or path.name}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    body, _, status = proc.stdout.rpartition("\n")
    assert status.isdigit() and int(status) > 0, (proc.stdout, proc.stderr)
    return int(status), json.loads(body)


def close_checked(sftp, f):
    """Close an SFTP file handle and raise the server's refusal: paramiko's own ``close()`` swallows any error
    status of the close, which is where the server answers whether it accepted the upload."""
    f.flush()
    f._closed = True
    sftp._request(paramiko.sftp.CMD_CLOSE, f.handle)


def openssh_put(server, path, timeout):
    """``put`` with OpenSSH's sftp and the PIN, then list the receipts; returns the CompletedProcess."""
    return subprocess.run(
        [
            "sshpass",
            "-p",
            server.pin,
            "sftp",
            "-P",
            str(server.sftp_port),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "BatchMode=no",
            "-b",
            "-",
            f"{DEMO}@127.0.0.1",
        ],
        input=f"put {path} {path.name}\nls receipts\n",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def paramiko_session(server, timeout=60):
    transport = paramiko.Transport(("127.0.0.1", server.sftp_port))
    transport.banner_timeout = transport.auth_timeout = timeout
    transport.connect(username=DEMO, password=server.pin)
    sftp = paramiko.SFTPClient.from_transport(transport)
    sftp.get_channel().settimeout(timeout)
    return transport, sftp


# -- 1. kill -9 of the front during uploads ---------------------------------------------------------------------------


class Sender(threading.Thread):
    """One throttled upload of ``data`` over HTTPS (http.client) or SFTP (paramiko). ``sent`` counts the bytes
    handed to the connection; ``receipt`` is set only when the server acknowledged the upload."""

    CHUNK = 16 * 1024

    def __init__(self, server, protocol, name, data, bytes_per_second, delay):
        super().__init__(daemon=True)
        self.server, self.protocol, self.name, self.data = server, protocol, name, data
        self.bytes_per_second, self.delay = bytes_per_second, delay
        self.rename = False
        self.sent = 0
        self.sending = False  # logged in (SFTP) or headers sent (HTTPS): body bytes go next
        self.receipt = None
        self.error = None

    def run(self):
        pace(self.delay)  # the senders start at random moments
        try:
            self.receipt = self._https() if self.protocol == "https" else self._sftp()
        except Exception as e:  # noqa: BLE001 - the kill makes every unfinished upload fail somehow
            self.error = e

    def _chunks(self):
        self.sending = True
        start = time.monotonic()
        for offset in range(0, len(self.data), self.CHUNK):
            yield self.data[offset : offset + self.CHUNK]
            self.sent = min(len(self.data), offset + self.CHUNK)
            ahead = self.sent / self.bytes_per_second - (time.monotonic() - start)
            if ahead > 0:
                pace(ahead)  # throttled to bytes_per_second

    def _https(self):
        conn = http.client.HTTPSConnection("127.0.0.1", self.server.https_port, context=tls_context(), timeout=60)
        try:
            conn.putrequest("PUT", f"/api/v1/uploads/{self.name}", skip_accept_encoding=True)
            token = base64.b64encode(f"{DEMO}:{self.server.pin}".encode()).decode()
            conn.putheader("Authorization", f"Basic {token}")
            conn.putheader("Content-Type", "application/octet-stream")
            conn.putheader("Content-Length", str(len(self.data)))
            conn.endheaders()
            for chunk in self._chunks():
                conn.send(chunk)
            response = conn.getresponse()
            body = json.loads(response.read())
        finally:
            conn.close()
        assert response.status == 201, (response.status, body)
        return body

    def _sftp(self):
        transport, sftp = paramiko_session(self.server)
        try:
            # as WinSCP does, half of them upload to a temporary name and rename it when complete
            name = f"{self.name}.filepart" if self.rename else self.name
            f = sftp.open(name, "wb")
            for chunk in self._chunks():
                f.write(chunk)  # paramiko waits for the status of each write (not pipelined)
            close_checked(sftp, f)  # without a rename the server answers only after intake accepted the upload
            if self.rename:
                sftp.rename(name, self.name)  # the same, for the rename
            return {"sha256": sha256(self.data)}
        finally:
            transport.close()


@pytest.fixture
def sshd(tmp_path):
    """SSB's server: a real OpenSSH sshd on loopback (as in test_pipeline)."""
    server = Sshd(tmp_path / "ssb").start()
    yield server
    server.stop()


def test_kill_9_of_the_front_at_random_byte_offsets_loses_no_acknowledged_upload_and_accepts_no_partial(tmp_path, sshd):
    """Six rounds of four concurrent throttled uploads (two HTTPS, two SFTP); each round the front is killed with
    SIGKILL when one of them reaches a random byte offset (or its start, or its end). Half the SFTP uploads go to a
    temporary name and are renamed when complete. After every restart incoming/ is empty, every acknowledged upload
    is recorded with an intact file, and nothing that was not sent whole is recorded anywhere; in the end the
    worker and the forwarder deliver every recorded upload to SSB's sshd, where it opens."""
    rng = random.Random(20261122)
    # where the kill falls in the target upload: mostly a random byte of the body; once right after the login or
    # the headers (offset 0), once right after its last byte (the server is verifying, fsyncing, recording)
    modes = ["byte", "byte", "byte", "byte", "start", "end"]
    rng.shuffle(modes)
    server = FaultServer(tmp_path / "home", sections={"forwarder": sshd.forwarder_section()}).init(
        "sessions_per_unit = 16"
    )
    server.start()
    senders = []
    try:
        for round_no, mode in enumerate(modes):
            protocols = ["https", "https", "sftp", "sftp"]
            rng.shuffle(protocols)
            delays = sorted(rng.uniform(0, 1.5) for _ in protocols)
            batch = []
            for i, (protocol, delay) in enumerate(zip(protocols, delays)):
                path = tmp_path / f"r{round_no}-{i}.tar"
                records = rng.randint(300, 5000)  # 40-600 kB
                make_container(server.home, path, records=records)
                batch.append(
                    Sender(
                        server,
                        protocol,
                        path.name,
                        path.read_bytes(),
                        bytes_per_second=rng.uniform(0.3e6, 1.5e6),
                        delay=delay,
                    )
                )
                batch[-1].records = records
            for sender in batch:
                sender.rename = rng.random() < 0.5
            # one of the later starters decides when the front dies; the earlier ones may be done by then
            target = rng.choice(batch[2:])
            offset = {"byte": rng.randint(1, len(target.data) - 1), "start": 0, "end": len(target.data)}[mode]
            for sender in batch:
                sender.start()
            with contextlib.suppress(WaitTimeout):  # (kill anyway after a minute, as before)
                wait_for(
                    lambda target=target, offset=offset: (
                        (target.sending and target.sent >= offset) or not target.is_alive()
                    ),
                    timeout=60,
                    interval=0.002,
                )
            server.kill9()
            for sender in batch:
                sender.join(90)
                assert not sender.is_alive(), f"{sender.protocol} upload hung after the kill"
            senders += batch
            server.start()  # start-up recovery runs here
            check_spool_after_crash(server, senders)
    finally:
        server.stop()
    acked = [s for s in senders if s.receipt is not None]
    partial = [s for s in senders if s.sent < len(s.data)]
    summary = "\n".join(
        f"{s.protocol}{' (rename)' if s.rename else ''} {s.sent}/{len(s.data)} "
        f"{'acked' if s.receipt else repr(s.error)}"
        for s in senders
    )
    print(summary)
    assert acked and partial, f"the kills should have met both acknowledged and half-sent uploads:\n{summary}"
    # every recorded upload is processed: pseudonymized by the worker, pushed to SSB's sshd by the forwarder
    run_cli("worker", "--once", home=server.home)
    run_cli("forwarder", "--once", home=server.home)
    rows = db_uploads(server.home)
    assert {row["status"] for row in rows.values()} == {"delivered"}
    assert sorted(p.name for p in sshd.inbox.iterdir()) == sorted(f"{ref}.tar" for ref in rows)
    assert {row["sha256"] for row in rows.values()} >= {sha256(s.data) for s in acked}
    first = rows[min(rows)]  # and SSB can open what arrived
    sender = next(s for s in senders if sha256(s.data) == first["sha256"])
    assert len(ssb_open(server.home, sshd.inbox / f"{first['reference']}.tar", tmp_path / "opened")) == sender.records


def check_spool_after_crash(server, senders):
    spool = server.home / "spool"
    assert list((spool / "incoming").iterdir()) == [], "a partial upload survived the restart"
    rows = db_uploads(server.home)
    received = {p.stem: p for p in (spool / "received").iterdir()}
    assert set(received) == set(rows), "received/ and the database disagree"
    by_sha = {row["sha256"]: row for row in rows.values()}
    assert len(by_sha) == len(rows)
    for ref, row in rows.items():
        assert row["status"] == "received"
        assert sha256(received[ref].read_bytes()) == row["sha256"], f"{ref} was damaged"
    whole = {sha256(s.data): s for s in senders if s.sent == len(s.data)}
    for sender in senders:
        digest = sha256(sender.data)
        if sender.receipt is not None:
            assert digest in by_sha, f"an acknowledged {sender.protocol} upload was lost"
            if sender.protocol == "https":
                assert by_sha[digest]["reference"] == sender.receipt["reference"]
    # an unacknowledged upload may only be recorded if every byte was sent (killed between commit and answer)
    assert set(by_sha) <= set(whole), "an upload that was not sent whole was recorded"


# -- 2. the spool on a full filesystem -------------------------------------------------------------------------------


@pytest.fixture
def small_spool_server(tmp_path):
    """A server whose spool is an 8 MiB tmpfs (unmounted afterwards)."""
    server = FaultServer(tmp_path / "home").init()
    spool = server.home / "spool"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(spool)], check=True)
    try:
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        subprocess.run(["umount", str(spool)], check=False)
        if spool.is_mount():
            subprocess.run(["umount", "-l", str(spool)], check=False)


def _held_deleted(pid, directory):
    """Files under ``directory`` that process ``pid`` still holds open after they were unlinked."""
    held = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith(str(directory)) and target.endswith(" (deleted)"):
            held.append(target)
    return held


def test_full_spool_refuses_uploads_clearly_keeps_serving_and_damages_nothing(small_spool_server, tmp_path):
    """With the spool filesystem full an HTTPS upload is answered 507 ``no_space`` (English and Norwegian
    message) and an SFTP upload fails with the same message; no partial file stays in incoming/, earlier
    receipts' files keep their sha256, the list still answers, and once space is freed uploads succeed again."""
    server = small_spool_server
    spool = server.home / "spool"
    filler = spool / "filler.bin"  # stands for whatever else fills the disk
    filler.write_bytes(b"\0" * (5 * 1024 * 1024))
    accepted = []
    refused = None
    for i in range(12):
        path = tmp_path / f"c{i}.tar"
        make_container(server.home, path, records=5000)  # about 600 kB
        status, body = curl_put(server, path)
        if status != 201:
            refused = (status, body)
            break
        accepted.append((path, body))
    assert accepted, "nothing fitted before the spool was full"
    assert refused is not None, "the spool never filled up"
    status, body = refused
    assert status == 507 and body["error"] == "no_space", refused
    assert "no space" in body["message"] and "Tjenesten kan ikke lagre filer" in body["melding"]
    wait_for(
        lambda: not list((spool / "incoming").iterdir()),
        timeout=30,
        interval=0.1,
        message="the partial HTTPS upload to be removed",
    )

    big = tmp_path / "big.tar"
    make_container(server.home, big, records=8000)  # about 1 MB: cannot fit

    def sftp_put(path):
        transport, sftp = paramiko_session(server)
        try:
            with pytest.raises(IOError) as e:
                f = sftp.open(path.name, "wb")
                f.write(path.read_bytes())  # the refusal comes with a later write, or with the close
                close_checked(sftp, f)
            return str(e.value)
        finally:
            transport.close()

    message = sftp_put(big)
    assert "no space" in message, message
    wait_for(
        lambda: not list((spool / "incoming").iterdir()),
        timeout=30,
        interval=0.1,
        message="the partial SFTP upload to be removed",
    )

    # nearly no space at all: a small upload arrives whole and fails only when it is written out and completed.
    # The refused uploads' files are unlinked first and closed a moment later (in the upload's own thread): their
    # space is free only once no file under the spool is held open deleted.
    wait_for(
        lambda: not _held_deleted(server.proc.pid, spool),
        timeout=30,
        interval=0.1,
        message="the refused uploads' files to be closed",
    )
    stat = os.statvfs(spool)
    filler2 = spool / "filler2.bin"
    filler2.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - 8192))
    tiny = tmp_path / "tiny.tar"
    make_container(server.home, tiny, records=300)  # about 40 kB
    status, body = curl_put(server, tiny)
    assert status == 507 and body["error"] == "no_space" and "no space" in body["message"], (status, body)
    message = sftp_put(tiny)
    assert "no space" in message, message
    wait_for(
        lambda: not list((spool / "incoming").iterdir()),
        timeout=30,
        interval=0.1,
        message="the small partial uploads to be removed",
    )
    filler2.unlink()

    for path, receipt in accepted:
        stored = spool / "received" / f"{receipt['reference']}.tar"
        assert sha256(stored.read_bytes()) == receipt["sha256"] == sha256(path.read_bytes())
    listing = subprocess.run(
        [
            "curl",
            "-sS",
            "--cacert",
            str(server.home / "tls" / "server.pem"),
            "--max-time",
            "30",
            "-u",
            f"{DEMO}:{server.pin}",
            f"{server.url}/api/v1/uploads",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listed = json.dumps(json.loads(listing))
    assert all(receipt["reference"] in listed for _, receipt in accepted)

    filler.unlink()  # the operator frees space: both fronts accept again, without a restart
    status, body = curl_put(server, big)
    assert status == 201 and body["sha256"] == sha256(big.read_bytes()), body
    small = tmp_path / "small.tar"
    make_container(server.home, small, records=10)
    proc = openssh_put(server, small, timeout=60)
    assert proc.returncode == 0, proc.stderr
    refs = {r["reference"] for r in db_uploads(server.home).values() if r["sha256"] == sha256(small.read_bytes())}
    assert len(refs) == 1 and f"{refs.pop()}.json" in proc.stdout
    assert list((spool / "incoming").iterdir()) == []


# -- 3. idle half-open connections (slowloris) ----------------------------------------------------------------------

IDLE = 10  # limits.idle_timeout_seconds
HEADERS = 12  # limits.header_timeout_seconds
GRACE = 14  # limits.login_grace_seconds
SLACK = 12  # a slow, shared machine
SFTP_PER_SOURCE = 8  # the SFTP stalls below and one real client
LINGER = 2  # an early answer (408) is followed by a lingering close this long


class Stall(threading.Thread):
    """One misbehaving connection: ``setup()`` opens it and sends something, then it stays silent (or trickles a
    byte a second with ``trickle``) until the server closes it; ``closed_after`` is seconds since ``setup`` ended."""

    def __init__(self, kind, setup, expected, trickle=b""):
        super().__init__(daemon=True)
        self.kind, self.setup, self.expected, self.trickle = kind, setup, expected, trickle
        self.closed_after = None
        self.answer = b""
        self.error = None
        self.opened = threading.Event()

    def run(self):
        try:
            self.sock, self.keep = self.setup()
        except Exception as e:  # noqa: BLE001
            self.error = e
            self.opened.set()
            return
        self.opened.set()
        start = time.monotonic()
        if isinstance(self.keep, paramiko.Transport):  # paramiko's own thread reads this socket
            try:
                wait_for(lambda: not self.keep.is_active(), timeout=self.expected + SLACK + 5, interval=0.1)
            except WaitTimeout:
                return  # still open
            self.closed_after = time.monotonic() - start
            return
        trickle = list(self.trickle)
        next_byte = start + 1
        while time.monotonic() - start < self.expected + SLACK + 5:
            wait = max(0.05, next_byte - time.monotonic()) if trickle else 0.5
            self.sock.settimeout(min(wait, 0.5))
            try:
                data = self.sock.recv(4096)
            except (TimeoutError, ssl.SSLWantReadError):
                data = None
            except OSError:
                break
            if data == b"":
                break
            if data:
                self.answer += data
            if trickle and time.monotonic() >= next_byte:
                try:
                    self.sock.send(bytes([trickle.pop(0)]))
                except OSError:
                    break
                next_byte += 1
        else:
            return  # still open
        self.closed_after = time.monotonic() - start

    def close(self):
        for thing in (getattr(self, "keep", None), getattr(self, "sock", None)):
            if thing is not None:
                with contextlib.suppress(Exception):
                    thing.close()


def test_idle_and_slow_connections_are_dropped_at_their_timeouts_while_real_uploads_go_through(tmp_path):
    """Half-open HTTPS connections (no TLS handshake; a partial request line; partial headers; a PUT that stalls in
    its body; the request line or headers trickled a byte a second, also on a kept-alive connection; the body of a
    form or of an upload without credentials trickled a byte a second: the login grace) and SFTP ones
    (TCP only; stalled in the key exchange; a version line trickled; logged in and idle; stalled in an upload) are
    each closed by the server at the configured timeout, the stalled partial uploads are thrown away, and meanwhile
    curl and OpenSSH sftp uploads succeed promptly. Afterwards the dropped SFTP connections no longer count
    against the per-source session limit."""
    server = FaultServer(tmp_path / "home").init(
        f"idle_timeout_seconds = {IDLE}\nheader_timeout_seconds = {HEADERS}\nlogin_grace_seconds = {GRACE}\n"
        f"sessions_per_source = {SFTP_PER_SOURCE}\nsessions_per_unit = 16"
    )
    server.start()
    https, sftp_port, pin = server.https_port, server.sftp_port, server.pin
    body = b"x" * 200_000

    def tcp(port):
        return lambda: (socket.create_connection(("127.0.0.1", port), timeout=30), None)

    def tls(payload=b""):
        def setup():
            sock = tls_socket(https)
            if payload:
                sock.sendall(payload)
            return sock, None

        return setup

    def tls_after_one_request():
        sock = tls_socket(https)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")  # kept alive for a next request
        return sock, None

    def ssh_version_then_stall():
        sock = socket.create_connection(("127.0.0.1", sftp_port), timeout=30)
        sock.sendall(b"SSH-2.0-slowloris\r\n")
        return sock, None

    def sftp_logged_in(upload_bytes):
        def setup():
            transport, sftp = paramiko_session(server)
            if upload_bytes:
                f = sftp.open("stalled.tar", "wb")
                f.write(b"y" * upload_bytes)
                f.flush()
            return transport.sock, transport

        return setup

    partial_put = put_head("stalled.tar", len(body), pin) + body[:50_000]
    form_head = (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    anonymous_put = b"PUT /api/v1/uploads/x.tar HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n"
    stalls = (
        [Stall("https tcp only", tcp(https), IDLE) for _ in range(5)]
        + [Stall("https tls then nothing", tls(), IDLE) for _ in range(5)]
        + [Stall("https partial request line", tls(b"PUT /api/v1/upl"), IDLE) for _ in range(5)]
        + [Stall("https partial headers", tls(b"GET /api/v1/uploads HTTP/1.1\r\nHost: 127"), IDLE) for _ in range(5)]
        + [Stall("https put stalled in body", tls(partial_put), IDLE) for _ in range(5)]
        + [
            Stall(
                "https headers trickled",
                tls(b"GET /api/v1/uploads HTTP/1.1\r\n"),
                HEADERS + LINGER,
                trickle=b"X-Slow: " + b"a" * 40,
            )
        ]
        + [Stall("https request line trickled", tls(), HEADERS, trickle=b"GET /api/v1/uploads/" + b"a" * 40)]
        + [
            Stall(
                "https next request line trickled",
                tls_after_one_request,
                HEADERS,
                trickle=b"GET /api/v1/uploads/" + b"a" * 40,
            )
        ]
        + [Stall("https form body trickled without login", tls(form_head), GRACE + LINGER, trickle=b"a" * 40)]
        + [
            Stall(
                "https upload body trickled without credentials", tls(anonymous_put), GRACE + LINGER, trickle=b"a" * 40
            )
        ]
        + [Stall("sftp tcp only", tcp(sftp_port), IDLE) for _ in range(2)]
        + [Stall("sftp stalled in key exchange", ssh_version_then_stall, IDLE) for _ in range(2)]
        + [Stall("sftp version line trickled", tcp(sftp_port), GRACE, trickle=b"SSH-2.0-" + b"s" * 40)]
        + [Stall("sftp logged in, idle", sftp_logged_in(0), IDLE)]
        + [Stall("sftp stalled in an upload", sftp_logged_in(100_000), IDLE)]
    )
    try:
        for stall in stalls:
            stall.start()
        for stall in stalls:
            assert stall.opened.wait(60) and stall.error is None, (stall.kind, stall.error)
        opened = time.monotonic()
        # while all of them are open, real uploads over both protocols go through promptly
        a, b = tmp_path / "a.tar", tmp_path / "b.tar"
        make_container(server.home, a, records=2000)
        make_container(server.home, b, records=2000)
        status, receipt = curl_put(server, a, max_time=IDLE)
        assert status == 201 and receipt["sha256"] == sha256(a.read_bytes()), receipt
        proc = openssh_put(server, b, timeout=IDLE)
        assert proc.returncode == 0, proc.stderr
        legit_done = time.monotonic() - opened
        assert legit_done < IDLE - 1, f"real uploads took {legit_done:.1f} s beside the stalled connections"
        assert all(s.closed_after is None for s in stalls), "a stalled connection was dropped before its timeout"
        for stall in stalls:
            stall.join(stall.expected + SLACK + 30)
        # the dropped connections gave back their places: as many SFTP sessions as allowed, and not one more
        sessions = [paramiko_session(server) for _ in range(SFTP_PER_SOURCE)]
        try:
            with pytest.raises((paramiko.SSHException, EOFError, OSError)):
                paramiko_session(server, timeout=20)
        finally:
            for transport, _ in sessions:
                transport.close()
    finally:
        for stall in stalls:
            stall.close()
        log = server.stop()
    late = [
        (s.kind, s.closed_after)
        for s in stalls
        if s.closed_after is None or not s.expected - 1 <= s.closed_after <= s.expected + SLACK
    ]
    assert late == [], f"not closed at the timeout (kind, seconds): {late}\n{log[-3000:]}"
    for stall in stalls:
        if stall.kind in ("https headers trickled", "https form body trickled without login"):
            assert stall.answer.startswith(b"HTTP/1.1 408") and b'"timeout"' in stall.answer, stall.answer
        if stall.kind == "https upload body trickled without credentials":
            assert stall.answer.startswith(b"HTTP/1.1 401") and b'"unauthorized"' in stall.answer, stall.answer
    assert list((server.home / "spool" / "incoming").iterdir()) == [], "a stalled upload's partial file was kept"
    rows = db_uploads(server.home)
    assert sorted(r["sha256"] for r in rows.values()) == sorted(sha256(p.read_bytes()) for p in (a, b))
