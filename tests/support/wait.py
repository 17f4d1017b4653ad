"""The one way tests wait for something outside their control (a server process, a peer, a thread): poll a
condition until a deadline, never sleep a fixed time and hope.

Unit tests need none of this: they drive a ``twisted.internet.task.Clock`` and fire Deferreds themselves.
"""

import threading
import time


class WaitTimeout(AssertionError):
    """The condition did not hold before the deadline."""


def wait_for(predicate, timeout=30.0, interval=0.05, message=None):
    """Call ``predicate()`` until it returns something truthy, and return that; at most every ``interval`` seconds,
    for at most ``timeout`` seconds. Raises :class:`WaitTimeout` with ``message`` (a string, or a callable for a
    message built at the deadline, e.g. from a log) if it never does.

    ``interval`` also paces a predicate that acts (sends a byte, makes a request) as well as looks."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            text = message() if callable(message) else message
            raise WaitTimeout(f"not within {timeout} s: {text or getattr(predicate, '__name__', predicate)}")
        time.sleep(min(interval, remaining))


def pace(seconds, stop=None):
    """Let ``seconds`` of real time pass where the passing of time is itself what a test exercises (a client that
    trickles, a peer that is slow on purpose), never to wait for something to happen (use :func:`wait_for`).
    Returns early, with True, once ``stop`` (a ``threading.Event``) is set, so that a pacing thread ends promptly."""
    return (stop if stop is not None else threading.Event()).wait(seconds)
