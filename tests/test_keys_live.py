"""The key directory of a running server: loaded once, read again only when a key file changes or on SIGHUP, and
what ``GET /api/v1/keys`` and intake see."""

import datetime
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

from twisted.internet import defer, task
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyChannel, DummyRequest

from sendemodul import config, keydir, service
from sendemodul.errors import KeyDirError
from sendemodul.web.api import Keys
from sendemodul.web.app import WebApp


def temp_dir(case):
    """A fresh directory removed after the test (trial's ``mktemp`` would leave it in the current directory)."""
    path = Path(tempfile.mkdtemp(prefix="sendemodul-test-"))
    case.addCleanup(shutil.rmtree, path, ignore_errors=True)
    return path


def write_key(directory, key_id, role="tpf", valid_to=datetime.date(2099, 12, 31)):
    _secret, recipient = keydir.generate_age_identity()
    key = keydir.RecipientKey(key_id, role, recipient, datetime.date(2026, 1, 1), valid_to)
    path = Path(directory) / f"{key_id}.toml"
    path.write_text(key.to_toml(), encoding="utf-8")
    return path


def later(path, seconds=10):
    """Move a file's mtime forward, as an edit a few seconds later would."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


class LiveKeyDirectoryTests(SynchronousTestCase):
    def setUp(self):
        self.dir = temp_dir(self)
        write_key(self.dir, "tpf-2026")
        self.loads = []

        def counting_load(path):
            self.loads.append(path)
            return keydir.load_key_dir(path)

        self.keys = keydir.LiveKeyDirectory(lambda: self.dir, load=counting_load)

    def test_loaded_once_while_nothing_changes(self):
        first = self.keys.current()
        for _ in range(5):
            self.assertIs(self.keys.current(), first)
        self.assertEqual(len(self.loads), 1)
        self.assertEqual([k.key_id for k in first], ["tpf-2026"])

    def test_an_edited_key_file_is_read_again(self):
        self.keys.current()
        path = write_key(self.dir, "tpf-2026", valid_to=datetime.date(2030, 6, 30))
        later(path)
        self.assertEqual(self.keys.current().get("tpf-2026").valid_to, datetime.date(2030, 6, 30))
        self.assertEqual(len(self.loads), 2)

    def test_an_added_or_removed_key_file_is_seen(self):
        self.keys.current()
        write_key(self.dir, "ssb-2026", role="ssb")
        self.assertIsNotNone(self.keys.current().get("ssb-2026"))
        (self.dir / "ssb-2026.toml").unlink()
        self.assertIsNone(self.keys.current().get("ssb-2026"))
        self.assertEqual(len(self.loads), 3)

    def test_other_files_do_not_cause_a_reload(self):
        self.keys.current()
        (self.dir / "README.md").write_text("notes")
        self.keys.current()
        self.assertEqual(len(self.loads), 1)

    def test_invalidate_reads_it_again_even_without_a_visible_change(self):
        self.keys.current()
        self.keys.invalidate()
        self.keys.current()
        self.assertEqual(len(self.loads), 2)

    def test_a_broken_directory_is_an_error_each_time_until_it_is_fixed(self):
        self.keys.current()
        broken = self.dir / "tpf-2027.toml"
        broken.write_text("key_id = \n")
        for _ in range(2):
            self.assertRaises(KeyDirError, self.keys.current)
        broken.unlink()
        self.assertEqual([k.key_id for k in self.keys.current()], ["tpf-2026"])

    def test_a_missing_directory_is_an_error_each_time(self):
        keys = keydir.LiveKeyDirectory(lambda: self.dir / "none")
        self.assertRaises(KeyDirError, keys.current)
        self.assertRaises(KeyDirError, keys.current)


class CallFromThreadNow:
    def callFromThread(self, f, *args, **kwargs):
        f(*args, **kwargs)


class SighupTests(SynchronousTestCase):
    def test_sighup_makes_the_running_server_read_the_keys_again(self):
        directory = temp_dir(self)
        write_key(directory, "tpf-2026")
        loads = []
        keys = keydir.LiveKeyDirectory(lambda: directory, load=lambda p: loads.append(p) or keydir.load_key_dir(p))
        before = signal.getsignal(signal.SIGHUP)
        watcher = service.KeyDirectoryService(keys, CallFromThreadNow())
        watcher.startService()
        self.addCleanup(lambda: watcher.running and watcher.stopService())
        self.assertEqual(len(loads), 1, "the key directory is loaded when the server starts")
        keys.current()
        self.assertEqual(len(loads), 1)
        os.kill(os.getpid(), signal.SIGHUP)
        keys.current()
        self.assertEqual(len(loads), 2)
        watcher.stopService()
        self.assertEqual(signal.getsignal(signal.SIGHUP), before)


class KeysResourceTests(SynchronousTestCase):
    def test_get_keys_answers_from_the_live_directory(self):
        """``GET /api/v1/keys`` does not read the directory per request, and shows a new key without a restart."""
        directory = temp_dir(self)
        write_key(directory, "tpf-2026")
        loads = []
        keys = keydir.LiveKeyDirectory(lambda: directory, load=lambda p: loads.append(p) or keydir.load_key_dir(p))
        app = WebApp(
            config.Config(home=directory.parent),
            portal=None,
            intake=None,
            store=None,
            run_db=lambda f, *a, **kw: defer.maybeDeferred(f, *a, **kw),
            clock=task.Clock(),
            keys=keys,
        )

        def get():
            request = DummyRequest([])
            request.channel = DummyChannel()
            self.assertIs(Keys(app).render_GET(request), NOT_DONE_YET)
            self.assertEqual((request.responseCode, request.finished), (200, 1))
            return [k["key_id"] for k in json.loads(b"".join(request.written))["keys"]]

        self.assertEqual(get(), ["tpf-2026"])
        self.assertEqual(get(), ["tpf-2026"])
        self.assertEqual(len(loads), 1)
        write_key(directory, "ssb-2026", role="ssb")
        self.assertEqual(get(), ["ssb-2026", "tpf-2026"])
        self.assertEqual(len(loads), 2)
