"""``sendemodul demo-extract`` writes the extract :func:`sendemodul.extracts.generate_extract` makes."""

import pytest
from conftest import run_cli

from sendemodul import identity
from sendemodul.profiles import load_profile
from sendemodul.testing import extracts

pytestmark = pytest.mark.integration  # runs the console script in a subprocess

DEMO = "0301-00-958935420"


def test_demo_extract_writes_generate_extract_bytes_that_check_accepts(tmp_path):
    out = tmp_path / "demo-11f.txt"
    proc = run_cli("demo-extract", "-r", "11F", "-p", "2026", "-u", DEMO, "-o", out, "-n", "25")
    assert proc.stdout == "" and f"Wrote 25 synthetic 11F 2026 records for {DEMO} to {out}" in proc.stderr
    expected = extracts.generate_extract(load_profile("11F", 2026), identity.parse_unit(DEMO, 2026), 25)
    assert out.read_bytes() == expected
    checked = run_cli("check", "-r", "11F", "-p", "2026", "-u", DEMO, out)
    assert checked.returncode == 0, checked.stdout


def test_demo_extract_to_standard_output_with_a_seed():
    proc = run_cli(
        "demo-extract",
        "--register",
        "15F",
        "--periode",
        "2026",
        "--unit",
        DEMO,
        "--output",
        "-",
        "--count",
        "2",
        "--seed",
        "7",
    )
    unit = identity.parse_unit(DEMO, 2026)
    assert proc.stdout == extracts.generate_extract(load_profile("15F", 2026), unit, 2, seed=7).decode("utf-8")


@pytest.mark.parametrize(
    "args, message",
    [
        (["-r", "11X", "-p", "2026", "-u", DEMO], "no profile for register '11X'"),
        (["-r", "11F", "-p", "26", "-u", DEMO], "--periode must be a year"),
        (["-r", "11F", "-p", "2026", "-u", "0301-00"], "KOMMUNENR-BYDEL-ORGNR"),
        (["-r", "11F", "-p", "2026", "-u", DEMO, "-n", "0"], "--count must be 1 or more"),
        (["-r", "11F", "-p", "2026", "-u", DEMO, "-n", "many"], "'many' is not a valid integer"),
    ],
)
def test_demo_extract_bad_input_is_one_error_line(tmp_path, args, message):
    proc = run_cli("demo-extract", *args, "-o", tmp_path / "x.txt", check=False)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 1 and proc.stdout == ""
    assert len(lines) == 1 and lines[0].startswith("ERROR: ") and message in lines[0], proc.stderr
    assert not (tmp_path / "x.txt").exists()


def test_demo_extract_names_an_unwritable_output(tmp_path):
    proc = run_cli("demo-extract", "-r", "11F", "-p", "2026", "-u", DEMO, "-o", tmp_path / "no" / "x.txt", check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("ERROR: cannot write ") and "No such file" in proc.stderr
