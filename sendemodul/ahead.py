"""Running a generator ahead of its consumer, in a thread of its own (:class:`Ahead`).

Why: the encryption module's stages are mostly C code that releases the GIL (numpy over a block, AES-GCM and
ChaCha20-Poly1305, SHA-256, the file reads and writes), so the second core can run one stage while the first runs the
next: the checks of a block while the writer buffers and seals the one before, the sort of a bucket while age
encrypts the one before. A queue of a block or two keeps the memory bounded; every item, error and the end come out in
the consumer's thread in the generator's order, so the consumer reads as if there were no thread."""

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Ahead(Generic[T]):
    """An iterator over ``items`` (a generator) that runs it in a thread of its own, up to ``depth`` items ahead of
    the consumer. What the generator yields, and finally raises, comes out in order, as if it were iterated in the
    consumer's thread; :meth:`close` stops it (a consumer that gives up early) and waits for the thread."""

    _END = object()

    def __init__(self, items: Iterator[T], depth: int = 2, name: str = "sendemodul-ahead") -> None:
        """``depth``: how many items may wait for the consumer; 0: none, the thread makes the next item while the
        consumer works on one and hands it over when the consumer takes it (two items alive at a time, not three)."""
        self._queue: queue.Queue[tuple[bool, object]] = queue.Queue(max(depth, 1))
        self._handoff = depth == 0
        self._taken = threading.Event()
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(items,), name=name, daemon=True)
        self._thread.start()

    def _put(self, entry: tuple[bool, object]) -> bool:
        """Queue ``entry`` (and with ``depth`` 0 wait until it is taken); False if the consumer stopped first."""
        self._taken.clear()
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                break
            except queue.Full:
                continue
        else:
            return False
        while self._handoff and not self._taken.wait(0.1):
            if self._stop.is_set():
                return False
        return True

    def _run(self, items: Iterator[T]) -> None:
        try:
            for item in items:
                if not self._put((True, item)):
                    close = getattr(items, "close", None)
                    if close is not None:
                        close()
                    return
            result: tuple[bool, object] = (True, self._END)
        except BaseException as e:  # noqa: BLE001 - raised in the consumer's thread, in its place
            result = (False, e)
        self._put(result)

    def __iter__(self) -> "Ahead[T]":
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        ok, item = self._queue.get()
        self._taken.set()
        if ok and item is not self._END:
            return item  # type: ignore[return-value]
        self._done = True
        self._thread.join()
        if ok:
            raise StopIteration
        assert isinstance(item, BaseException)
        raise item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
