"""Reminders ("purring"): on the configured days before and after the deadline, one e-mail per unit still missing,
to a real SMTP server on loopback (aiosmtpd); none for a unit that delivered (also "Ingen deltakere"); caught up
after downtime; never twice, also across a restart."""

import dataclasses
import datetime

import pytest
from conftest import STAVANGER, add_unit
from test_status_list import _record

from sendemodul import config, reminders
from sendemodul.store import Store
from sendemodul.testing.peers import free_port

UTC = datetime.UTC
BERGEN = "4601-00-964338531"
HAUGESUND = "1106-00-974760673"
EIGERSUND = "1101-00-976993403"
TROMSO = "5501-00-976993403"

CONFIG = """
[[window]]
register = "*"
periode = 2026
opens = 2027-01-02
deadline = 2027-01-15
closes = 2027-04-15

[[reminder]]
register = "11F"
days_before = [1]
days_after = [1, 3]
"""


def at(text):
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_reminder_days_count_from_each_windows_deadline():
    cfg = config.parse(CONFIG + '[[reminder]]\nregister = "*"\nperiode = 2026\ndays_before = [1]\n', "/tmp/h")
    days = reminders.reminder_days(cfg)
    eleven_f = [d for d, r, _p, _dl in days if r == "11F"]
    assert eleven_f == [datetime.date(2027, 1, 14), datetime.date(2027, 1, 16), datetime.date(2027, 1, 18)]
    assert {r for _d, r, _p, _dl in days} == {"11F", "11CF", "15F", "IPLOS"}
    # 08:00 Oslo on the 14th is 07:00 UTC: not before
    assert reminders.due(cfg, at("2027-01-14T06:59:59")) == []
    assert len(reminders.due(cfg, at("2027-01-14T07:00:00"))) == 4


@pytest.mark.integration
def test_one_reminder_per_missing_unit_and_day_caught_up_after_downtime_never_twice(home, smtp):
    text = (home / "config.toml").read_text() + CONFIG
    (home / "config.toml").write_text(text)
    cfg = config.load(home)
    cfg = dataclasses.replace(cfg, mail=dataclasses.replace(cfg.mail, enabled=True, smtp_port=smtp.port))
    store = Store.open(cfg.db_path)
    add_unit(store, STAVANGER, name="Stavanger kommune", email="stavanger@example.org")
    add_unit(store, BERGEN, name="Bergen kommune", email="bergen@example.org")
    add_unit(store, HAUGESUND, name="Haugesund kommune", email="haugesund@example.org")
    add_unit(store, EIGERSUND, name="Eigersund kommune", email="eigersund@example.org")
    add_unit(store, TROMSO, name="Tromsø kommune", email="tromso@example.org")
    store.disable_unit(TROMSO, actor="test")
    # Bergen's persons: one who may report 11F gets the reminder too; one for 15F only, and one not yet enrolled, not
    for person_id, email, registers, active in (
        ("P-kari", "kari@bergen.example.org", "11F,11CF", True),
        ("P-ola", "ola@bergen.example.org", "15F", True),
        ("P-per", "per@bergen.example.org", "11F", False),
    ):
        store.register_person(
            BERGEN, person_id=person_id, name=person_id, email=email, mobile="", language="nb",
            registers=registers.split(","), registration={}, token=(f"hash-{person_id}", "2099-01-01T00:00:00Z"),
            actor="test",
        )  # fmt: skip
        if active:
            store.activate_person_with_secret(person_id, "sealed", [], actor="test")
    _record(store, "SM-20270105-AAAAAAAA", STAVANGER, "2027-01-05T10:00:00Z", "delivered")
    # "Ingen deltakere": an empty delivery is a delivery
    _record(store, "SM-20270106-BBBBBBBB", EIGERSUND, "2027-01-06T10:00:00Z", "delivered")

    def received():
        return sorted(rcpt[0] for _, rcpt, _ in smtp.messages)

    assert reminders.Reminders(cfg, store).run(at("2027-01-13T12:00:00")) == 0
    # The server is down on the 14th and the 16th; it starts again at 10:00 on the 16th: both days are caught up.
    store.close()
    store = Store.open(cfg.db_path)
    assert store.claim_reminder("11F", 2026, "2027-01-16", BERGEN)  # a crash after claiming: never sent twice
    assert reminders.Reminders(cfg, store).run(at("2027-01-16T09:00:00")) == 3
    assert received() == ["bergen@example.org", "haugesund@example.org", "haugesund@example.org"]
    assert [rcpt for _, rcpt, _ in smtp.messages if rcpt[0] == "bergen@example.org"] == [
        ["bergen@example.org", "kari@bergen.example.org"]
    ]
    body = smtp.messages[0][2].get_content()
    assert "15.01.2027" in body and "11F" in body and "Ingen deltakere" in body and "/opplasting" in body
    assert smtp.messages[0][2]["From"] == cfg.mail.from_address
    # a later check and another restart send nothing again
    assert reminders.Reminders(cfg, store).run(at("2027-01-16T09:00:40")) == 0
    store.close()
    store = Store.open(cfg.db_path)
    assert reminders.Reminders(cfg, store).run(at("2027-01-17T09:00:00")) == 0
    # Haugesund delivers "Ingen deltakere" on the 17th; on the 18th the relay is down at 08:00, then back
    _record(store, "SM-20270117-CCCCCCCC", HAUGESUND, "2027-01-17T10:00:00Z", "received", late=1)
    down = dataclasses.replace(cfg, mail=dataclasses.replace(cfg.mail, smtp_port=free_port()))
    assert reminders.Reminders(down, store).run(at("2027-01-18T07:00:10")) == 0
    assert not store.reminder_day_done("11F", 2026, "2027-01-18")
    assert reminders.Reminders(cfg, store).run(at("2027-01-18T07:00:40")) == 1
    assert received() == ["bergen@example.org", "bergen@example.org", "haugesund@example.org", "haugesund@example.org"]
    assert "var 15.01.2027" in smtp.messages[-1][2].get_content()
    assert {(r["day"], r["unit"], r["state"]) for r in store.reminders()} == {
        ("2027-01-14", BERGEN, "sent"),
        ("2027-01-14", HAUGESUND, "sent"),
        ("2027-01-16", BERGEN, "sending"),
        ("2027-01-16", HAUGESUND, "sent"),
        ("2027-01-18", BERGEN, "sent"),
    }
    store.close()


def test_the_mail_service_runs_the_morning_email_and_the_reminders_and_counts_each_run(tmp_path):
    """One check runs the morning e-mail, then the reminders (when configured), and reports each run (the metrics)."""
    from twisted.internet import defer
    from twisted.internet.task import Clock

    from sendemodul import home as homemod
    from sendemodul import morning_mail

    cfg, store = homemod.init_home(tmp_path / "home", environment="test")
    cfg = config.parse(CONFIG, cfg.home)
    runs = []
    svc = morning_mail.MorningMailService(
        cfg,
        store,
        lambda f, *a: defer.maybeDeferred(f, *a),
        Clock(),
        now=lambda: at("2027-01-10T12:00:00"),
        on_run=lambda kind, sent: runs.append((kind, sent)),
    )
    svc.startService()
    assert runs == [("morning", 0), ("reminder", 0)]
    svc.stopService()
    store.close()
