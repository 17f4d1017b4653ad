"""scripts/bench's pure helpers (the benchmark itself is too slow for the suite: run ``scripts/bench --quick``)."""

import importlib.util
import json
import subprocess
import sys

import pytest
from conftest import ROOT

from sendemodul import identity

spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

REQUIRED_KEYS = (
    "sftp_ratio",
    "https_ratio",
    "sftp_rss_growth_mib",
    "https_rss_growth_mib",
    "concurrent_accepted",
    "concurrent_total",
    "concurrent_p99_s",
    "storm_ratio",
    "pseudonymizer_records_per_s",
    "pseudonymizer_rss_mib",
    "encrypt_records_per_s",
    "encrypt_rss_mib",
    # issue 25: each figure of its "Done when"
    "sftp_aead_ratio",
    "sftp_aead_front_cpu_per_gib_s",
    "sftp_front_cpu_per_gib_s",
    "concurrent_peer_p99_ratio",
    "concurrent_rss_growth_mib",
    "storm_cpu_ms_per_login",
    "storm_nginx_cpu_ms_per_handshake",
    "https_nginx_fsync_ratio",
    # issue 26: the browser module's 15 s from "Kontroller" to the saved container, and its progress bar
    "module_check_to_container_s",
    "module_check_s",
    "module_encrypt_s",
    "module_progress_at_end",
)


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert bench.percentile(values, 50) == 50
    assert bench.percentile(values, 99) == 99
    assert bench.percentile([3.0], 99) == 3.0
    assert bench.percentile([5, 1, 4, 2, 3], 100) == 5
    assert bench.percentile([], 50) is None


def test_only_accepts_steps_and_aliases_in_run_order():
    assert bench.parse_only("") == bench.STEPS
    assert bench.parse_only("https,sftp") == ("sftp", "https")
    assert bench.parse_only("pseudonymizer") == ("records",)
    assert bench.parse_only("15f,records") == ("records", "records15f")
    assert bench.parse_only("browser") == ("module",)
    with pytest.raises(ValueError, match="unknown step"):
        bench.parse_only("ftp")


def test_set_lines_go_into_their_config_sections():
    sections = bench.parse_set(["auth.hash_threads=2", 'log.console_level="warn"'])
    assert sections == {"auth": ["hash_threads = 2"], "log": ['console_level = "warn"']}
    text = bench.apply_config("[auth]\n# hash_threads = 4\n\n[log]\n", sections)
    assert text.startswith("[auth]\nhash_threads = 2\n# hash_threads = 4\n")
    assert '[log]\nconsole_level = "warn"\n' in text
    with pytest.raises(ValueError):
        bench.parse_set(["hash_threads=2"])


def test_bench_server_settings_raise_the_login_queue_and_keep_overrides():
    args = bench.parse_args(["--quick", "--set", "auth.max_pending_logins=64", "--set", "limits.io_threads=2"])
    assert (args.upload_mib, args.concurrent, args.records) == (64, 40, 50_000)
    assert args.server_sections["auth"] == ["max_pending_logins = 64"]
    assert args.server_sections["limits"] == ["io_threads = 2"]
    assert args.server_sections["worker"] == ["embedded = false"]
    assert bench.parse_args([]).server_sections["auth"] == ["max_pending_logins = 464"]


def test_generated_orgnrs_are_valid_and_distinct():
    orgnrs = bench.valid_orgnrs(400)
    assert len(set(orgnrs)) == 400
    for orgnr in orgnrs:
        assert identity.check_orgnr(orgnr) == orgnr


def test_each_unit_gets_its_own_loopback_source():
    addresses = {bench.source_address(3, i) for i in range(400)}
    assert len(addresses) == 400
    assert all(a.startswith("127.3.") and not a.endswith(".0") for a in addresses)


def test_table_shows_figures_with_targets_and_verdicts():
    results = {
        "sftp_ratio": 0.95,
        "https_ratio": 0.5,
        "concurrent_accepted": 399,
        "concurrent_total": 400,
        "encrypt_rss_mib": 80.0,
    }
    table = bench.format_table(results)
    lines = {line.split("  ")[0]: line for line in table.splitlines()}
    assert lines["SFTP ratio sendemodul/OpenSSH"].endswith("ok")
    assert lines["HTTPS ratio sendemodul/nginx"].endswith("FAIL")
    assert lines["concurrent uploads accepted"].endswith("FAIL")
    assert ">= 0.9" in lines["SFTP ratio sendemodul/OpenSSH"]


def test_every_required_json_key_has_a_table_row():
    keys = {key for key, *_ in bench.TARGETS}
    assert set(REQUIRED_KEYS) <= keys and set(bench.REQUIRED_KEYS) == set(REQUIRED_KEYS)


def test_aead_cpu_is_judged_against_ctr_hmac():
    results = {"sftp_front_cpu_per_gib_s": 7.5, "sftp_aead_front_cpu_per_gib_s": 5.0}
    assert bench.check("sftp_aead_front_cpu_per_gib_s", 5.0, results) == "ok"
    assert bench.check("sftp_aead_front_cpu_per_gib_s", 8.0, results) == "FAIL"
    assert bench.check("sftp_aead_front_cpu_per_gib_s", 8.0, {}) == ""


@pytest.mark.integration
def test_peer_password_check_costs_what_an_argon2id_pin_check_costs():
    """The peers' SHA-512-crypt (nginx auth_basic, the sshd wrapper) is calibrated to the Argon2id PIN check's CPU,
    and the hashes it writes for nginx are real crypt(3) hashes of the passwords."""
    cost = bench.calibrate_login_cost(samples=2)
    assert cost["rounds"] >= 1000
    assert 0.5 <= cost["crypt_ms"] / cost["argon2_ms"] <= 2.0
    hashes = bench.crypt_hashes([("0301-00-958935420", "ABCD-EFGH-JKMN"), ("u2", "p w")], 1000)
    check = subprocess.run(
        ["perl", "-e", 'print crypt($ARGV[0], $ARGV[1]) eq $ARGV[1] ? "same" : "differ"', "p w", hashes["u2"]],
        capture_output=True,
        text=True,
        check=True,
    )
    assert hashes["0301-00-958935420"].startswith("$6$rounds=1000$") and check.stdout == "same"


@pytest.mark.integration
def test_a_tiny_full_run_writes_every_figure_the_issue_names(tmp_path):
    """Every step that gives a "Done when" figure, at tiny sizes, against the real peers (sshd, nginx, curl,
    sftp): bench-results.json carries each key with a number, and no step failed."""
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench.py"),
            "--quick",
            "--only",
            "sftp,https,concurrent,storm,records,module",
            "--upload-mib",
            "2",
            "--concurrent",
            "4",
            "--concurrent-mib",
            "1",
            "--records",
            "500",
            "--pq-rounds",
            "1",
            "--module-records",
            "500",
            "--module-records-15f",
            "200",
            "--storm-rate",
            "20",
            "--storm-cpu-seconds",
            "1",
            "--output",
            str(out),
            "--tmpdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    results = json.loads(out.read_text())
    assert proc.returncode == 0 and results["errors"] == {}, proc.stderr[-3000:]
    missing = [key for key in REQUIRED_KEYS if not isinstance(results.get(key), int | float)]
    assert missing == [], proc.stderr[-3000:]
    assert results["concurrent_peer_accepted"] == 4 and results["concurrent_accepted"] == 4
    assert results["storm_cpu_refused"] > 0 and results["storm_nginx_refused"] > 0
    assert results["storm_twisted_tls_refused"] > 0  # the bare Twisted TLS server of the same storm
    assert "error" not in results["storm_tls_handshake_ms"], results["storm_tls_handshake_ms"]
    assert set(results["storm_work_per_login"]) == {"client", "sendemodul", "nginx", "twisted_tls", "nginx_hashed"}
    assert "storm CPU per login ratio sendemodul/nginx" in proc.stdout
    assert results["module_progress_at_end"] is True and results["module_records"] == 500
    # the same walk on a 15F extract (its figures have no target)
    assert results["module_15f_progress_at_end"] is True and results["module_15f_records"] == 200
    assert all(isinstance(results[f"module_15f_{k}"], float) for k in ("check_to_container_s", "check_s", "encrypt_s"))
    assert "browser module, 15F: Kontroller -> saved container (s)" in proc.stdout


@pytest.mark.integration
def test_help():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert "--quick" in proc.stdout and "--only" in proc.stdout and "--keep" in proc.stdout


def test_a_missing_peer_names_its_package_and_the_setup_script(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(bench, "find_tool", lambda name: None if name == "nginx" else f"/usr/bin/{name}")
    assert bench.main(["--quick", "--only", "https", "--output", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "nginx is missing (Debian package nginx)" in err and "scripts/system-packages" in err
    assert not (tmp_path / "r.json").exists()


@pytest.mark.integration
def test_floor_server_does_the_mandated_work_for_a_real_curl_upload(tmp_path):
    """scripts/floor_server.py (the bench's framework-free reference): a real curl PUT gets 201 with the file's
    SHA-256 (twice: the file's and the parts' stand-in), the body lands complete under its final name, and anything
    but a PUT with a length is refused."""
    import hashlib
    import json
    import os
    import time

    from sendemodul.home import self_signed_certificate
    from sendemodul.testing.peers import free_port

    cert = tmp_path / "server.pem"
    cert.write_bytes(self_signed_certificate())
    body = tmp_path / "body.bin"
    body.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # over 1 MiB: curl sends Expect: 100-continue
    port = free_port()
    out = tmp_path / "uploads"
    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / "floor_server.py"),
            "--port",
            str(port),
            "--cert",
            str(cert),
            "--dir",
            str(out),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while "floor server on" not in (line := server.stderr.readline()):
            assert line and time.monotonic() < deadline, "the floor server did not start"
        url = f"https://127.0.0.1:{port}/x.tar"
        put = subprocess.run(
            ["curl", "-sS", "--cacert", str(cert), "-w", "\n%{http_code}", "-T", str(body), url],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        answer, code = put.stdout.rsplit("\n", 1)
        assert code == "201"
        digest = hashlib.sha256(body.read_bytes()).hexdigest()
        assert json.loads(answer) == {"size": body.stat().st_size, "file": digest, "parts": digest}
        assert [p.name for p in out.iterdir()] == ["1.tar"]
        assert (out / "1.tar").read_bytes() == body.read_bytes()
        post = subprocess.run(
            ["curl", "-sS", "--cacert", str(cert), "-w", "%{http_code}", "-o", os.devnull, "-d", "x", url],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert post.stdout == "400"
    finally:
        server.kill()
        server.wait()


@pytest.mark.integration
def test_the_launcher_counts_a_child_from_its_exec_not_its_parents_pages_before(tmp_path):
    """A child forked from a big command holds (shares) the command's pages until it runs its own program: sampled
    then, the sum of peaks counted the command twice. The child here waits 0.5 s before its exec, long past the
    20 ms samples; only what it holds after the exec counts."""
    script = (
        "import os, time\n"
        "ballast = bytearray(os.urandom(1 << 20)) * 96\n"  # 96 MiB resident in the command
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(0.5)\n"
        "    os.execv(os.path.realpath('/bin/sleep'), ['sleep', '0.3'])\n"
        "os.waitpid(pid, 0)\n"
    )
    rusage = tmp_path / "rusage"
    subprocess.run(
        [sys.executable, "-c", bench.LAUNCHER, sys.executable, "-c", script],
        check=True,
        env={"BENCH_RUSAGE": str(rusage), "PATH": "/usr/bin:/bin"},
    )
    total_kib, _cpu, own_kib, processes = rusage.read_text().split()
    assert int(own_kib) > 96 * 1024 and processes == "1"
    assert int(total_kib) - int(own_kib) < 16 * 1024  # sleep's own few MiB, not the command's 96 again
