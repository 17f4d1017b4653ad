"""IncomingFile: an upload written and checked in its own thread as it arrives (the real reactor, real files)."""

import hashlib
import os
import shutil
import tempfile
import threading

import pytest
from support.wait import wait_for
from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from sendemodul.errors import ContainerTruncated, SpoolFull, UploadTooLarge
from sendemodul.spool import Spool
from sendemodul.writeback import Writeback

DATA = os.urandom(3 * 1024 * 1024 + 123)


def chunks(data, size=16 * 1024):
    return [data[i : i + size] for i in range(0, len(data), size)]


def read_all(stream):
    """A check that reads the stream to its end the way the container verifier does, and returns what it read."""
    parts = []
    while part := stream.read(1024 * 1024):
        parts.append(part)
    return b"".join(parts)


class IncomingFileTests(unittest.TestCase):
    def setUp(self):
        root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, root)
        self.spool = Spool(root)
        self.spool.ensure()

    def incoming(self, **kwargs):
        return self.spool.new_incoming(reactor, max_bytes=64 * 1024 * 1024, **kwargs)

    @defer.inlineCallbacks
    def test_in_order_bytes_are_written_checked_and_hashed_once(self):
        upload = self.incoming()
        upload.start(read_all)
        for chunk in chunks(DATA):
            upload.write(chunk)
        done = yield upload.complete()
        self.assertTrue(done.checked)
        self.assertEqual(done.result, DATA)
        self.assertEqual(done.sha256, hashlib.sha256(DATA).hexdigest())
        self.assertEqual(done.size, len(DATA))
        self.assertEqual(done.path.read_bytes(), DATA)

    @defer.inlineCallbacks
    def test_writes_as_lists_of_buffers_are_written_checked_and_hashed_as_their_bytes(self):
        """An SFTP WRITE arrives as the views of the SSH packets that brought it: small ones, large ones and one of
        more buffers than a pwritev takes; the check reads bytes, except the large reads that only hash."""
        upload = self.incoming()
        seen = []

        def check(stream):
            heads = [stream.read(700), stream.read(700)]  # parsed, like tar headers: bytes
            seen.extend(type(head) for head in heads)
            return b"".join(heads) + read_all(stream)

        upload.start(check)
        view = memoryview(DATA)
        writes = [[view[:100], view[100:300]], [view[300 + 64 * i : 364 + 64 * i] for i in range(1500)]]
        at = 300 + 64 * 1500  # (1,500 buffers: more than one pwritev takes)
        for size in (70_000, 33_333, 200_000, 5):
            writes.append([view[at + i : min(at + size, at + i + 32_768)] for i in range(0, size, 32_768)])
            at += size
        writes.append([DATA[at:]])
        for pieces in writes:
            upload.write(pieces)
        done = yield upload.complete()
        self.assertEqual(seen, [bytes, bytes])
        self.assertEqual(done.result, DATA)
        self.assertEqual(done.sha256, hashlib.sha256(DATA).hexdigest())
        self.assertEqual((done.size, upload.size), (len(DATA), len(DATA)))
        self.assertEqual(done.path.read_bytes(), DATA)

    @defer.inlineCallbacks
    def test_writes_before_the_thread_starts_wait_in_the_queue(self):
        upload = self.incoming()
        for chunk in chunks(DATA):
            upload.write(chunk)
        upload.start(read_all)
        done = yield upload.complete()
        self.assertEqual(done.result, DATA)

    @defer.inlineCallbacks
    def test_out_of_order_writes_land_in_place_and_leave_the_check_to_the_caller(self):
        upload = self.incoming()
        upload.start(read_all)
        pieces = list(enumerate(chunks(DATA, 100_000)))
        for index, chunk in pieces[1:] + pieces[:1]:  # the first piece last, as an SFTP client may send it
            upload.write(chunk, index * 100_000)
        done = yield upload.complete()
        self.assertFalse(done.checked)
        self.assertIsNone(done.result)
        self.assertEqual(done.size, len(DATA))
        self.assertEqual(done.path.read_bytes(), DATA)

    @defer.inlineCallbacks
    def test_a_refusing_check_fails_complete_and_deletes_the_file(self):
        def refuse(stream):
            stream.read(10)
            raise ContainerTruncated.detail("test")

        upload = self.incoming()
        upload.start(refuse)
        for chunk in chunks(DATA):
            upload.write(chunk)
        with self.assertRaises(ContainerTruncated):
            yield upload.complete()
        self.assertFalse(upload.path.exists())

    @defer.inlineCallbacks
    def test_discard_deletes_the_partial_file_and_stops_the_thread(self):
        upload = self.incoming()
        upload.start(read_all)
        upload.write(DATA[:50_000])
        yield upload.discard()
        self.assertFalse(upload.path.exists())
        yield upload.discard()  # twice is fine
        self.assertEqual(list(self.spool.incoming.iterdir()), [])

    def test_the_limit_is_enforced_while_receiving(self):
        upload = self.spool.new_incoming(reactor, max_bytes=1000)
        upload.write(b"x" * 1000)
        with self.assertRaises(UploadTooLarge):
            upload.write(b"x")
        return upload.discard()

    @defer.inlineCallbacks
    def test_a_full_disk_is_reported_to_the_writer_and_to_complete(self):
        upload = self.incoming()
        os.close(upload._fd)
        upload._fd = os.open("/dev/full", os.O_WRONLY)  # every write fails with ENOSPC
        upload.start(read_all)
        upload.write(DATA[:300_000])  # more than one batch: handed to the thread at once
        for _ in range(100):
            if upload._error is not None:
                break
            yield task.deferLater(reactor, 0.02, lambda: None)
        with self.assertRaises(SpoolFull):
            upload.write(b"more")
        with self.assertRaises(SpoolFull):
            yield upload.complete()
        self.assertFalse(upload.path.exists())

    @defer.inlineCallbacks
    def test_a_slow_disk_pauses_the_producer_and_resumes_it(self):
        changes = []
        release = defer.Deferred()
        gate = []

        def slow_check(stream):
            gate.append(stream.read(1))
            from twisted.internet.threads import blockingCallFromThread

            blockingCallFromThread(reactor, lambda: release)
            return read_all(stream)

        upload = self.incoming(on_pressure=changes.append)
        upload.start(slow_check)
        for chunk in chunks(DATA * 4, 256 * 1024):
            upload.write(chunk)
        self.assertEqual(changes, [True])
        release.callback(None)
        done = yield upload.complete()
        self.assertEqual(changes, [True, False])
        self.assertEqual(done.size, 4 * len(DATA))

    @defer.inlineCallbacks
    def test_a_blocked_writeback_does_not_hold_up_the_writer(self):
        """Starting the write-back can block in the kernel (block allocation, write-back throttling): the writer
        goes on writing and hashing meanwhile, and the file is fsynced and closed only once no request for it is
        being started (every range is started while the fd is still open, or not at all)."""
        from sendemodul import writeback

        started, release = [], threading.Event()

        def blocking_start(fd, offset, nbytes):
            started.append((offset, nbytes, upload._fd == fd))
            release.wait(30)

        self.patch(writeback, "background", writeback.Writeback(blocking_start))
        data = DATA * 6  # 18 MiB: two write-back ranges of 8 MiB
        upload = self.incoming()
        upload.start(read_all)
        for chunk in chunks(data, 256 * 1024):
            upload.write(chunk)
        for _ in range(1500):
            if upload._done >= 16 << 20:
                break
            yield task.deferLater(reactor, 0.02, lambda: None)
        # both ranges written (the rest, under a batch, waits for complete()) while the first is still being started
        self.assertGreaterEqual(upload._done, 16 << 20)
        self.assertEqual(started, [(0, 8 << 20, True)])
        completing = upload.complete()
        self.assertNoResult(completing)
        release.set()
        done = yield completing
        self.assertEqual(done.sha256, hashlib.sha256(data).hexdigest())
        self.assertEqual(done.path.read_bytes(), data)
        self.assertIn(started, ([(0, 8 << 20, True)], [(0, 8 << 20, True), (8 << 20, 8 << 20, True)]))

    @defer.inlineCallbacks
    def test_many_uploads_at_once_share_one_queue_budget(self):
        """Alone, an upload queues up to its 8 MiB before its producer pauses (the single upload's speed); with
        many in progress each gets its share of SHARED_QUEUE_BYTES, never less than one batch, and the share grows
        back as they end."""
        from sendemodul import incoming

        first = self.incoming()
        self.assertEqual(first._high_water(), 8 << 20)
        crowd = [self.incoming() for _ in range(399)]
        self.assertEqual(first._high_water(), incoming.MIN_HIGH_WATER)
        self.assertLessEqual(400 * first._high_water(), 2 * incoming.SHARED_QUEUE_BYTES + 400 * (256 << 10))
        changes = []
        paused = self.incoming(on_pressure=changes.append)
        for chunk in chunks(DATA, 256 * 1024):  # nothing takes the bytes yet: the thread has not started
            paused.write(chunk)
        self.assertEqual(changes, [True])
        yield defer.gatherResults([upload.discard() for upload in crowd])
        self.assertEqual(first._high_water(), 8 << 20)  # two left: each its full bound again
        paused.start(read_all)
        done = yield paused.complete()
        self.assertEqual((done.result, changes), (DATA, [True, False]))
        yield first.discard()


def test_writeback_forget_drops_the_owners_queued_ranges_and_waits_for_the_one_being_started():
    """After ``forget(owner)`` no range of the owner is started (its fd may then be closed and reused); the ranges
    of other owners still are, in order."""
    started, release = [], threading.Event()

    def start(fd, offset, nbytes):
        started.append((fd, offset))
        if len(started) == 1:
            release.wait(30)

    wb = Writeback(start)
    a, b = object(), object()
    wb.submit(a, 10, 0, 1)
    wait_for(lambda: started, message="the first range started")
    wb.submit(a, 10, 1, 1)
    wb.submit(b, 11, 0, 1)
    forgotten = threading.Event()
    forgetting = threading.Thread(target=lambda: (wb.forget(a), forgotten.set()))
    forgetting.start()
    assert not forgotten.wait(0.2)  # a's first range is still being started
    release.set()
    forgetting.join(30)
    assert forgotten.is_set()
    wait_for(lambda: len(started) == 2, message="b's range started")
    assert started == [(10, 0), (11, 0)]


def test_writeback_keeps_going_after_a_failing_start():
    """A start that raises (a hint only: the fsync reports errors) does not end the thread."""
    started = []

    def start(fd, offset, nbytes):
        started.append(offset)
        if offset == 0:
            raise OSError("EIO")

    wb = Writeback(start)
    owner = object()
    wb.submit(owner, 3, 0, 1)
    wb.submit(owner, 3, 1, 1)
    wait_for(lambda: started == [0, 1], message="both ranges started")
    wb.forget(owner)


def test_recovery_beside_running_fronts_removes_only_files_unchanged_since_the_cut_off(tmp_path):
    """A front that starts while others share the spool removes only leftovers older than an upload may stall:
    a part or unrecorded received file changed after the cut-off may be another front's upload in progress. (A
    file's age is its newer of mtime and ctime, which a rename sets and utime cannot set back.)"""
    import time

    spool = Spool(tmp_path / "spool")
    spool.ensure()
    before = time.time() - 1
    paths = [spool.incoming / "a.part", spool.received / "SM-A.tar", spool.received / "SM-B.tar"]
    for path in paths:
        path.write_bytes(b"x")
    assert spool.recover(lambda ref: False, older_than=before) == (0, 0)
    assert all(p.exists() for p in paths)
    assert spool.recover(lambda ref: ref == "SM-B", older_than=time.time() + 1) == (1, 1)
    assert [p.exists() for p in paths] == [False, False, True]


def test_the_first_front_is_alone_and_the_next_one_is_not(tmp_path):
    first, second = Spool(tmp_path / "spool"), Spool(tmp_path / "spool")
    first.ensure()
    assert first.join_fronts() is True
    assert second.join_fronts() is False


@pytest.mark.parametrize("data", [b"x" * 5000, [b"a" * 3000, b"", b"b" * 2000]])
def test_pwrite_all_resumes_short_writes_and_refuses_a_write_of_nothing(tmp_path, monkeypatch, data):
    """A short ``pwrite``/``pwritev`` is resumed where it stopped; one that takes none of the bytes is an error
    (EIO), not a loop that tries again forever. The fake writes stand in for what no real file here does."""
    import errno

    from sendemodul.writeback import pwrite_all

    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        real_pwrite = os.pwrite
        monkeypatch.setattr(os, "pwrite", lambda fd, view, offset: real_pwrite(fd, bytes(view)[:700], offset))
        monkeypatch.setattr(os, "pwritev", lambda fd, views, offset: real_pwrite(fd, b"".join(views)[:700], offset))
        pwrite_all(fd, data, 10)
        expected = data if isinstance(data, bytes) else b"".join(data)
        assert os.pread(fd, len(expected) + 10, 0) == b"\0" * 10 + expected

        calls = []

        def nothing(*args):
            calls.append(args)
            if len(calls) > 100:
                raise AssertionError("pwrite_all keeps trying a write that takes nothing")
            return 0

        monkeypatch.setattr(os, "pwrite", nothing)
        monkeypatch.setattr(os, "pwritev", nothing)
        with pytest.raises(OSError) as raised:
            pwrite_all(fd, data, 0)
        assert raised.value.errno == errno.EIO and len(calls) == 1
    finally:
        os.close(fd)
