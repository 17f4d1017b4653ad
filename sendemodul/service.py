"""The one place that wires the server together: ``makeService(config, reactor) -> MultiService``.

Order matters: ``MultiService`` starts children in order and stops them in reverse, so the store comes first and
stops last. Building the tree does no I/O; each service does its own when it starts.
"""

import contextlib
import gc
import os
import signal
import threading

from twisted.application import service
from twisted.conch.interfaces import IConchUser
from twisted.internet.error import ReactorNotRunning
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from sendemodul import auth, keydir
from sendemodul.ban_watch import BanWatch
from sendemodul.credential_watch import CredentialWatch
from sendemodul.errors import KeyDirError, SendemodulError
from sendemodul.intake import Intake
from sendemodul.sftp.checker import UnitKeyChecker
from sendemodul.sftp.server import SFTPService, conch_user_factory
from sendemodul.spool import Spool
from sendemodul.store import Store
from sendemodul.web.app import WebApp
from sendemodul.web.site import WebService

log = Logger()


class _NiceThread(threading.Thread):
    """A thread that lowers its own CPU priority before it runs (Linux threads have their own nice value)."""

    niceness = 10

    def run(self):
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.niceness)
        super().run()


class _NiceThreadPool(ThreadPool):
    threadFactory = _NiceThread


class ThreadPoolService(service.Service):
    """Owns a bounded thread pool for blocking work (SQLite, hashing) and runs calls on it.

    ``background=True`` runs its threads at a lower CPU priority: PIN hashing is slow by design, and a storm of
    wrong PINs must not take the CPU from the reactor and from uploads in progress (they get it first; the hashes
    still use every idle cycle)."""

    def __init__(self, reactor, name, max_threads, *, background=False):
        self.reactor = reactor
        self.name = name
        pool_class = _NiceThreadPool if background else ThreadPool
        self.pool = pool_class(minthreads=0, maxthreads=max_threads, name=name)

    def startService(self):
        super().startService()
        self.pool.start()

    def stopService(self):
        super().stopService()
        self.pool.stop()

    def run(self, f, *args, **kwargs):
        """Call ``f(*args, **kwargs)`` in the pool; a Deferred fires with its result."""
        return deferToThreadPool(self.reactor, self.pool, f, *args, **kwargs)


class StoreService(ThreadPoolService):
    """The database and the threads that use it. Added first: it starts first and stops last.

    Building it touches nothing. When it starts it opens the database, migrating it to the current schema (a
    blocking step, once, before anything listens); when it stops it closes the store."""

    def __init__(self, reactor, store, max_threads=4):
        super().__init__(reactor, "sendemodul-db", max_threads)
        self.store = store

    def startService(self):
        Store.open(self.store.location).close()  # checks it exists and migrates; the shared store connects per thread
        super().startService()

    def stopService(self):
        super().stopService()
        self.store.close()
        log.info("database closed")


class SpoolService(service.Service):
    """At start, before the fronts listen: make the spool's folders and forget uploads a crash left unacknowledged
    (:meth:`Intake.recover`). Blocking, once."""

    def __init__(self, spool, intake):
        self.spool = spool
        self.intake = intake

    def startService(self):
        super().startService()
        self.spool.ensure()
        self.intake.recover(alone=self.spool.join_fronts())


class KeyDirectoryService(service.Service):
    """The key directory while the server runs: loaded when it starts, read again when it changes (see
    :class:`~sendemodul.keydir.LiveKeyDirectory`) or on ``SIGHUP``."""

    def __init__(self, keys, reactor):
        self.keys = keys
        self.reactor = reactor
        self._previous_handler = None

    def startService(self):
        super().startService()
        try:
            self.keys.current()
        except KeyDirError as e:  # as before: the server runs, and uploads are refused saying why
            log.warn("the key directory cannot be used: {error}", error=str(e))
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGHUP, self._hangup)

    def _hangup(self, signum, frame):
        self.keys.invalidate()
        self.reactor.callFromThread(log.info, "SIGHUP: the key directory will be read again")

    def stopService(self):
        super().stopService()
        if self._previous_handler is not None:
            signal.signal(signal.SIGHUP, self._previous_handler)
            self._previous_handler = None


#: The values :func:`bound_heap` fixes glibc's thresholds at.
MMAP_THRESHOLD_BYTES = 4 << 20
TRIM_THRESHOLD_BYTES = 8 << 20


def bound_heap():
    """Fix glibc's mmap threshold at 4 MiB (and the trim threshold at twice that, as glibc's own dynamic rule would),
    so that blocks of 4 MiB and more are always mmapped and go back to the system when freed. Left dynamic, glibc
    raises the threshold to the size of the first large block freed (up to 32 MiB); each Argon2id PIN check
    (19 MiB) then comes from the hash thread's own malloc arena and stays resident: four hash threads kept about
    150 MiB after a burst of logins (issue 25, ``scripts/bench --only concurrent``). Not lower: at glibc's initial
    128 KiB every packet buffer of an upload (up to 256 KiB) would be a fresh mmap, page faults and all (that cost
    the SFTP reactor 2-3x its CPU per GiB). Does nothing where the C library has no ``mallopt``."""
    from sendemodul import glibc_malloc

    return glibc_malloc.mallopt(
        (glibc_malloc.M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (glibc_malloc.M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )


def freeze_startup_objects():
    """Move every object made so far (modules, config, the service tree: about 90,000 in a front) into the garbage
    collector's permanent generation, so that its full collections no longer walk them. A login storm makes many
    short-lived objects, which start a collection now and then; each full one walked all of them again: in
    ``scripts/bench --only storm`` about 0.14 ms of the front's CPU per refused login (the collector's own time,
    counted with ``gc.callbacks``), against 0.003 ms frozen (issue 25). What is frozen is never collected, so this is
    done once, when the tree has started (nothing made at start is garbage later)."""
    gc.freeze()
    return gc.get_freeze_count()


def hash_pool_size(auth_config, cores=None):
    """Threads for Argon2id: ``auth.hash_threads``, but at most one per core. A hash is pure CPU, so a thread beyond
    the cores adds no logins per second, only the 19 MiB each Argon2id works in (issue 25: four threads on two cores
    were 76 MiB of the front's RSS at the peak of a burst of logins)."""
    return max(1, min(auth_config.hash_threads, cores or os.cpu_count() or 1))


class SendemodulService(service.MultiService):
    """The service tree, with the shared pieces the fronts use: ``store``, ``db`` (StoreService), ``portal``."""

    def __init__(self, config, reactor):
        super().__init__()
        self.config = config
        self.reactor = reactor

    def startService(self):
        bound_heap()
        try:
            super().startService()
        except SendemodulError as e:  # the database cannot be opened, the spool cannot be made, ...
            log.critical("cannot start: {error}; stopping", error=str(e))
            self.reactor.callWhenRunning(self._stop)
            return
        self.reactor.callWhenRunning(self._started)

    def _stop(self):
        try:
            self.reactor.stop()
        except ReactorNotRunning:
            pass

    def _started(self):
        freeze_startup_objects()
        log.info(
            "sendemodul started (environment {environment}, home {home})",
            environment=self.config.environment,
            home=str(self.config.home),
        )

    def stopService(self):
        log.info("sendemodul stopping")
        return super().stopService()


def makeService(config, reactor=None):
    """Build the service tree for ``config``: the one place that wires the server together.

    Building does no I/O: no file, database or socket is touched until the tree starts. Then, in order: the store
    (opens and migrates the database), the thread pools, the spool (folders, crash recovery), the key directory,
    the HTTPS and SFTP listeners, the workers and the morning e-mail. ``MultiService`` stops them in reverse, so the
    store stops last."""
    from twisted.cred.portal import Portal

    if reactor is None:
        from twisted.internet import reactor
    top = SendemodulService(config, reactor)
    store = Store(config.store_location)  # connects on first use, in the thread that uses it
    top.store = store
    top.db = StoreService(reactor, store)
    top.db.setServiceParent(top)
    hashing = ThreadPoolService(reactor, "sendemodul-hash", hash_pool_size(config.auth), background=True)
    hashing.setServiceParent(top)
    io = ThreadPoolService(reactor, "sendemodul-io", config.limits.io_threads)
    io.setServiceParent(top)

    top.keys = keydir.LiveKeyDirectory.for_home(config.home)
    spool = Spool(config.spool_dir)
    top.intake = Intake(config, store, spool, run_io=io.run, reactor=reactor, keys=top.keys)
    SpoolService(spool, top.intake).setServiceParent(top)
    KeyDirectoryService(top.keys, reactor).setServiceParent(top)

    top.realm = auth.UnitRealm({IConchUser: conch_user_factory(intake=top.intake, store=store, run_db=top.db.run)})
    top.checker = auth.PinChecker(
        store, hash_pool=hashing.pool, run_db=top.db.run, reactor=reactor, clock=reactor, config=config.auth
    )
    key_checker = UnitKeyChecker(store, top.db.run, accept_ssh_rsa_sha1=config.sftp.accept_ssh_rsa_sha1)
    top.portal = Portal(top.realm, [top.checker, key_checker])

    top.web_app = WebApp(
        config,
        portal=top.portal,
        intake=top.intake,
        store=store,
        run_db=top.db.run,
        clock=reactor,
        keys=top.keys,
        source_banned=top.checker.defender.is_banned,
        score_failure=top.checker.defender.record_failure,
    )
    top.web = WebService(top.web_app, reactor, config.server.https_endpoint)
    top.web.setServiceParent(top)
    top.sftp = SFTPService(
        config, top.portal, reactor, config.server.sftp_endpoint, source_banned=top.checker.defender.is_banned
    )
    top.sftp.setServiceParent(top)
    top.credential_watch = CredentialWatch(
        store,
        top.db.run,
        reactor,
        config.auth.credential_poll_seconds,
        [top.web_app.sessions.end_unit, top.sftp.end_unit],
    )
    top.credential_watch.setServiceParent(top)
    top.ban_watch = BanWatch(store, top.db.run, reactor, config.auth.ban_poll_seconds, top.checker.defender)
    top.ban_watch.setServiceParent(top)

    # [process] users (production, started as root): drop to the front's user here, after the listeners above have
    # bound their ports, before anything below starts; the children get a root supervisor of their own.
    from sendemodul.supervisor import front_services, make_process_monitor

    drop, supervised = front_services(config, reactor)
    if drop is not None:
        drop.setServiceParent(top)
    if config.worker.embedded:
        top.workers = supervised or make_process_monitor(config, reactor)
        top.workers.setServiceParent(top)
    if config.mail.enabled:
        from sendemodul import metrics
        from sendemodul.morning_mail import MorningMailService

        top.mail = MorningMailService(config, store, top.db.run, reactor, on_run=metrics.mail_run)
        top.mail.setServiceParent(top)
        from sendemodul.answer_mail import AnswerMailService

        top.answer_mail = AnswerMailService(config, store, top.db.run, reactor)
        top.answer_mail.setServiceParent(top)
    if config.metrics.enabled:
        from sendemodul import metrics

        metrics.front_gauges(top.checker)
        top.metrics = metrics.MetricsService(config, store, top.db.run, reactor, top.keys)
        top.metrics.setServiceParent(top)
    return top
