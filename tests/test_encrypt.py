"""The municipal side end to end: extract -> `sendemodul encrypt` -> verify -> TPF package -> `sendemodul ssb open`,
for every profile and year, with the real console script."""

import csv
import datetime
import io
import re

import pytest
from conftest import run_cli

from sendemodul import identity, keydir, package, signing, ssb
from sendemodul.profiles import available, load_profile
from sendemodul.testing import extracts
from sendemodul.verify import verify_container

DEMO = "0301-00-958935420"


@pytest.fixture(scope="module")
def dev_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("enc") / "var"
    run_cli("admin", "init", "--dev", home=home)
    return home


@pytest.mark.integration
@pytest.mark.parametrize("register, periode", available())
def test_round_trip_for_every_profile_and_year(dev_home, tmp_path, register, periode):
    profile = load_profile(register, periode)
    unit = identity.parse_unit(DEMO, periode)
    extract = tmp_path / "extract.dat"
    extract.write_bytes(extracts.generate_extract(profile, unit, 25, seed=periode))
    ids = {value for record in profile.open_extract(extract.open("rb")) for _, value in record.ids if value}
    out = tmp_path / "c.tar"
    proc = run_cli(
        "encrypt",
        "-r",
        register,
        "-p",
        periode,
        "-u",
        DEMO,
        "--signing-key",
        dev_home / "demo/unit.key",
        extract,
        "-o",
        out,
        home=dev_home,
    )
    assert "25 records" in proc.stdout
    today = datetime.date.today()
    keys = keydir.load_key_dir(dev_home / "keys")
    signing_key = keydir.parse_ed25519_public_key((dev_home / "demo/unit.key.pub").read_text())
    with open(out, "rb") as f:
        manifest = verify_container(f, unit=unit, signing_keys=[signing_key], key_dir=keys, today=today)
    assert (manifest.register, manifest.periode, manifest.records) == (register, periode, 25)
    # nothing ID-bearing in the container in clear
    raw = out.read_bytes()
    assert not [i for i in ids if i.encode() in raw]
    pkg = tmp_path / "pkg.tar"
    package.make_package(
        out,
        pkg,
        tpf_identities=keydir.load_age_identities(dev_home / "private/tpf.agekey"),
        master_key=bytes.fromhex((dev_home / "private/pseudonym-master.key").read_text().strip()),
        environment="dev",
        key_version=1,
        tpf_signing_key=signing.load_private_key(dev_home / "private/tpf-signing.key"),
        ssb_recipients=keys.current("ssb", today),
    )
    (tmp_path / "ssb").mkdir()
    opened = ssb.open_package(
        pkg,
        tmp_path / "ssb",
        ssb_identities=keydir.load_age_identities(dev_home / "private/ssb.agekey"),
        tpf_signing_keys=keys.current("tpf-signing", today),
    )
    rows = list(csv.DictReader(opened.csv_path.open(encoding="utf-8")))
    assert len(rows) == 25
    pseudonym_columns = [c for c in rows[0] if c.endswith("_pseudonym")]
    assert pseudonym_columns and all(any(r[c] for r in rows) for c in pseudonym_columns[:1])
    ssb_bytes = opened.csv_path.read_bytes() + opened.dat_path.read_bytes()
    assert not [i for i in ids if i.encode() in ssb_bytes]


@pytest.mark.integration
def test_encrypt_refuses_an_extract_with_errors_and_writes_nothing(dev_home, tmp_path):
    profile = load_profile("11CF", 2026)
    unit = identity.parse_unit(DEMO, 2026)
    extract = tmp_path / "bad.dat"
    good = extracts.generate_extract(profile, unit, 5, seed=1)
    extract.write_bytes(good + b"too short\n")
    out = tmp_path / "c.tar"
    proc = run_cli(
        "encrypt",
        "-r",
        "11CF",
        "-p",
        2026,
        "-u",
        DEMO,
        "--signing-key",
        dev_home / "demo/unit.key",
        extract,
        "-o",
        out,
        home=dev_home,
        check=False,
    )
    assert proc.returncode == 1 and "FATAL" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("ERROR: The extract has ERROR or FATAL findings")
    assert not out.exists() and list(tmp_path.iterdir()) == [extract]


@pytest.mark.integration
@pytest.mark.parametrize("register, error", [("11F", "DUPLICATE_ID"), ("15F", "ID_INVALID"), ("IPLOS", "XML")])
def test_encrypt_refuses_findings_found_late_or_mid_way_and_writes_nothing(dev_home, tmp_path, register, error):
    """Checks and encryption share one pass: a finding known only at the end (duplicates), one in the middle or a
    malformed document still refuses the extract before anything is written."""
    profile = load_profile(register, 2026)
    unit = identity.parse_unit(DEMO, 2026)
    extract = tmp_path / "bad.dat"
    extract.write_bytes(extracts.generate_extract(profile, unit, 40, seed=3, errors={30: error}))
    out = tmp_path / "c.tar"
    proc = run_cli(
        "encrypt",
        "-r",
        register,
        "-p",
        2026,
        "-u",
        DEMO,
        "--signing-key",
        dev_home / "demo/unit.key",
        extract,
        "-o",
        out,
        home=dev_home,
        check=False,
    )
    # the report's heading of the control (15F: SSB's Individ03 judges an invalid fødselsnummer; 11F: SSB's K005A)
    control = {"15F": "Individ03", "11F": "K005A"}.get(register, error)
    assert proc.returncode == 1 and re.search(rf"^(ERROR|FATAL) +{control} ", proc.stderr, re.M), proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("ERROR: The extract has ERROR or FATAL findings")
    assert not out.exists() and list(tmp_path.iterdir()) == [extract]


@pytest.mark.integration
def test_empty_delivery_and_usage_errors(dev_home, tmp_path):
    out = tmp_path / "empty.tar"
    proc = run_cli(
        "encrypt",
        "-r",
        "15F",
        "-p",
        2026,
        "-u",
        DEMO,
        "--signing-key",
        dev_home / "demo/unit.key",
        "--empty",
        "-o",
        out,
        home=dev_home,
    )
    assert "0 records (no participants)" in proc.stdout
    again = run_cli(
        "encrypt",
        "-r",
        "15F",
        "-p",
        2026,
        "-u",
        DEMO,
        "--signing-key",
        dev_home / "demo/unit.key",
        "--empty",
        "-o",
        out,
        home=dev_home,
        check=False,
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    both = run_cli(
        "encrypt",
        "-r",
        "15F",
        "-p",
        2026,
        "-u",
        DEMO,
        "--signing-key",
        dev_home / "demo/unit.key",
        "-o",
        tmp_path / "x.tar",
        home=dev_home,
        check=False,
    )
    assert both.returncode == 1 and "either FILE or --empty" in both.stderr


@pytest.mark.integration
def test_expired_keys_are_refused(dev_home, tmp_path):
    old = tmp_path / "keys"
    old.mkdir()
    for role in ("tpf", "ssb"):
        _, recipient = keydir.generate_age_identity()
        key = keydir.RecipientKey(
            key_id=f"{role}-2020",
            role=role,
            public=recipient,
            valid_from=datetime.date(2020, 1, 1),
            valid_to=datetime.date(2020, 12, 31),
        )
        (old / f"{role}-2020.toml").write_text(key.to_toml())
    proc = run_cli(
        "encrypt",
        "-r",
        "15F",
        "-p",
        2026,
        "-u",
        DEMO,
        "--signing-key",
        dev_home / "demo/unit.key",
        "--keys",
        old,
        "--empty",
        "-o",
        tmp_path / "x.tar",
        home=dev_home,
        check=False,
    )
    assert proc.returncode == 1 and "no current TPF key" in proc.stderr and "tpf-2020 expired 2020-12-31" in proc.stderr


# ---------------------------------------------------------------------------------------------------------------------
# The block-wise fast path (fixed width) against the per-record path


def _per_record(profile, data, unit, production):
    """The reference: every item of ``scan()`` through ``Checker.feed``, rows kept while nothing blocks."""
    from sendemodul.profiles.rules.checker import Checker
    from sendemodul.profiles.rules.report import Severity

    extract = profile.open_extract(io.BytesIO(data))
    checker = Checker(profile, unit, extract, allow_synthetic=not production, source="x.dat")
    rows = []
    for item in extract.scan():
        checker.feed(item)
        counts = checker.report.severity_counts
        if Severity.ERROR not in counts and Severity.FATAL not in counts:
            rows.append((item.ids, item.data))
    return checker.finish(), rows


def _encrypt_pass(profile, data, unit, production):
    from sendemodul.cli.encrypt import _check_and_write
    from sendemodul.container import RowBlock

    rows = []

    def write(items):
        for item in items:  # a block of rows as columns stands for its rows
            rows.extend(item.rows() if isinstance(item, RowBlock) else [item])
        return "written"

    report, written = _check_and_write(profile, io.BytesIO(data), unit, production, "x.dat", write)
    return report, rows, written


def _assert_same(profile, data, unit, production=False):
    expected, expected_rows = _per_record(profile, data, unit, production)
    report, rows, written = _encrypt_pass(profile, data, unit, production)
    assert report.as_dict() == expected.as_dict()
    assert report.to_text() == expected.to_text()
    assert rows == expected_rows
    assert (written is None) == expected.blocking
    return report


def _with_id(line, profile, name, value):
    for field, start, end in profile._id_slices:
        if field == name:
            return line[:start] + value.ljust(end - start)[: end - start] + line[end:]
    raise AssertionError(name)


@pytest.fixture(params=[1 << 18, 700])
def block_bytes(request, monkeypatch):
    """The default block size, and one so small that blocks end mid-file and lines wait for their line break."""
    from sendemodul.profiles import fixed

    monkeypatch.setattr(fixed, "_BLOCK_BYTES", request.param)
    monkeypatch.setattr(fixed, "_PENDING_MAX_BYTES", max(request.param, 2000))
    return request.param


@pytest.mark.parametrize("register", ["11F", "11CF"])
@pytest.mark.parametrize(
    "errors",
    [
        {},
        {1: "ID_INVALID"},
        {37: "DUPLICATE_ID"},
        {60: "DUPLICATE"},
        {5: "CODE", 9: "DATE", 40: "INTEGER", 55: "BYDEL"},
        {3: "MANDATORY", 48: "ID_MISSING", 59: "VERSION", 60: "KOMMUNENR"},
        {30: "TAB"},
        {60: "RECORD_LENGTH"},
        {2: "RECORD_LENGTH", 45: "ID_INVALID"},
    ],
)
@pytest.mark.parametrize("production", [False, True])
def test_fast_path_gives_the_same_report_and_rows(block_bytes, register, errors, production):
    if register == "11CF":  # SSB's program checks no date or number field of 11CF by itself: no such error kind
        errors = {line: kind for line, kind in errors.items() if kind not in ("DATE", "INTEGER")}
    profile = load_profile(register, 2026)
    unit = identity.parse_unit(DEMO, 2026)
    data = extracts.generate_extract(profile, unit, 60, seed=len(errors) * 7 + 1, errors=errors)
    _assert_same(profile, data, unit, production)


@pytest.mark.parametrize("production", [False, True])
def test_fast_path_on_odd_lines_and_identifiers(block_bytes, production):
    """Line endings, blank and overlong lines, and identifiers of every class, anywhere in the file."""
    profile = load_profile("11F", 2026)
    unit = identity.parse_unit(DEMO, 2026)
    lines = extracts.generate_extract(profile, unit, 40, seed=11).decode("iso-8859-1").split("\n")[:-1]
    fnr = profile._id_slices[0][0]
    duf = [name for name, *_ in profile._id_slices][1]
    birth = next(f for f in profile.field_specs if f.role == "birthdate")
    samples = {
        "placeholder": _with_id(lines[1], profile, fnr, "170580" + "00100"),
        "bad_date": _with_id(lines[2], profile, fnr, "32131200000"),
        "bad_checksum": _with_id(
            lines[3], profile, fnr, identity.generate_fnr(datetime.date(1980, 5, 17), 123)[:10] + "9"
        ),
        "dnr": _with_id(lines[4], profile, fnr, identity.generate_fnr(datetime.date(1980, 5, 17), 123, kind="dnr")),
        "hnr": _with_id(lines[5], profile, fnr, identity.generate_fnr(datetime.date(1980, 5, 17), 124, kind="hnr")),
        "synthetic": _with_id(
            lines[6], profile, fnr, identity.generate_fnr(datetime.date(1980, 5, 17), 125, kind="synthetic")
        ),
        "letters": _with_id(lines[7], profile, fnr, "1234567890a"),
        "short": _with_id(lines[8], profile, fnr, "123"),
        "bad_duf": _with_id(lines[9], profile, duf, "123456789012"),
        "no_ids": _with_id(_with_id(lines[10], profile, fnr, ""), profile, duf, ""),
        "birth": lines[11][: birth.start] + "01011970" + lines[11][birth.end :],
        "blank": " " * profile.record_length,
        "empty": "",
        "long": lines[12] + "xyz",
        "very_long": lines[12] * 9,
        "cr": lines[13][:50] + "\r" + lines[13][51:],
        "dup": lines[0],
    }
    for bad in samples.values():
        for where in (0, 17, len(lines)):
            text = "\n".join([*lines[:where], bad, *lines[where:]]) + "\n"
            _assert_same(profile, text.encode("iso-8859-1"), unit, production)
    clean = "\n".join(lines)
    for data in (clean, clean + "\n", clean.replace("\n", "\r\n") + "\r\n", clean + "\r", "\n\n" + clean + "\n\n", ""):
        _assert_same(profile, data.encode("iso-8859-1"), unit, production)
    report = _assert_same(
        profile,
        ("\n".join([samples["placeholder"], samples["synthetic"], samples["hnr"], *lines[20:]]) + "\n").encode(
            "iso-8859-1"
        ),
        unit,
        production,
    )
    assert report.rule_counts.get("ID_PLACEHOLDER") == 1


def _without_arena_settings():
    """The environment, less what would set glibc's arena count from outside (the tests count arenas)."""
    import os

    return {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}


@pytest.mark.integration
@pytest.mark.parametrize("one_arena", [False, True])
def test_the_encryption_module_keeps_its_threads_in_one_malloc_arena(one_arena):
    """After ``one_malloc_arena`` (which ``sendemodul encrypt`` calls before its threads start) threads that allocate
    take glibc's main arena; without it each takes one of its own (the case that shows the count can tell)."""
    import subprocess
    import sys

    script = (
        "import ctypes, sys, threading\n"
        "if sys.argv[1] == 'one':\n"
        "    from sendemodul.cli.encrypt import one_malloc_arena\n"
        "    assert one_malloc_arena()\n"
        "held = []\n"
        "threads = [threading.Thread(target=lambda: held.append(bytearray(4096))) for _ in range(3)]\n"
        "for thread in threads:\n"
        "    thread.start()\n"
        "    thread.join()\n"
        "ctypes.CDLL(None).malloc_stats()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "one" if one_arena else "default"],
        capture_output=True,
        text=True,
        check=True,
        env=_without_arena_settings(),
        timeout=120,
    )
    arenas = re.findall(r"^Arena \d+:", done.stderr, re.MULTILINE)
    assert (arenas == ["Arena 0:"]) if one_arena else (len(arenas) > 1), done.stderr


@pytest.mark.integration
def test_sendemodul_encrypt_ran_its_threads_in_one_malloc_arena(dev_home, tmp_path):
    """The command itself: after ``sendemodul encrypt`` of an extract (its reader, checks and writer threads have
    run) the process has glibc's main arena only."""
    import subprocess
    import sys

    periode = datetime.date.today().year
    extract = tmp_path / "extract.dat"
    extract.write_bytes(extracts.generate_extract(load_profile("11F", periode), identity.parse_unit(DEMO, periode), 50))
    args = ["encrypt", "-r", "11F", "-p", str(periode), "-u", DEMO, "--signing-key", str(dev_home / "demo/unit.key")]
    script = (
        "import ctypes, sys\n"
        "from sendemodul.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "ctypes.CDLL(None).malloc_stats()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *args, str(extract), "-o", str(tmp_path / "c.tar")],
        capture_output=True,
        text=True,
        env={**_without_arena_settings(), "SENDEMODUL_HOME": str(dev_home)},
        timeout=120,
    )
    assert done.returncode == 0 and "50 records" in done.stdout, done.stdout + done.stderr
    assert re.findall(r"^Arena \d+:", done.stderr, re.MULTILINE) == ["Arena 0:"], done.stderr
