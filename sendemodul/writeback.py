"""Asking the kernel to start writing a file's new pages to disk without waiting for it (Linux
``sync_file_range``), so that the disk works while the rest of an upload arrives."""


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
