"""``sendemodul admin person add --role statsforvalter --fylke NN`` without a UNIT (the first reviewer of a fylke),
``person list`` showing them, ``person disable-reviewer``, help with examples, and one ``ERROR:`` line for each
kind of bad input."""

import email
import email.policy
import json

import pytest
from conftest import run_cli

pytestmark = pytest.mark.integration  # runs the real console script

ADD = ("admin", "person", "add")


def _error(proc, message):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("ERROR: ") and message in lines[0], (
        proc.stderr
    )


def test_add_the_first_reviewer_of_a_fylke_without_a_unit_list_and_disable(home):
    out = run_cli(
        *ADD, "--role", "statsforvalter", "--fylke", "46", "--name", "Ola Vestland",
        "--email", "Ola@SFVL.example.org", "--language", "nn", home=home,
    ).stdout  # fmt: skip
    assert "statsforvalter for fylke 46 [pending]" in out and "/mail/" in out
    [eml] = (home / "mail").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    body = message.get_content()
    assert message["To"] == "ola@sfvl.example.org" and "/innmelding/" in body and "/statsforvalter" in body
    assert "statsforvaltar for Vestland" in body  # in the person's Nynorsk
    [row] = json.loads(run_cli("admin", "person", "list", "--json", home=home).stdout)
    assert (row["unit"], row["role"], row["fylke"], row["state"]) == (None, "statsforvalter", "46", "pending")
    out = run_cli("admin", "person", "disable-reviewer", "ola@sfvl.example.org", home=home).stdout
    assert "Disabled" in out and "fylke 46" in out
    [row] = json.loads(run_cli("admin", "person", "list", "--json", home=home).stdout)
    assert row["state"] == "disabled"
    assert run_cli("admin", "audit", "verify", home=home).returncode == 0


def test_bad_input_gives_one_error_line(home):
    who = ("--name", "Ola", "--email", "ola@example.org")
    _error(run_cli(*ADD, *who, "--role", "statsforvalter", home=home, check=False), "needs --fylke, one of 03, 11")
    _error(run_cli(*ADD, *who, "--role", "statsforvalter", "--fylke", "99", home=home, check=False), "needs --fylke")
    _error(run_cli(*ADD, *who, "--registers", "11F", home=home, check=False), "a UNIT is needed")
    _error(
        run_cli(*ADD, *who, "--role", "statsforvalter", "--fylke", "46", "--registers", "15F", home=home, check=False),
        "--registers goes with a UNIT only",
    )
    _error(
        run_cli(*ADD, "--name", "Ola", "--email", "ola", "--role", "statsforvalter", "--fylke", "46", home=home,
                check=False),
        "is not an e-mail address",
    )  # fmt: skip
    _error(
        run_cli("admin", "person", "disable-reviewer", "nobody@example.org", home=home, check=False),
        "no reviewer without a unit",
    )
    assert json.loads(run_cli("admin", "person", "list", "--json", home=home).stdout) == []


def test_the_new_command_and_add_have_examples():
    for command in ("add", "disable-reviewer"):
        out = run_cli("admin", "person", command, "--help").stdout
        assert "Example:" in out and f"sendemodul admin person {command}" in out
    assert "--role statsforvalter --fylke 46" in run_cli("admin", "person", "add", "--help").stdout
