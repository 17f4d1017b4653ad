"""The morning e-mail: 08:00 Europe/Oslo (DST-aware), one e-mail per unit with activity, to a real SMTP server on
loopback (aiosmtpd), exactly once, also across a restart at 08:00, caught up after downtime."""

import dataclasses
import datetime

import pytest
from conftest import STAVANGER, add_unit, run_cli
from support.smtp import Collect
from support.wait import wait_for

from sendemodul import config, morning_mail
from sendemodul.store import Store
from sendemodul.testing.peers import free_port

UTC = datetime.UTC


def at(text):
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_send_moment_follows_daylight_saving_time():
    """08:00 in Oslo is 07:00 UTC in winter and 06:00 UTC in summer, also on the days the clocks change."""
    assert morning_mail.send_moment(datetime.date(2026, 1, 15), 8) == at("2026-01-15T07:00:00")
    assert morning_mail.send_moment(datetime.date(2026, 3, 29), 8) == at("2026-03-29T06:00:00")
    assert morning_mail.send_moment(datetime.date(2026, 10, 25), 8) == at("2026-10-25T07:00:00")
    assert morning_mail.send_moment(datetime.date(2026, 7, 1), 8) == at("2026-07-01T06:00:00")


def test_due_days_before_at_and_after_eight_and_after_downtime():
    """Nothing is due before 08:00; at 08:00 today is due; after days of downtime the missed days are due too."""
    day = datetime.date(2026, 1, 15)
    kw = {"hour": 8, "catch_up_days": 7}
    assert morning_mail.due_days(datetime.date(2026, 1, 14), at("2026-01-15T06:59:59"), **kw) == []
    assert morning_mail.due_days(datetime.date(2026, 1, 14), at("2026-01-15T07:00:00"), **kw) == [day]
    assert morning_mail.due_days(day, at("2026-01-15T12:00:00"), **kw) == []
    assert morning_mail.due_days(datetime.date(2026, 1, 12), at("2026-01-15T09:00:00"), **kw) == [
        datetime.date(2026, 1, 13),
        datetime.date(2026, 1, 14),
        day,
    ]
    assert len(morning_mail.due_days(None, at("2026-01-15T09:00:00"), **kw)) == 7


#: Collect and free_port: test_i18n imports them from here (the ``smtp`` fixture is tests/conftest.py's).
__all__ = ["Collect", "free_port"]


def _record(store, reference, unit, received_at, status="received"):
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
            "test": 0,
            "late": 0,
            "received_at": received_at,
        },
        actor="test",
    )


@pytest.mark.integration
def test_morning_email_reaches_a_real_smtp_server_once_also_across_a_restart(tmp_path, smtp):
    """Each unit with activity gets one e-mail at 08:00 with its uploads; later checks and a restart at 08:00 send
    nothing again; a unit without activity gets nothing; a relay outage is retried; downtime is caught up."""
    home = tmp_path / "home"
    run_cli("admin", "init", "--dev", "--home", home)
    cfg = config.load(home)
    cfg = dataclasses.replace(cfg, mail=dataclasses.replace(cfg.mail, enabled=True, smtp_port=smtp.port))
    store = Store.open(cfg.db_path)
    add_unit(store, STAVANGER, name="Stavanger kommune", email="stavanger@example.org")
    add_unit(store, "4601-00-964338531", name="Bergen kommune", email="bergen@example.org")
    store.complete_mail_day("2026-01-14")
    _record(store, "SM-20260114-AAAAAAAA", "0301-00-958935420", "2026-01-14T10:00:00Z")
    _record(store, "SM-20260115-BBBBBBBB", STAVANGER, "2026-01-15T06:30:00Z")
    _record(store, "SM-20260115-CCCCCCCC", STAVANGER, "2026-01-15T07:30:00Z")  # after 08:00: tomorrow's e-mail
    store.quarantine_upload("SM-20260114-AAAAAAAA", "The TPF key could not open identities.age.", actor="test")
    # updated_at of the quarantine is "now" (outside the window); pin it into the window for the test
    store.conn().execute("UPDATE uploads SET updated_at = '2026-01-14T11:00:00Z' WHERE reference LIKE 'SM-20260114%'")

    mailer = morning_mail.MorningMail(cfg, store)
    assert mailer.run(at("2026-01-15T06:59:00")) == 0
    assert mailer.run(at("2026-01-15T07:00:05")) == 2
    wait_for(lambda: len(smtp.messages) == 2, timeout=5, message="two e-mails at the SMTP server")
    by_rcpt = {rcpt[0]: msg for _, rcpt, msg in smtp.messages}
    assert set(by_rcpt) == {"kostra-demo@example.org", "stavanger@example.org"}
    oslo = by_rcpt["kostra-demo@example.org"].get_content()
    assert "SM-20260114-AAAAAAAA" in oslo and "Stoppet" in oslo and "could not open" in oslo
    assert "SM-20260115-CCCCCCCC" not in by_rcpt["stavanger@example.org"].get_content()
    assert "SM-20260115-BBBBBBBB" in by_rcpt["stavanger@example.org"].get_content()
    assert by_rcpt["stavanger@example.org"]["From"] == cfg.mail.from_address

    # a second check and a restart at 08:00 send nothing again
    assert mailer.run(at("2026-01-15T07:00:40")) == 0
    store.close()
    store = Store.open(cfg.db_path)
    assert morning_mail.MorningMail(cfg, store).run(at("2026-01-15T07:01:00")) == 0
    # a crash after claiming, before sending: never sent twice (the claim stays)
    assert store.claim_mail("2026-01-16", STAVANGER)
    # the relay is down at 08:00 on the 16th: retried at the next check after it returns
    _record(store, "SM-20260115-DDDDDDDD", "4601-00-964338531", "2026-01-15T09:00:00Z")
    down = dataclasses.replace(cfg, mail=dataclasses.replace(cfg.mail, smtp_port=free_port()))
    assert morning_mail.MorningMail(down, store).run(at("2026-01-16T07:00:10")) == 0
    assert store.last_mail_day() == "2026-01-15"
    # the server is then down for two days: the 16th, 17th and 18th are caught up at 09:00 on the 18th
    assert morning_mail.MorningMail(cfg, store).run(at("2026-01-18T08:00:00")) == 1  # Stavanger's 16th was claimed
    wait_for(lambda: len(smtp.messages) == 3, timeout=5, message="the third e-mail at the SMTP server")
    assert smtp.messages[-1][1] == ["bergen@example.org"]
    assert store.last_mail_day() == "2026-01-18"
    assert morning_mail.MorningMail(cfg, store).run(at("2026-01-18T09:00:00")) == 0  # sent nothing (run is synchronous)
    assert len(smtp.messages) == 3
    for _, _, msg in smtp.messages:
        assert "0301" not in msg.get_content().split("Til ")[0]  # no stray data before the greeting
    store.close()


def test_mail_service_checks_at_start_and_on_its_interval(tmp_path):
    """The service checks at once when it starts (catch-up after downtime) and then every check_seconds."""
    from twisted.internet import defer
    from twisted.internet.task import Clock

    from sendemodul import home as homemod

    cfg, store = homemod.init_home(tmp_path / "home", environment="dev")  # in-process: the unit tier
    now = [at("2026-01-15T06:00:00")]
    clock = Clock()
    calls = []
    svc = morning_mail.MorningMailService(
        cfg, store, lambda f, *a: defer.maybeDeferred(f, *a), clock, now=lambda: now[0]
    )
    svc.mailer = type("Spy", (), {"run": lambda self, when: calls.append(when) or 0})()
    svc.startService()
    assert calls == [now[0]]
    now[0] = at("2026-01-15T07:00:00")
    clock.advance(cfg.mail.check_seconds)
    assert calls[-1] == at("2026-01-15T07:00:00") and len(calls) == 2
    svc.stopService()
    store.close()
