"""Bans shared by a cluster of fronts (issue 20): a front that bans a source for failed logins writes the ban to
the store (:meth:`Store.ban_source`); :class:`BanWatch` reads every ban still running every
``auth.ban_poll_seconds`` (off the reactor thread) and gives it to this front's :class:`~sendemodul.auth.Defender`,
so a source banned by one front is refused by every front within that time.

Scores are counted per front (in memory, as each failure is decided): a source that spreads its failures over N
fronts can fail up to N x (``auth.source_ban_score`` - 1) times before the first front bans it; from then on, every
front refuses it. With one front (SQLite) the watch reads back its own bans, which changes nothing.
"""

from twisted.application import service
from twisted.internet import task
from twisted.logger import Logger

log = Logger()


class BanWatch(service.Service):
    """Polls ``store.source_bans`` and installs each ban in ``defender`` (``defender.ban(source, until)``)."""

    def __init__(self, store, run_db, clock, poll_seconds, defender):
        self.store = store
        self.run_db = run_db
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.defender = defender
        self._loop = None

    def startService(self):
        super().startService()
        self._loop = task.LoopingCall(self.poll)
        self._loop.clock = self.clock
        self._loop.start(self.poll_seconds, now=False).addErrback(lambda f: log.failure("the ban watch stopped", f))

    def stopService(self):
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def poll(self):
        """One look (polls never overlap). Never fails: an error is logged and the next poll tries again."""
        d = self.run_db(self.store.source_bans, self.clock.seconds())
        d.addCallback(self._apply)
        d.addErrback(lambda f: log.failure("reading the cluster's bans failed", f))
        return d

    def _apply(self, bans):
        for source, until in bans:
            if self.defender.ban(source, until):
                log.info("source banned by another front: refused here too")
