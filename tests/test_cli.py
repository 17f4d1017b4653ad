"""The admin CLI as an operator uses it: the real console script in a subprocess."""

import json
import subprocess

import click
import pytest
from conftest import ALNA, STAVANGER, grep_tree, run_cli

from sendemodul.cli import cli


def _commands(group, path=("sendemodul",)):
    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def test_every_command_has_help_with_an_example():
    commands = list(_commands(cli))
    assert len(commands) >= 15
    for path, command in commands:
        with click.Context(command, info_name=" ".join(path)) as ctx:
            text = command.get_help(ctx)
        assert "Example:" in text and path[-1] in text.split("Example:")[1], f"{' '.join(path)} has no example"


def test_help_runs_for_every_command():
    from click.testing import CliRunner

    runner = CliRunner()
    for path, _ in _commands(cli):
        result = runner.invoke(cli, [*path[1:], "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, path


@pytest.mark.integration
def test_init_dev_creates_keys_demo_unit_and_refuses_a_second_time(tmp_path):
    home = tmp_path / "var"
    out = run_cli("admin", "init", "--dev", home=home).stdout
    assert "demo unit:" in out
    for name in ("tpf.agekey", "ssb.agekey", "tpf-signing.key", "pseudonym-master.key"):
        assert (home / "private" / name).stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in (home / "keys").iterdir()) == [
        "ssb-dev.toml",
        "ssb-signing-dev.toml",
        "tpf-dev.toml",
        "tpf-signing-dev.toml",
    ]
    assert (home / "ssb-inbox").is_dir() and (home / "demo" / "pin.txt").exists()
    units = json.loads(run_cli("admin", "unit", "list", "--json", home=home).stdout)
    assert units[0]["unit"] == "0301-00-958935420" and units[0]["signing_keys"] == 1 and units[0]["pin_issued_at"]
    again = run_cli("admin", "init", "--dev", home=home, check=False)
    assert again.returncode == 1 and again.stderr.startswith("ERROR: ") and "already initialised" in again.stderr


@pytest.mark.integration
def test_pin_is_shown_once_and_never_stored_logged_or_audited(home, tmp_path):
    run_cli("admin", "unit", "add", ALNA, "--name", "Alna", "--email", "alna@example.org", home=home)
    letter = tmp_path / "letter.html"
    out = run_cli("admin", "pin", "issue", ALNA, "--letter", letter, home=home).stdout
    pin = out.strip().splitlines()[-1]
    assert len(pin) == 14 and pin.count("-") == 2
    assert pin in letter.read_text() and letter.stat().st_mode & 0o777 == 0o600
    assert "<script" not in letter.read_text()
    # a wrong attempt and a revoke later, nothing anywhere in the home holds the PIN in any form
    run_cli("admin", "pin", "revoke", ALNA, home=home)
    run_cli("admin", "audit", "verify", home=home)
    for form in {pin, pin.replace("-", ""), pin.lower(), pin.replace("-", "").lower()}:
        assert grep_tree(home, form.encode()) == [], form
    second = run_cli("admin", "pin", "issue", ALNA, home=home).stdout.strip().splitlines()[-1]
    assert second != pin


@pytest.mark.integration
def test_unit_name_is_escaped_in_the_pin_letter(home, tmp_path):
    run_cli("admin", "unit", "add", ALNA, "--name", "<script>alert(1)</script>", "--email", "a@example.org", home=home)
    letter = tmp_path / "l.html"
    run_cli("admin", "pin", "issue", ALNA, "--letter", letter, home=home)
    assert "<script>" not in letter.read_text() and "&lt;script&gt;" in letter.read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["admin", "unit", "add", "0301-16-958935420", "--name", "x", "--email", "a@example.org"], "Bydel 16"),
        (["admin", "unit", "add", "0301-12-987654321", "--name", "x", "--email", "a@example.org"], "check digit"),
        (["admin", "unit", "add", "1103-01-964965226", "--name", "x", "--email", "a@example.org"], "has no bydeler"),
        (["admin", "unit", "add", "9999-00-964965226", "--name", "x", "--email", "a@example.org"], "not a known"),
        (["admin", "unit", "add", "1103-00-764965226", "--name", "x", "--email", "a@example.org"], "8 or 9"),
        (["admin", "unit", "add", "0301-12", "--name", "x", "--email", "a@example.org"], "KOMMUNENR-BYDEL-ORGNR"),
        (["admin", "unit", "add", STAVANGER, "--name", "x", "--email", "nope"], "not an e-mail"),
        (["admin", "unit", "add", STAVANGER, "--name", " ", "--email", "a@example.org"], "--name"),
        (["admin", "unit", "add", STAVANGER, "--email", "a@example.org"], "Missing option '--name'"),
        (["admin", "pin", "issue", STAVANGER], "not registered"),
        (["admin", "pin", "revoke", STAVANGER], "not registered"),
        (["admin", "unit", "disable", STAVANGER], "not registered"),
        (["admin", "sshkey", "list", STAVANGER], "not registered"),
        (["admin", "status", "--register", "11X", "--periode", "2026"], "'11X' is not one of"),
        (["admin", "nosuch"], "No such command"),
    ],
)
@pytest.mark.integration
def test_user_errors_are_one_line_with_exit_code_1(home, args, message):
    proc = run_cli(*args, home=home, check=False)
    assert proc.returncode == 1, proc
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR: ") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.integration
def test_uninitialised_home_is_a_clear_error(tmp_path):
    proc = run_cli("admin", "unit", "list", home=tmp_path / "nothing", check=False)
    assert proc.returncode == 1 and "run 'sendemodul admin init' first" in proc.stderr


@pytest.mark.integration
def test_unit_lifecycle_and_ssh_keys_with_real_ssh_keygen(home, tmp_path):
    run_cli("admin", "unit", "add", STAVANGER, "--name", "Stavanger kommune", "--email", "s@example.org", home=home)
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "stavanger-batch", "-f", key], check=True)
    fingerprint = subprocess.run(
        ["ssh-keygen", "-l", "-f", f"{key}.pub"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert fingerprint in run_cli("admin", "sshkey", "add", STAVANGER, f"{key}.pub", home=home).stdout
    dup = run_cli("admin", "sshkey", "add", STAVANGER, f"{key}.pub", home=home, check=False)
    assert dup.returncode == 1 and "already has the SSH key" in dup.stderr
    listed = json.loads(run_cli("admin", "sshkey", "list", STAVANGER, "--json", home=home).stdout)
    assert listed[0]["fingerprint"] == fingerprint and listed[0]["comment"] == "stavanger-batch"
    weak = tmp_path / "rsa"
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", weak], check=True)
    refused = run_cli("admin", "sshkey", "add", STAVANGER, f"{weak}.pub", home=home, check=False)
    assert refused.returncode == 1 and "at least 3072 bits" in refused.stderr
    (tmp_path / "junk.pub").write_text("ssh-ed25519 notbase64\n")
    junk = run_cli("admin", "sshkey", "add", STAVANGER, tmp_path / "junk.pub", home=home, check=False)
    assert junk.returncode == 1 and "not a valid OpenSSH public key" in junk.stderr
    run_cli("admin", "sshkey", "remove", STAVANGER, fingerprint, home=home)
    assert json.loads(run_cli("admin", "sshkey", "list", STAVANGER, "--json", home=home).stdout) == []
    run_cli("admin", "unit", "disable", STAVANGER, home=home)
    units = json.loads(run_cli("admin", "unit", "list", "--json", home=home).stdout)
    assert units[0]["status"] == "disabled"
    table = run_cli("admin", "status", "--register", "11F", "--periode", "2026", home=home).stdout
    assert STAVANGER in table and "missing" in table
    assert run_cli("admin", "uploads", home=home).stdout.strip().endswith("(none)")


@pytest.mark.integration
def test_unit_add_registers_a_signing_key(home, tmp_path):
    from sendemodul import signing

    signing.write_new_key(tmp_path / "unit.key", "alna")
    out = run_cli(
        "admin",
        "unit",
        "add",
        ALNA,
        "--name",
        "Alna",
        "--email",
        "a@example.org",
        "--signing-key",
        tmp_path / "unit.key.pub",
        home=home,
    ).stdout
    assert "with signing key SHA256:" in out
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", tmp_path / "ec"], check=True)
    bad = run_cli(
        "admin",
        "unit",
        "add",
        STAVANGER,
        "--name",
        "S",
        "--email",
        "a@example.org",
        "--signing-key",
        tmp_path / "ec.pub",
        home=home,
        check=False,
    )
    assert bad.returncode == 1 and "must be ssh-ed25519" in bad.stderr


@pytest.mark.integration
def test_python_dash_m_works():
    import sys

    proc = subprocess.run([sys.executable, "-m", "sendemodul", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "sendemodul" in proc.stdout


def test_each_command_is_found_by_importing_only_its_own_modules():
    """The CLI imports a command's module only when it runs (sendemodul encrypt and the pseudonymizer start without
    the web server): each name in the map must be registered by exactly the modules it names."""
    from sendemodul.cli import _COMMAND_MODULES, _LazyGroup

    for name, modules in _COMMAND_MODULES.items():
        group = _LazyGroup(name="probe")
        with click.Context(group) as ctx:
            command = group.get_command(ctx, name)
        assert command is not None and command.name == name, name
        assert group._registered == set(modules), name
    assert sorted(cli.commands) == sorted(_COMMAND_MODULES)
