"""Issue 17 end to end with real processes: an upload over HTTPS, the pseudonymizer and the forwarder (SFTP push to a
real OpenSSH sshd as SSB's server), ``ssb check`` and ``ssb answer --return`` at SSB, the answer carried back by the
forwarder over SFTP, the unit's overview in Chromium, the receipt over SFTP, one e-mail on a real SMTP server; then a
corrected upload, ``ssb answer --accept`` and "Godkjent av SSB". A forged and a replayed answer on the same way back
are refused and audited. No ID number and no data plaintext at the TPF, in the pages or in the e-mails."""

import json

import paramiko
import pytest
from conftest import grep_tree, run_cli
from server import Server, make_extract_container
from support.browsers import playwright_chromium
from support.wait import wait_for
from test_pipeline import Sshd, api_get, curl_upload, uploads
from test_web_browser import login

from sendemodul import signing
from sendemodul.store import Store

pytestmark = pytest.mark.integration

ERRORS = {2: "CODE", 4: "ID_INVALID"}
MESSAGE = "Feil i kodene på to rader. Rett opp og send inn på nytt før fristen."


def _store_call(server, f):
    store = Store.open(server.home / "sendemodul.db")
    try:
        return f(store)
    finally:
        store.close()


def _status(server, reference):
    return uploads(server.home)[reference]["status"]


def _sftp_receipt(server, reference):
    """The receipt as the unit reads it over SFTP (paramiko, PIN login)."""
    transport = paramiko.Transport(("127.0.0.1", server.sftp_port))
    try:
        transport.connect(username="0301-00-958935420", password=server.pin)
        sftp = paramiko.SFTPClient.from_transport(transport)
        with sftp.open(f"/receipts/{reference}.json", "rb") as f:
            return json.loads(f.read())
    finally:
        transport.close()


def _overview(browser, server):
    context = browser.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        login(page, server)
        page.goto(server.url + "/innsendinger")
        return page.content(), page.inner_text("main")
    finally:
        context.close()


def _answer(server, sshd, reference, tmp_path, *args):
    """At SSB: ``ssb answer`` for the delivered package, then put into the folder the TPF reads (a temporary name,
    then renamed, as an upload to an SFTP folder would be)."""
    out = tmp_path / f"{reference}.json"
    run_cli(
        "ssb",
        "answer",
        sshd.inbox / f"{reference}.tar",
        *args,
        "--signing-key",
        server.home / "private" / "ssb-signing.key",
        "-o",
        out,
    )
    _send(sshd, out.name, out.read_bytes())
    return out


def _send(sshd, name, data):
    part = sshd.dir / "answers" / f".{name}.part"
    part.write_bytes(data)
    part.rename(sshd.dir / "answers" / name)


def test_returned_then_corrected_and_accepted_end_to_end(tmp_path, smtp):
    sshd = Sshd(tmp_path / "ssb").start()
    (sshd.dir / "answers").mkdir()
    forwarder = (
        sshd.forwarder_section() + f'\nanswers_remote_dir = "{sshd.dir / "answers"}"\nanswers_poll_seconds = 0.3'
    )
    mail = f"enabled = true\nsmtp_port = {smtp.port}\ncheck_seconds = 0.3"
    server = Server(tmp_path / "home", worker=True, sections={"forwarder": forwarder, "mail": mail}).init()
    server.start()
    ids = []
    pages = []
    try:
        first = tmp_path / "first.tar"
        _, journal, first_ids = make_extract_container(server.home, first, records=8, errors=ERRORS)
        ids += first_ids
        r1 = curl_upload(server, first)["reference"]
        wait_for(lambda: _status(server, r1) == "delivered", timeout=60, interval=0.2, message="first delivery")

        # SSB checks at reception and returns it with the report's rows
        report = tmp_path / "report.json"
        proc = run_cli(
            "ssb", "check", sshd.inbox / f"{r1}.tar", "--identity", server.home / "private" / "ssb.agekey",
            "-o", report, "--keys", server.home / "keys", check=False,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        findings = json.loads(report.read_text())["findings"]
        assert {f["journalnr"] for f in findings} >= {journal[2], journal[4]}
        answer_file = _answer(server, sshd, r1, tmp_path, "--return", "--message", MESSAGE, "--report", report)
        replay = answer_file.read_bytes()
        wait_for(lambda: _status(server, r1) == "returned", timeout=60, interval=0.2, message="the answer back")
        assert (sshd.dir / "answers" / "done" / answer_file.name).exists()

        status = api_get(server, r1)
        assert status["status"] == "returned" and status["answer"]["message"] == MESSAGE
        assert {e["journalnr"] for e in status["answer"]["errors"]} >= {journal[2], journal[4]}
        receipt = _sftp_receipt(server, r1)
        assert receipt["status"] == "returned" and receipt["answer"]["decision"] == "returned"

        wait_for(lambda: len(smtp.messages) == 1, timeout=30, interval=0.2, message="the e-mail about the answer")
        _, recipients, message = smtp.messages[0]
        body = message.get_content()
        assert recipients == ["demo@example.org"] and r1 in message["Subject"]  # the unit's person for 11F
        assert MESSAGE in body and journal[2] in body and journal[4] in body

        with playwright_chromium() as browser:
            html, text = _overview(browser, server)
            pages.append(html)
            assert "Returnert" in text and MESSAGE in text
            assert journal[2] in text and journal[4] in text

            # a forged answer (another key) and the replayed one come back the same way: refused, nothing changes
            forger = signing.write_new_key(tmp_path / "forger.key", "forger")
            forged = tmp_path / "forged.json"
            run_cli(
                "ssb", "answer", sshd.inbox / f"{r1}.tar", "--accept", "--signing-key", tmp_path / "forger.key",
                "-o", forged,
            )  # fmt: skip
            del forger
            _send(sshd, "forged.json", forged.read_bytes())
            _send(sshd, "again.json", replay)
            wait_for(
                lambda: (
                    {"forged.json", "again.json"} <= {p.name for p in (sshd.dir / "answers" / "refused").iterdir()}
                    if (sshd.dir / "answers" / "refused").is_dir()
                    else False
                ),
                timeout=60,
                interval=0.2,
                message="both refused",
            )
            assert _status(server, r1) == "returned" and api_get(server, r1)["answer"]["message"] == MESSAGE
            store = Store.open(server.home / "sendemodul.db")
            try:
                refused = [json.loads(e.detail)["code"] for e in store.audit_entries() if e.event == "answer.refused"]
            finally:
                store.close()
            assert sorted(refused) == ["answer_replayed", "answer_signature"]

            # the corrected delivery supersedes the returned one and is accepted
            second = tmp_path / "second.tar"
            _, _, second_ids = make_extract_container(server.home, second, records=8, seed=2)
            ids += second_ids
            r2 = curl_upload(server, second)["reference"]
            wait_for(lambda: _status(server, r2) == "delivered", timeout=60, interval=0.2, message="second delivery")
            _answer(server, sshd, r2, tmp_path, "--accept")
            wait_for(lambda: _status(server, r2) == "accepted", timeout=60, interval=0.2, message="accepted")
            # the persons of the unit who may report 11F when the answer came (the first browser login made one)
            people = _store_call(server, lambda s: [e for e, _ in s.answer_recipients("0301-00-958935420", "11F")])
            html, text = _overview(browser, server)
            pages.append(html)
            assert "Godkjent av SSB" in text
            assert uploads(server.home)[r1]["superseded_by"] == r2
        # one e-mail to each person of the unit who may report 11F (the browser logins made new ones)
        wait_for(
            lambda: len(smtp.messages) == 1 + len(people), timeout=30, interval=0.2, message="the acceptance e-mails"
        )
        assert sorted(rcpt for _, (rcpt,), _ in smtp.messages[1:]) == sorted(people) and len(people) >= 2
        assert all("godkjent" in m["Subject"] for _, _, m in smtp.messages[1:])
        state = json.loads(
            run_cli("admin", "status", "--register", "11F", "--periode", "2026", "--json", home=server.home).stdout
        )
        assert {row["state"] for row in state if row["unit"] == "0301-00-958935420"} == {"accepted"}
    finally:
        log = server.stop()
        sshd.stop()
    # no ID number anywhere at the TPF, in the pages or in the e-mails; no data plaintext at the TPF
    mails = "".join(m.as_string() for _, _, m in smtp.messages)
    for fnr in ids:
        assert grep_tree(server.home, fnr.encode()) == [], fnr
        assert fnr not in mails and all(fnr not in html for html in pages)
        assert fnr not in log
    assert grep_tree(server.home / "spool", journal[2].encode()) == []
