"""The one place that wires the server together: ``makeService(config, reactor) -> MultiService``.

Order matters: ``MultiService`` starts children in order and stops them in reverse, so the store comes first and
stops last.
"""

import contextlib
import os
import threading

from twisted.application import service
from twisted.internet.error import ReactorNotRunning
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from sendemodul import auth
from sendemodul.intake import Intake
from sendemodul.spool import Spool
from sendemodul.store import Store

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


#: Connections the kernel queues before they are accepted. Twisted's default of 50 overflows under a burst (a login
#: storm, hundreds of clients at once): the kernel then drops SYNs and a client only retries after 1, 3, 7 s.
LISTEN_BACKLOG = 1024


class ListeningService(service.Service):
    """Listens on an endpoint while running. ``self.port`` is the listening port (a configured port 0 picks a free
    one). If the port cannot be opened the server logs why and stops: it never runs half-listening."""

    #: The log line once listening, with ``{host}`` and ``{port}`` (tests and operators read it).
    listening_format = "listening on {host}:{port}"

    def __init__(self, reactor):
        self.reactor = reactor
        self.port = None

    def endpoint_and_factory(self):
        """``(IStreamServerEndpoint, factory)`` to listen with; made at start so keys are read then."""
        raise NotImplementedError

    def startService(self):
        super().startService()
        endpoint, factory = self.endpoint_and_factory()
        return endpoint.listen(factory).addCallbacks(self._listening, self._failed)

    def _listening(self, port):
        self.port = port
        address = port.getHost()
        log.info(self.listening_format, host=address.host, port=address.port)

    def _failed(self, failure):
        log.critical("cannot listen ({what}): {error}; stopping", what=self.listening_format.split(" ")[0],
                     error=failure.getErrorMessage())
        self.reactor.callWhenRunning(self._stop)

    def _stop(self):
        try:
            self.reactor.stop()
        except ReactorNotRunning:  # another listener stopped it already
            pass

    def stopService(self):
        super().stopService()
        if self.port is not None:
            return self.port.stopListening()


class StoreService(ThreadPoolService):
    """The database and the threads that use it. Closes the store when it stops (it stops last)."""

    def __init__(self, reactor, store, max_threads=4):
        super().__init__(reactor, "sendemodul-db", max_threads)
        self.store = store

    def stopService(self):
        super().stopService()
        self.store.close()
        log.info("database closed")


class SendemodulService(service.MultiService):
    """The service tree, with the shared pieces the fronts use: ``store``, ``db`` (StoreService), ``portal``."""

    def __init__(self, config, reactor):
        super().__init__()
        self.config = config
        self.reactor = reactor

    def startService(self):
        super().startService()
        self.reactor.callWhenRunning(self._started)

    def _started(self):
        log.info("sendemodul started (environment {environment}, home {home})", environment=self.config.environment,
                 home=str(self.config.home))

    def stopService(self):
        log.info("sendemodul stopping")
        return super().stopService()


def makeService(config, reactor=None):
    """Build the service tree for ``config``. Opens (and if needed migrates) the database first."""
    from twisted.cred.portal import Portal

    if reactor is None:
        from twisted.internet import reactor
    top = SendemodulService(config, reactor)
    store = Store.open(config.db_path)
    top.db = StoreService(reactor, store)
    top.db.setServiceParent(top)
    top.store = store
    hashing = ThreadPoolService(reactor, "sendemodul-hash", config.auth.hash_threads, background=True)
    hashing.setServiceParent(top)
    top.realm = auth.UnitRealm()
    top.checker = auth.PinChecker(store, hash_pool=hashing.pool, run_db=top.db.run, reactor=reactor, clock=reactor,
                                  config=config.auth)
    top.portal = Portal(top.realm, [top.checker])

    io = ThreadPoolService(reactor, "sendemodul-io", config.limits.io_threads)
    io.setServiceParent(top)
    spool = Spool(config.spool_dir)
    spool.ensure()
    top.intake = Intake(config, store, spool, run_io=io.run, reactor=reactor)
    top.intake.recover()

    from sendemodul.web.site import WebApp, WebService

    top.web_app = WebApp(config, portal=top.portal, intake=top.intake, store=store, run_db=top.db.run,
                         clock=reactor, source_banned=top.checker.defender.is_banned)
    top.web = WebService(top.web_app, reactor)
    top.web.setServiceParent(top)

    from sendemodul.sftp.checker import UnitKeyChecker
    from sendemodul.sftp.server import SFTPService, register_avatar

    top.portal.registerChecker(UnitKeyChecker(store, top.db.run))
    register_avatar(top.realm, intake=top.intake, store=store, run_db=top.db.run)
    top.sftp = SFTPService(config, top.portal, reactor)
    top.sftp.setServiceParent(top)
    # [process] users (production, started as root): drop to the front's user here, after the listeners above have
    # bound their ports, before anything below starts; the children get a root supervisor of their own.
    from sendemodul.supervisor import front_services

    drop, supervised = front_services(config, reactor)
    if drop is not None:
        drop.setServiceParent(top)
    if config.worker.embedded:
        top.workers = supervised or make_process_monitor(config, reactor)
        top.workers.setServiceParent(top)
    if config.mail.enabled:
        from sendemodul.receipts import MorningMailService

        top.mail = MorningMailService(config, store, top.db.run, reactor)
        top.mail.setServiceParent(top)
    return top


#: The only environment variables a child process inherits (it holds keys: nothing else leaks in).
CHILD_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")


def make_process_monitor(config, reactor, accounts=None):
    """The pseudonymizer and the forwarder as child processes, restarted when they die (``twisted.runner.procmon``).

    The children get a minimal environment; the front itself never loads their keys. With ``accounts``
    (:func:`sendemodul.privileges.accounts`; the caller is root) each child is spawned as its own user."""
    import sys

    from twisted.runner.procmon import ProcessMonitor

    monitor = ProcessMonitor(reactor=reactor)
    monitor.minRestartDelay = 1
    monitor.maxRestartDelay = 30
    monitor.threshold = 5
    env = {k: os.environ[k] for k in CHILD_ENV_KEYS if k in os.environ}
    env["SENDEMODUL_HOME"] = str(config.home)
    env["SENDEMODUL_SUPERVISOR_PID"] = str(os.getpid())  # they end when this process does (cli/worker.py)
    for name in ("worker", "forwarder"):
        user = accounts.of(name) if accounts is not None else None
        # as other users: -I, so that the home (the cwd, writable by the front through the group) is not on sys.path
        isolated = ["-I"] if user is not None else []
        monitor.addProcess(name, [sys.executable, *isolated, "-m", "sendemodul", name, "--home", str(config.home)],
                           env=env, cwd=str(config.home), uid=user and user.uid, gid=user and user.gid)
    return monitor
