"""Metrics for Prometheus on their own listener, /healthz and /readyz: curl sees the counters move after an upload,
a refused login and a delivery; no unit, person, file name or reference in the output; basic auth when set."""

import json
import re
import subprocess

import pytest
from conftest import run_cli
from server import DEMO, Server, make_container
from support.wait import wait_for

from sendemodul import config, metrics

METRICS = (
    'enabled = true\nlisten = "tcp:0:interface=127.0.0.1"\nrefresh_seconds = 0.3\n'
    'username = "prom"\npassword = "s3cret-prom"'
)


def test_metrics_are_off_by_default_and_on_loopback_when_on():
    cfg = config.parse("", "/tmp/h")
    assert cfg.metrics.enabled is False and "interface=127.0.0.1" in cfg.metrics.listen
    with pytest.raises(config.ConfigError, match=r"metrics\.username"):
        config.parse('[metrics]\nusername = "prom"\n', "/tmp/h")
    open_to_all = '[metrics]\nenabled = true\nlisten = "tcp:9464:interface=0.0.0.0"\n'
    with pytest.raises(config.ConfigError, match=r"not a loopback address"):
        config.parse(open_to_all, "/tmp/h")
    assert config.parse(open_to_all + 'username = "p"\npassword = "q"\n', "/tmp/h").metrics.username == "p"


def test_a_register_label_is_only_ever_a_register_we_carry():
    assert metrics.register_label("11F") == "11F"
    assert metrics.register_label("0301-00-958935420") == "unknown"


def _curl(url, *args):
    out = subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", *args, url], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    body, _, code = out.rpartition("\n")
    return int(code), body


def _value(text, name, **labels):
    """The value of the sample ``name`` with exactly ``labels`` (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if got == labels:
            return float(match.group(3))
    return 0.0


@pytest.mark.integration
def test_counters_move_after_an_upload_a_refused_login_and_a_delivery(tmp_path):
    # The pseudonymizer and forwarder run from the test (--once), as the children of a server from a shared virtual
    # environment would run another checkout's code.
    server = Server(tmp_path / "home", sections={"metrics": METRICS}).init()
    server.start()
    try:
        port = int(re.search(r"metrics listening on [\d.]+:(\d+)", "".join(server.output)).group(1))
        base = f"http://127.0.0.1:{port}"
        auth = ("-u", "prom:s3cret-prom")
        assert _curl(f"{base}/metrics")[0] == 401
        assert _curl(f"{base}/healthz", "-u", "prom:wrong")[0] == 401
        assert _curl(f"{base}/healthz", *auth) == (200, "ok\n")
        before = _curl(f"{base}/metrics", *auth)[1]
        assert (
            _value(before, "sendemodul_uploads_total", protocol="https", register="11F", result="accepted", reason="")
            == 0
        )

        container_path = tmp_path / "demo-0301-00-958935420-upload.tar"
        make_container(server.home, container_path)
        cacert = ("--cacert", str(server.home / "tls" / "server.pem"))
        code, receipt = _curl(
            f"{server.url}/api/v1/uploads/{container_path.name}",
            *cacert,
            "-u",
            f"{DEMO}:{server.pin}",
            "-T",
            str(container_path),
        )
        assert code == 201
        code, _ = _curl(f"{server.url}/api/v1/uploads", *cacert, "-u", f"{DEMO}:000000wrong")
        assert code == 401

        run_cli("worker", "--once", home=server.home)
        run_cli("forwarder", "--once", home=server.home)

        def scraped():
            return _curl(f"{base}/metrics", *auth)[1]

        def delivered():
            text = scraped()
            return text if _value(text, "sendemodul_delivery_attempts_total", result="delivered") == 1 else None

        text = wait_for(delivered, timeout=60, message="the delivery in the metrics")
        assert (
            _value(text, "sendemodul_uploads_total", protocol="https", register="11F", result="accepted", reason="")
            == 1
        )
        assert _value(text, "sendemodul_upload_bytes_total", protocol="https") == container_path.stat().st_size
        assert _value(text, "sendemodul_upload_duration_seconds_count", protocol="https") == 1
        assert _value(text, "sendemodul_logins_total", protocol="https", result="failure") == 1
        assert _value(text, "sendemodul_logins_total", protocol="https", result="success") >= 1
        assert _value(text, "sendemodul_uploads_in_state", status="delivered", register="11F") == 1
        assert _value(text, "sendemodul_lag_seconds", stage="forwarder") == 0
        assert _value(text, "sendemodul_tls_certificate_days_left") > 300
        assert _value(text, "sendemodul_key_days_left", role="tpf") > 0
        assert _value(text, "sendemodul_hash_pool_pending") == 0
        assert "sendemodul_banned_sources 0.0" in text

        ready = wait_for(
            lambda: (r := _curl(f"{base}/readyz", *auth))[0] == 200 and r, timeout=30, message="/readyz ready"
        )
        assert "worker: ok" in ready[1] and "forwarder: ok" in ready[1] and "spool: ok" in ready[1]

        # nothing that names a unit, a person, a file or an upload: names, labels and help texts, without the values
        # (a float could hold any digits)
        words = "\n".join(line.rsplit(" ", 1)[0] if not line.startswith("#") else line for line in text.splitlines())
        reference = json.loads(receipt)["reference"]
        for needle in ("0301", "958935420", "Oslo", container_path.name, "kostra@", reference, "SM-"):
            assert needle not in words, needle
    finally:
        server.stop()


@pytest.mark.integration
def test_readyz_fails_while_the_pseudonymizer_and_forwarder_do_not_run(tmp_path):
    server = Server(tmp_path / "home", sections={"metrics": METRICS.split("\nusername")[0]}).init()
    server.start()
    try:
        port = int(re.search(r"metrics listening on [\d.]+:(\d+)", "".join(server.output)).group(1))
        code, body = _curl(f"http://127.0.0.1:{port}/readyz")
        assert code == 503
        assert "database: ok" in body and "worker: no heartbeat" in body and "forwarder: no heartbeat" in body
    finally:
        server.stop()
