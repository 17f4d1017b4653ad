"""Upgrading a state home made by the previous release (0.1.0, commit 8a87703) keeps everything working.

The old release's own code (taken from this repository's history with ``git archive``) makes the home with
``admin init --dev``, runs its server and takes an upload that stays waiting (no pseudonymizer running). Then this
release's server starts on the same home: its config (old port keys) and database (migrations 2 -> 3) migrate, the
old PIN logs in, the old receipt is still listed, the waiting upload is pseudonymized and delivered, a new upload with
the old PIN and the old classic keys goes through, and each is delivered exactly once.
"""

import json
import sqlite3
import subprocess
import sys

import pytest
from conftest import ROOT, run_cli
from server import DEMO, Server, make_container
from support.wait import wait_for

from sendemodul.store import Store

pytestmark = pytest.mark.integration

PREVIOUS_RELEASE = "8a87703"  # 0.1.0, the last release before this one (CHANGELOG.md)


def _previous_release(tmp_path):
    """A ``sendemodul`` script that runs the previous release's code on this interpreter (its dependencies are ours)."""
    old = tmp_path / "sendemodul-0.1.0"
    old.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", PREVIOUS_RELEASE], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    script = tmp_path / "sendemodul-0.1.0.sh"
    script.write_text(
        f'#!/bin/sh\nPYTHONPATH="{old}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{sys.executable}" -P -m sendemodul "$@"\n'
    )
    script.chmod(0o755)
    return script


def _get(server, path):
    proc = subprocess.run(
        [
            "curl", "-sS", "--cacert", str(server.home / "tls" / "server.pem"), "--max-time", "60",
            "-u", f"{DEMO}:{server.pin}", "-w", "\n%{http_code}", f"{server.url}{path}",
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    body, code = proc.stdout.rsplit("\n", 1)
    return int(code), json.loads(body)


def _put(server, path):
    proc = subprocess.run(
        [
            "curl", "-sS", "--cacert", str(server.home / "tls" / "server.pem"), "--max-time", "60",
            "-u", f"{DEMO}:{server.pin}", "-T", str(path), "-w", "\n%{http_code}",
            f"{server.url}/api/v1/uploads/{path.name}",
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    body, code = proc.stdout.rsplit("\n", 1)
    return int(code), json.loads(body)


def test_a_home_made_by_0_1_0_keeps_its_pin_receipts_keys_and_waiting_upload(tmp_path):
    home = tmp_path / "home"
    old = Server(home, script=_previous_release(tmp_path)).init()  # the old release's admin init --dev
    assert "https_port = 0" in (home / "config.toml").read_text()  # the old port keys, as 0.1.0 wrote them
    old.start()
    try:
        waiting = tmp_path / "waiting.tar"
        make_container(home, waiting, records=30)
        code, first = _put(old, waiting)
        assert code == 201 and first["status"] == "received", first
    finally:
        old.stop()
    with sqlite3.connect(home / "sendemodul.db") as db:  # read as it is: Store.open would migrate it
        assert db.execute("PRAGMA user_version").fetchone()[0] < 3  # 0.1.0's schema, before the credential epoch

    # this release on the same home, with its pseudonymizer and forwarder
    config = home / "config.toml"
    config.write_text(config.read_text().replace("[worker]\nembedded = false\n", "[worker]\n", 1))
    new = Server(home)
    new.pin = old.pin
    new.start()
    try:
        code, listed = _get(new, "/api/v1/uploads")  # the old PIN logs in; the old receipt is there
        assert code == 200, listed
        assert first["reference"] in json.dumps(listed)
        later = tmp_path / "later.tar"
        make_container(home, later, records=30)  # sealed to the old release's classic keys
        code, second = _put(new, later)
        assert code == 201, second
        references = [first["reference"], second["reference"]]

        def delivered():
            states = [_get(new, f"/api/v1/uploads/{r}")[1].get("status") for r in references]
            return states == ["delivered", "delivered"] and states

        wait_for(delivered, timeout=120, interval=0.5, message="both uploads to be delivered")
    finally:
        new.stop()
    store = Store.open(home / "sendemodul.db")
    try:
        events = [json.loads(e.detail)["reference"] for e in store.audit_entries() if e.event == "upload.delivered"]
        assert store.schema_version() >= 3
    finally:
        store.close()
    assert sorted(events) == sorted(references)  # exactly once each
    inbox = sorted(p.name for p in (home / "ssb-inbox").iterdir() if not p.name.startswith("."))
    assert inbox == sorted(f"{r}.tar" for r in references)
    assert run_cli("admin", "audit", "verify", home=home).returncode == 0  # the old chain goes on unbroken
