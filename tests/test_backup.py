"""admin backup while uploads run, and admin restore into a new home: checked (integrity, files with their sizes and
SHA-256, the audit chain); there the pseudonymizer and the forwarder go on and deliver each upload exactly once."""

import json
import subprocess

import pytest
from conftest import run_cli
from server import DEMO, Server, make_container

from sendemodul.store import Store


def _curl_args(server, path, rate=None):
    return [
        "curl", "-sS", "--cacert", str(server.home / "tls" / "server.pem"), "--max-time", "120",
        *(["--limit-rate", rate] if rate else []),
        "-u", f"{DEMO}:{server.pin}", "-T", str(path), f"{server.url}/api/v1/uploads/{path.name}",
    ]  # fmt: skip


def _upload(server, path):
    out = subprocess.run(_curl_args(server, path), capture_output=True, text=True, check=True, timeout=120).stdout
    return json.loads(out)["reference"]


def _uploads(home):
    return {row["reference"]: row for row in json.loads(run_cli("admin", "uploads", "--json", home=home).stdout)}


@pytest.mark.integration
def test_backup_during_20_uploads_restores_into_a_new_home_that_delivers_each_upload_once(tmp_path):
    server = Server(tmp_path / "home", sections={"limits": "uploads_per_unit = 24"}).init().start()
    try:
        paths = [tmp_path / f"c{i:02d}.tar" for i in range(23)]
        for i, path in enumerate(paths):
            make_container(server.home, path, records=3 if i < 3 else 200)
        delivered = _upload(server, paths[0])
        run_cli("worker", "--once", home=server.home)
        run_cli("forwarder", "--once", home=server.home)
        queued = _upload(server, paths[1])
        run_cli("worker", "--once", home=server.home)
        received = _upload(server, paths[2])
        before = _uploads(server.home)
        assert (before[delivered]["status"], before[queued]["status"], before[received]["status"]) == (
            "delivered",
            "queued",
            "received",
        )

        # 20 uploads at once, each slowed to take seconds, and the backup while they run
        running = [
            subprocess.Popen(_curl_args(server, path, rate="1k"), stdout=subprocess.PIPE, text=True)
            for path in paths[3:]
        ]
        assert all(p.poll() is None for p in running)
        out = run_cli("admin", "backup", tmp_path / "backup", home=server.home).stdout
        assert "checked: OK" in out
        assert sum(p.poll() is None for p in running) > 0, "the backup ran while uploads were still in progress"
        answers = [json.loads(p.communicate(timeout=120)[0]) for p in running]
        assert all(a["status"] == "received" for a in answers)
        manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
        assert "private/tpf.agekey" not in manifest["files"]  # only with --with-private-keys
        assert "front/person-secrets.key" in manifest["files"]  # persons' TOTP secrets stay usable after a restore
    finally:
        server.stop()

    # a backup is only made into an empty directory
    again = run_cli("admin", "backup", tmp_path / "backup", home=server.home, check=False)
    assert again.returncode == 1 and "not empty" in again.stderr

    # the dev home's worker needs its keys: a second backup with them (the server stopped; same check)
    run_cli("admin", "backup", tmp_path / "backup-keys", "--with-private-keys", home=server.home)
    new = tmp_path / "restored"
    out = run_cli("admin", "restore", tmp_path / "backup-keys", "--home", new).stdout
    assert "checked: OK" in out
    assert "intact" in run_cli("admin", "audit", "verify", home=new).stdout
    restored = _uploads(new)
    assert set(before) <= set(restored) and len(restored) == 23
    assert restored[delivered]["status"] == "delivered"

    # the restore from the first backup (taken while uploads ran) checks out too, with the uploads accepted before it
    early = tmp_path / "restored-early"
    run_cli("admin", "restore", tmp_path / "backup", "--home", early)
    assert "intact" in run_cli("admin", "audit", "verify", home=early).stdout
    assert set(before) <= set(_uploads(early))

    # the pseudonymizer and the forwarder go on in the restored home: each upload delivered exactly once
    run_cli("worker", "--once", home=new)
    run_cli("forwarder", "--once", home=new)
    run_cli("forwarder", "--once", home=new)
    final = _uploads(new)
    assert {row["status"] for row in final.values()} == {"delivered"}
    inbox = sorted(p.name for p in (new / "ssb-inbox").iterdir())
    assert inbox == sorted(f"{ref}.tar" for ref in final if ref != delivered)
    store = Store.open(new / "sendemodul.db")
    events = [e for e in store.audit_entries() if e.event == "upload.delivered"]
    store.close()
    per_reference = {}
    for e in events:
        reference = json.loads(e.detail)["reference"]
        per_reference[reference] = per_reference.get(reference, 0) + 1
    assert per_reference == dict.fromkeys(final, 1)

    refused = run_cli("admin", "restore", tmp_path / "backup", "--home", new, check=False)
    assert refused.returncode == 1 and "not empty" in refused.stderr
