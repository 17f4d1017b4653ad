"""The server starts and stops cleanly under twistd and under ``sendemodul serve``."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import BIN, ROOT
from twisted.application.service import IServiceCollection

from sendemodul import config, service


def test_make_service_puts_the_store_first_so_it_stops_last(home):
    cfg = config.load(home)
    top = service.makeService(cfg)
    children = list(IServiceCollection(top))
    assert children[0] is top.db and top.db.store is top.store
    assert top.portal is not None
    top.store.close()


def _run_until_started(cmd, home, cwd):
    env = {**os.environ, "SENDEMODUL_HOME": str(home)}
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "sendemodul started" in line:
            return proc, lines
    proc.kill()
    raise AssertionError("server did not start:\n" + "".join(lines))


@pytest.mark.integration
@pytest.mark.parametrize("how", ["twistd", "serve"])
def test_starts_and_stops_cleanly(home, tmp_path, how):
    if how == "twistd":
        cmd = [str(Path(sys.executable).parent / "twistd"), "-ny", str(ROOT / "twistd.tac")]
        stop = signal.SIGTERM
    else:
        cmd = [str(BIN), "serve"]
        stop = signal.SIGINT
    proc, lines = _run_until_started(cmd, home, tmp_path)
    proc.send_signal(stop)
    out, _ = proc.communicate(timeout=60)
    text = "".join(lines) + out
    # twistd re-raises the stop signal after a clean shutdown, so the exit status says what stopped it
    assert proc.returncode in (0, -stop), text
    assert "Main loop terminated" in text and "database closed" in text and "Traceback" not in text
    assert not (tmp_path / "twistd.pid").exists()
    assert (home / "log" / "sendemodul.json").read_text().count("sendemodul started") == 1


@pytest.mark.integration
def test_serve_refuses_an_uninitialised_home(tmp_path):
    proc = subprocess.run([str(BIN), "serve", "--home", str(tmp_path / "none")], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("ERROR: ") and "admin init" in proc.stderr


@pytest.mark.integration
def test_a_port_in_use_is_a_clear_critical_error_and_the_server_stops(home, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config_path = home / "config.toml"
        config_path.write_text(
            config_path.read_text().replace("[server]\n", f"[server]\nhttps_port = {port}\nsftp_port = 0\n", 1)
        )
        env = {**os.environ, "SENDEMODUL_HOME": str(home)}
        proc = subprocess.run([str(BIN), "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert f"cannot listen (HTTPS): Couldn't listen on 127.0.0.1:{port}" in proc.stdout
    assert "Traceback" not in proc.stdout and "Main loop terminated" in proc.stdout


def test_pin_hashing_threads_run_at_a_lower_cpu_priority(home):
    """A storm of wrong PINs must not take the CPU from the reactor and uploads: hash threads are niced."""
    from sendemodul.service import _NiceThread

    seen = []
    thread = _NiceThread(target=lambda: seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
    thread.start()
    thread.join()
    assert seen == [min(19, os.getpriority(os.PRIO_PROCESS, 0) + _NiceThread.niceness)]
