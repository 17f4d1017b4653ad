"""``sendemodul admin person ...``: help with examples, the registration e-mail as an .eml file in a home without a
mail relay, list/registers/disable, the dev-only code command, and one ``ERROR:`` line for each kind of bad input."""

import email
import email.policy
import json

import pytest
from conftest import ALNA, run_cli

from sendemodul import totp

pytestmark = pytest.mark.integration  # runs the real console script

DEMO = "0301-00-958935420"


def _error(proc, message):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("ERROR: ") and message in lines[0], (
        proc.stderr
    )


def test_person_help_has_examples():
    for command in ("add", "list", "disable", "registers", "code"):
        out = run_cli("admin", "person", command, "--help").stdout
        assert "Example:" in out and f"sendemodul admin person {command}" in out


def test_add_list_registers_disable_and_the_eml_file(home):
    run_cli("admin", "unit", "add", ALNA, "--name", "Alna", "--email", "alna@example.org", home=home)
    out = run_cli(
        "admin", "person", "add", ALNA, "--name", "Kari Nordmann", "--email", "Kari@Example.org",
        "--registers", "11cf,11F", "--mobile", "+47 912 34 567", "--language", "nn", home=home,
    ).stdout  # fmt: skip
    assert "11F,11CF [pending]" in out and "/mail/" in out
    emls = list((home / "mail").glob("*.eml"))
    message = email.message_from_bytes(emls[0].read_bytes(), policy=email.policy.default)
    assert len(emls) == 1 and message["To"] == "kari@example.org"
    # in the person's own standard (--language nn), the link and its 72 hours
    body = message.get_content()
    assert "/innmelding/" in body and "72 timar" in body and "innlogginga di" in message["Subject"]
    rows = json.loads(run_cli("admin", "person", "list", ALNA, "--json", home=home).stdout)
    assert [(r["email"], r["registers"], r["state"], r["language"]) for r in rows] == [
        ("kari@example.org", "11F,11CF", "pending", "nn")
    ]
    assert rows[0]["person_id"].startswith("P-")
    run_cli("admin", "person", "registers", ALNA, "kari@example.org", "--set", "15F", home=home)
    run_cli("admin", "person", "disable", ALNA, "kari@example.org", home=home)
    rows = json.loads(run_cli("admin", "person", "list", "--json", home=home).stdout)
    assert (rows[0]["registers"], rows[0]["state"]) == ("15F", "disabled")
    audit = run_cli("admin", "audit", "verify", home=home)
    assert audit.returncode == 0


def test_bad_input_gives_one_error_line(home):
    run_cli("admin", "unit", "add", ALNA, "--name", "Alna", "--email", "alna@example.org", home=home)
    add = ("admin", "person", "add", ALNA, "--name", "Kari")
    _error(run_cli(*add, "--email", "kari", "--registers", "11F", home=home, check=False), "is not an e-mail")
    _error(run_cli(*add, "--email", "k@x.no", "--registers", "IPLOS", home=home, check=False), "unknown register")
    _error(run_cli(*add, "--email", "k@x.no", "--registers", "11F", "--mobile", "abc", home=home, check=False),
           "is not a phone number")  # fmt: skip
    _error(run_cli(*add, "--email", "k@x.no", home=home, check=False), "Missing option '--registers'")
    _error(
        run_cli("admin", "person", "add", "0301-00-958935420", "--name", "K", "--email", "k@x.no", "--registers",
                "11F", home=home, check=False),
        "is not registered",
    )  # fmt: skip
    _error(run_cli("admin", "person", "disable", ALNA, "nobody@x.no", home=home, check=False), "has no person")
    _error(run_cli("admin", "person", "code", ALNA, "k@x.no", home=home, check=False), "only in a dev home")


def test_dev_home_has_an_enrolled_demo_person_and_prints_a_current_code(tmp_path):
    home = tmp_path / "var"
    out = run_cli("admin", "init", "--dev", home=home).stdout
    assert "demo person:   demo@example.org" in out and "admin person code" in out
    secret = totp.secret_from_text((home / "demo" / "totp-secret.txt").read_text())
    code = run_cli("admin", "person", "code", DEMO, "demo@example.org", home=home).stdout.strip()
    import time

    now = time.time()
    assert code in {totp.code_at(secret, now - 30), totp.code_at(secret, now), totp.code_at(secret, now + 30)}
