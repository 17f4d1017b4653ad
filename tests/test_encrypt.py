"""The municipal side end to end: extract -> `sendemodul encrypt` -> verify -> TPF package -> `sendemodul ssb open`,
for every profile and year, with the real console script."""

import csv
import datetime

import pytest

from sendemodul import identity, keydir, package, signing, ssb, testdata
from sendemodul.profiles import available, load_profile
from sendemodul.verify import verify_container

from conftest import run_cli

DEMO = "0301-00-958935420"


@pytest.fixture(scope="module")
def dev_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("enc") / "var"
    run_cli("admin", "init", "--dev", home=home)
    return home


@pytest.mark.parametrize("register, periode", available())
def test_round_trip_for_every_profile_and_year(dev_home, tmp_path, register, periode):
    profile = load_profile(register, periode)
    unit = identity.parse_unit(DEMO, periode)
    extract = tmp_path / "extract.dat"
    extract.write_bytes(testdata.generate_extract(profile, unit, 25, seed=periode))
    ids = {value for record in profile.open_extract(extract.open("rb")) for _, value in record.ids if value}
    out = tmp_path / "c.tar"
    proc = run_cli("encrypt", "-r", register, "-p", periode, "-u", DEMO, "--signing-key", dev_home / "demo/unit.key",
                   extract, "-o", out, home=dev_home)
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
    package.make_package(out, pkg, tpf_identities=keydir.load_age_identities(dev_home / "private/tpf.agekey"),
                         master_key=bytes.fromhex((dev_home / "private/pseudonym-master.key").read_text().strip()),
                         environment="dev", key_version=1,
                         tpf_signing_key=signing.load_private_key(dev_home / "private/tpf-signing.key"),
                         ssb_recipients=keys.current("ssb", today))
    (tmp_path / "ssb").mkdir()
    opened = ssb.open_package(pkg, tmp_path / "ssb", ssb_identities=keydir.load_age_identities(
        dev_home / "private/ssb.agekey"), tpf_signing_keys=keys.current("tpf-signing", today))
    rows = list(csv.DictReader(opened.csv_path.open(encoding="utf-8")))
    assert len(rows) == 25
    pseudonym_columns = [c for c in rows[0] if c.endswith("_pseudonym")]
    assert pseudonym_columns and all(any(r[c] for r in rows) for c in pseudonym_columns[:1])
    ssb_bytes = opened.csv_path.read_bytes() + opened.dat_path.read_bytes()
    assert not [i for i in ids if i.encode() in ssb_bytes]


def test_encrypt_refuses_an_extract_with_errors_and_writes_nothing(dev_home, tmp_path):
    profile = load_profile("11CF", 2026)
    unit = identity.parse_unit(DEMO, 2026)
    extract = tmp_path / "bad.dat"
    good = testdata.generate_extract(profile, unit, 5, seed=1)
    extract.write_bytes(good + b"too short\n")
    out = tmp_path / "c.tar"
    proc = run_cli("encrypt", "-r", "11CF", "-p", 2026, "-u", DEMO, "--signing-key", dev_home / "demo/unit.key",
                   extract, "-o", out, home=dev_home, check=False)
    assert proc.returncode == 1 and "FATAL" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("ERROR: The extract has ERROR or FATAL findings")
    assert not out.exists() and list(tmp_path.iterdir()) == [extract]


@pytest.mark.parametrize("register, error", [("11F", "DUPLICATE_ID"), ("15F", "ID_INVALID"), ("IPLOS", "XML")])
def test_encrypt_refuses_findings_found_late_or_mid_way_and_writes_nothing(dev_home, tmp_path, register, error):
    """Checks and encryption share one pass: a finding known only at the end (duplicates), one in the middle or a
    malformed document still refuses the extract before anything is written."""
    profile = load_profile(register, 2026)
    unit = identity.parse_unit(DEMO, 2026)
    extract = tmp_path / "bad.dat"
    extract.write_bytes(testdata.generate_extract(profile, unit, 40, seed=3, errors={30: error}))
    out = tmp_path / "c.tar"
    proc = run_cli("encrypt", "-r", register, "-p", 2026, "-u", DEMO, "--signing-key", dev_home / "demo/unit.key",
                   extract, "-o", out, home=dev_home, check=False)
    assert proc.returncode == 1 and f"[{error}]" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("ERROR: The extract has ERROR or FATAL findings")
    assert not out.exists() and list(tmp_path.iterdir()) == [extract]


def test_empty_delivery_and_usage_errors(dev_home, tmp_path):
    out = tmp_path / "empty.tar"
    proc = run_cli("encrypt", "-r", "15F", "-p", 2026, "-u", DEMO, "--signing-key", dev_home / "demo/unit.key",
                   "--empty", "-o", out, home=dev_home)
    assert "0 records (no participants)" in proc.stdout
    again = run_cli("encrypt", "-r", "15F", "-p", 2026, "-u", DEMO, "--signing-key", dev_home / "demo/unit.key",
                    "--empty", "-o", out, home=dev_home, check=False)
    assert again.returncode == 1 and "already exists" in again.stderr
    both = run_cli("encrypt", "-r", "15F", "-p", 2026, "-u", DEMO, "--signing-key", dev_home / "demo/unit.key",
                   "-o", tmp_path / "x.tar", home=dev_home, check=False)
    assert both.returncode == 1 and "either FILE or --empty" in both.stderr


def test_expired_keys_are_refused(dev_home, tmp_path):
    old = tmp_path / "keys"
    old.mkdir()
    for role in ("tpf", "ssb"):
        _, recipient = keydir.generate_age_identity()
        key = keydir.RecipientKey(key_id=f"{role}-2020", role=role, public=recipient,
                                  valid_from=datetime.date(2020, 1, 1), valid_to=datetime.date(2020, 12, 31))
        (old / f"{role}-2020.toml").write_text(key.to_toml())
    proc = run_cli("encrypt", "-r", "15F", "-p", 2026, "-u", DEMO, "--signing-key", dev_home / "demo/unit.key",
                   "--keys", old, "--empty", "-o", tmp_path / "x.tar", home=dev_home, check=False)
    assert proc.returncode == 1 and "no current TPF key" in proc.stderr and "tpf-2020 expired 2020-12-31" in proc.stderr
