"""The hash budget (issue 25): which logins get an Argon2id hash, alone and through the PIN checker."""

import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading

import pytest
from conftest import ALNA, STAVANGER, add_unit
from server import DEMO, Server
from support.wait import wait_for
from twisted.cred import error
from twisted.cred.portal import Portal
from twisted.internet import defer, reactor, task
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from twisted.trial import unittest

from sendemodul import auth, config, hash_budget, metrics
from sendemodul.store import Store


def test_networks_are_ipv4_slash_24_and_ipv6_slash_56():
    assert hash_budget.network_of("198.51.100.7") == "198.51.100.0/24"
    assert hash_budget.network_of("::ffff:198.51.100.7") == "198.51.100.0/24"
    assert hash_budget.network_of("2001:db8:1:2:3::1") == "2001:db8:1::/56"
    assert hash_budget.network_of("not-an-address") == "not-an-address"
    assert hash_budget.network_of(None) is None


def make_budget(clock, **kw):
    settings = {"seconds": 60, "per_unit": 3, "per_source": 5, "total": 8, "known_days": 30, **kw}
    return hash_budget.HashBudget(clock, **settings)


def test_a_unit_storm_from_rotating_addresses_is_hashed_only_within_the_units_budget():
    clock = task.Clock()
    budget = make_budget(clock)
    admitted = [budget.admit(ALNA, f"203.0.113.{i}") for i in range(10)]
    tickets = [t for t in admitted if isinstance(t, hash_budget.Ticket)]
    assert len(tickets) == 3 and admitted[3:] == ["unit"] * 7
    for ticket in tickets:
        budget.settle(ticket, False)
    assert budget.admit(ALNA, "203.0.113.99") == "unit"
    assert isinstance(budget.admit(STAVANGER, "203.0.113.99"), hash_budget.Ticket)  # another unit is not affected
    clock.advance(20)  # a third of the window: one token back
    assert isinstance(budget.admit(ALNA, "203.0.113.100"), hash_budget.Ticket)
    assert budget.admit(ALNA, "203.0.113.101") == "unit"


def test_a_source_spraying_units_is_held_by_its_own_budget_and_the_front_by_the_total():
    clock = task.Clock()
    budget = make_budget(clock)
    units = [f"0301-00-{970000000 + i}" for i in range(20)]
    spent = [budget.admit(u, "203.0.113.5") for u in units[:6]]
    assert [isinstance(t, hash_budget.Ticket) for t in spent] == [True] * 5 + [False] and spent[5] == "source"
    for ticket in spent[:5]:
        budget.settle(ticket, False)
    others = [budget.admit(u, f"198.51.100.{i}") for i, u in enumerate(units[6:12])]
    assert [t if isinstance(t, str) else "ok" for t in others] == ["ok"] * 3 + ["total"] * 3


def test_a_success_gives_the_tokens_back_and_makes_the_network_known():
    clock = task.Clock()
    budget = make_budget(clock, per_unit=1)
    ticket = budget.admit(ALNA, "198.51.100.7")
    assert budget.admit(ALNA, "203.0.113.1") == "unit"  # the one token is out while the hash runs
    budget.settle(ticket, True)
    assert isinstance(budget.admit(ALNA, "203.0.113.1"), hash_budget.Ticket)  # given back
    for _ in range(5):  # the unit's network is known now: no tokens needed, whatever the storm spent
        known = budget.admit(ALNA, "198.51.100.200")
        assert isinstance(known, hash_budget.Ticket) and not known.spent
    clock.advance(31 * 86400)
    assert budget.admit(ALNA, "198.51.100.7").spent  # known for known_days only: then it takes a token again


class CheckerTests(unittest.TestCase):
    """Through ``Portal.login``, as both fronts use it."""

    def setUp(self):
        tmp = tempfile.mkdtemp(prefix="sendemodul-budget-")
        self.addCleanup(shutil.rmtree, tmp)
        self.store = Store.create(os.path.join(tmp, "sendemodul.db"))
        self.addCleanup(self.store.close)
        self.unit = add_unit(self.store, ALNA)
        self.pin = auth.generate_pin()
        self.store.set_pin(self.unit, auth.hash_pin(self.pin), actor="test")
        self.pool = ThreadPool(minthreads=0, maxthreads=2, name="test-hash")
        self.pool.start()
        self.addCleanup(self.pool.stop)
        self.db_pool = ThreadPool(minthreads=0, maxthreads=1, name="test-db")
        self.db_pool.start()
        self.addCleanup(self.db_pool.stop)
        self.clock = task.Clock()
        self.hashes = []
        self.reads = []
        real_verify, real_read = auth.verify_pin, self.store.login_pin
        self.patch(auth, "verify_pin", lambda pin, phc: self.hashes.append(pin) or real_verify(pin, phc))
        self.patch(self.store, "login_pin", lambda unit: self.reads.append(unit) or real_read(unit))
        self.cfg = config.AuthConfig(
            failure_delay_seconds=1.0,
            hash_budget_seconds=3600,  # each failure advances the clock by its delay: no refill within a test
            hash_budget_per_unit=3,
            hash_budget_per_source=5,
            max_pending_logins=4,
        )
        self.checker = auth.PinChecker(
            self.store,
            hash_pool=self.pool,
            reactor=reactor,
            clock=self.clock,
            config=self.cfg,
            run_db=lambda f, *a, **kw: deferToThreadPool(reactor, self.db_pool, f, *a, **kw),
        )
        self.portal = Portal(auth.UnitRealm(), [self.checker])

    def login(self, username, pin, source):
        return self.portal.login(auth.UnitCredentials(username, pin, source), None, auth.IUnitAvatar)

    @defer.inlineCallbacks
    def outcome(self, username, pin, source):
        """The login's avatar unit, or its failure's exception (advancing the clock through the failure delay)."""
        results = []
        self.login(username, pin, source).addBoth(results.append)
        while not results:
            yield task.deferLater(reactor, 0.005, lambda: None)
            self.clock.advance(self.cfg.failure_delay_seconds)
        result = results[0]
        return result.value if isinstance(result, Failure) else result[1].unit

    @defer.inlineCallbacks
    def storm(self, count, unit=ALNA):
        """``count`` wrong PINs for ``unit``, each from an address of its own (none of them ever banned)."""
        answers = []
        for i in range(count):
            answers.append((yield self.outcome(unit, auth.generate_pin(), f"203.0.{113 + i // 200}.{i % 200}")))
        return answers

    @defer.inlineCallbacks
    def test_a_storm_is_refused_without_hashes_and_the_units_own_network_still_logs_in(self):
        self.assertEqual((yield self.outcome(ALNA, self.pin, "198.51.100.7")), ALNA)  # the kommune, before
        self.checker.verified.forget(self.checker.verified.tag(ALNA, self.pin))  # no cached login to lean on
        hashes_before = len(self.hashes)
        answers = yield self.storm(40)
        self.assertEqual([type(a) for a in answers[:3]], [error.UnauthorizedLogin] * 3)
        self.assertEqual({type(a) for a in answers[3:]}, {auth.Throttled})
        self.assertEqual(len(self.hashes) - hashes_before, 3)  # the unit's budget, and not one hash more
        # the right PIN from the kommune's network: hashed and in, storm or not (another address of the /24 too)
        self.assertEqual((yield self.outcome(ALNA, self.pin, "198.51.100.99")), ALNA)
        self.assertEqual(len(self.hashes) - hashes_before, 4)

    @defer.inlineCallbacks
    def test_a_throttled_login_gets_busys_answer_whatever_the_pin_and_whether_the_unit_exists(self):
        yield self.storm(3)
        yield self.storm(3, unit=STAVANGER)  # well-formed but unknown: the same budget, the same answers
        reads, hashes = len(self.reads), len(self.hashes)
        answers = [
            (yield self.outcome(ALNA, auth.generate_pin(), "192.0.2.50")),
            (yield self.outcome(ALNA, self.pin, "192.0.2.51")),  # even the right PIN, from a network never seen
            (yield self.outcome(STAVANGER, self.pin, "192.0.2.52")),
        ]
        self.assertEqual({type(a) for a in answers}, {auth.Throttled})
        self.assertTrue(all(isinstance(a, auth.Busy) and isinstance(a, error.UnauthorizedLogin) for a in answers))
        self.assertEqual({str(a) for a in answers}, {str(auth.Busy())})
        self.assertEqual((len(self.reads), len(self.hashes)), (reads, hashes))  # no store read, no hash
        self.assertEqual(self.clock.getDelayedCalls(), [])  # and answered at once, not after the failure delay

    @defer.inlineCallbacks
    def test_a_source_over_its_budget_is_refused_cheaply_and_the_unit_stays_open_to_others(self):
        units = [f"0301-00-{970000000 + i}" for i in range(8)]
        answers = []
        for u in units:
            answers.append((yield self.outcome(u, auth.generate_pin(), "203.0.113.66")))
        self.assertEqual([type(a) for a in answers], [error.UnauthorizedLogin] * 5 + [auth.Throttled] * 3)
        self.assertEqual(answers[-1].scope, "source")
        self.assertFalse(self.checker.defender.is_banned("203.0.113.66"))  # 5 x 2 < 20: throttled, not banned
        self.assertEqual((yield self.outcome(ALNA, self.pin, "198.51.100.7")), ALNA)

    @defer.inlineCallbacks
    def test_a_username_that_cannot_be_a_unit_costs_no_hash_and_scores_like_an_unknown_unit(self):
        answers = []
        for name in ["nonsense", "0301-12-95893542", "", "0301 12 958935420"]:
            answers.append((yield self.outcome(name, self.pin, "203.0.113.7")))
        self.assertEqual([type(a) for a in answers], [error.UnauthorizedLogin] * 4)
        self.assertEqual((self.hashes, self.reads), ([], []))
        self.assertEqual(self.clock.seconds(), 4 * self.cfg.failure_delay_seconds)  # each after the failure delay
        # 2 points each, like an unknown unit: 8 of the ban score's 20 (12 more: banned)
        for _ in range(6):
            yield self.outcome("nonsense", self.pin, "203.0.113.7")
        self.assertTrue(self.checker.defender.is_banned("203.0.113.7"))

    @defer.inlineCallbacks
    def test_logins_that_succeed_never_spend_the_budget(self):
        for i in range(10):  # ten first logins, each from a network of its own
            self.assertEqual((yield self.outcome(ALNA, self.pin, f"10.{i}.0.1")), ALNA)
            self.checker.verified.forget(self.checker.verified.tag(ALNA, self.pin))
        self.assertEqual(len(self.hashes), 10)
        answers = yield self.storm(4)
        self.assertEqual([type(a) for a in answers], [error.UnauthorizedLogin] * 3 + [auth.Throttled])

    @defer.inlineCallbacks
    def test_a_login_answered_busy_by_a_full_pool_gives_its_tokens_back(self):
        release = threading.Event()
        real = auth.verify_pin
        self.patch(auth, "verify_pin", lambda pin, phc: release.wait(10) and real(pin, phc))
        units = [f"0301-00-{970000000 + i}" for i in range(4)]
        held = [self.login(u, auth.generate_pin(), f"198.51.{i}.1") for i, u in enumerate(units)]
        for _ in range(2000):
            if self.checker.pending == 4:
                break
            yield task.deferLater(reactor, 0.005, lambda: None)
        for _ in range(5):  # the pool is full: busy, and no token of the unit's budget spent
            with self.assertRaises(auth.Busy) as raised:
                yield self.login(ALNA, auth.generate_pin(), "192.0.2.9")
            self.assertNotIsInstance(raised.exception, auth.Throttled)
        release.set()
        for d in held:
            d.addErrback(lambda f: None)
        while self.checker.pending:
            yield task.deferLater(reactor, 0.005, lambda: None)
            self.clock.advance(1)
        answers = yield self.storm(4)
        self.assertEqual([type(a) for a in answers], [error.UnauthorizedLogin] * 3 + [auth.Throttled])

    @defer.inlineCallbacks
    def test_throttling_is_counted_and_audited_without_secrets(self):
        def count(result, scope):
            logins = metrics.REGISTRY.get_sample_value(
                "sendemodul_logins_total", {"protocol": "https", "result": result}
            )
            scoped = metrics.REGISTRY.get_sample_value("sendemodul_logins_throttled_total", {"scope": scope})
            return (logins or 0, scoped or 0)

        before = count("throttled", "unit")
        wrong = [auth.generate_pin() for _ in range(6)]
        for i, pin in enumerate(wrong):
            yield self.outcome(ALNA, pin, f"203.0.113.{i}")
        self.assertEqual(count("throttled", "unit"), (before[0] + 3, before[1] + 3))  # counted at once
        for _ in range(2000):  # the audit is written by the store's thread
            audited = [e for e in self.store.audit_entries() if e.event == "login.throttled"]
            if audited:
                break
            yield task.deferLater(reactor, 0.005, lambda: None)
        for _ in range(4):  # the storm goes on: no more audit events for it
            yield self.outcome(ALNA, auth.generate_pin(), "203.0.113.200")
        yield task.deferLater(reactor, 0.2, lambda: None)
        audited = [e for e in self.store.audit_entries() if e.event == "login.throttled"]
        self.assertEqual(len(audited), 1)  # once per unit_window_seconds, however long the storm
        self.assertEqual(audited[0].unit, ALNA)
        detail = json.loads(audited[0].detail) if isinstance(audited[0].detail, str) else audited[0].detail
        self.assertEqual(detail, {"scope": "unit", "budget": 3, "window_seconds": 3600})
        text = repr(list(self.store.audit_entries()))
        self.assertFalse(any(p in text or p.replace("-", "") in text for p in [*wrong, self.pin]))


def test_a_budget_of_0_seconds_hashes_every_login_as_before():
    checker = auth.PinChecker(
        None,
        hash_pool=None,
        run_db=None,
        reactor=None,
        clock=task.Clock(),
        config=config.AuthConfig(hash_budget_seconds=0),
    )
    assert checker.budget is None


METRICS = 'enabled = true\nlisten = "tcp:0:interface=127.0.0.1"\nusername = "prom"\npassword = "s3cret-prom"'


def _curl(url, *args):
    """(status or None, response headers) of the real curl."""
    proc = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-D", "/dev/stdout", "-w", "%{http_code}", *args, url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    headers, code = proc.stdout[:-3], proc.stdout[-3:]
    return (int(code) if code.isdigit() and code != "000" else None), headers


@pytest.mark.integration
def test_a_storm_on_a_real_server_is_answered_busy_without_hashes_and_the_units_network_still_uploads(tmp_path):
    """Through the real HTTPS front with curl: wrong PINs for the demo unit from loopback addresses in another /24
    spend its budget (2), then are answered 503 busy with Retry-After, as is the right PIN from a network the unit
    never used (what a storm can do; the login cache is off here, which would otherwise let a PIN that passed in
    the last 15 minutes in from anywhere); the right PIN from the unit's own network still gets in; OpenSSH's sftp
    meets the same budget (refused from a new network, in from the unit's own); the metrics and the
    audit count the throttled logins, and neither the log nor the audit holds a PIN."""
    srv = Server(
        tmp_path / "home",
        sections={"auth": "hash_budget_per_unit = 2\nverified_cache_seconds = 0", "metrics": METRICS},
    ).init()
    srv.start()
    try:
        cacert = ("--cacert", str(srv.home / "tls" / "server.pem"))
        api = f"{srv.url}/api/v1/uploads"
        assert _curl(api, *cacert, "-u", f"{DEMO}:{srv.pin}")[0] == 200  # from 127.0.0.1: the unit's network now
        wrong = [f"WRNG-PIN{i}-XXXX" for i in range(5)]
        answers = [
            _curl(api, *cacert, "--interface", f"127.0.5.{i + 1}", "-u", f"{DEMO}:{pin}") for i, pin in enumerate(wrong)
        ]
        assert [status for status, _ in answers] == [401, 401, 503, 503, 503], answers
        assert "retry-after: 5" in answers[-1][1].lower()
        new_network = _curl(api, *cacert, "--interface", "127.0.6.1", "-u", f"{DEMO}:{srv.pin}")
        assert new_network[0] == 503  # the right PIN, but from a network the unit has not used: not hashed
        assert _curl(api, *cacert, "--interface", "127.0.0.9", "-u", f"{DEMO}:{srv.pin}")[0] == 200

        def sftp_ls(bind):  # OpenSSH's sftp with the right PIN, one password attempt, from address ``bind``
            return subprocess.run(
                ["sshpass", "-p", srv.pin, "sftp", "-P", str(srv.sftp_port), "-o", f"BindAddress={bind}"]
                + [f"-o{o}" for o in ("StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR")]
                + [f"-o{o}" for o in ("PubkeyAuthentication=no", "BatchMode=no", "NumberOfPasswordPrompts=1")]
                + ["-b", "-", f"{DEMO}@127.0.0.1"],
                input="ls\n",
                capture_output=True,
                text=True,
                timeout=60,
            )

        assert sftp_ls("127.0.6.2").returncode != 0  # the same budget over SFTP: the password refused, unhashed
        assert sftp_ls("127.0.0.10").returncode == 0  # and the unit's own network logs in
        scraped = _scrape(srv)
        assert 'sendemodul_logins_total{protocol="https",result="throttled"} 4.0' in scraped, scraped
        assert 'sendemodul_logins_throttled_total{scope="unit"} 5.0' in scraped
        assert 'sendemodul_logins_total{protocol="https",result="failure"} 2.0' in scraped
        assert 'sendemodul_logins_total{protocol="sftp",result="throttled"} 1.0' in scraped
        assert 'sendemodul_logins_total{protocol="sftp",result="success"} 1.0' in scraped

        def throttled_audited():
            store = Store.open(config.load(srv.home).store_location)
            try:
                entries = list(store.audit_entries())
            finally:
                store.close()
            return entries if any(e.event == "login.throttled" for e in entries) else None

        entries = wait_for(throttled_audited, timeout=10, message="the audit event")
        throttled = [e for e in entries if e.event == "login.throttled"]
        assert len(throttled) == 1 and throttled[0].unit == DEMO, entries
        log_text = (srv.home / "log" / "sendemodul.json").read_text()
        assert "answered busy without a hash" in log_text
        for secret in [*wrong, srv.pin]:
            assert secret not in log_text and secret not in repr(entries)
    finally:
        srv.stop()


def _curl_answers(*args):
    """[(status, headers without Date, body)] of one curl run over one or more URLs (curl reuses the connection
    between them where the server keeps it open), and how many connections curl opened for each."""
    marker = "\n@@END@@ %{num_connects}\n"
    proc = subprocess.run(
        ["curl", "-sS", "-D", "-", "-w", marker, *args], capture_output=True, text=True, timeout=60, check=True
    )
    answers = re.split(r"\n@@END@@ (\d+)\n", proc.stdout)[:-1]
    out = []
    for text, connects in zip(answers[0::2], answers[1::2], strict=True):
        head, _, body = text.partition("\n\n")  # (text mode: curl's CRLFs read as newlines)
        lines = head.split("\n")
        headers = sorted(line.lower() for line in lines[1:] if not line.lower().startswith("date:"))
        out.append((int(lines[0].split()[1]), headers, body, int(connects)))
    return out


@pytest.mark.integration
def test_a_busy_api_read_is_answered_before_the_resource_tree_as_the_resource_tree_answers_it(tmp_path):
    """Through the real HTTPS front with curl (issue 25, the storm's cost per refused login): once the unit's budget
    is spent, ``GET /api/v1/uploads`` is answered 503 busy before the resource tree (``SecureRequest.
    refused_at_once``); ``/api/v1/uploads/%53M-...`` (percent-escaped, so it takes the ordinary path to the same
    kind of resource) gets the same status, headers (security headers, Retry-After, language) and body, in Bokmål
    and Nynorsk; a kept-alive connection carries the next request after it; the metrics count each as throttled."""
    with _spent_budget(tmp_path) as (srv, cacert, user):
        at_once = f"{srv.url}/api/v1/uploads"
        ordinary = f"{srv.url}/api/v1/uploads/%53M-20270115-7KQ2XW9D"
        for lang_args, lang in [((), "nb"), (("-H", "Accept-Language: nn"), "nn")]:
            (fast, slow) = (_curl_answers(*cacert, *user, *lang_args, url)[0] for url in (at_once, ordinary))
            assert fast[:3] == slow[:3], (fast, slow)
            status, headers, body, _ = fast
            assert status == 503
            assert "retry-after: 5" in headers and f"content-language: {lang}" in headers
            assert any(h.startswith("content-security-policy: default-src 'none'") for h in headers)
            assert "strict-transport-security: max-age=63072000; includesubdomains" in headers
            assert json.loads(body)["error"] == "busy"
            nynorsk = json.loads(body)["melding"] != json.loads(_curl_answers(*cacert, *user, at_once)[0][2])["melding"]
            assert nynorsk == (lang == "nn")
        kept = _curl_answers(*cacert, *user, at_once, at_once, ordinary)
        assert [(status, connects) for status, _, _, connects in kept] == [(503, 1), (503, 0), (503, 0)]
        scraped = _scrape(srv)
        assert 'sendemodul_logins_total{protocol="https",result="throttled"} 9.0' in scraped, scraped


@contextlib.contextmanager
def _spent_budget(tmp_path):
    """A started front with metrics whose demo unit has spent its budget of one hash (one wrong PIN from
    127.0.7.1, answered 401): yields it, curl's ``--cacert`` arguments and the wrong PIN's ``-u`` arguments."""
    srv = Server(
        tmp_path / "home", sections={"auth": "hash_budget_per_unit = 1\nverified_cache_seconds = 0", "metrics": METRICS}
    ).init()
    srv.start()
    try:
        cacert = ("--cacert", str(srv.home / "tls" / "server.pem"))
        user = ("-u", f"{DEMO}:WRNG-PIN0-XXXX", "--interface", "127.0.7.1")
        assert _curl(f"{srv.url}/api/v1/uploads", *cacert, *user)[0] == 401  # the budget's one hash
        yield srv, cacert, user
    finally:
        srv.stop()


def _scrape(srv):
    """The front's metrics page, read with curl from its metrics listener."""
    port = int(re.search(r"metrics listening on [\d.]+:(\d+)", "".join(srv.output)).group(1))
    return subprocess.run(
        ["curl", "-sS", "-u", "prom:s3cret-prom", f"http://127.0.0.1:{port}/metrics"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def _raw_answer(srv, head, *, split=None, source="127.0.7.1", proxy=b""):
    """The bytes (Date blanked) a raw TLS client (Python's ssl, as the bench's storm) gets for ``head`` sent on a
    new connection from ``source`` (after ``proxy``, a PROXY protocol header, before TLS): in one write, or first
    ``head[:split]`` and, once the front has shown it waits for the rest, the remainder."""
    import socket
    import ssl

    context = ssl.create_default_context(cafile=str(srv.home / "tls" / "server.pem"))
    address = ("127.0.0.1", srv.https_port)
    with (
        socket.create_connection(address, timeout=30, source_address=(source, 0)) as sock,
        context.wrap_socket(_sent(sock, proxy), server_hostname="127.0.0.1") as tls,
    ):
        if split is None:
            tls.sendall(head)
        else:
            tls.sendall(head[:split])
            tls.settimeout(0.3)  # no answer to a partial head (this wait is the check, and keeps the parts apart)
            with pytest.raises(TimeoutError):
                tls.recv(1)
            tls.settimeout(30)
            tls.sendall(head[split:])
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    return re.sub(rb"\r\nDate: [^\r]+\r\n", b"\r\nDate: -\r\n", b"".join(chunks))


def _sent(sock, data):
    """``sock`` after sending ``data`` on it."""
    sock.sendall(data)
    return sock


@pytest.mark.integration
def test_a_storms_head_is_answered_by_the_channel_as_the_request_and_the_resource_tree_answer_it(tmp_path):
    """Through the real HTTPS front (issue 25): once the unit's budget is spent, the storm's request (one whole
    ``GET /api/v1/uploads`` head with ``Connection: close`` in the connection's first bytes, what the bench's Python
    client and curl with ``Connection: close`` send) is answered by the channel before any ``Request`` exists
    (``web.busy.BusyHead.answered_busy_head``). The same head sent in two parts (so Twisted parses it and the
    request answers early), and the percent-escaped path (the resource tree), get the same bytes apart from the
    Date; curl gets the same status, headers and body; the metrics count each login as throttled once."""
    with _spent_budget(tmp_path) as (srv, cacert, user):
        login = base64.b64encode(f"{DEMO}:WRNG-PIN0-XXXX".encode())
        head = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic %s\r\nConnection: close\r\n\r\n"
        channel = _raw_answer(srv, head % (b"/api/v1/uploads", login))
        in_parts = _raw_answer(srv, head % (b"/api/v1/uploads", login), split=30)
        ordinary = _raw_answer(srv, head % (b"/api/v1/uploads/%53M-20270115-7KQ2XW9D", login))
        assert channel.startswith(b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"), channel
        assert channel == in_parts == ordinary
        close = ("-H", "Connection: close")
        fast, slow = (
            _curl_answers(*cacert, *user, *close, f"{srv.url}{path}")[0]
            for path in ("/api/v1/uploads", "/api/v1/uploads/%53M-20270115-7KQ2XW9D")
        )
        assert fast == slow and fast[0] == 503, (fast, slow)
        scraped = _scrape(srv)
        assert 'sendemodul_logins_total{protocol="https",result="throttled"} 5.0' in scraped, scraped


def _answer_and_close(srv, head, source="127.0.7.1"):
    """``(answer, closed)``: what a TLS client that never sends its own close_notify reads for ``head`` (up to the
    front's close_notify, Date blanked), and whether the front then closed TCP without waiting for it (an EOF
    within half a second; Twisted's TLS layer otherwise waits for the client's close_notify)."""
    import socket
    import ssl

    context = ssl.create_default_context(cafile=str(srv.home / "tls" / "server.pem"))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with socket.create_connection(("127.0.0.1", srv.https_port), timeout=30, source_address=(source, 0)) as sock:

        def step(operation):
            while True:
                try:
                    result = operation()
                except ssl.SSLWantReadError:
                    sock.sendall(outgoing.read())
                    incoming.write(sock.recv(65536) or b"")
                    continue
                sock.sendall(outgoing.read())
                return result

        step(tls.do_handshake)
        step(lambda: tls.write(head))
        chunks = []
        while chunk := step(lambda: tls.read(65536)):  # b"" at the front's close_notify
            chunks.append(chunk)
        sock.settimeout(0.5)  # the check: the front's FIN comes at once, or it waits for our close_notify
        try:
            closed = sock.recv(65536) == b""
        except TimeoutError:
            closed = False
    return re.sub(rb"\r\nDate: [^\r]+\r\n", b"\r\nDate: -\r\n", b"".join(chunks)), closed


@pytest.mark.integration
def test_a_storms_head_answered_by_the_channel_closes_without_waiting_for_the_clients_close_notify(tmp_path):
    """The channel's busy answer to a storm's head (``BusyHead.answered_busy_head``) closes as nginx does: its
    close_notify, then the TCP close, without waiting for the client's close_notify; the same answer through the
    resource tree (the percent-escaped path) still waits for it, as Twisted's TLS layer does. Both the same bytes."""
    with _spent_budget(tmp_path) as (srv, _cacert, _user):
        login = base64.b64encode(f"{DEMO}:WRNG-PIN0-XXXX".encode())
        head = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic %s\r\nConnection: close\r\n\r\n"
        channel, channel_closed = _answer_and_close(srv, head % (b"/api/v1/uploads", login))
        ordinary, ordinary_closed = _answer_and_close(srv, head % (b"/api/v1/uploads/%53M-20270115-7KQ2XW9D", login))
        assert channel.startswith(b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"), channel
        assert channel == ordinary
        assert (channel_closed, ordinary_closed) == (True, False)


@pytest.mark.integration
def test_behind_a_proxy_protocol_listener_the_channels_answer_counts_the_clients_own_address(tmp_path):
    """The channel's early answer (``BusyHead.answered_busy_head``) behind a ``haproxy:`` listener (docs/cluster.md):
    the login's source is the client's address from the PROXY header, not the balancer's. With one hash per
    source, a second wrong PIN from 203.0.113.7 is answered busy by the channel (the same bytes as the ordinary
    path through the same listener), while one from 203.0.113.8 is still hashed (401)."""
    srv = Server(
        tmp_path / "home",
        sections={"auth": "hash_budget_per_source = 1\nverified_cache_seconds = 0"},
    ).init()
    config = srv.home / "config.toml"
    config.write_text(
        config.read_text().replace("https_port = 0\n", 'https_endpoint = "haproxy:tcp:0:interface=127.0.0.1"\n', 1)
    )
    srv.start()
    try:
        login = base64.b64encode(f"{DEMO}:WRNG-PIN0-XXXX".encode())
        head = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic %s\r\nConnection: close\r\n\r\n"

        def answer(client, path=b"/api/v1/uploads"):
            proxy = b"PROXY TCP4 %s 127.0.0.1 40000 443\r\n" % client.encode()
            return _raw_answer(srv, head % (path, login), proxy=proxy)

        assert answer("203.0.113.7").startswith(b"HTTP/1.1 401 ")  # the source's one hash
        busy = answer("203.0.113.7")
        assert busy.startswith(b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"), busy
        assert busy == answer("203.0.113.7", b"/api/v1/uploads/%53M-20270115-7KQ2XW9D")
        assert answer("203.0.113.8").startswith(b"HTTP/1.1 401 ")  # another client behind the same balancer
    finally:
        srv.stop()
