"""Issue 7 end to end with real parts: HTTPS upload -> pseudonymizer process -> forwarder -> SSB (a real OpenSSH
sshd on loopback, or a directory) -> ``sendemodul ssb open``; crash safety under kill -9; backoff while SSB is down;
quarantine, feedback and requeue; the status list."""

import csv
import datetime
import json
import os
import random
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, grep_tree, run_cli
from server import DEMO, Server, add_unit, make_container
from support.wait import pace, wait_for

from sendemodul import container, identity, keydir, package, signing, ssb
from sendemodul.testing.peers import prepare_sshd
from sendemodul.worker import environment_for_test_uploads

pytestmark = pytest.mark.integration  # every test here runs a server subprocess or a real peer

STAVANGER = "1103-00-964965226"
TEST_WINDOW = """
[[window]]
register = "11F"
periode = 2027
test_opens = 2026-01-01
test_closes = 2099-12-31
"""


class Sshd:
    """SSB's server: a private OpenSSH sshd on loopback with its own keys and config (TESTING.md)."""

    def __init__(self, base):
        self.dir = Path(base)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.inbox = self.dir / "inbox"
        self.inbox.mkdir()
        self.port = prepare_sshd(self.dir)
        self.host_key = " ".join((self.dir / "host_ed25519.pub").read_text().split()[:2])
        self.proc = None

    def start(self):
        Path("/run/sshd").mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", str(self.dir / "sshd_config")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._accepting, timeout=10, message="sshd did not start")
        return self

    def _accepting(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def forwarder_section(self, retry=1.0):
        return (
            f'mode = "sftp"\nhost = "127.0.0.1"\nport = {self.port}\nusername = "root"\n'
            f'private_key = "{self.dir}/client_ed25519"\nhost_key = "{self.host_key}"\n'
            f'remote_dir = "{self.inbox}"\nretry_seconds = {retry}\nmax_retry_seconds = 2.0\n'
            "poll_seconds = 0.2\ntimeout_seconds = 10.0"
        )


def curl_upload(server, path, unit=DEMO, pin=None):
    proc = subprocess.run(
        [
            "curl",
            "-sS",
            "--cacert",
            str(server.home / "tls" / "server.pem"),
            "--max-time",
            "60",
            "-u",
            f"{unit}:{pin or server.pin}",
            "-T",
            str(path),
            f"{server.url}/api/v1/uploads/{path.name}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    receipt = json.loads(proc.stdout)
    assert receipt["status"] == "received", receipt
    return receipt


def api_get(server, reference, unit=DEMO, pin=None):
    proc = subprocess.run(
        [
            "curl",
            "-sS",
            "--cacert",
            str(server.home / "tls" / "server.pem"),
            "--max-time",
            "30",
            "-u",
            f"{unit}:{pin or server.pin}",
            f"{server.url}/api/v1/uploads/{reference}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)


def uploads(home):
    return {row["reference"]: row for row in json.loads(run_cli("admin", "uploads", "--json", home=home).stdout)}


def ssb_open(home, package_path, out):
    run_cli(
        "ssb", "open", package_path, "--identity", home / "private" / "ssb.agekey", "-o", out, "--keys", home / "keys"
    )
    with open(out / ssb.CSV_NAME, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def pseudonyms_by_record(rows):
    """{record text: pseudonym} from records.csv (the record column holds the blanked extract line)."""
    result = {}
    for row in rows:
        pseudonym = row["PERSON_FODSELSNR_pseudonym"]
        record = "|".join(v for k, v in row.items() if k != "row_id" and not k.startswith("PERSON_"))
        result[record] = pseudonym
    return result


def fnrs_of(records):
    out = []
    for i in range(records):
        birth = datetime.date(1950, 1, 1) + datetime.timedelta(days=i % 20000)
        out.append(next(f for n in range(i // 20000, 1000) if (f := identity.generate_fnr(birth, n, kind="synthetic"))))
    return out


def test_upload_is_pseudonymized_and_pushed_to_a_real_sshd_and_ssb_opens_it(tmp_path):
    """Two kommuner upload the same persons over HTTPS; the embedded worker and forwarder deliver both to SSB's
    sshd; ``ssb open`` gives every record its pseudonym, equal across kommuner; no ID number at SSB, no data
    plaintext at the TPF; a test upload is pseudonymized but never forwarded."""
    sshd = Sshd(tmp_path / "ssb").start()
    server = Server(
        tmp_path / "home", TEST_WINDOW, worker=True, sections={"forwarder": sshd.forwarder_section()}
    ).init()
    stavanger_pin = add_unit(server.home, STAVANGER, tmp_path / "stavanger.key")
    server.start()
    try:
        oslo, stav, test = tmp_path / "oslo.tar", tmp_path / "stavanger.tar", tmp_path / "test.tar"
        make_container(server.home, oslo, records=50)
        make_container(server.home, stav, unit=STAVANGER, signing_key=tmp_path / "stavanger.key", records=50)
        make_container(server.home, test, periode=2027, records=50)
        r1, r2 = curl_upload(server, oslo), curl_upload(server, stav, STAVANGER, stavanger_pin)
        rt = curl_upload(server, test)
        assert rt["test"]
        done = wait_for(
            lambda: (
                (u := uploads(server.home))
                and all(u[r]["status"] == "delivered" for r in (r1["reference"], r2["reference"]))
                and u[rt["reference"]]["status"] == "tested"
                and u
            ),
            timeout=60,
            interval=0.2,
            message="delivery",
        )
        assert done[r1["reference"]]["delivered_at"] and done[r1["reference"]]["attempts"] == 0
        delivered = sorted(p.name for p in sshd.inbox.iterdir())
        assert delivered == sorted([f"{r1['reference']}.tar", f"{r2['reference']}.tar"])  # the test one never
        status = api_get(server, r1["reference"])
        assert status["status"] == "delivered" and status["feedback"] == [] and status["reason"] is None
        state = json.loads(
            run_cli("admin", "status", "--register", "11F", "--periode", "2026", "--json", home=server.home).stdout
        )
        registered = {row["unit"]: row["state"] for row in state if row["unit"]}
        assert registered == {DEMO: "delivered", STAVANGER: "delivered"}
        text = run_cli("admin", "status", "--register", "11F", "--periode", "2026", home=server.home).stdout
        assert "delivered" in text and STAVANGER in text
        a = ssb_open(server.home, sshd.inbox / f"{r1['reference']}.tar", tmp_path / "out1")
        b = ssb_open(server.home, sshd.inbox / f"{r2['reference']}.tar", tmp_path / "out2")
        assert len(a) == len(b) == 50
        pa, pb = pseudonyms_by_record(a), pseudonyms_by_record(b)
        assert pa == pb and len(set(pa.values())) == 50
        assert all(p.startswith("v1-") for p in pa.values())
        for fnr in fnrs_of(50)[:10]:
            assert grep_tree(tmp_path / "out1", fnr.encode()) == []
            assert grep_tree(sshd.inbox, fnr.encode()) == []
            assert grep_tree(server.home / "spool", fnr.encode()) == []
        assert grep_tree(server.home / "spool", b"record 0000") == []
        assert list((server.home / "spool" / "outbox").iterdir()) == []
    finally:
        log = server.stop()
        sshd.stop()
    assert "pseudonymized" in log


def test_test_and_production_domains_never_share_a_pseudonym(tmp_path):
    """The same container pseudonymized in the production domain and the test domain gives disjoint pseudonyms,
    and the same ID in two containers gets the same pseudonym within a domain."""
    home = tmp_path / "home"
    run_cli("admin", "init", "--dev", "--home", home)
    keys = keydir.load_key_dir(home / "keys")
    today = datetime.date.today()
    master = bytes.fromhex((home / "private" / "pseudonym-master.key").read_text().strip())
    results = {}
    for environment in ("production", environment_for_test_uploads("production")):
        for n in (1, 2):
            src = tmp_path / f"c{n}.tar"
            if not src.exists():
                make_container(home, src, records=20)
            pkg = tmp_path / f"{environment}-{n}.tar"
            package.make_package(
                src,
                pkg,
                tpf_identities=keydir.load_age_identities(home / "private" / "tpf.agekey"),
                master_key=master,
                environment=environment,
                key_version=1,
                tpf_signing_key=signing.load_private_key(home / "private" / "tpf-signing.key"),
                ssb_recipients=keys.current("ssb", today),
            )
            out = tmp_path / f"out-{environment}-{n}"
            out.mkdir()
            opened = ssb.open_package(
                pkg,
                out,
                ssb_identities=keydir.load_age_identities(home / "private" / "ssb.agekey"),
                tpf_signing_keys=[k for k in keys if k.role == "tpf-signing"],
            )
            with open(opened.csv_path, newline="", encoding="utf-8") as f:
                results[environment, n] = pseudonyms_by_record(list(csv.DictReader(f)))
    prod, test = results["production", 1], results[environment_for_test_uploads("production"), 1]
    assert prod == results["production", 2] and test == results[environment_for_test_uploads("production"), 2]
    assert set(prod.values()).isdisjoint(test.values())


def _bad_id_container(home, out):
    """A container whose second row has an ID with a wrong check digit."""
    today = datetime.date.today()
    keys = keydir.load_key_dir(home / "keys")
    good = fnrs_of(2)
    bad = good[1][:-1] + str((int(good[1][-1]) + 1) % 10)
    rows = [
        ((("PERSON_FODSELSNR", good[0]),), "record 000000".ljust(40)),
        ((("PERSON_FODSELSNR", bad),), "record 000001".ljust(40)),
    ]
    return container.write_container(
        out,
        unit=identity.parse_unit(DEMO, today.year),
        register="11F",
        periode=2026,
        signing_key=signing.load_private_key(home / "demo" / "unit.key"),
        tpf_recipients=keys.current("tpf", today),
        ssb_recipients=keys.current("ssb", today),
        rows=rows,
    )


def test_quarantine_reason_feedback_requeue_and_status(tmp_path):
    """A container the TPF key cannot open is quarantined with a reason the unit reads over the API; requeue sends
    it round again; an invalid ID is reported by row id and class only; the status list names each unit's state."""
    server = Server(tmp_path / "home").init()
    add_unit(server.home, STAVANGER, tmp_path / "stavanger.key")
    server.start()
    try:
        today = datetime.date.today()
        wrong = keydir.RecipientKey(
            key_id="tpf-dev",
            role="tpf",
            public=keydir.generate_age_identity("age-pq")[1],
            valid_from=today.replace(month=1, day=1),
            valid_to=today.replace(month=12, day=31),
        )
        broken = tmp_path / "broken.tar"
        make_container(server.home, broken, tpf=[wrong])
        rb = curl_upload(server, broken)
        run_cli("worker", "--once", home=server.home)
        status = api_get(server, rb["reference"])
        assert status["status"] == "quarantined" and status["reason"]
        assert f"{rb['reference']}.tar" in server.spool("quarantine")
        state = json.loads(
            run_cli("admin", "status", "--register", "11F", "--periode", "2026", "--json", home=server.home).stdout
        )
        registered = {row["unit"]: row["state"] for row in state if row["unit"]}
        assert registered == {DEMO: "quarantined", STAVANGER: "missing"}
        out = run_cli("admin", "requeue", rb["reference"], home=server.home).stdout
        assert "quarantined -> received" in out
        assert uploads(server.home)[rb["reference"]]["status"] == "received"
        assert f"{rb['reference']}.tar" in server.spool("received")
        run_cli("worker", "--once", home=server.home)
        assert uploads(server.home)[rb["reference"]]["status"] == "quarantined"
        assert run_cli("admin", "requeue", "SM-20260101-NOSUCH22", home=server.home, check=False).returncode == 1

        bad = tmp_path / "bad-id.tar"
        _bad_id_container(server.home, bad)
        rf = curl_upload(server, bad)
        run_cli("worker", "--once", home=server.home)
        status = api_get(server, rf["reference"])
        assert status["status"] == "queued" and len(status["feedback"]) == 1
        item = status["feedback"][0]
        assert set(item) == {"row_id", "id_type", "class"}
        assert item["id_type"] == "PERSON_FODSELSNR" and item["class"] == "BAD_CHECKSUM"
        run_cli("forwarder", "--once", home=server.home)
        assert uploads(server.home)[rf["reference"]]["status"] == "delivered"
        assert (server.home / "ssb-inbox" / f"{rf['reference']}.tar").exists()
    finally:
        server.stop()


def test_ssb_server_down_then_delivered_after_it_returns(tmp_path):
    """While SSB's sshd is down the forwarder retries with backoff; once it is back the package is delivered."""
    sshd = Sshd(tmp_path / "ssb")
    server = Server(tmp_path / "home", worker=True, sections={"forwarder": sshd.forwarder_section(retry=0.5)}).init()
    server.start()
    try:
        path = tmp_path / "c.tar"
        make_container(server.home, path, records=10)
        receipt = curl_upload(server, path)
        ref = receipt["reference"]
        wait_for(
            lambda: uploads(server.home)[ref]["attempts"] >= 2, timeout=60, interval=0.2, message="failed attempts"
        )
        row = uploads(server.home)[ref]
        assert row["status"] == "queued" and row["last_error"] and row["delivered_at"] is None
        sshd.start()
        wait_for(
            lambda: uploads(server.home)[ref]["status"] == "delivered",
            timeout=60,
            interval=0.2,
            message="delivery after SSB returns",
        )
        assert [p.name for p in sshd.inbox.iterdir()] == [f"{ref}.tar"]
    finally:
        server.stop()
        sshd.stop()


def _spawn(home, name, wait_started=False):
    """Start ``sendemodul worker|forwarder``; with ``wait_started``, return once it has said it is running."""
    env = {**os.environ, "SENDEMODUL_HOME": str(home)}
    proc = subprocess.Popen(
        [str(BIN), name, "--home", str(home)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if wait_started else subprocess.DEVNULL,
        text=True,
    )
    if wait_started:
        for line in proc.stderr:
            if " started" in line:
                break
    return proc


RECORDS = 8000


def test_kill_9_of_worker_and_forwarder_loses_nothing_and_delivers_exactly_once(tmp_path):
    """Over many runs the pseudonymizer and the forwarder are killed with SIGKILL at random moments and restarted;
    in the end every upload is delivered exactly once and every package opens."""
    rng = random.Random(7)
    server = Server(tmp_path / "home").init()
    server.start()
    references = []
    try:
        for i in range(6):
            path = tmp_path / f"c{i}.tar"
            make_container(server.home, path, periode=2025 + i % 2, records=RECORDS)
            references.append(curl_upload(server, path)["reference"])
    finally:
        server.stop()
    home = server.home
    for _ in range(15):
        procs = {name: _spawn(home, name, wait_started=True) for name in ("worker", "forwarder")}
        pace(rng.uniform(0, 1.0))  # a random moment to kill at
        for proc in procs.values():
            if rng.random() < 0.8:
                proc.send_signal(signal.SIGKILL)
        pace(rng.uniform(0, 0.5))
        for proc in procs.values():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    during = uploads(home)
    assert any(row["status"] != "received" for row in during.values()), "nothing was done between the kills"
    run_cli("worker", "--once", home=home)
    run_cli("forwarder", "--once", home=home)
    rows = uploads(home)
    assert sorted(rows) == sorted(references)
    assert {rows[r]["status"] for r in references} == {"delivered"}
    inbox = home / "ssb-inbox"
    finals = sorted(p.name for p in inbox.iterdir() if not p.name.startswith("."))
    assert finals == sorted(f"{r}.tar" for r in references)
    from sendemodul.store import Store

    store = Store.open(home / "sendemodul.db")
    delivered_events = [e for e in store.audit_entries() if e.event == "upload.delivered"]
    store.close()
    assert sorted(json.loads(e.detail)["reference"] for e in delivered_events) == sorted(references)
    for i, ref in enumerate(references[:2]):
        rows_out = ssb_open(home, inbox / f"{ref}.tar", tmp_path / f"open{i}")
        assert len(rows_out) == RECORDS
    assert list((home / "spool" / "received").iterdir()) == []
    assert [p for p in (home / "spool" / "outbox").iterdir()] == []


def test_only_one_pseudonymizer_and_one_forwarder_run_per_home(tmp_path):
    """A second worker (or forwarder) for the same home refuses to start while the first runs."""
    home = tmp_path / "home"
    run_cli("admin", "init", "--dev", "--home", home)
    for name in ("worker", "forwarder"):
        first = _spawn(home, name, wait_started=True)  # it holds the lock once it says it has started
        try:
            second = run_cli(name, "--once", home=home, check=False)
            assert second.returncode == 1 and f"another {name} is already running" in second.stderr
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        assert run_cli(name, "--once", home=home).returncode == 0


def _children(pid, name):
    """PIDs of the child processes of ``pid`` running ``sendemodul <name>``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"sendemodul" in cmdline and name.encode() in cmdline:
            found.append(int(proc.name))
    return found


def test_the_server_restarts_a_killed_worker_and_forwarder(tmp_path):
    """In the embedded default the server supervises both children: killed with SIGKILL, they come back and the
    next upload is still delivered."""
    server = Server(tmp_path / "home", worker=True, sections={"forwarder": "poll_seconds = 0.2"}).init()
    server.start()
    try:
        old = {
            name: wait_for(
                lambda name=name: _children(server.proc.pid, name), timeout=30, interval=0.2, message=f"the {name}"
            )
            for name in ("worker", "forwarder")
        }
        for pids in old.values():
            os.kill(pids[0], signal.SIGKILL)
        for name, pids in old.items():
            wait_for(
                lambda name=name, pids=pids: (new := _children(server.proc.pid, name)) and new != pids,
                timeout=30,
                interval=0.2,
                message=f"a new {name}",
            )
        path = tmp_path / "c.tar"
        make_container(server.home, path, records=10)
        ref = curl_upload(server, path)["reference"]
        wait_for(
            lambda: uploads(server.home)[ref]["status"] == "delivered", timeout=60, interval=0.2, message="delivery"
        )
        assert (server.home / "ssb-inbox" / f"{ref}.tar").exists()
        latest = _children(server.proc.pid, "worker") + _children(server.proc.pid, "forwarder")
    finally:
        server.stop()
    wait_for(
        lambda: all(_gone(pid) for pid in latest),
        timeout=15,
        interval=0.2,
        message="the children to stop with the server",
    )


def test_a_server_killed_with_sigkill_leaves_no_worker_behind_and_its_successor_supervises_new_ones(tmp_path):
    """The children end with the server even when it cannot stop them (kill -9): otherwise they would run on
    unsupervised, holding the home's locks, and the restarted server could start neither."""
    server = Server(tmp_path / "home", worker=True, sections={"forwarder": "poll_seconds = 0.2"}).init()
    server.start()
    try:
        old = [
            wait_for(
                lambda name=name: _children(server.proc.pid, name), timeout=30, interval=0.2, message=f"the {name}"
            )[0]
            for name in ("worker", "forwarder")
        ]
        server.proc.kill()
        server.proc.wait()
        wait_for(
            lambda: all(_gone(pid) for pid in old), timeout=15, interval=0.2, message="the orphaned children to end"
        )
        server.start()
        for name in ("worker", "forwarder"):
            wait_for(
                lambda name=name: _children(server.proc.pid, name),
                timeout=30,
                interval=0.2,
                message=f"a supervised {name}",
            )
        path = tmp_path / "c.tar"
        make_container(server.home, path, records=10)
        ref = curl_upload(server, path)["reference"]
        wait_for(
            lambda: uploads(server.home)[ref]["status"] == "delivered", timeout=60, interval=0.2, message="delivery"
        )
    finally:
        server.stop()


def _gone(pid):
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_sftp_delivery_is_idempotent_after_a_crash_at_either_side_of_the_rename(tmp_path):
    """A forwarder killed mid-transfer left a partial temporary file: the next attempt replaces it. One killed after
    the remote rename but before the database heard of it: the next attempt sees the complete file and only records
    the delivery. Either way SSB holds one complete copy."""
    sshd = Sshd(tmp_path / "ssb").start()
    server = Server(tmp_path / "home", sections={"forwarder": sshd.forwarder_section()}).init()
    server.start()
    try:
        refs = []
        for i in range(2):
            path = tmp_path / f"c{i}.tar"
            make_container(server.home, path, records=20)
            refs.append(curl_upload(server, path)["reference"])
        run_cli("worker", "--once", home=server.home)
        outbox = server.home / "spool" / "outbox"
        packages = {ref: (outbox / f"{ref}.tar").read_bytes() for ref in refs}
        (sshd.inbox / f".{refs[0]}.tar.part").write_bytes(b"partial" * 100)  # crash mid-transfer
        (sshd.inbox / f"{refs[1]}.tar").write_bytes(packages[refs[1]])  # crash after the rename
        run_cli("forwarder", "--once", home=server.home)
        rows = uploads(server.home)
        assert [rows[ref]["status"] for ref in refs] == ["delivered", "delivered"]
        assert sorted(p.name for p in sshd.inbox.iterdir()) == sorted(f"{ref}.tar" for ref in refs)
        for ref in refs:
            assert (sshd.inbox / f"{ref}.tar").read_bytes() == packages[ref]
    finally:
        server.stop()
        sshd.stop()


def test_a_host_key_other_than_the_pinned_one_is_refused(tmp_path):
    """SSB's server presenting another host key gets nothing: the attempt fails and is retried later."""
    sshd = Sshd(tmp_path / "ssb").start()
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    section = sshd.forwarder_section().replace(
        sshd.host_key, " ".join(other.with_suffix(".pub").read_text().split()[:2])
    )
    server = Server(tmp_path / "home", sections={"forwarder": section}).init()
    server.start()
    try:
        path = tmp_path / "c.tar"
        make_container(server.home, path, records=5)
        ref = curl_upload(server, path)["reference"]
        run_cli("worker", "--once", home=server.home)
        run_cli("forwarder", "--once", home=server.home)
        row = uploads(server.home)[ref]
        assert row["status"] == "queued" and row["attempts"] == 1 and "host key" in row["last_error"]
        assert list(sshd.inbox.iterdir()) == []
    finally:
        server.stop()
        sshd.stop()
