"""Two fronts behind HAProxy on one PostgreSQL and one spool (issue 20): nothing lost when a front is killed, the
worker fails over, and a ban decided by one front holds on the other. Real peers: PostgreSQL, HAProxy, curl,
OpenSSH's sftp, from several loopback addresses."""

import concurrent.futures
import hashlib
import json

import pytest
from cluster import HAProxy, curl_put, make_cluster, sftp_put
from conftest import run_cli
from server import make_container
from support.wait import wait_for

from sendemodul import audit
from sendemodul.store import Store

pytestmark = pytest.mark.integration

SOURCES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]


@pytest.fixture
def cluster(tmp_path, postgres):
    home, url, fronts = make_cluster(tmp_path, postgres, auth="source_ban_score = 6\nban_poll_seconds = 0.5")
    proxy = None
    try:
        fronts[0].start()
        wait_for(lambda: "pseudonymizer started" in fronts[0].text(), message="the first front's pseudonymizer")
        fronts[1].start()
        proxy = HAProxy(tmp_path, fronts).start()
        yield home, url, fronts, proxy
    finally:
        if proxy is not None:
            proxy.stop()
        for front in fronts:
            front.stop()
        postgres.drop_database(url)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_wrong_pin_storm_on_one_front_gets_its_source_banned_on_the_other(cluster, tmp_path):
    home, _url, (a, _b), proxy = cluster
    container = tmp_path / "c.tar"
    make_container(home, container)
    storm, calm = "127.0.0.6", "127.0.0.7"
    to_a, to_b = proxy.direct  # HAProxy ports that reach only the first, only the second front
    for _ in range(6):  # source_ban_score: each wrong PIN scores 1, all at the first front
        code, status, _ = curl_put(to_a["https"], home, container, source=storm, pin="WRONG-WRONG-PIN0")
        assert (code, status) == (0, 401)
    # the first front refuses the source at once (closed at accept); the second within its ban poll
    assert curl_put(to_a["https"], home, container, source=storm, pin=a.pin)[1] == 0
    probe = tmp_path / "probe.tar"  # (until the ban reaches it, the second front takes this upload)
    make_container(home, probe, records=4)
    wait_for(
        lambda: curl_put(to_b["https"], home, probe, source=storm, pin=a.pin)[1] == 0,
        timeout=10,
        message="the second front to refuse the banned source",
    )
    assert sftp_put(to_b["sftp"], container, source=storm, pin=a.pin).returncode != 0
    other = tmp_path / "other.tar"
    make_container(home, other, records=5)
    assert sftp_put(to_b["sftp"], other, source=calm, pin=a.pin).returncode == 0
    # ... and through HAProxy, whichever front it picks, while another source uploads as usual
    for _ in range(4):
        assert curl_put(proxy.https_port, home, container, source=storm, pin=a.pin)[1] == 0
    code, status, receipt = curl_put(proxy.https_port, home, container, source=calm, pin=a.pin)
    assert (code, status) == (0, 201) and receipt["sha256"] == sha256(container)


def upload(proxy, home, path, source, pin, protocol):
    """One upload through HAProxy; True when it was acknowledged (a 201 receipt, or sftp's put accepted)."""
    if protocol == "https":
        code, status, receipt = curl_put(proxy.https_port, home, path, source=source, pin=pin)
        return code == 0 and status == 201 and receipt["sha256"] == sha256(path)
    return sftp_put(proxy.sftp_port, path, source=source, pin=pin).returncode == 0


def test_a_front_killed_during_100_uploads_through_haproxy_loses_nothing_and_the_worker_fails_over(cluster, tmp_path):
    """One front is killed with SIGKILL during 100 uploads (HTTPS with curl, SFTP with OpenSSH, from four loopback
    addresses). Every acknowledged upload is recorded and delivered exactly once; every unacknowledged one succeeds
    when retried (on the other front); the pseudonymizer and forwarder of the killed front (they held the locks)
    are replaced by the other front's, which drain the queue; the audit chain verifies."""
    home, url, (a, b), proxy = cluster
    # the second front's pseudonymizer and forwarder wait for the locks
    wait_for(lambda: b.text().count("standby (another") == 2, message=lambda: f"both on standby: {b.text()}")
    paths = []
    for i in range(100):
        path = tmp_path / f"u{i:03d}.tar"
        make_container(home, path, records=3 + i)
        paths.append(path)
    jobs = [(p, SOURCES[i % len(SOURCES)], "https" if i % 2 else "sftp") for i, p in enumerate(paths)]
    acked, failed = {}, []
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        futures = {pool.submit(upload, proxy, home, p, s, a.pin, kind): (p, s, kind) for p, s, kind in jobs}
        for done, future in enumerate(concurrent.futures.as_completed(futures), start=1):
            path, source, kind = futures[future]
            if future.result():
                acked[path] = kind
            else:
                failed.append((path, source, kind))
            if done == 40:
                a.kill9()  # with uploads in flight on both fronts
    assert a.proc.returncode == -9
    assert len(acked) >= 40 and failed, "the kill should meet uploads in flight"
    print(f"{len(acked)} acknowledged at once, {len(failed)} cut off by the kill and retried")
    for path, source, kind in failed:  # each retried once, now reaching the second front
        if kind == "sftp":  # sftp's own words in the message, should it fail
            done = sftp_put(proxy.sftp_port, path, source=source, pin=a.pin)
            assert done.returncode == 0, f"the retry of {path.name} (sftp) failed: {done.stdout} {done.stderr}"
        else:
            assert upload(proxy, home, path, source, a.pin, kind), f"the retry of {path.name} ({kind}) failed"
        acked[path] = kind

    wait_for(lambda: "took over" in b.text(), timeout=30, message="the second front's worker to take over")
    store = Store.open(url)
    try:

        def delivered():
            rows = store.list_uploads()
            return len(rows) == 100 and all(r["status"] == "delivered" for r in rows)

        wait_for(delivered, timeout=180, interval=0.5, message=lambda: f"all delivered: {store.list_uploads()}")
        rows = store.list_uploads()
        assert sorted(r["sha256"] for r in rows) == sorted(sha256(p) for p in paths)  # each exactly once
        inbox = sorted(p.name for p in (home / "ssb-inbox").iterdir())
        assert inbox == sorted(f"{r['reference']}.tar" for r in rows)
        for event in ("upload.pseudonymized", "upload.delivered"):  # each package made once, delivered once
            references = [json.loads(e.detail)["reference"] for e in store.audit_entries() if e.event == event]
            assert sorted(references) == sorted(r["reference"] for r in rows), event
        assert audit.verify(store.audit_entries(), store.audit_head()) is None
    finally:
        store.close()
    out = run_cli("admin", "audit", "verify", home=home).stdout
    assert "audit log intact" in out
