"""Separation between users (issue 14, item 8): the front, the pseudonymizer and the forwarder as three users.

The integration tests run as root (as CI does): they create real system users with fixed names (reused, never
deleted, so parallel runs do not pull them from under each other), a home with ``admin init`` as root, and check
with ``os.access`` and a real ``open`` in a child running as each user who can open what."""

import fcntl
import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from server import make_container
from support.wait import wait_for

from sendemodul import config, privileges
from sendemodul.errors import ConfigError

GROUP = "sendemodul-test"
USERS = {"front": "sendemodul-test-front", "worker": "sendemodul-test-worker", "forwarder": "sendemodul-test-forwarder"}
KEYS = ("tpf.agekey", "ssb.agekey", "tpf-signing.key", "pseudonym-master.key")
PROCESS_SECTION = "".join(f'{role}_user = "{name}"\n' for role, name in USERS.items()) + f'group = "{GROUP}"\n'

#: These tests create system users: they run as root (as CI does), and fail, never skip, where they cannot.
needs_root = pytest.mark.usefixtures("running_as_root")


@pytest.fixture
def running_as_root():
    assert os.geteuid() == 0 and shutil.which("useradd"), "creates system users: run as root (CI does), with useradd"


# -- configuration (pure) ---------------------------------------------------------------------------------------


def test_process_users_default_to_none_and_change_nothing(tmp_path):
    """The dev default: no users, so nothing drops, nothing is chowned, the server supervises its children itself."""
    from sendemodul.supervisor import front_services

    cfg = config.parse("", tmp_path)
    assert cfg.process.front_user == "" and privileges.accounts(cfg) is None
    assert privileges.plan(cfg, "front") is None and privileges.apply_ownership(cfg) == []
    assert front_services(cfg, reactor=None) == (None, None)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('front_user = "a"', "process.worker_user"),
        ('front_user = "a"\nworker_user = "b"\nforwarder_user = "a"', "process.front_user"),
        ('front_user = "Bad Name"', "process.front_user"),
        ('front_user = "root"\nworker_user = "b"\nforwarder_user = "c"', "process.front_user"),
        ('front_user = "a"\nworker_user = "b"\nforwarder_user = "c"\ngroup = ""', "process.group"),
        ("front_uid = 5", "process.front_uid"),
    ],
)
def test_a_bad_process_section_is_an_error_naming_the_key(tmp_path, text, key):
    """Partial, repeated, root or malformed users (and unknown keys) are refused with the key in the message."""
    with pytest.raises(ConfigError, match=re.escape(key)):
        config.parse(f"[process]\n{text}\n", tmp_path)


def test_an_unknown_user_is_an_error_at_start_naming_the_key(tmp_path):
    """A well-formed name that does not exist on the machine: ConfigError naming the key, before anything runs."""
    cfg = config.parse(
        '[process]\nfront_user = "nobody"\nworker_user = "sendemodul-no-such-user"\n'
        'forwarder_user = "sendemodul-no-such-either"\ngroup = "nogroup"\n',
        tmp_path,
    )
    with pytest.raises(ConfigError, match=r"process\.worker_user.*no user 'sendemodul-no-such-user'"):
        privileges.accounts(cfg)
    cfg = config.parse(
        '[process]\nfront_user = "a"\nworker_user = "b"\nforwarder_user = "c"\ngroup = "sendemodul-no-such-group"\n',
        tmp_path,
    )
    with pytest.raises(ConfigError, match=r"process\.group"):
        privileges.accounts(cfg)


def test_admin_init_refuses_an_unknown_user(tmp_path):
    """``admin init`` with a config naming an unknown user fails with one ERROR line naming the key."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        '[process]\nfront_user = "sendemodul-no-such-front"\n'
        'worker_user = "sendemodul-no-such-worker"\n'
        'forwarder_user = "sendemodul-no-such-fwd"\ngroup = "root"\n'
    )
    proc = run_cli("admin", "init", "--home", home, check=False)
    assert proc.returncode == 1
    assert "ERROR: config key 'process.front_user': there is no user 'sendemodul-no-such-front'" in proc.stderr


def _fake_accounts():
    return privileges.Accounts(
        front=privileges.Account("front", "f", 5001, 5001),
        worker=privileges.Account("worker", "w", 5002, 5002),
        forwarder=privileges.Account("forwarder", "d", 5003, 5003),
        group="g",
        gid=5000,
    )


def test_ownership_gives_each_key_to_the_one_process_that_opens_it(tmp_path):
    """The ownership table (pure: no chown): the TPF keys to the worker, the forwarder's SSH key (sftp mode) to the
    forwarder, the TLS key to the front, the database to the group, the home itself last."""
    home = tmp_path / "home"
    for d in ("private", "tls", "spool/outbox"):
        (home / d).mkdir(parents=True)
    for name in (
        "private/tpf.agekey",
        "private/pseudonym-master.key",
        "private/forwarder_ed25519",
        "tls/server.pem",
        "sendemodul.db",
        "config.toml",
    ):
        (home / name).write_text("x")
    cfg = config.parse(
        '[forwarder]\nmode = "sftp"\nhost = "h"\nusername = "u"\n'
        'private_key = "private/forwarder_ed25519"\nhost_key = "ssh-ed25519 AAAA"\n',
        home,
    )
    rows = {row.path.relative_to(home).as_posix(): row for row in privileges.ownership(cfg, _fake_accounts())}
    assert (rows["private/tpf.agekey"].uid, rows["private/tpf.agekey"].mode) == (5002, 0o600)
    assert rows["private/pseudonym-master.key"].uid == 5002
    assert (rows["private/forwarder_ed25519"].uid, rows["private/forwarder_ed25519"].mode) == (5003, 0o600)
    assert (rows["private"].uid, rows["private"].mode) == (0, 0o711)
    assert (rows["tls/server.pem"].uid, rows["tls"].mode) == (5001, 0o700)
    assert (rows["sendemodul.db"].gid, rows["sendemodul.db"].mode) == (5000, 0o660)
    assert (rows["config.toml"].uid, rows["config.toml"].mode) == (0, 0o640)
    assert (rows["spool/outbox"].uid, rows["spool/outbox"].mode) == (5003, 0o3770)
    order = list(rows)
    assert order[-1] == "." and order.index("private/tpf.agekey") < order.index("private")


# -- real users (root) --------------------------------------------------------------------------------------------


def _locked(name):
    """An exclusive lock shared by every test process on this machine (user creation, the side venv)."""
    fd = os.open(f"/tmp/.{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


@pytest.fixture(scope="session")
def accounts():
    """The test group and three system users (idempotent: created once, reused after)."""
    assert os.geteuid() == 0 and shutil.which("useradd"), "creates system users: run as root (CI does), with useradd"
    fd = _locked("sendemodul-test-users")
    try:
        try:
            grp.getgrnam(GROUP)
        except KeyError:
            subprocess.run(["groupadd", "--system", GROUP], check=True)
        for name in USERS.values():
            try:
                pwd.getpwnam(name)
            except KeyError:
                subprocess.run(
                    [
                        "useradd",
                        "--system",
                        "--user-group",
                        "--groups",
                        GROUP,
                        "--no-create-home",
                        "--home-dir",
                        "/nonexistent",
                        "--shell",
                        "/usr/sbin/nologin",
                        name,
                    ],
                    check=True,
                )
    finally:
        os.close(fd)
    return {role: pwd.getpwnam(name) for role, name in USERS.items()} | {"group": grp.getgrnam(GROUP)}


def _run_as(entry, shared_gid, args, **kwargs):
    """Run ``args`` as ``entry`` (a pwd entry) with the shared group, as the server's processes run."""
    return subprocess.run(
        args,
        user=entry.pw_uid,
        group=entry.pw_gid,
        extra_groups=[shared_gid],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


@pytest.fixture(scope="session")
def privsep_bin(accounts):
    """A bin directory with ``python`` and ``sendemodul`` that the test users can run.

    Usually the test's own. Where that interpreter lives under a directory only root can enter (here, pyenv under
    /root), a venv from the system's python3 with this checkout installed editable (built once, then reused)."""
    front, shared = accounts["front"], accounts["group"].gr_gid
    own = Path(sys.executable).parent
    try:
        if _run_as(front, shared, [str(own / "python"), "-c", "import sendemodul.supervisor"], cwd="/").returncode == 0:
            return own
    except PermissionError:  # the interpreter itself is out of reach
        pass
    venv = Path("/var/tmp/sendemodul-privsep-venv")
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + str(ROOT).encode()).hexdigest()
    fd = _locked("sendemodul-privsep-venv")
    try:
        stamp = venv / ".installed"
        if not stamp.exists() or stamp.read_text() != want:
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
            subprocess.run(
                [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "-e", str(ROOT)],
                check=True,
                capture_output=True,
            )
            stamp.write_text(want)
    finally:
        os.close(fd)
    probe = _run_as(front, shared, [str(venv / "bin" / "python"), "-c", "import sendemodul.supervisor"], cwd="/")
    assert probe.returncode == 0, probe.stderr
    return venv / "bin"


@pytest.fixture
def prod_home(accounts):
    """A dev home (keys, demo unit) made by ``admin init`` as root, with the three users configured, on free ports,
    in a directory the users can reach (pytest's own tmp directories are root's only)."""
    base = Path(tempfile.mkdtemp(prefix="sendemodul-privsep-", dir="/tmp"))
    os.chmod(base, 0o755)
    home = base / "home"
    home.mkdir()
    text = config.render_default("dev")
    text = text.replace("[server]\n", "[server]\nhttps_port = 0\nsftp_port = 0\n", 1)
    text = text.replace("[auth]\n", "[auth]\nfailure_delay_seconds = 0.2\n", 1)
    text = text.replace("[worker]\n", "[worker]\npoll_seconds = 0.2\n", 1)
    text = text.replace("[forwarder]\n", "[forwarder]\npoll_seconds = 0.2\n", 1)
    text = text.replace("[process]\n", f"[process]\n{PROCESS_SECTION}", 1)
    (home / "config.toml").write_text(text)
    out = run_cli("admin", "init", "--dev", "--home", home).stdout
    assert "owners:" in out
    yield home
    shutil.rmtree(base, ignore_errors=True)


PROBE = textwrap.dedent("""
    import json, os, sys
    result = {}
    for path in sys.argv[2:]:
        mode = os.R_OK if sys.argv[1] == "read" else os.R_OK | os.W_OK
        flags = os.O_RDONLY if sys.argv[1] == "read" else os.O_RDWR
        try:
            os.close(os.open(path, flags))
            opened = "ok"
        except OSError as e:
            opened = e.__class__.__name__
        result[path] = [os.access(path, mode), opened]
    print(json.dumps(result))
""")


def probe(accounts, role, how, paths):
    """``{path: [os.access, outcome of a real open]}`` as seen by ``role``'s user (a child with its uid/gid)."""
    proc = _run_as(
        accounts[role], accounts["group"].gr_gid, ["/usr/bin/python3", "-c", PROBE, how, *map(str, paths)], cwd="/"
    )
    assert proc.returncode == 0, proc.stderr
    return {Path(k): v for k, v in json.loads(proc.stdout).items()}


@pytest.mark.integration
@needs_root
def test_only_the_worker_user_can_open_the_keys(accounts, prod_home):
    """After ``admin init`` as root: the TPF/SSB age identities, the TPF signing key and the pseudonym master key are
    the worker's, mode 0600; the front's user (and the forwarder's) can neither access nor open them, the worker's
    user can."""
    keys = [prod_home / "private" / name for name in KEYS]
    for path in keys:
        st = path.stat()
        assert (st.st_uid, st.st_mode & 0o777) == (accounts["worker"].pw_uid, 0o600), path
    assert all(v == [False, "PermissionError"] for v in probe(accounts, "front", "read", keys).values())
    assert all(v == [False, "PermissionError"] for v in probe(accounts, "forwarder", "read", keys).values())
    assert all(v == [True, "ok"] for v in probe(accounts, "worker", "read", keys).values())
    # the listing of private/ is closed too, and the front's own keys are closed to the worker and forwarder
    for role in ("front", "worker", "forwarder"):
        listing = _run_as(accounts[role], accounts["group"].gr_gid, ["ls", str(prod_home / "private")], cwd="/")
        assert listing.returncode != 0, role
    front_keys = [prod_home / "tls" / "server.pem", prod_home / "ssh" / "host_ed25519"]
    assert all(v == [True, "ok"] for v in probe(accounts, "front", "read", front_keys).values())
    for role in ("worker", "forwarder"):
        assert all(not v[0] and v[1] == "PermissionError" for v in probe(accounts, role, "read", front_keys).values())


@pytest.mark.integration
@needs_root
def test_admin_init_refuses_to_leave_a_key_the_front_could_read(accounts, prod_home):
    """The final check of ``admin init``: a key file in private/ readable by the front's user (by owner, group or
    mode) is an error."""
    cfg = config.load(prod_home)
    found = privileges.accounts(cfg)
    privileges.check_keys_private(cfg, found)  # as admin init left it
    stray = prod_home / "private" / "stray.key"
    stray.write_text("secret")
    for uid, gid, mode in [
        (found.front.uid, found.front.gid, 0o600),
        (found.worker.uid, found.gid, 0o640),
        (found.worker.uid, found.worker.gid, 0o604),
    ]:
        os.chown(stray, uid, gid)
        os.chmod(stray, mode)
        with pytest.raises(privileges.PrivilegeError, match=r"stray\.key could be read by the front"):
            privileges.check_keys_private(cfg, found)


@pytest.mark.integration
@needs_root
def test_the_database_and_spool_are_shared_through_the_group(accounts, prod_home):
    """Each process can read and write the database and the spool directories it works in (group ``sendemodul``);
    the config is read-only to all three; only the forwarder writes the SSB inbox."""
    db, cfg = prod_home / "sendemodul.db", prod_home / "config.toml"
    names = ("incoming", "received", "outbox", "quarantine")
    spool = [prod_home / "spool" / name for name in names]
    # (the group can create files in received/ and outbox/; the sticky bit keeps what it did not create safe)
    writes = {
        "front": {"incoming", "received", "outbox"},
        "worker": {"received", "outbox", "quarantine"},
        "forwarder": {"received", "outbox"},
    }
    for role in ("front", "worker", "forwarder"):
        seen = probe(accounts, role, "write", [db, *spool])
        assert seen[db] == [True, "ok"], role
        assert {d.name for d in spool if seen[d][0]} == writes[role], role  # os.access(R_OK | W_OK) on the dirs
        assert probe(accounts, role, "write", [cfg])[cfg] == [False, "PermissionError"], role
        assert probe(accounts, role, "read", [cfg])[cfg] == [True, "ok"], role
    package = prod_home / "spool" / "outbox" / "SM-TEST.tar"
    made = _run_as(
        accounts["worker"],
        accounts["group"].gr_gid,
        ["/usr/bin/python3", "-c", f"open({str(package)!r}, 'w').write('package')"],
        cwd="/",
    )
    assert made.returncode == 0, made.stderr
    replace = (
        f"import os; open({str(package)!r} + '.x', 'w').close(); os.replace({str(package)!r} + '.x', {str(package)!r})"
    )
    swap = _run_as(accounts["front"], accounts["group"].gr_gid, ["/usr/bin/python3", "-c", replace], cwd="/")
    assert "PermissionError" in swap.stderr and package.read_text() == "package"  # sticky: the front cannot swap it
    remove = f"import os; os.unlink({str(package)!r})"
    assert (
        _run_as(accounts["forwarder"], accounts["group"].gr_gid, ["/usr/bin/python3", "-c", remove], cwd="/").returncode
        == 0
    )  # the outbox's owner removes delivered packages
    inbox = prod_home / "ssb-inbox"
    assert probe(accounts, "forwarder", "write", [inbox])[inbox][0]
    assert not probe(accounts, "front", "read", [inbox])[inbox][0]
    st = prod_home.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, accounts["group"].gr_gid, 0o3770)


@pytest.mark.integration
@needs_root
def test_a_process_started_as_another_user_refuses_to_run(accounts, prod_home, privsep_bin):
    """``sendemodul worker`` started as the forwarder's user (not root, not the worker's user) refuses at once."""
    proc = _run_as(
        accounts["forwarder"],
        accounts["group"].gr_gid,
        [str(privsep_bin / "sendemodul"), "worker", "--once", "--home", str(prod_home)],
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 1
    assert "the worker must run as user 'sendemodul-test-worker'" in proc.stderr


@pytest.mark.integration
@needs_root
def test_worker_and_forwarder_started_as_root_drop_to_their_users(accounts, prod_home, privsep_bin):
    """``sendemodul worker`` / ``forwarder`` started by root (no supervisor) drop to their own users before they
    touch the home: the lock file each creates belongs to its user."""
    for role in ("worker", "forwarder"):
        proc = subprocess.run(
            [str(privsep_bin / "sendemodul"), role, "--once", "--home", str(prod_home)],
            cwd="/",
            env={"PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert (prod_home / "spool" / f".{role}.lock").stat().st_uid == accounts[role].pw_uid


def _status(pid):
    ids = privileges.task_ids(f"/proc/{pid}/status")
    return ids["Uid"], ids["Gid"], ids["Groups"]


def _children(pid):
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if re.search(rf"^PPid:\s+{pid}$", status, re.M):
                kids.append((int(entry.name), cmdline))
    return kids


def _wait_for(predicate, what, timeout=60):
    return wait_for(predicate, timeout=timeout, interval=0.2, message=what)


def _serve(privsep_bin, home, output, **kwargs):
    """Start ``sendemodul serve`` for ``home``; returns (process, HTTPS port) once it has started."""
    env = {"PATH": os.environ["PATH"], "SENDEMODUL_HOME": str(home)}
    server = subprocess.Popen(
        [str(privsep_bin / "sendemodul"), "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd="/",
        **kwargs,
    )
    port = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any("sendemodul started" in line for line in output):
        line = server.stdout.readline()
        if not line:
            break
        output.append(line)
        if match := re.search(r"HTTPS listening on https://[\d.]+:(\d+)/", line):
            port = int(match.group(1))
    assert port and any("sendemodul started" in line for line in output), "".join(output)
    return server, port


def _stop(process, output):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        rest, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        rest, _ = process.communicate()
    output.append(rest or "")
    return process.returncode


def _upload_and_wait_for_delivery(home, port, tmp_path):
    """Upload a real container for the demo unit over HTTPS; wait until the forwarder put its package into the SSB
    inbox; return that file."""
    container = tmp_path / "upload.tar"
    make_container(home, container, periode=int(time.strftime("%Y")))
    pin = (home / "demo" / "pin.txt").read_text().strip()
    unit = (home / "demo" / "unit.txt").read_text().strip()
    answer = subprocess.run(
        [
            "curl",
            "-sS",
            "--cacert",
            str(home / "tls" / "server.pem"),
            "--max-time",
            "60",
            "-u",
            f"{unit}:{pin}",
            "-T",
            str(container),
            f"https://127.0.0.1:{port}/api/v1/uploads/{container.name}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    delivered = home / "ssb-inbox" / f"{json.loads(answer.stdout)['reference']}.tar"
    _wait_for(delivered.exists, "the package in the SSB inbox")
    return delivered


@pytest.mark.integration
@needs_root
def test_server_started_as_root_runs_each_process_as_its_own_user(accounts, prod_home, privsep_bin, tmp_path):
    """``sendemodul serve`` started as root with the three users: the front process (same pid) runs as the front's
    user with only the shared group; a root supervisor (no network) runs the pseudonymizer as the worker's user and
    the forwarder as the forwarder's; an upload goes all the way to the SSB inbox; SIGTERM ends every process."""
    uid = {role: accounts[role].pw_uid for role in USERS}
    shared = accounts["group"].gr_gid
    # what a compromised front could plant in the home (group-writable for SQLite): a package named like ours
    marker = prod_home.parent / "planted-code-ran"
    planted = _run_as(
        accounts["front"],
        shared,
        [
            "/usr/bin/python3",
            "-c",
            textwrap.dedent(f"""
        import os
        os.mkdir("{prod_home}/sendemodul")
        with open("{prod_home}/sendemodul/__init__.py", "w") as f:
            f.write("open({str(marker)!r}, 'w').close()\\nraise SystemExit('planted')\\n")
        """),
        ],
        cwd="/",
    )
    assert planted.returncode == 0, planted.stderr
    output, supervisors, children = [], [], {}
    server, port = _serve(privsep_bin, prod_home, output)
    try:
        assert any("front now runs as user sendemodul-test-front" in line for line in output)
        assert _status(server.pid) == ([uid["front"]] * 4, [accounts["front"].pw_gid] * 4, [shared])

        supervisors = _wait_for(
            lambda: [p for p, cmd in _children(server.pid) if "sendemodul.supervisor" in cmd], "the child supervisor"
        )
        assert len(supervisors) == 1 and _status(supervisors[0])[0] == [0] * 4
        assert Path(f"/proc/{supervisors[0]}/cwd").resolve() == Path("/")

        def both_children():
            kids = {
                role: p
                for p, cmd in _children(supervisors[0])
                for role in ("worker", "forwarder")
                if f"-m sendemodul {role} " in cmd
            }
            return kids if len(kids) == 2 else None

        children = _wait_for(both_children, "worker and forwarder")
        # the supervisor (root) keeps only what starting and stopping its children needs
        caps = dict(
            line.split(":\t")
            for line in Path(f"/proc/{supervisors[0]}/status").read_text().splitlines()
            if line.startswith("Cap")
        )
        kept = (1 << privileges.CAP_KILL) | (1 << privileges.CAP_SETGID) | (1 << privileges.CAP_SETUID)
        assert {k: int(v, 16) for k, v in caps.items() if k in ("CapEff", "CapPrm", "CapBnd")} == dict.fromkeys(
            ("CapEff", "CapPrm", "CapBnd"), kept
        )
        assert _status(children["worker"])[0] == [uid["worker"]] * 4
        assert _status(children["forwarder"])[0] == [uid["forwarder"]] * 4
        for name, pid in children.items():
            assert shared in _status(pid)[2], name
        # neither the root supervisor nor the key holder has an Internet socket
        for pid in (supervisors[0], children["worker"]):
            assert _unix_only(pid)

        delivered = _upload_and_wait_for_delivery(prod_home, port, tmp_path)
        assert delivered.stat().st_uid == uid["forwarder"]
        log = prod_home / "log" / "sendemodul.json"
        assert log.stat().st_uid == uid["front"]  # created by root before the drop, handed to the front
        assert not marker.exists()  # neither the root supervisor nor the worker imported the planted package
        # a killed pseudonymizer is restarted, as its user again, by the supervisor with its reduced capabilities
        os.kill(children["worker"], signal.SIGKILL)
        old_worker = children["worker"]
        children = _wait_for(
            lambda: (kids := both_children()) and kids["worker"] != old_worker and kids, "a new worker"
        )
        assert _status(children["worker"])[0] == [uid["worker"]] * 4
    finally:
        code = _stop(server, output)
    assert code in (0, -signal.SIGTERM), "".join(output)  # twistd ends by its own signal
    for pid in [*supervisors, *children.values()]:
        _wait_for(lambda pid=pid: _state(pid) in ("gone", "Z"), f"process {pid} to end", timeout=20)


def _free_privileged_port():
    import socket

    for port in range(990, 900, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("no free port below 1024")


@pytest.mark.integration
@needs_root
def test_started_as_root_the_front_binds_a_port_below_1024_before_it_drops(accounts, prod_home, privsep_bin):
    """A configured HTTPS port below 1024: bound while still root, then the front runs as its user."""
    port = _free_privileged_port()
    assert int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text()) > port, (
        "ports below 1024 are not privileged on this machine (net.ipv4.ip_unprivileged_port_start): nothing to test"
    )
    cfg = prod_home / "config.toml"
    cfg.write_text(cfg.read_text().replace("https_port = 0\n", f"https_port = {port}\n", 1))
    output = []
    server, listening = _serve(privsep_bin, prod_home, output)
    try:
        assert listening == port
        assert _status(server.pid)[0] == [accounts["front"].pw_uid] * 4
    finally:
        _stop(server, output)


@pytest.mark.integration
@needs_root
def test_each_process_started_as_its_own_user_as_the_systemd_units_do(accounts, prod_home, privsep_bin, tmp_path):
    """What the systemd units do, without systemd: serve, worker and forwarder each started directly as their own
    user (no root anywhere) work together; the front refuses to start with [worker] embedded = true then, since
    it could not start the others as their users."""
    shared = accounts["group"].gr_gid
    as_user = {
        role: {"user": accounts[role].pw_uid, "group": accounts[role].pw_gid, "extra_groups": [shared]}
        for role in USERS
    }
    refused = _run_as(
        accounts["front"],
        shared,
        [str(privsep_bin / "sendemodul"), "serve", "--home", str(prod_home)],
        cwd="/",
        env={"PATH": os.environ["PATH"]},
    )
    assert refused.returncode == 1 and "embedded = false" in refused.stderr, refused.stderr
    cfg = prod_home / "config.toml"
    cfg.write_text(cfg.read_text().replace("[worker]\n", "[worker]\nembedded = false\n", 1))

    output, others = [], {}
    server, port = _serve(privsep_bin, prod_home, output, **as_user["front"])
    try:
        assert not any("front now runs as" in line for line in output)  # nothing to drop
        assert _status(server.pid)[0] == [accounts["front"].pw_uid] * 4
        for role in ("worker", "forwarder"):
            others[role] = subprocess.Popen(
                [str(privsep_bin / "sendemodul"), role, "--home", str(prod_home)],
                cwd="/",
                env={"PATH": os.environ["PATH"]},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                **as_user[role],
            )
        delivered = _upload_and_wait_for_delivery(prod_home, port, tmp_path)
        assert delivered.stat().st_uid == accounts["forwarder"].pw_uid
    finally:
        for process in others.values():
            _stop(process, output)
        _stop(server, output)


def _state(pid):
    try:
        return re.search(r"^State:\s+(\S)", Path(f"/proc/{pid}/status").read_text(), re.M).group(1)
    except OSError:
        return "gone"


def _unix_only(pid):
    """True when every socket of ``pid`` is a Unix socket (socketpairs with its parent), none an inet one."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue  # the descriptor closed between the listing and the read: it holds no socket now
        if target.startswith("socket:"):
            inodes.add(target[8:-1])
    inet = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            inet.add(line.split()[9])
    return not inodes & inet


# -- systemd units ------------------------------------------------------------------------------------------------

UNITS = ("sendemodul.service", "sendemodul-worker.service", "sendemodul-forwarder.service")


@pytest.mark.integration
@pytest.mark.parametrize("unit", UNITS)
def test_systemd_unit_exposure_is_at_most_4(unit):
    """``systemd-analyze security --offline=yes`` rates each shipped unit 4.0 or lower ("OK" or better)."""
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing: run scripts/system-packages"
    path = ROOT / "scripts" / "systemd" / unit
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\S+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    assert float(match.group(1)) <= 4.0, proc.stdout


def test_spool_files_stay_0600_in_dev_and_are_group_readable_in_a_shared_spool(tmp_path):
    """The dev spool (directories 0700) keeps files 0600, exactly as before; a shared spool (2770) makes them 0640 so
    the next process can read them through the group."""
    from sendemodul.spool import file_mode

    dev, shared = tmp_path / "dev", tmp_path / "shared"
    dev.mkdir(mode=0o700)
    shared.mkdir()
    os.chmod(shared, 0o2770)
    assert (file_mode(dev), file_mode(shared)) == (0o600, 0o640)
