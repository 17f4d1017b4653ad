"""The SFTP front with real peers, OpenSSH's sftp and paramiko, against a real server process."""

import datetime
import hashlib
import json
import socket
import subprocess
import threading
from pathlib import Path

import paramiko
import pytest
from conftest import BIN
from server import DEMO, Server, add_unit, make_container
from support.wait import wait_for

STAVANGER = "1103-00-964965226"
MAX_BYTES = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("sftp")
    srv = Server(base / "home").init()
    config = srv.home / "config.toml"
    config.write_text(
        config.read_text().replace(
            "[limits]\n", f"[limits]\nmax_upload_bytes = {MAX_BYTES}\nsessions_per_unit = 3\n", 1
        )
    )
    srv.stavanger_key = base / "stavanger.key"
    srv.stavanger_pin = add_unit(srv.home, STAVANGER, srv.stavanger_key, name="Stavanger kommune")
    srv.ssh_key = base / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(srv.ssh_key)], check=True)
    subprocess.run(
        [str(BIN), "admin", "sshkey", "add", DEMO, f"{srv.ssh_key}.pub", "--home", str(srv.home)],
        check=True,
        capture_output=True,
    )
    srv.start()
    yield srv
    srv.stop()


def openssh_sftp(server, batch, *, pin=None, key=None, user=DEMO, extra=()):
    """Run OpenSSH's sftp with a batch of commands; returns the CompletedProcess."""
    cmd = [
        "sftp",
        "-P",
        str(server.sftp_port),
        *extra,
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=20",
    ]
    if key:
        cmd = [*cmd, "-o", "PasswordAuthentication=no", "-o", "IdentitiesOnly=yes", "-i", str(key)]
    else:
        # -b implies BatchMode, which would never ask for a password
        cmd = ["sshpass", "-p", pin or server.pin, *cmd, "-o", "PubkeyAuthentication=no", "-o", "BatchMode=no"]
    return subprocess.run(
        [*cmd, "-b", "-", f"{user}@127.0.0.1"], input=batch, capture_output=True, text=True, timeout=60
    )


def connect(server, user=DEMO, pin=None):
    transport = paramiko.Transport(("127.0.0.1", server.sftp_port))
    transport.connect(username=user, password=pin or server.pin)
    return transport, paramiko.SFTPClient.from_transport(transport)


def in_thread(f, *args):
    """Run a paramiko session in a thread (as a second client would), returning its result or raising."""
    out = {}

    def run():
        try:
            out["value"] = f(*args)
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join(90)
    assert not t.is_alive(), "paramiko session hung"
    if "error" in out:
        raise out["error"]
    return out["value"]


def receipts(sftp):
    return {name: json.loads(sftp.open(f"/receipts/{name}").read()) for name in sftp.listdir("/receipts")}


@pytest.mark.integration
def test_openssh_sftp_with_pin_puts_a_container_and_gets_its_receipt(server, tmp_path):
    path = tmp_path / "oslo.tar"
    make_container(server.home, path)
    before = set(server.spool("received"))
    proc = openssh_sftp(server, f"put {path} oslo-11f-2026.tar\nls receipts\n")
    assert proc.returncode == 0, proc.stderr
    new = set(server.spool("received")) - before
    assert len(new) == 1
    reference = new.pop()[: -len(".tar")]
    assert f"{reference}.json" in proc.stdout
    got = tmp_path / "receipt.json"
    proc = openssh_sftp(server, f"get receipts/{reference}.json {got}\n")
    assert proc.returncode == 0, proc.stderr
    receipt = json.loads(got.read_text())
    assert receipt["reference"] == reference and receipt["unit"] == DEMO and receipt["status"] == "received"
    assert receipt["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert server.spool("incoming") == []


@pytest.mark.integration
def test_openssh_sftp_with_a_registered_ssh_key(server, tmp_path):
    path = tmp_path / "key.tar"
    make_container(server.home, path, records=5)
    proc = openssh_sftp(server, f"put {path}\nls -l /receipts\n", key=server.ssh_key)
    assert proc.returncode == 0, proc.stderr
    assert ".json" in proc.stdout
    # an unregistered key is refused
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    proc = openssh_sftp(server, "ls\n", key=other)
    assert proc.returncode != 0 and "Permission denied" in proc.stderr


@pytest.mark.integration
def test_paramiko_puts_a_container_and_reads_its_receipt(server, tmp_path):
    path = tmp_path / "p.tar"
    make_container(server.home, path, records=7)

    def session():
        transport, sftp = connect(server)
        try:
            attrs = sftp.put(str(path), "p.tar")
            assert attrs.st_size == path.stat().st_size
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            return [r for r in receipts(sftp).values() if r["sha256"] == digest]
        finally:
            transport.close()

    found = in_thread(session)
    assert len(found) == 1 and found[0]["unit"] == DEMO and found[0]["size"] == path.stat().st_size


@pytest.mark.integration
def test_a_file_written_out_of_order_is_checked_whole_and_accepted(server, tmp_path):
    """SFTP lets a client write at any offset. The intake checks bytes as they arrive only while they come in order;
    here the second half comes first, so the complete file is checked once it is closed, with the same receipt."""
    path = tmp_path / "o.tar"
    make_container(server.home, path, records=40)
    data = path.read_bytes()
    half = len(data) // 2

    def session():
        transport, sftp = connect(server)
        try:
            with sftp.open("o.tar", "wb") as f:
                f.seek(half)
                f.write(data[half:])
                f.seek(0)
                f.write(data[:half])
            return [r for r in receipts(sftp).values() if r["sha256"] == hashlib.sha256(data).hexdigest()]
        finally:
            transport.close()

    found = in_thread(session)
    assert len(found) == 1 and found[0]["size"] == len(data) and not found[0]["duplicate"]


@pytest.mark.integration
def test_upload_to_a_temporary_name_runs_intake_on_rename(server, tmp_path):
    """As WinSCP and rclone do: write x.filepart, close (nothing yet), rename to x (intake, receipt)."""
    path = tmp_path / "w.tar"
    make_container(server.home, path, records=2)
    transport, sftp = connect(server)
    try:
        before = set(server.spool("received"))
        sftp.put(str(path), "w.tar.filepart")
        assert "w.tar.filepart" in sftp.listdir("/")  # an upload in progress is listed
        assert set(server.spool("received")) == before
        sftp.rename("w.tar.filepart", "w.tar")
        assert len(set(server.spool("received")) - before) == 1
        assert "w.tar.filepart" not in sftp.listdir("/")
        # an accepted upload cannot be removed, renamed or read back
        with pytest.raises(PermissionError):
            sftp.remove("w.tar")
        with pytest.raises(PermissionError):
            sftp.open("w.tar").read()
        name = sorted(sftp.listdir("/receipts"))[-1]
        with pytest.raises(PermissionError):
            sftp.remove(f"/receipts/{name}")
        with pytest.raises(PermissionError):
            sftp.open(f"/receipts/{name}", "w")
    finally:
        transport.close()


@pytest.mark.integration
def test_a_refused_upload_answers_the_rename_with_intakes_message(server, tmp_path):
    path = tmp_path / "stavanger.tar"
    make_container(server.home, path, unit=STAVANGER, signing_key=server.stavanger_key)
    transport, sftp = connect(server)
    try:
        before = set(server.spool("received"))
        sftp.put(str(path), "s.tar.partial")
        with pytest.raises(OSError) as e:
            sftp.rename("s.tar.partial", "s.tar")
        assert STAVANGER in str(e.value)  # the unit mismatch, as intake words it
        with pytest.raises(OSError) as e:  # and on close, for a name that is not temporary
            f = sftp.open("garbage.tar", "w")
            f.write(b"not a container" * 100)
            sftp._request(paramiko.sftp.CMD_CLOSE, f.handle)
        assert "not a tar" in str(e.value)
        f._closed = True
        assert set(server.spool("received")) == before
        wait_for(lambda: server.spool("incoming") == [], timeout=10, message="the refused uploads to be removed")
        assert server.spool("incoming") == []
    finally:
        transport.close()


@pytest.mark.integration
def test_too_large_is_refused_while_writing(server):
    transport, sftp = connect(server)
    try:
        f = sftp.open("big.tar", "w")
        with pytest.raises(OSError) as e:
            f.write(b"\0" * (MAX_BYTES + 1))
            f.flush()
            sftp._request(paramiko.sftp.CMD_CLOSE, f.handle)
        assert "larger than the server accepts" in str(e.value)
        f._closed = True
    finally:
        transport.close()


@pytest.mark.integration
def test_forbidden_operations_are_refused_with_the_right_status(server):
    transport, sftp = connect(server)
    try:
        for path in ("../x.tar", "/../etc/x.tar", "/etc/passwd", "/tmp/x.tar", "sub/x.tar"):
            with pytest.raises(PermissionError):
                sftp.open(path, "w")
        with pytest.raises(PermissionError):
            sftp.open("../../etc/passwd").read()
        with pytest.raises(PermissionError):
            sftp.listdir("/..")
        with pytest.raises(PermissionError):
            sftp.symlink("/etc/passwd", "link")
        for path in ("/evil", "/receipts/x", "/tmp/evil"):
            with pytest.raises(PermissionError):
                sftp.mkdir(path)
        with pytest.raises(PermissionError):
            sftp.rmdir("/receipts")
        with pytest.raises(FileNotFoundError):
            sftp.open("/receipts/SM-20990101-AAAAAAAA.json").read()
        with pytest.raises(FileNotFoundError):
            sftp.stat("nothing.tar")
        with pytest.raises(FileNotFoundError):
            sftp.listdir("/etc")
        with pytest.raises(PermissionError):
            sftp.rename("/receipts", "/r2")
    finally:
        transport.close()


@pytest.mark.integration
def test_another_units_receipts_are_neither_listed_nor_readable(server, tmp_path):
    path = tmp_path / "s.tar"
    make_container(server.home, path, unit=STAVANGER, signing_key=server.stavanger_key)
    transport, sftp = connect(server, user=STAVANGER, pin=server.stavanger_pin)
    try:
        sftp.put(str(path), "s.tar")
        mine = sftp.listdir("/receipts")
        assert len(mine) == 1
    finally:
        transport.close()
    transport, sftp = connect(server)
    try:
        assert mine[0] not in sftp.listdir("/receipts")
        with pytest.raises(FileNotFoundError):
            sftp.open(f"/receipts/{mine[0]}").read()
        with pytest.raises(FileNotFoundError):
            sftp.stat(f"/receipts/{mine[0]}")
    finally:
        transport.close()


@pytest.mark.integration
def test_a_client_killed_halfway_leaves_nothing_accepted(server, tmp_path):
    path = tmp_path / "half.tar"
    make_container(server.home, path, records=50)
    data = path.read_bytes()
    before = set(server.spool("received"))
    transport, sftp = connect(server)
    f = sftp.open("half.tar", "w")
    f.write(data[: len(data) // 2])
    f.flush()
    transport.sock.close()  # no close of the handle: the connection just dies
    wait_for(lambda: not server.spool("incoming"), timeout=10, interval=0.1, message="the partial upload to go")
    assert server.spool("incoming") == []
    assert set(server.spool("received")) == before


@pytest.mark.integration
def test_openssh_sftp_killed_halfway_leaves_nothing_accepted(server, tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"\0" * (MAX_BYTES - 1024))
    before = set(server.spool("received"))
    cmd = [
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
        "PubkeyAuthentication=no",
        "-o",
        "BatchMode=no",
        "-l",
        "800",
        "-b",
        "-",
        f"{DEMO}@127.0.0.1",
    ]  # -l: 800 Kbit/s, so the kill lands mid-upload
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    proc.stdin.write(f"put {path} big.tar\n")
    proc.stdin.close()
    wait_for(lambda: server.spool("incoming"), timeout=20, message="the upload never started")
    assert server.spool("incoming"), "the upload never started"
    incoming = server.home / "spool" / "incoming"
    wait_for(
        lambda: sum(p.stat().st_size for p in incoming.iterdir()) >= 32 * 1024,
        timeout=20,
        message="the upload to be under way",
    )  # so that the kill lands mid-upload
    proc.kill()
    proc.wait(10)
    wait_for(lambda: not server.spool("incoming"), timeout=10, interval=0.1, message="the partial upload to go")
    assert server.spool("incoming") == []
    assert set(server.spool("received")) == before


@pytest.mark.integration
def test_only_sftp_no_shell_exec_or_forwarding(server):
    transport, _ = connect(server)
    try:
        channel = transport.open_session()
        with pytest.raises(paramiko.SSHException):
            channel.exec_command("id")
        channel = transport.open_session()
        with pytest.raises(paramiko.SSHException):
            channel.invoke_shell()
        with pytest.raises(paramiko.ChannelException):
            transport.open_channel("direct-tcpip", ("127.0.0.1", server.https_port), ("127.0.0.1", 1234))
        with pytest.raises(paramiko.SSHException):
            transport.request_port_forward("127.0.0.1", 0)
    finally:
        transport.close()


@pytest.mark.integration
def test_wrong_pin_is_refused_and_attempts_are_bounded(server):
    transport = paramiko.Transport(("127.0.0.1", server.sftp_port))
    try:
        transport.start_client(timeout=20)
        with pytest.raises(paramiko.AuthenticationException):
            transport.auth_password(DEMO, "AAAA-BBBB-CCCC")
        for _ in range(6):
            try:
                transport.auth_password(DEMO, "AAAA-BBBB-CCCC")
            except paramiko.AuthenticationException:
                continue
            except (paramiko.SSHException, EOFError, OSError):
                break
        wait_for(lambda: not transport.is_active(), timeout=5, interval=0.1, message="the disconnect")
        assert not transport.is_active()  # disconnected after 6 failures
    finally:
        transport.close()


@pytest.mark.integration
def test_sessions_per_unit_are_limited(server):
    sessions = [connect(server) for _ in range(3)]
    try:
        with pytest.raises((paramiko.SSHException, EOFError, OSError)):
            transport, sftp = connect(server)
            try:
                sftp.listdir("/")
            finally:
                transport.close()
    finally:
        for transport, _ in sessions:
            transport.close()

    def listing():
        try:
            transport, sftp = connect(server)
        except (paramiko.SSHException, EOFError, OSError):
            return None
        try:
            return sftp.listdir("/")
        except (paramiko.SSHException, EOFError, OSError):
            return None
        finally:
            transport.close()

    names = wait_for(listing, timeout=10, interval=0.1, message="room for a session again")  # once they are gone
    assert "receipts" in names


@pytest.mark.integration
def test_only_modern_algorithms_are_offered(tmp_path):
    """Its own server: five connections in a row must not meet the per-source connection rate that the module's
    other tests have drawn down (10 at once, then 5 a second)."""
    server = Server(tmp_path / "home").init().start()
    try:
        _only_modern_algorithms_are_offered(server)
    finally:
        server.stop()


def _only_modern_algorithms_are_offered(server):
    with socket.create_connection(("127.0.0.1", server.sftp_port), timeout=10) as sock:
        t = paramiko.Transport(sock)
        t.start_client(timeout=20)
        try:
            assert t.remote_version == "SSH-2.0-sendemodul"
            assert t.get_security_options() is not None
            assert t.host_key_type == "ssh-ed25519"
            assert t.remote_cipher.endswith("-ctr") and t.remote_mac.startswith("hmac-sha2-")
        finally:
            t.close()
    # (a MAC matters only without an AEAD cipher: hence aes128-ctr with hmac-sha1)
    for options in (
        ("Ciphers=aes128-cbc",),
        ("Ciphers=aes128-ctr", "MACs=hmac-sha1"),
        ("KexAlgorithms=diffie-hellman-group14-sha1",),
        ("HostKeyAlgorithms=rsa-sha2-256",),
    ):
        extra = [arg for option in options for arg in ("-o", option)]
        proc = openssh_sftp(server, "ls\n", extra=(*extra, "-o", "LogLevel=INFO"))
        assert proc.returncode != 0 and "no matching" in proc.stderr, options


@pytest.mark.integration
def test_an_earlier_file_sent_again_over_sftp_is_told_that_the_newer_one_counts(server, tmp_path):
    """A, then B (the same register and periode), then A again, with OpenSSH's sftp and then the CLI: A's receipt
    in /receipts/ and the CLI say that A no longer counts, that B does, and how to make A count again."""
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    make_container(server.home, a, register="11CF", periode=datetime.date.today().year - 1)
    make_container(server.home, b, register="11CF", periode=datetime.date.today().year - 1)
    received = []
    for path in (a, b):
        before = set(server.spool("received"))
        assert openssh_sftp(server, f"put {path} {path.name}\n").returncode == 0
        (new,) = set(server.spool("received")) - before
        received.append(new[: -len(".tar")])
    ref_a, ref_b = received
    before = set(server.spool("received"))
    assert openssh_sftp(server, f"put {a} again.tar\n").returncode == 0
    assert set(server.spool("received")) == before  # nothing new stored

    def read(sftp):
        return json.loads(sftp.open(f"/receipts/{ref_a}.json").read()), sftp.stat(f"/receipts/{ref_a}.json").st_size

    transport, sftp = connect(server)
    try:
        receipt_a, size = in_thread(read, sftp)
    finally:
        transport.close()
    assert (receipt_a["counts"], receipt_a["superseded_by"], receipt_a["counting_reference"]) == (False, ref_b, ref_b)
    assert ref_b in receipt_a["melding"] and "krypterer du uttrekket på nytt" in receipt_a["melding"]
    assert size == len((json.dumps(receipt_a, indent=2, ensure_ascii=False) + "\n").encode())
    pin_file = tmp_path / "pin.txt"
    pin_file.write_text(server.pin)
    host_key = server.home / "ssh" / "host_ed25519.pub"
    url = f"sftp://127.0.0.1:{server.sftp_port}"
    proc = subprocess.run(
        [str(BIN), "upload", "--unit", DEMO, "--pin-file", str(pin_file), "--host-key", str(host_key), url, str(a)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    assert "Already received earlier" in out and ref_a in out
    assert f"This upload no longer counts: the newest upload for 11CF {datetime.date.today().year - 1}, {ref_b}" in out
    assert f"To make {ref_a} count again, encrypt the extract again" in out


@pytest.mark.integration
def test_cli_upload_over_sftp_prints_the_receipt(server, tmp_path):
    path = tmp_path / "cli.tar"
    make_container(server.home, path, records=4)
    pin_file = tmp_path / "pin.txt"
    pin_file.write_text(server.pin)
    url = f"sftp://127.0.0.1:{server.sftp_port}"
    host_key = server.home / "ssh" / "host_ed25519.pub"
    proc = subprocess.run(
        [
            str(BIN),
            "upload",
            "--unit",
            DEMO,
            "--pin-file",
            str(pin_file),
            "--host-key",
            str(host_key),
            "--json",
            url,
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    receipt = json.loads(proc.stdout)
    assert receipt["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and not receipt["duplicate"]
    assert f"{receipt['reference']}.tar" in server.spool("received")
    # with the SSH key, the same bytes again: the first receipt
    proc = subprocess.run(
        [
            str(BIN),
            "upload",
            "--unit",
            DEMO,
            "--ssh-key",
            str(server.ssh_key),
            "--host-key",
            str(host_key),
            url,
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Already received earlier" in proc.stdout and receipt["reference"] in proc.stdout


@pytest.mark.integration
def test_cli_refuses_an_unknown_host_key_and_reports_refusals(server, tmp_path):
    path = tmp_path / "stavanger.tar"
    make_container(server.home, path, unit=STAVANGER, signing_key=server.stavanger_key)
    url = f"sftp://127.0.0.1:{server.sftp_port}"
    known = tmp_path / "known_hosts"
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    known.write_text(f"[127.0.0.1]:{server.sftp_port} " + (tmp_path / "other.pub").read_text())
    proc = subprocess.run(
        [
            str(BIN),
            "upload",
            "--unit",
            DEMO,
            "--ssh-key",
            str(server.ssh_key),
            "--known-hosts",
            str(known),
            url,
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "host key" in proc.stderr and "not known" in proc.stderr
    known.write_text(f"[127.0.0.1]:{server.sftp_port} " + (server.home / "ssh" / "host_ed25519.pub").read_text())
    proc = subprocess.run(
        [
            str(BIN),
            "upload",
            "--unit",
            DEMO,
            "--ssh-key",
            str(server.ssh_key),
            "--known-hosts",
            str(known),
            url,
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "refused" in proc.stderr and STAVANGER in proc.stderr


def _limits(sftp):
    """The four numbers of the server's ``limits@openssh.com`` reply: packet, read, write, open handles."""
    kind, msg = sftp._request(paramiko.sftp.CMD_EXTENDED, "limits@openssh.com")
    assert kind == paramiko.sftp.CMD_EXTENDED_REPLY
    return [msg.get_int64() for _ in range(4)]


def _opendir(sftp, path):
    kind, msg = sftp._request(paramiko.sftp.CMD_OPENDIR, path)
    assert kind == paramiko.sftp.CMD_HANDLE
    return msg.get_binary()


@pytest.mark.integration
def test_open_handles_of_every_kind_are_limited_to_what_the_server_advertises(server, tmp_path):
    """paramiko opens receipts, directories and uploads up to the advertised max-open-handles; the next open of any
    kind is refused with a clear status, closing one makes room, and a new session has the full limit again."""
    container = tmp_path / "h.tar"
    make_container(server.home, container, records=3)

    def fill(sftp, limit, receipt):
        opened = []
        for n in range(limit):
            kind = n % 3
            if kind == 0:
                opened.append(sftp.open(f"/receipts/{receipt}"))
            elif kind == 1:
                opened.append(_opendir(sftp, "/receipts" if n % 2 else "/"))
            else:
                opened.append(sftp.open(f"h{n}.tar.filepart", "wb"))
        return opened

    def session():
        transport, sftp = connect(server)
        try:
            sftp.put(str(container), "h.tar")
            receipt = sorted(sftp.listdir("/receipts"))[0]
            limit = _limits(sftp)[3]
            assert limit == 16
            opened = fill(sftp, limit, receipt)
            refusals = []
            for attempt in (
                lambda: sftp.open(f"/receipts/{receipt}"),
                lambda: _opendir(sftp, "/"),
                lambda: sftp.open("one-more.tar", "wb"),
            ):
                with pytest.raises(OSError) as e:
                    attempt()
                refusals.append(str(e.value))
            sftp._request(paramiko.sftp.CMD_CLOSE, opened[1])  # a directory closed: room for a file
            opened.append(sftp.open(f"/receipts/{receipt}"))
            with pytest.raises(OSError, match="At most 16"):
                _opendir(sftp, "/")
        finally:
            transport.close()
        # (its uploads are thrown away as it ends; they count towards uploads_per_unit until they are gone)
        wait_for(lambda: not server.spool("incoming"), timeout=10, message="the unfinished uploads to be thrown away")
        transport, sftp = connect(server)
        try:
            return refusals, len(fill(sftp, limit, receipt))
        finally:
            transport.close()

    refusals, second = in_thread(session)
    assert all("At most 16 files and directories can be open at once" in r for r in refusals), refusals
    assert second == 16
    wait_for(lambda: not server.spool("incoming"), timeout=10, message="the unfinished uploads to be thrown away")


@pytest.mark.integration
def test_channels_per_connection_are_limited(server):
    """Each channel can carry an SFTP session with its own handle limit: a connection gets four at most."""
    transport, sftp = connect(server)
    try:
        channels = [transport.open_session() for _ in range(3)]  # with the SFTP channel: four
        with pytest.raises(paramiko.ChannelException):
            transport.open_session()
        channels[0].close()
        wait_for(lambda: _try_channel(transport), timeout=10, message="room for a channel again")
        assert sftp.listdir("/")
    finally:
        transport.close()


def _try_channel(transport):
    try:
        return transport.open_session()
    except paramiko.ChannelException:
        return None


# ssh-audit: tests/test_sftp_matrix.py (no failure; each warning mapped to the client that needs the algorithm).


@pytest.mark.parametrize(
    "path, expected",
    [
        (b"/", ("root",)),
        (b".", ("root",)),
        (b"", ("root",)),
        (b"/./", ("root",)),
        (b"/receipts", ("receipts",)),
        (b"receipts/", ("receipts",)),
        (b"/receipts/SM-20261122-ABCDEFGH.json", ("receipt", "SM-20261122-ABCDEFGH")),
        (b"oslo.tar", ("file", "oslo.tar")),
        (b"/oslo.tar", ("file", "oslo.tar")),
        (b"./oslo.tar", ("file", "oslo.tar")),
    ],
)
def test_parse_path_accepts_the_box_and_receipts(path, expected):
    from sendemodul.sftp.dropbox import parse_path

    assert parse_path(path) == expected


@pytest.mark.parametrize(
    "path, code",
    [
        (b"../x", "denied"),
        (b"/a/../../x", "denied"),
        (b"/etc/passwd", "denied"),
        (b"a/b", "denied"),
        (b"bad\x01name", "denied"),
        (b"\xff\xfe", "denied"),
        (b"x" * 300, "denied"),
        (b"/receipts/x", "missing"),
        (b"/receipts/a/b.json", "missing"),
    ],
)
def test_parse_path_refuses_everything_else(path, code):
    from twisted.conch.ssh.filetransfer import (
        FX_NO_SUCH_FILE,
        FX_PERMISSION_DENIED,
        SFTPError,
    )

    from sendemodul.sftp.dropbox import parse_path

    with pytest.raises(SFTPError) as e:
        parse_path(path)
    assert e.value.code == {"denied": FX_PERMISSION_DENIED, "missing": FX_NO_SUCH_FILE}[code]


@pytest.mark.parametrize(
    "name, temporary",
    [
        ("a.tar.filepart", True),
        ("a.tar.1a2b.partial", True),
        (".a.tar", True),
        ("a.tar.tmp", True),
        ("a.tar", False),
        ("partial.tar", False),
    ],
)
def test_temporary_names_wait_for_a_rename(name, temporary):
    from sendemodul.sftp.dropbox import TEMPORARY_NAME

    assert bool(TEMPORARY_NAME.search(name)) == temporary


def _transport(clock, idle_seconds):
    from types import SimpleNamespace

    from cryptography.hazmat.primitives.asymmetric import ed25519
    from twisted.conch.ssh import keys
    from twisted.internet.address import IPv4Address
    from twisted.internet.testing import StringTransport

    from sendemodul.sftp.server import DropBoxSSHFactory

    limits = SimpleNamespace(idle_timeout_seconds=idle_seconds, sessions_per_unit=2, sessions_per_source=2)
    factory = DropBoxSSHFactory(None, keys.Key(ed25519.Ed25519PrivateKey.generate()), limits, clock)
    t = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    wire = StringTransport()
    t.makeConnection(wire)
    return factory, t, wire


def test_login_grace_time_is_60_seconds():
    from twisted.internet.task import Clock

    clock = Clock()
    _, _t, wire = _transport(clock, idle_seconds=600)
    clock.advance(59)
    assert not wire.disconnecting
    clock.advance(2)
    assert wire.disconnecting


def test_idle_connections_are_closed_and_sources_are_limited():
    from twisted.internet.address import IPv4Address
    from twisted.internet.task import Clock

    clock = Clock()
    factory, t, wire = _transport(clock, idle_seconds=10)
    clock.advance(9)
    t.dataReceived(b"SSH-2.0-")  # activity resets the idle timer
    clock.advance(9)
    assert not wire.disconnecting
    clock.advance(2)
    assert wire.disconnecting
    address = IPv4Address("TCP", "127.0.0.1", 40001)
    assert factory.buildProtocol(address) is not None  # a second session from the same source
    assert factory.buildProtocol(address) is None  # sessions_per_source = 2


@pytest.mark.integration
def test_a_units_uploads_in_progress_are_limited_over_sftp_too(tmp_path):
    """uploads_per_unit counts both fronts: with a limit of 1, a second open upload is refused with a clear
    message, and one can be opened again once the first is closed."""
    srv = Server(tmp_path / "home", sections={"limits": "uploads_per_unit = 1"}).init().start()
    try:
        container = tmp_path / "c.tar"
        make_container(srv.home, container)

        def session():
            transport, sftp = connect(srv)
            try:
                first = sftp.open("first.tar", "wb")
                first.write(b"\0" * 1000)
                with pytest.raises(OSError, match="uploads in progress"):
                    sftp.open("second.tar", "wb")
                first.close()  # refused (not a container): the upload has ended

                def put():
                    try:
                        sftp.put(str(container), "c.tar")
                        return sftp.listdir("/receipts")
                    except OSError as e:
                        if "uploads in progress" not in str(e):
                            raise
                        return None

                return wait_for(put, timeout=5, interval=0.1, message="the limit was never released")
            finally:
                transport.close()

        assert len(in_thread(session)) == 1
    finally:
        srv.stop()


@pytest.mark.integration
def test_an_upload_that_trickles_past_max_upload_seconds_is_dropped(tmp_path):
    """Writing a little now and then keeps the idle timeout away; limits.max_upload_seconds ends it anyway."""
    srv = Server(tmp_path / "home", sections={"limits": "max_upload_seconds = 2"}).init().start()
    try:

        def session():
            transport, sftp = connect(srv)
            try:
                f = sftp.open("slow.tar", "wb")
                f.set_pipelined(False)
                f.write(b"\0" * 512)

                def trickle():  # 512 bytes every 0.25 s: never idle, until max_upload_seconds ends it
                    try:
                        f.write(b"\0" * 512)
                        f.flush()
                    except OSError as e:
                        return e
                    return None

                error = wait_for(trickle, timeout=10, interval=0.25, message="the upload was never ended")
                assert "took too long" in str(error), error
                wait_for(lambda: srv.spool("incoming") == [], timeout=10, message="the dropped upload's part to go")
                return srv.spool("incoming")
            finally:
                transport.close()

        assert in_thread(session) == []
    finally:
        srv.stop()


def test_a_banned_source_is_closed_at_accept_before_the_version_banner():
    """An address the abuse scoring banned gets no protocol (Twisted closes the socket at accept): no banner, no key
    exchange, as on the HTTPS front. Other addresses are served, and the banned one again once the ban is over."""
    from types import SimpleNamespace

    from cryptography.hazmat.primitives.asymmetric import ed25519
    from twisted.conch.ssh import keys
    from twisted.internet.address import IPv4Address
    from twisted.internet.task import Clock
    from twisted.internet.testing import StringTransport

    from sendemodul.auth import Defender
    from sendemodul.sftp.server import DropBoxSSHFactory

    clock = Clock()
    defender = Defender(clock, ban_score=3, window_seconds=600, ban_seconds=900)
    limits = SimpleNamespace(idle_timeout_seconds=60, sessions_per_unit=2, sessions_per_source=16)
    factory = DropBoxSSHFactory(
        None, keys.Key(ed25519.Ed25519PrivateKey.generate()), limits, clock, is_banned=defender.is_banned
    )
    attacker = IPv4Address("TCP", "192.0.2.7", 40000)
    for _ in range(3):
        defender.record_failure("192.0.2.7", 1)  # three wrong PINs for a known unit
    assert factory.buildProtocol(attacker) is None
    assert factory.per_source == {}  # a refused connection is not counted as a session

    def banner(address):
        t = factory.buildProtocol(address)
        wire = StringTransport()
        t.makeConnection(wire)
        t.connectionLost(None)
        return wire.value().split(b"\r\n")[0]

    assert banner(IPv4Address("TCP", "198.51.100.1", 40000)) == b"SSH-2.0-sendemodul"
    clock.advance(900)
    assert banner(attacker) == b"SSH-2.0-sendemodul"


@pytest.mark.integration
def test_a_banned_address_gets_no_ssh_banner(tmp_path):
    """Wrong PINs over SSH from 127.0.0.1 reach the ban score: the next TCP connection to the SSH port is closed at
    accept, before the server says ``SSH-2.0-``, so a banned attacker gets no key exchange to spend our CPU on."""
    srv = Server(tmp_path / "home", sections={"auth": "source_ban_score = 3\nsource_ban_seconds = 600"}).init().start()
    try:
        transport = paramiko.Transport(("127.0.0.1", srv.sftp_port))
        try:
            transport.start_client(timeout=20)
            for _ in range(3):
                with pytest.raises(paramiko.AuthenticationException):
                    transport.auth_password(DEMO, "AAAA-BBBB-CCCC")
        finally:
            transport.close()
        wait_for(
            lambda: "source banned for" in (srv.home / "log" / "sendemodul.json").read_text(),
            timeout=10,
            message="the ban",
        )
        with socket.create_connection(("127.0.0.1", srv.sftp_port), timeout=10) as sock:
            received = b""
            try:
                while b"\n" not in received and (chunk := sock.recv(4096)):  # up to the banner line, or the close
                    received += chunk
            except ConnectionResetError:
                pass
        assert b"SSH-2.0-" not in received, received  # closed before the banner (recv returned: the socket closed)
        assert received == b""
    finally:
        srv.stop()


def _rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class _Replies:
    """Collects the replies to pipelined paramiko requests (paramiko calls ``_async_response`` for each)."""

    def __init__(self):
        self.kinds = []

    def _async_response(self, kind, msg, num):
        self.kinds.append(kind)


def _flood(sftp, receipt, count, batch=500):
    """``count`` OPENs of a receipt and ``count`` OPENDIRs, pipelined in batches; returns how many got a handle."""
    replies = _Replies()
    requests = [
        (paramiko.sftp.CMD_OPEN, f"/receipts/{receipt}", paramiko.sftp.SFTP_FLAG_READ, paramiko.SFTPAttributes()),
        (paramiko.sftp.CMD_OPENDIR, "/receipts"),
    ] * count
    for start in range(0, len(requests), batch):
        for request in requests[start : start + batch]:
            sftp._async_request(replies, *request)
        while len(replies.kinds) < min(start + batch, len(requests)):
            sftp._read_response()
    return replies.kinds.count(paramiko.sftp.CMD_HANDLE)


@pytest.mark.integration
def test_a_flood_of_read_and_directory_handles_gets_the_limit_and_costs_no_memory(tmp_path):
    """The red team's attack: 5,000 receipt opens and 5,000 OPENDIRs in one session. 16 get a handle, the rest a
    failure; the front's memory does not grow with the flood, and after the session the next one has the full
    limit again."""
    srv = Server(tmp_path / "home").init().start()
    try:
        container = tmp_path / "f.tar"
        make_container(srv.home, container, records=3)

        def attack():
            transport, sftp = connect(srv)
            try:
                sftp.put(str(container), "f.tar")
                receipt = sorted(sftp.listdir("/receipts"))[0]
                _flood(sftp, receipt, 200)  # warm up: the server's code paths and allocations, once
            finally:
                transport.close()
            transport, sftp = connect(srv)
            try:
                sftp.listdir("/")  # (the first session has ended by now)
                before = _rss_kib(srv.proc.pid)
                granted = _flood(sftp, receipt, 5000)
            finally:
                transport.close()
            transport, sftp = connect(srv)
            try:
                after = _rss_kib(srv.proc.pid)
                again = _flood(sftp, receipt, 20)
            finally:
                transport.close()
            return granted, again, before, after

        granted, again, before, after = in_thread(attack)
        print(
            f"handles granted: {granted} of 10000; then {again} of 40 in a new session; "
            f"front RSS {before} KiB before, {after} KiB after ({after - before:+} KiB)"
        )
        assert granted == 16 and again == 16
        assert after - before < 4 * 1024, (before, after)  # +11 MB here before the fix; the red team saw +37 MB
    finally:
        srv.stop()
