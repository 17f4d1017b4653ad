"""Unit tier for issue 14, finding 1: the credential watch on a ``Clock`` over a real store, and what the SFTP
factory does when it is told a unit's credentials changed. (With a real server and the real admin CLI:
test_revocation.py.)"""

import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

from conftest import ALNA, STAVANGER, add_unit
from cryptography.hazmat.primitives.asymmetric import ed25519
from twisted.conch.ssh import keys
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from sendemodul.credential_watch import CredentialWatch
from sendemodul.sftp.server import DropBoxSSHFactory
from sendemodul.store import Store


def sync_db(f, *args):
    return defer.maybeDeferred(f, *args)


class CredentialWatchTests(SynchronousTestCase):
    def setUp(self):
        directory = Path(tempfile.mkdtemp(prefix="sendemodul-test-"))  # (trial's mktemp would leave it in the cwd)
        self.addCleanup(shutil.rmtree, directory, ignore_errors=True)
        self.store = Store.create(directory / "sendemodul.db")
        self.addCleanup(self.store.close)
        self.alna, self.stavanger = add_unit(self.store, ALNA), add_unit(self.store, STAVANGER)
        self.store.set_pin(self.alna, "$argon2id$a", actor="test")  # before the server starts: nothing to end
        self.clock = Clock()
        self.calls = []
        self.watch = CredentialWatch(
            self.store, sync_db, self.clock, 1.0, [lambda unit, epoch: self.calls.append((unit, epoch)) or 1]
        )
        self.watch.startService()
        self.addCleanup(self.watch.stopService)

    def test_each_change_is_told_within_one_poll_and_only_once(self):
        self.clock.advance(1)
        self.assertEqual(self.calls, [])  # what happened before the start is not news
        self.store.revoke_pin(self.alna, actor="test")
        self.store.set_pin(self.stavanger, "$argon2id$s", actor="test")
        self.clock.advance(0.5)
        self.assertEqual(self.calls, [])
        self.clock.advance(0.5)
        self.assertEqual(
            self.calls,
            [(ALNA, self.store.credential_epoch(self.alna)), (STAVANGER, self.store.credential_epoch(self.stavanger))],
        )
        self.clock.advance(1)
        self.assertEqual(len(self.calls), 2)
        self.store.disable_unit(self.stavanger, actor="test")
        self.clock.advance(1)
        self.assertEqual(self.calls[-1], (STAVANGER, None))  # disabled: every session of it ends

    def test_a_failed_poll_is_logged_and_the_next_one_tries_again(self):
        self.watch.run_db = lambda f, *args: defer.fail(RuntimeError("database locked"))
        self.clock.advance(1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.watch.run_db = sync_db
        self.store.revoke_pin(self.alna, actor="test")
        self.clock.advance(1)
        self.assertEqual([unit for unit, _ in self.calls], [ALNA])


def _logged_in(factory, unit, epoch, port):
    t = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", port))
    wire = StringTransport()
    t.makeConnection(wire)
    assert factory.admit_unit(t, unit, epoch)
    return t, wire


def test_the_sftp_factory_closes_the_units_connections_of_other_epochs():
    clock = Clock()
    limits = SimpleNamespace(idle_timeout_seconds=600, sessions_per_unit=4, sessions_per_source=8)
    factory = DropBoxSSHFactory(None, keys.Key(ed25519.Ed25519PrivateKey.generate()), limits, clock)
    (_, old), (_, current), (_, other) = (
        _logged_in(factory, ALNA, 1, 40000),
        _logged_in(factory, ALNA, 2, 40001),
        _logged_in(factory, STAVANGER, 1, 40002),
    )
    assert factory.end_unit(ALNA, 2) == 1
    assert (old.disconnecting, current.disconnecting, other.disconnecting) == (True, False, False)
    # a login whose check raced the change (checked under epoch 1, admitted after the watch saw 2) is refused
    assert factory.login_ended(ALNA, 1) and not factory.login_ended(ALNA, 2) and not factory.login_ended(STAVANGER, 1)
    assert factory.end_unit(STAVANGER, None) == 1  # disabled
    assert other.disconnecting and factory.login_ended(STAVANGER, 1)
