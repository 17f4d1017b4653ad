"""The status list: every unit that must report a register and periode (the periode's code list, Oslo as a whole
or per bydel, config additions and exclusions), each as delivered, received, ..., missing, late or not registered."""

import json

import pytest
from conftest import STAVANGER, add_unit, run_cli

from sendemodul import config, status_list
from sendemodul.expected import expected_units
from sendemodul.store import Store

BERGEN = "4601-00-964338531"


def test_every_kommune_of_2026_is_expected_once_and_oslo_as_a_whole_by_default():
    units = expected_units(config.parse("", "/tmp/h"), "11F", 2026)
    assert len(units) == 357 == len({u.region for u in units})
    assert "0301-00" in {u.region for u in units} and not any(u.bydel != "00" for u in units)
    assert "1201-00" not in {u.region for u in units}  # Bergen's code until 2023, merged into 4601


def test_oslo_per_bydel_and_additions_and_exclusions_follow_the_config():
    cfg = config.parse(
        '[[expected]]\nregister = "IPLOS"\noslo = "bydeler"\nexclude = ["1103-00"]\nadd = ["9999-00"]\n', "/tmp/h"
    )
    iplos = {u.region for u in expected_units(cfg, "IPLOS", 2026)}
    assert "0301-00" not in iplos and {f"0301-{n:02d}" for n in range(1, 16)} <= iplos
    assert "0301-16" not in iplos and "0301-17" not in iplos  # Sentrum and Marka never report
    assert "1103-00" not in iplos and "9999-00" in iplos
    assert len(iplos) == 357 - 1 + 15 - 1 + 1
    assert len(expected_units(cfg, "11F", 2026)) == 357  # another register keeps the default


def test_a_bad_expected_or_reminder_table_is_refused_naming_the_key():
    with pytest.raises(config.ConfigError, match=r"expected\[0\]\.oslo"):
        config.parse('[[expected]]\nregister = "11F"\noslo = "bydel"\n', "/tmp/h")
    with pytest.raises(config.ConfigError, match=r"expected\[0\]\.add"):
        config.parse('[[expected]]\nregister = "11F"\nadd = ["0301"]\n', "/tmp/h")
    with pytest.raises(config.ConfigError, match=r"reminder\[0\]' sends nothing"):
        config.parse('[[reminder]]\nregister = "11F"\n', "/tmp/h")


def test_a_new_upload_status_slots_into_the_list_without_code():
    assert status_list.state_of("awaiting_review", False) == "awaiting review"
    assert status_list.state_of("some_new_state", False) == "some new state"
    assert status_list.state_of(None, False) == "missing" and status_list.state_of(None, True) == "late"


def _record(store, reference, unit, received_at, status, *, late=0, test=0):
    store.record_upload(
        {
            "reference": reference,
            "unit": unit,
            "register": "11F",
            "periode": 2026,
            "container_id": f"00000000-0000-4000-8000-{reference[-12:].lower().rjust(12, '0')}",
            "sha256": "0" * 64,
            "size": 1234,
            "status": status,
            "test": test,
            "late": late,
            "received_at": received_at,
        },
        actor="test",
    )


WINDOW = """
[[window]]
register = "*"
periode = 2026
opens = 2027-01-02
deadline = 2027-01-15
closes = 2027-04-15
"""


@pytest.mark.integration
def test_admin_status_lists_all_357_kommuner_with_their_states_in_january(home):
    """With the clock in January 2027: a delivered unit, a received one, a missing one (before the deadline) that is
    late after it, a unit that delivered late, and every kommune without a registered unit as "not registered"."""
    oslo_per_bydel = '\n[[expected]]\nregister = "IPLOS"\noslo = "bydeler"\n'
    (home / "config.toml").write_text((home / "config.toml").read_text() + WINDOW + oslo_per_bydel)
    store = Store.open(config.load(home).db_path)
    add_unit(store, STAVANGER, name="Stavanger kommune")
    add_unit(store, BERGEN, name="Bergen kommune")
    add_unit(store, "0301-00-958935420", name="Oslo kommune")
    add_unit(store, "1106-00-974760673", name="Haugesund kommune")
    _record(store, "SM-20270105-AAAAAAAA", STAVANGER, "2027-01-05T10:00:00Z", "delivered")
    _record(store, "SM-20270106-BBBBBBBB", "0301-00-958935420", "2027-01-06T10:00:00Z", "queued")
    _record(store, "SM-20270107-CCCCCCCC", BERGEN, "2027-01-07T10:00:00Z", "tested", test=1)  # a test: not counted
    _record(store, "SM-20270117-DDDDDDDD", "1106-00-974760673", "2027-01-17T10:00:00Z", "delivered", late=1)
    store.close()

    def listed(today):
        out = run_cli("admin", "status", "-r", "11F", "-p", "2026", "--today", today, "--json", home=home)
        return {row["region"]: row for row in json.loads(out.stdout)}

    before = listed("2027-01-10")
    assert len(before) == 357
    assert before["1103-00"]["state"] == "delivered" and before["1103-00"]["unit"] == STAVANGER
    assert before["0301-00"]["state"] == "received"
    assert before["4601-00"]["state"] == "missing" and before["4601-00"]["unit"] == BERGEN
    assert before["1101-00"]["state"] == "not registered" and before["1101-00"]["unit"] is None
    assert before["1101-00"]["name"] == "Eigersund"
    assert sum(r["state"] == "not registered" for r in before.values()) == 357 - 4
    after = listed("2027-01-20")
    assert after["4601-00"]["state"] == "late"
    assert after["1106-00"]["state"] == "delivered" and after["1106-00"]["late"] is True
    assert after["1103-00"]["state"] == "delivered" and after["1103-00"]["late"] is False
    assert after["1101-00"]["state"] == "not registered"

    table = run_cli("admin", "status", "--register", "11F", "--periode", "2026", "--today", "2027-01-20", home=home)
    lines = table.stdout.splitlines()
    assert any(BERGEN in line and "late" in line for line in lines)
    assert lines[-1] == "357 units: 2 delivered, 1 late, 353 not registered, 1 received"
    iplos = json.loads(run_cli("admin", "status", "-r", "IPLOS", "-p", "2026", "--json", home=home).stdout)
    regions = {row["region"]: row for row in iplos}
    assert len(regions) == 357 - 1 + 15 and "0301-00" not in regions
    assert (
        regions["0301-01"]["state"] == "not registered"
        and regions["0301-01"]["name"] == "Oslo - Oslove, bydel Gamle Oslo"
    )
    bad = run_cli("admin", "status", "-r", "11F", "-p", "2026", "--today", "20.01", home=home, check=False)
    assert bad.returncode != 0 and "--today" in bad.stderr


@pytest.mark.integration
def test_the_staff_page_shows_the_list_only_with_the_staff_token(tmp_path):
    """/statusliste over real HTTPS (curl): 401 without or with a wrong token, the whole list with the right one."""
    import subprocess

    from server import Server

    server = Server(tmp_path / "home", sections={"staff": "enabled = true"}).init()
    token = run_cli("admin", "staff-token", home=server.home).stdout.strip().splitlines()[-1]
    assert token not in (server.home / "staff-token.sha256").read_text()
    server.start()
    try:

        def curl(*auth):
            out = subprocess.run(
                [
                    "curl",
                    "-sS",
                    "--cacert",
                    server.home / "tls" / "server.pem",
                    "-w",
                    "\n%{http_code}",
                    *auth,
                    f"{server.url}/statusliste?register=11F&periode=2026",
                ],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout
            body, _, code = out.rpartition("\n")
            return int(code), body

        assert curl()[0] == 401
        assert curl("-u", "staff:wrong")[0] == 401
        assert curl("-u", f"unit:{token}")[0] == 401
        code, body = curl("-u", f"staff:{token}")
        assert code == 200
        assert body.count('<tr data-state="') == 357
        assert body.count('data-state="not registered"') == 356  # the demo unit is Oslo's
        assert "Ikke registrert" in body and "Eigersund" in body
    finally:
        server.stop()
