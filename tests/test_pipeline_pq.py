"""Issue 24 end to end with a real server: containers sealed to hybrid post-quantum keys are accepted,
pseudonymized, delivered and opened at SSB; a downgraded part is refused with ``recipient_type`` and nothing is
kept; a home with the classic keys of an earlier release moves to PQ by the yearly key rotation while it runs and
delivers both years exactly once; no PQ secret reaches a log or a file outside ``<home>/private/``."""

import datetime
import json
import stat
import subprocess
import tarfile

import paramiko
import pytest
from conftest import grep_tree, run_cli
from server import DEMO, Server, make_container
from support.wait import wait_for
from test_pipeline import ssb_open, uploads

from sendemodul import agepq, keydir
from sendemodul.store import Store

pytestmark = pytest.mark.integration  # every test here runs a server subprocess

PQ_SECRET = b"AGE-SECRET-KEY-PQ-1"
SPOOL_DIRS = ("incoming", "received", "outbox", "quarantine")
YEAR = datetime.date.today().year


def put(server, path):
    """PUT the container over HTTPS; returns (HTTP status, JSON body)."""
    proc = subprocess.run(
        [
            "curl",
            "-sS",
            "--cacert",
            str(server.home / "tls" / "server.pem"),
            "--max-time",
            "60",
            "-u",
            f"{DEMO}:{server.pin}",
            "-T",
            str(path),
            "-w",
            "\n%{http_code}",
            f"{server.url}/api/v1/uploads/{path.name}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    body, code = proc.stdout.rsplit("\n", 1)
    return int(code), json.loads(body)


def stanzas(path, name):
    with tarfile.open(path) as tar:
        return agepq.stanza_types(tar.extractfile(name).read(64 * 1024))


def assert_no_pq_secret_outside_private(home, *logs):
    """``AGE-SECRET-KEY-PQ-1`` only in ``<home>/private/`` (mode 0700, files 0600): the front never gets to read it;
    never in a log, the spool, the key directory, the database or the server's output."""
    private = home / "private"
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    hits = grep_tree(home, PQ_SECRET)
    assert hits, "the home holds no PQ identity at all"
    for path in hits:
        assert path.parent == private and stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for text in logs:
        assert PQ_SECRET.decode() not in text


def delivered_once(home, references):
    """Every reference has exactly one upload.delivered audit event and one package in the SSB inbox."""
    store = Store.open(home / "sendemodul.db")
    try:
        events = [json.loads(e.detail)["reference"] for e in store.audit_entries() if e.event == "upload.delivered"]
    finally:
        store.close()
    assert sorted(events) == sorted(references)
    inbox = sorted(p.name for p in (home / "ssb-inbox").iterdir() if not p.name.startswith("."))
    assert inbox == sorted(f"{r}.tar" for r in references)


def test_pq_container_is_accepted_pseudonymized_delivered_and_opened(tmp_path):
    server = Server(tmp_path / "home").init()
    keys = keydir.load_key_dir(server.home / "keys")
    assert keys.get("tpf-dev").post_quantum and keys.get("ssb-dev").post_quantum
    server.start()
    try:
        path = tmp_path / "pq.tar"
        make_container(server.home, path, records=40)
        assert stanzas(path, "identities.age") == stanzas(path, "data.age") == ("mlkem768x25519",)
        code, receipt = put(server, path)
        assert code == 201 and receipt["status"] == "received", receipt
        reference = receipt["reference"]
        worker = run_cli("worker", "--once", home=server.home)
        forwarder = run_cli("forwarder", "--once", home=server.home)
        assert uploads(server.home)[reference]["status"] == "delivered"
        package = server.home / "ssb-inbox" / f"{reference}.tar"
        assert stanzas(package, "pseudonyms.age") == ("mlkem768x25519",)
        assert stanzas(package, "data.age") == ("mlkem768x25519",)
        rows = ssb_open(server.home, package, tmp_path / "out")
        assert len(rows) == 40 and all(row["PERSON_FODSELSNR_pseudonym"].startswith("v1-") for row in rows)
        delivered_once(server.home, [reference])
    finally:
        log = server.stop()
    assert_no_pq_secret_outside_private(
        server.home, log, worker.stdout + worker.stderr, forwarder.stdout + forwarder.stderr
    )


@pytest.mark.parametrize("part", ["identities.age", "data.age"])
def test_a_classic_stanza_for_a_pq_key_id_is_refused_and_nothing_is_kept(tmp_path, part):
    """A municipal tool that seals X25519 for the PQ key id (a downgrade): refused at intake with its own code."""
    server = Server(tmp_path / "home").init()
    keys = keydir.load_key_dir(server.home / "keys")
    today = datetime.date.today()

    def downgraded(role):
        key = keys.sealing_keys(role, today)[0]
        return [
            keydir.RecipientKey(key.key_id, role, keydir.generate_age_identity("age")[1], key.valid_from, key.valid_to)
        ]

    server.start()
    try:
        path = tmp_path / "downgraded.tar"
        if part == "identities.age":
            make_container(server.home, path, records=10, tpf=downgraded("tpf"))
        else:
            make_container(server.home, path, records=10, ssb=downgraded("ssb"))
        assert stanzas(path, part) == ("X25519",)
        code, body = put(server, path)
        assert code == 422 and body["error"] == "recipient_type", body
        assert f"{part} has 1 X25519 stanza(s) for its mlkem768x25519 key(s)" in body["message"]
        assert "kvantesikker" in body["melding"]
        transport = paramiko.Transport(("127.0.0.1", server.sftp_port))  # and over SFTP: the rename is refused
        try:
            transport.connect(username=DEMO, password=server.pin)
            sftp = paramiko.SFTPClient.from_transport(transport)
            sftp.put(str(path), "d.tar.partial")
            with pytest.raises(OSError) as caught:
                sftp.rename("d.tar.partial", "d.tar")
            assert "another key type" in str(caught.value) and "X25519 stanza" in str(caught.value)
        finally:
            transport.close()
        wait_for(lambda: server.spool("incoming") == [], timeout=10, message="the refused upload to be removed")
        for name in SPOOL_DIRS:
            assert server.spool(name) == [], name
        assert uploads(server.home) == {}
    finally:
        log = server.stop()
    assert_no_pq_secret_outside_private(server.home, log)


def test_a_classic_home_moves_to_pq_by_rotation_and_delivers_both_years_exactly_once(tmp_path):
    """The previous release's dev home (classic X25519 keys) runs with its embedded pseudonymizer and forwarder.
    A container for last year, sealed to the classic keys, is delivered; the TPF rotates next year's keys to PQ while
    the server runs; a new container is then sealed to them, and one made before the rotation (classic keys) is
    uploaded after it. (Periodes: last year and this year, the ones the profiles cover; keys go by date.) All are
    accepted, pseudonymized (the worker picks the new TPF identity up without a restart), delivered once each, and
    open at SSB with SSB's identity file of both years; each package's pseudonyms.age follows SSB's key current when
    it was made."""
    server = Server(
        tmp_path / "home", worker=True, sections={"forwarder": "poll_seconds = 0.2"}, init_args=("--key-type", "age")
    ).init()
    home = server.home
    before = keydir.load_key_dir(home / "keys")
    assert not before.get("tpf-dev").post_quantum and PQ_SECRET not in (home / "private" / "tpf.agekey").read_bytes()
    old = tmp_path / "old-year.tar"
    make_container(home, old, periode=YEAR - 1, records=30)
    assert stanzas(old, "identities.age") == stanzas(old, "data.age") == ("X25519",)
    server.start()
    try:
        code, first = put(server, old)  # delivered before the rotation: its package is sealed to the classic key
        assert code == 201, first
        wait_for(
            lambda: uploads(home)[first["reference"]]["status"] == "delivered",
            timeout=60,
            interval=0.2,
            message="delivery before the rotation",
        )
        rotated = run_cli("admin", "keys", "rotate", "--year", YEAR + 1, "--type", "age-pq", home=home)
        assert f"tpf-{YEAR + 1}" in rotated.stdout and "AGE-SECRET-KEY" not in rotated.stdout
        keys = keydir.load_key_dir(home / "keys")
        assert keys.get(f"tpf-{YEAR + 1}").post_quantum and keys.get(f"ssb-{YEAR + 1}").post_quantum
        today = datetime.date.today()
        assert [k.key_id for k in keys.sealing_keys("tpf", today)] == [f"tpf-{YEAR + 1}"]
        late = tmp_path / "old-year-late.tar"  # made before the rotation, uploaded after it
        make_container(home, late, periode=YEAR, records=20, tpf=[keys.get("tpf-dev")], ssb=[keys.get("ssb-dev")])
        new = tmp_path / "new-year.tar"
        make_container(home, new, periode=YEAR, records=25)
        assert stanzas(new, "identities.age") == stanzas(new, "data.age") == ("mlkem768x25519",)
        receipts = [first]
        for path in (late, new):
            code, receipt = put(server, path)
            assert code == 201 and receipt["status"] == "received", receipt
            receipts.append(receipt)
        references = [r["reference"] for r in receipts]
        rows = wait_for(
            lambda: (
                (u := uploads(home)) and all(u[r]["status"] in ("delivered", "quarantined") for r in references) and u
            ),
            timeout=90,
            interval=0.2,
            message="delivery of both years",
        )
        assert {r: rows[r]["status"] for r in references} == dict.fromkeys(references, "delivered"), rows
        assert [rows[r]["periode"] for r in references] == [YEAR - 1, YEAR, YEAR]
    finally:
        log = server.stop()
    delivered_once(home, references)
    for i, (reference, records) in enumerate(zip(references, (30, 20, 25))):
        package = home / "ssb-inbox" / f"{reference}.tar"
        assert stanzas(package, "pseudonyms.age") == (("X25519",) if i == 0 else ("mlkem768x25519",))
        assert stanzas(package, "data.age") == (("mlkem768x25519",) if i == 2 else ("X25519",))
        assert len(ssb_open(home, package, tmp_path / f"open{i}")) == records
    for name in ("received", "outbox", "quarantine", "incoming"):
        assert [p for p in (home / "spool" / name).iterdir() if not p.name.startswith(".")] == [], name
    assert_no_pq_secret_outside_private(home, log)
