"""Handing an upload's bytes to the disk: writing them all at an offset (:func:`pwrite_all`, a list of buffers with
``pwritev``), and asking the kernel to start writing a file's new pages without waiting for it (Linux
``sync_file_range``), so that the disk works while the rest of an upload arrives."""

import collections
import itertools
import os

#: Buffers one ``pwritev`` takes at most (Linux's ``IOV_MAX``).
IOV_MAX = 1024


def _load_sync_file_range():
    """Linux's ``sync_file_range(fd, offset, nbytes, SYNC_FILE_RANGE_WRITE)``, or a no-op where there is none."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return lambda fd, offset, nbytes: None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return lambda fd, offset, nbytes: function(fd, offset, nbytes, 2)  # 2 = SYNC_FILE_RANGE_WRITE; errors: fsync tells


#: ``start_writeback(fd, offset, nbytes)``: have the kernel start writing that range to disk, without waiting for it.
start_writeback = _load_sync_file_range()
#: How much is written before :func:`start_writeback` is called on it.
WRITEBACK_BYTES = 8 << 20


def pwrite_all(fd, data, offset):
    """Write ``data`` (bytes, or a list of buffers that follow each other) at ``offset``, all of it."""
    if type(data) is list:
        pieces = collections.deque(memoryview(piece) for piece in data)
        while pieces:
            n = os.pwritev(fd, list(itertools.islice(pieces, IOV_MAX)), offset)
            offset += n
            while n and n >= len(pieces[0]):
                n -= len(pieces.popleft())
            if n:
                pieces[0] = pieces[0][n:]
        return
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n
