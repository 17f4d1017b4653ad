"""The cred checker and realm, through ``Portal.login`` as both fronts will use them."""

import os
import shutil
import tempfile
import threading

from conftest import ALNA, STAVANGER, add_unit
from twisted.cred import error
from twisted.cred.portal import Portal
from twisted.internet import defer, reactor, task
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from twisted.trial import unittest

from sendemodul import auth, config
from sendemodul.store import Store


class PortalTests(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.mkdtemp(prefix="sendemodul-auth-")
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
        self.make_checker()

    def make_checker(self, **overrides):
        from twisted.internet.threads import deferToThreadPool

        settings = {"failure_delay_seconds": 1.0, "source_ban_score": 6, "unit_warn_failures": 3, **overrides}
        self.cfg = config.AuthConfig(**settings)
        self.checker = auth.PinChecker(
            self.store,
            hash_pool=self.pool,
            reactor=reactor,
            clock=self.clock,
            config=self.cfg,
            run_db=lambda f, *a, **kw: deferToThreadPool(reactor, self.db_pool, f, *a, **kw),
        )
        self.realm = auth.UnitRealm()
        self.portal = Portal(self.realm, [self.checker])

    def login(self, username, pin, source="192.0.2.1"):
        return self.portal.login(auth.UnitCredentials(username, pin, source), None, auth.IUnitAvatar)

    @defer.inlineCallbacks
    def failed_login(self, username, pin, source="192.0.2.1"):
        """Log in expecting failure; advance the clock through the failure delay. Returns the exception."""
        d = self.login(username, pin, source)
        results = []
        d.addBoth(results.append)
        while not results:
            yield task.deferLater(reactor, 0.005, lambda: None)
            self.clock.advance(self.cfg.failure_delay_seconds)
        self.assertIsInstance(results[0], Failure)
        return results[0].value

    @defer.inlineCallbacks
    def test_right_pin_logs_in_as_the_unit(self):
        interface, avatar, _logout = yield self.login(ALNA, self.pin)
        self.assertIs(interface, auth.IUnitAvatar)
        self.assertEqual(avatar.unit, ALNA)

    @defer.inlineCallbacks
    def test_pin_is_case_and_separator_insensitive(self):
        sloppy = " ".join(self.pin.replace("-", "").lower()[i : i + 3] for i in range(0, 12, 3))
        _, avatar, _ = yield self.login(ALNA.encode(), sloppy.encode())
        self.assertEqual(avatar.unit, ALNA)

    @defer.inlineCallbacks
    def test_wrong_pin_unknown_unit_and_garbage_fail_the_same_way(self):
        for username, pin in [
            (ALNA, auth.generate_pin()),
            (STAVANGER, self.pin),
            ("nonsense", self.pin),
            (ALNA, ""),
            ("", ""),
        ]:
            failure = yield self.failed_login(username, pin, source=None)
            self.assertIs(type(failure), error.UnauthorizedLogin, (username, failure))
            self.assertEqual(str(failure), "")

    @defer.inlineCallbacks
    def test_failure_answers_only_after_the_delay(self):
        d = self.login(ALNA, auth.generate_pin())
        results = []
        d.addBoth(results.append)
        for _ in range(400):  # wait for the hash thread, without advancing the clock
            if self.clock.getDelayedCalls():
                break
            yield task.deferLater(reactor, 0.005, lambda: None)
        self.assertEqual(results, [])
        self.clock.advance(self.cfg.failure_delay_seconds - 0.01)
        self.assertEqual(results, [])
        self.clock.advance(0.01)
        yield task.deferLater(reactor, 0, lambda: None)
        self.assertIs(results[0].type, error.UnauthorizedLogin)

    @defer.inlineCallbacks
    def test_unknown_unit_costs_a_full_hash_off_the_reactor_thread(self):
        calls = []
        real = auth.verify_pin

        def spy(pin, phc):
            calls.append((threading.current_thread() is threading.main_thread(), phc == auth.dummy_phc()))
            return real(pin, phc)

        self.patch(auth, "verify_pin", spy)
        yield self.failed_login(STAVANGER, self.pin, source=None)
        yield self.failed_login(ALNA, auth.generate_pin(), source=None)
        yield self.login(ALNA, self.pin)
        self.assertEqual(calls, [(False, True), (False, False), (False, False)])

    @defer.inlineCallbacks
    def test_disabled_unit_and_revoked_or_replaced_pin_fail(self):
        old = self.pin
        self.store.set_pin(self.unit, auth.hash_pin(new := auth.generate_pin()), actor="test")
        failure = yield self.failed_login(ALNA, old, source=None)
        self.assertIs(type(failure), error.UnauthorizedLogin)
        yield self.login(ALNA, new)
        self.store.revoke_pin(self.unit, actor="test")
        failure = yield self.failed_login(ALNA, new, source=None)
        self.assertIs(type(failure), error.UnauthorizedLogin)
        self.store.set_pin(self.unit, auth.hash_pin(new), actor="test")
        self.store.disable_unit(self.unit, actor="test")
        failure = yield self.failed_login(ALNA, new, source=None)
        self.assertIs(type(failure), error.UnauthorizedLogin)

    @defer.inlineCallbacks
    def test_source_is_banned_without_locking_the_unit_out(self):
        attacker, kommune = "203.0.113.66", "198.51.100.7"
        for _ in range(3):  # unknown unit scores 2: 3 x 2 = 6 = ban
            yield self.failed_login(STAVANGER, self.pin, source=attacker)
        self.assertTrue(self.checker.defender.is_banned(attacker))
        # even the right PIN is refused from the banned source, at once
        failure = yield self.failed_login(ALNA, self.pin, source=attacker)
        self.assertIs(type(failure), error.UnauthorizedLogin)
        # the unit itself is not locked: its own source logs in
        _, avatar, _ = yield self.login(ALNA, self.pin, source=kommune)
        self.assertEqual(avatar.unit, ALNA)
        # the ban expires
        self.clock.advance(self.cfg.source_ban_seconds + 1)
        _, avatar, _ = yield self.login(ALNA, self.pin, source=attacker)
        self.assertEqual(avatar.unit, ALNA)

    @defer.inlineCallbacks
    def test_malformed_credentials_fail_after_the_delay_and_score_like_a_wrong_pin_without_a_hash(self):
        """Issue 14, finding 7: a front that cannot read a unit and a PIN from what the client sent (a malformed
        ``Authorization`` header) hands the checker ``MalformedCredentials``: the same UnauthorizedLogin after the
        same delay, a score of 1 for the source (a wrong PIN's), and no Argon2id hash spent on it."""
        calls = []
        self.patch(auth, "verify_pin", lambda pin, phc: calls.append(pin))
        attacker = "203.0.113.9"
        for _ in range(self.cfg.source_ban_score - 1):
            d = self.portal.login(auth.MalformedCredentials(attacker), None, auth.IUnitAvatar)
            results = []
            d.addBoth(results.append)
            yield task.deferLater(reactor, 0.01, lambda: None)
            self.assertEqual(results, [])  # not before the failure delay
            self.clock.advance(self.cfg.failure_delay_seconds)
            self.assertIs(results[0].type, error.UnauthorizedLogin)
            self.assertFalse(self.checker.defender.is_banned(attacker))
        failure = yield self.failed_login(ALNA, auth.generate_pin(), source=attacker)  # one wrong PIN more: banned
        self.assertIs(type(failure), error.UnauthorizedLogin)
        self.assertTrue(self.checker.defender.is_banned(attacker))
        self.assertEqual(len(calls), 1)  # the wrong PIN's hash; none for the malformed ones

    @defer.inlineCallbacks
    def test_repeated_failures_for_one_unit_are_audited_and_warned(self):
        from twisted.logger import globalLogPublisher

        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        for i in range(3):  # from different sources: no ban, but the unit is under attack
            yield self.failed_login(ALNA, auth.generate_pin(), source=f"198.51.100.{i}")
        audited = [e for e in self.store.audit_entries() if e.event == "login.repeated_failures"]
        self.assertEqual(len(audited), 1)
        self.assertEqual(audited[0].unit, ALNA)
        warnings = [e for e in events if "failed logins" in e.get("log_format", "")]
        self.assertEqual(len(warnings), 1)
        self.assertEqual(warnings[0]["log_level"].name, "warn")

    @defer.inlineCallbacks
    def test_full_hash_pool_answers_busy_at_once(self):
        self.make_checker(max_pending_logins=2, hash_threads=2)
        release = threading.Event()
        real = auth.verify_pin
        self.patch(auth, "verify_pin", lambda pin, phc: release.wait(10) and real(pin, phc))
        first = [self.login(ALNA, self.pin), self.login(ALNA, self.pin)]
        yield self.until(lambda: self.checker.pending == 2)
        with self.assertRaises(auth.Busy) as raised:  # answered without waiting for a hash
            yield self.login(ALNA, self.pin)
        self.assertIsInstance(raised.exception, error.UnauthorizedLogin)
        release.set()
        results = yield defer.gatherResults(first)
        self.assertEqual([avatar.unit for _, avatar, _ in results], [ALNA, ALNA])
        self.assertEqual(self.checker.pending, 0)

    @defer.inlineCallbacks
    def until(self, condition, seconds=10):
        for _ in range(int(seconds / 0.005)):
            if condition():
                return
            yield task.deferLater(reactor, 0.005, lambda: None)
        self.fail("condition never met")

    @defer.inlineCallbacks
    def test_a_unit_that_just_logged_in_is_not_queued_behind_a_full_hash_pool(self):
        """A storm of wrong PINs fills the pool; the unit's own login (verified before) still passes at once, a
        wrong PIN does not, and a reissued PIN or an expired entry goes back to Argon2id."""
        self.make_checker(max_pending_logins=2, hash_threads=2, verified_cache_seconds=60)
        yield self.login(ALNA, self.pin)
        release = threading.Event()
        real = auth.verify_pin
        self.patch(auth, "verify_pin", lambda pin, phc: release.wait(10) and real(pin, phc))
        storm = [self.login(ALNA, "WRNG-PINX-XXXX"), self.login(ALNA, "WRNG-PINX-XXXY")]
        yield self.until(lambda: self.checker.pending == 2)
        _, avatar, _ = yield self.login(ALNA, self.pin.lower().replace("-", " "))  # same PIN, other spelling
        self.assertEqual(avatar.unit, ALNA)
        with self.assertRaises(auth.Busy):
            yield self.login(ALNA, "WRNG-PINX-XXXZ")
        self.clock.advance(61)  # expired: back in the queue
        with self.assertRaises(auth.Busy):
            yield self.login(ALNA, self.pin)
        release.set()
        done = []
        for d in storm:
            d.addBoth(done.append)
        while len(done) < len(storm):  # the storm's failures wait out their delay on self.clock
            yield task.deferLater(reactor, 0.005, lambda: None)
            self.clock.advance(self.cfg.failure_delay_seconds)
        self.assertTrue(all(isinstance(r, Failure) and r.check(error.UnauthorizedLogin) for r in done), done)
        yield self.login(ALNA, self.pin)
        new_pin = auth.generate_pin()
        self.store.set_pin(self.unit, auth.hash_pin(new_pin), actor="test")
        self.assertIsInstance((yield self.failed_login(ALNA, self.pin)), error.UnauthorizedLogin)
        _, avatar, _ = yield self.login(ALNA, new_pin)
        self.assertEqual(avatar.unit, ALNA)
        self.store.revoke_pin(self.unit, actor="test")  # revoked, or the unit disabled: no login, cached or not
        self.assertIsInstance((yield self.failed_login(ALNA, new_pin)), error.UnauthorizedLogin)
        self.store.set_pin(self.unit, auth.hash_pin(new_pin), actor="test")
        yield self.login(ALNA, new_pin)
        self.store.disable_unit(self.unit, actor="test")
        self.assertIsInstance((yield self.failed_login(ALNA, new_pin)), error.UnauthorizedLogin)


def test_generated_pins_have_60_bits_in_groups_of_four():
    pins = {auth.generate_pin() for _ in range(200)}
    assert len(pins) == 200
    for pin in pins:
        groups = pin.split("-")
        assert [len(g) for g in groups] == [4, 4, 4]
        assert set("".join(groups)) <= set(auth.PIN_ALPHABET)
    assert len(auth.PIN_ALPHABET) == 32 and not set("01IO") & set(auth.PIN_ALPHABET)


def test_hash_is_argon2id_with_owasp_parameters_and_never_contains_the_pin():
    pin = auth.generate_pin()
    phc = auth.hash_pin(pin)
    assert phc.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert auth.normalize_pin(pin) not in phc and pin not in phc
    assert auth.verify_pin(pin.lower(), phc) and not auth.verify_pin(auth.generate_pin(), phc)
    assert auth.hash_pin(pin) != phc  # salted


def test_credentials_repr_hides_the_pin():
    assert "SECRET" not in repr(auth.UnitCredentials(ALNA, "SECRET", "192.0.2.1"))


class VerifiedLoginTags(unittest.TestCase):
    def test_tag_is_hmac_sha256_under_the_key(self):
        """The tag is made from pre-hashed key pads (for speed): it must stay exactly HMAC-SHA256 of unit NUL
        normalized PIN under the process's key, so that a PIN written another way gives the same tag."""
        import hmac

        verified = auth.VerifiedLogins(task.Clock(), 60, normalize_pin=auth.normalize_pin)
        for unit, pin in [("0301-00-974760673", "abcd efgh-jkmn"), ("æøå", ""), ("x" * 200, "P" * 100)]:
            expected = hmac.digest(verified._key, "\0".join((unit, auth.normalize_pin(pin))).encode("utf-8"), "sha256")
            self.assertEqual(verified.tag(unit, pin), expected)
        self.assertEqual(verified.tag("a", "abcd-efgh"), verified.tag("a", "ABCD EFGH"))
        self.assertNotEqual(verified.tag("a", "abcd"), verified.tag("b", "abcd"))
