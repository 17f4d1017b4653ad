"""A real sendemodul server process for integration tests, and containers made the way the municipal side does."""

import datetime
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from conftest import BIN

from sendemodul import container, identity, keydir, signing

SUPPORT = Path(__file__).resolve().parent / "support"
DEMO = "0301-00-958935420"


class Server:
    """``sendemodul serve`` on free loopback ports, in its own dev home."""

    def __init__(self, home, extra_config="", *, worker=False, sections=None, script=BIN, init_args=()):
        """``worker``: let the server run the pseudonymizer and forwarder (off by default, so that uploads stay
        ``received``); ``sections``: extra lines for config sections, e.g. ``{"forwarder": 'mode = "sftp"'}``;
        ``script``: the ``sendemodul`` script to run (another installation's); ``init_args``: more options for
        ``admin init --dev``, e.g. ``("--key-type", "age")`` for the classic keys earlier releases made."""
        self.script = Path(script)
        self.home = Path(home)
        self.extra_config = extra_config
        self.sections = {"worker": "" if worker else "embedded = false", **(sections or {})}
        self.proc = None
        self.opened_log = self.home.parent / "opened-files.txt"
        self.init_args = tuple(init_args)

    def init(self):
        subprocess.run(
            [str(self.script), "admin", "init", "--dev", *self.init_args, "--home", str(self.home)],
            check=True,
            capture_output=True,
        )
        config = self.home / "config.toml"
        text = config.read_text()
        text = text.replace("[server]\n", "[server]\nhttps_port = 0\nsftp_port = 0\n", 1)
        text = text.replace("[auth]\n", "[auth]\nfailure_delay_seconds = 0.2\n", 1)
        for section, lines in self.sections.items():
            text = text.replace(f"[{section}]\n", f"[{section}]\n{lines}\n", 1)
        config.write_text(text + "\n" + self.extra_config)
        self.pin = (self.home / "demo" / "pin.txt").read_text().strip()
        return self

    def start(self):
        env = {
            **os.environ,
            "SENDEMODUL_HOME": str(self.home),
            # (and any PYTHONPATH given, so that a second checkout's tests run its own code, not the editable one's)
            # (but never into another installation's script: the wheel test's server must run the installed wheel)
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(SUPPORT), os.environ.get("PYTHONPATH") if self.script == BIN else None])
            ),
            "SENDEMODUL_TEST_OPENED": str(self.opened_log),
        }
        self.proc = subprocess.Popen(
            [str(self.script), "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.home.parent,
        )
        self.output = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            match = re.search(r"HTTPS listening on https://[\d.]+:(\d+)/", line)
            if match:
                self.https_port = int(match.group(1))
            match = re.search(r"SFTP listening on [\d.]+:(\d+)", line)
            if match:
                self.sftp_port = int(match.group(1))
            if "sendemodul started" in line:
                return self
        self.proc.kill()
        raise AssertionError("server did not start:\n" + "".join(self.output))

    @property
    def url(self):
        return f"https://127.0.0.1:{self.https_port}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                out, _ = self.proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, _ = self.proc.communicate()
            self.output.append(out)
        return "".join(self.output)

    def spool(self, name):
        return sorted(p.name for p in (self.home / "spool" / name).iterdir())


def add_unit(home, unit, key_path, name="Testkommune"):
    """Register ``unit`` with a new signing key at ``key_path``; returns its PIN."""
    signing.write_new_key(key_path, unit)
    subprocess.run(
        [
            str(BIN),
            "admin",
            "unit",
            "add",
            unit,
            "--name",
            name,
            "--email",
            "kostra@example.org",
            "--signing-key",
            f"{key_path}.pub",
            "--home",
            str(home),
        ],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [str(BIN), "admin", "pin", "issue", unit, "--home", str(home)], check=True, capture_output=True, text=True
    ).stdout
    return out.strip().splitlines()[-1]


def make_container(
    home,
    out,
    *,
    unit=DEMO,
    register="11F",
    periode=2026,
    signing_key=None,
    records=3,
    tpf=None,
    ssb=None,
    data_bytes=40,
):
    """A real container for ``unit``, encrypted to the home's current dev keys (or the given RecipientKeys);
    ``data_bytes``: each record's data part (more makes a large file fast: few IDs to make and encrypt)."""
    home = Path(home)
    today = datetime.date.today()
    keys = keydir.load_key_dir(home / "keys")
    key = signing.load_private_key(signing_key or home / "demo" / "unit.key")
    rows = []
    for i in range(records):
        birth = datetime.date(1950, 1, 1) + datetime.timedelta(days=i % 20000)
        fnr = next(f for n in range(i // 20000, 1000) if (f := identity.generate_fnr(birth, n, kind="synthetic")))
        rows.append(((("PERSON_FODSELSNR", fnr),), f"record {i:06d}".ljust(data_bytes)))
    return container.write_container(
        out,
        unit=identity.parse_unit(unit, today.year),
        register=register,
        periode=periode,
        signing_key=key,
        tpf_recipients=tpf or keys.sealing_keys("tpf", today),
        ssb_recipients=ssb or keys.sealing_keys("ssb", today),
        rows=rows,
    )


def make_extract_container(
    home, out, *, unit=DEMO, register="11F", periode=2026, signing_key=None, records=20, seed=1, errors=None
):
    """A container of a synthetic extract of ``register`` (sendemodul.testing.extracts), with the chosen ``errors``
    ({record number: error kind}) left in: written without the municipal side's checks, as if SSB's rules at
    reception found what the unit's did not. Returns ``(manifest, {record number: journalnummer}, [ID numbers])``."""
    import io

    from sendemodul.profiles import load_profile
    from sendemodul.testing.extracts import generate_extract

    home = Path(home)
    today = datetime.date.today()
    keys = keydir.load_key_dir(home / "keys")
    profile = load_profile(register, periode)
    parsed = identity.parse_unit(unit, periode)
    extract = profile.open_extract(io.BytesIO(generate_extract(profile, parsed, records, seed=seed, errors=errors)))
    items = list(extract)
    manifest = container.write_container(
        out,
        unit=identity.parse_unit(unit, today.year),
        register=register,
        periode=periode,
        signing_key=signing.load_private_key(signing_key or home / "demo" / "unit.key"),
        tpf_recipients=keys.sealing_keys("tpf", today),
        ssb_recipients=keys.sealing_keys("ssb", today),
        rows=[(r.ids, r.data) for r in items],
        header_lines=extract.header_lines,
    )
    ids = [value for r in items for _, value in r.ids if value]
    return manifest, {n: r.journalnr for n, r in enumerate(items, 1)}, ids


def new_person(home, unit=DEMO, registers=("11F", "11CF", "15F"), email=None):
    """An enrolled person of ``unit`` made through the real registration and enrolment code on the home's database
    (the running server sees it at once): ``(email, secret)``. Each browser login in a test takes a new person, as a
    TOTP code is accepted once per 30-second step."""
    import dataclasses as _dataclasses
    import secrets as _secrets
    import time as _time

    from sendemodul import config as _config
    from sendemodul import enrolment, persons, totp
    from sendemodul.store import Store

    cfg = _config.load(home)
    cfg = _dataclasses.replace(cfg, mail=_dataclasses.replace(cfg.mail, enabled=False))  # the link as an .eml here
    store = Store.open(cfg.db_path)
    try:
        email = email or f"p{_secrets.token_hex(4)}@example.org"
        parsed = identity.parse_unit(unit, datetime.date.today().year)
        done = enrolment.register(
            cfg, store, parsed, name=f"Person {email.split('@')[0]}", email=email, mobile="", language="nb",
            registers=tuple(registers), registration={}, actor="test",
        )  # fmt: skip
        token = done.mail.read_text().split("/innmelding/")[1].split()[0]
        done.mail.unlink()
        _, secret = enrolment.open_enrolment(cfg, store, token)
        now = _time.time()
        assert enrolment.confirm_enrolment(cfg, store, token, totp.code_at(secret, now - 30), now)[0] == "ok"
        assert persons.registers_of(store.person_by_email(parsed, email)["registers"]) == tuple(registers)
    finally:
        store.close()
    return email, secret
