"""glibc's ``mallopt``: the few malloc settings our processes fix, each where its user explains why.

The front bounds its heap (:func:`sendemodul.service.bound_heap`), the pseudonymizer keeps a block's memory for the
next (:func:`sendemodul.package._keep_block_memory`), and the encryption module keeps its threads in one arena
(:func:`sendemodul.cli.encrypt`). Where the C library is not glibc, nothing is set and :func:`mallopt` says so.
"""

import ctypes

#: ``mallopt``'s parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def mallopt(*settings: tuple[int, int]) -> bool:
    """Set each ``(parameter, value)`` in turn; whether the C library has ``mallopt`` and took every one."""
    try:
        function = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return False
    function.argtypes, function.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all([bool(function(parameter, value)) for parameter, value in settings])
