"""sendemodul.ahead: a generator run ahead of its consumer in a thread."""

import linecache
import sys

import pytest
from support.wait import wait_for

from sendemodul.ahead import Ahead


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_items_errors_and_the_end_come_in_order(depth):
    """``Ahead`` runs the checks' generator in a thread: the consumer gets every item in order and then what the
    generator raised, in its own thread; one that stops early (the writer failed) ends the thread, which stops the
    generator where it was (its ``finally`` runs) instead of checking the rest."""

    def items(n, error=None):
        yield from range(n)
        if error is not None:
            raise error

    assert list(Ahead(items(50), depth)) == list(range(50))
    ahead = Ahead(items(5, ValueError("finding")), depth)
    got = []
    with pytest.raises(ValueError, match="finding"):
        for item in ahead:
            got.append(item)
    assert got == list(range(5))
    assert list(ahead) == []

    stopped = []

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            stopped.append(True)

    ahead = Ahead(endless(), depth)
    assert [next(ahead) for _ in range(3)] == [0, 1, 2]
    ahead.close()
    assert stopped == [True] and not ahead._thread.is_alive()


def test_with_depth_zero_the_thread_makes_one_item_ahead_and_no_more():
    """Depth 0 (the encryption module's checks): while the consumer holds an item the thread makes the next one and
    waits with it, so at most two items are alive, whatever the consumer's pace."""
    made = []

    def items():
        for n in range(5):
            made.append(n)
            yield n

    def waiting_for_the_handover():
        frame = sys._current_frames().get(ahead._thread.ident)
        while frame is not None:
            if frame.f_code.co_name == "_put" and "_taken.wait" in linecache.getline(
                frame.f_code.co_filename, frame.f_lineno
            ):
                return True
            frame = frame.f_back
        return False

    ahead = Ahead(items(), 0)
    assert next(ahead) == 0
    wait_for(lambda: made == [0, 1] and waiting_for_the_handover(), timeout=10)  # item 1 made, waiting with it
    assert made == [0, 1]
    assert list(ahead) == [1, 2, 3, 4]
