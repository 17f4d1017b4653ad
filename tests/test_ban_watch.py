"""Bans shared by the fronts of a cluster: one front's ban reaches the other through the store (issue 20)."""

import os
import shutil
import tempfile

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from sendemodul.auth import Defender
from sendemodul.ban_watch import BanWatch
from sendemodul.store import Store


def run_now(f, *args, **kwargs):
    return defer.maybeDeferred(f, *args, **kwargs)


class BanWatchTests(SynchronousTestCase):
    def setUp(self):
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory, True)
        self.store = Store.create(os.path.join(directory, "sendemodul.db"))
        self.addCleanup(self.store.close)
        self.clock = Clock()
        self.clock.advance(1_000_000)

    def front(self):
        """One front's defender, sharing its bans through the store, and its watch."""
        defender = Defender(
            self.clock,
            ban_score=3,
            window_seconds=600,
            ban_seconds=900,
            on_ban=lambda source, until: self.store.ban_source(source, until),
        )
        watch = BanWatch(self.store, run_now, self.clock, 1.0, defender)
        watch.startService()
        self.addCleanup(watch.stopService)
        return defender

    def test_a_source_banned_by_one_front_is_refused_by_the_other_at_its_next_poll(self):
        a, b = self.front(), self.front()
        for _ in range(3):
            a.record_failure("192.0.2.7", 1)
        self.assertTrue(a.is_banned("192.0.2.7"))
        self.assertFalse(b.is_banned("192.0.2.7"))
        self.clock.advance(1.0)
        self.assertTrue(b.is_banned("192.0.2.7"))
        self.assertFalse(b.is_banned("192.0.2.8"))
        self.clock.advance(900)
        self.assertFalse(a.is_banned("192.0.2.7") or b.is_banned("192.0.2.7"))
        self.assertEqual(self.store.source_bans(self.clock.seconds()), [])

    def test_scores_stay_per_front_the_documented_limit(self):
        """Failures spread over two fronts: neither bans before its own score is reached."""
        a, b = self.front(), self.front()
        for defender in (a, b, a, b):
            defender.record_failure("192.0.2.7", 1)
        self.clock.advance(1.0)
        self.assertFalse(a.is_banned("192.0.2.7") or b.is_banned("192.0.2.7"))
        b.record_failure("192.0.2.7", 1)
        self.clock.advance(1.0)
        self.assertTrue(a.is_banned("192.0.2.7") and b.is_banned("192.0.2.7"))
