"""Ending what a changed credential opened (issue 14): the admin CLI, another process, raises a unit's credential
epoch in the database when it issues or revokes a PIN, disables the unit or removes an SSH key
(:meth:`Store._end_sessions_in`). :class:`CredentialWatch` polls for raised epochs every
``auth.credential_poll_seconds`` (one indexed query, off the reactor thread) and tells the fronts, which end the
unit's web sessions and close its SFTP connections that logged in under an older epoch.

The poll bounds how long an open SFTP connection outlives a revoke. It is not the only check: every web request
compares its session's epoch with the database, and intake refuses an upload whose login's epoch is no longer the
unit's, when it begins and in the transaction that records it (:mod:`sendemodul.intake`).
"""

from twisted.application import service
from twisted.internet import task
from twisted.logger import Logger

log = Logger()


class CredentialWatch(service.Service):
    """Polls ``store.credential_changes`` and calls each of ``listeners`` as ``listener(unit, epoch)`` for every
    unit whose epoch was raised (``epoch`` None when the unit is disabled: none of its logins is valid); a listener
    returns how many sessions it ended."""

    def __init__(self, store, run_db, clock, poll_seconds, listeners=()):
        self.store = store
        self.run_db = run_db
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.listeners = list(listeners)
        self.since = None  # the highest epoch seen (read at start: nothing can be open yet)
        self._loop = None

    def startService(self):
        """Blocking, once, before the reactor runs (as the store and the spool start): where the epochs are now."""
        super().startService()
        self.since = self.store.max_credential_epoch()
        self._loop = task.LoopingCall(self.poll)
        self._loop.clock = self.clock
        self._loop.start(self.poll_seconds, now=False).addErrback(
            lambda f: log.failure("the credential watch stopped", f)
        )

    def stopService(self):
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def poll(self):
        """One look (the LoopingCall waits for it, so polls never overlap). Never fails: an error is logged and the
        next poll tries again."""
        d = self.run_db(self._read, self.since)
        d.addCallback(self._apply)
        d.addErrback(lambda f: log.failure("looking for changed credentials failed", f))
        return d

    def _read(self, since):  # in a DB thread
        changes = self.store.credential_changes(since)
        return (changes[-1][1] if changes else since), changes

    def _apply(self, result):
        self.since, changes = result
        for unit, epoch, active in changes:
            ended = sum(listener(unit, epoch if active else None) or 0 for listener in self.listeners)
            log.info("credentials of {unit} changed: {ended} open session(s) ended", unit=unit, ended=ended)
