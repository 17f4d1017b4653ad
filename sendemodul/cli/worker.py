"""``sendemodul worker`` (the pseudonymizer) and ``sendemodul forwarder`` (delivery to SSB), each a process of its own.

The server starts and supervises both when ``[worker] embedded = true`` (the dev default); run them by hand
otherwise. They log to stderr (the supervising server copies it into its own log).
"""

import os
import signal
import sys
import time

import click

from sendemodul import config, logs, privileges
from sendemodul.cli.admin_options import home_option
from sendemodul.spool import Spool
from sendemodul.store import Store

#: Seconds between a standby's tries to take the lock (how soon it takes over when the holder dies).
STANDBY_TRY_SECONDS = 1.0


def _hold_role(cfg, store, spool, name):
    """One pseudonymizer and one forwarder at a time (per home with SQLite, per cluster with PostgreSQL): take the
    store's lock for ``name``; when another process holds it, exit, or with ``[worker] standby`` wait for it."""
    lock = store.role_lock(name, spool.root)
    if lock.try_acquire():
        return lock
    if not cfg.worker.standby:
        raise click.ClickException(f"another {name} is already running for this home")
    click.echo(f"{name}: standby (another {name} runs); taking over when it ends", err=True)
    while not lock.try_acquire():
        time.sleep(STANDBY_TRY_SECONDS)
    click.echo(f"{name}: took over", err=True)
    return lock


def _start(home, name):
    cfg = config.load(home)
    privileges.become(cfg, name)  # [process] users: drop to this process's own user before anything else
    if not Store.exists(cfg.store_location):
        raise click.ClickException(f"{cfg.home} is not initialised: run 'sendemodul admin init --dev' first")
    spool = Spool(cfg.spool_dir)
    spool.ensure()
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    level = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(cfg.log.console_level))
    globalLogBeginner.beginLoggingTo(
        [logs.RedactingObserver(FilteringLogObserver(textFileLogObserver(sys.stderr), [level]))],
        redirectStandardIO=False,
    )
    # SIGTERM ends the loop between two steps when possible; every step is crash-safe anyway.
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: (stop.append(True), sys.exit(0)))
    _end_with_supervisor()
    store = Store.open(cfg.store_location)
    lock = _hold_role(cfg, store, spool, name)
    return cfg, store, spool, (lambda: bool(stop)), lock


#: Set by the supervising server to its own pid: the child ends when that process does (even by kill -9).
SUPERVISOR_ENV = "SENDEMODUL_SUPERVISOR_PID"
PR_SET_PDEATHSIG = 1


def _end_with_supervisor():
    """Under the server's supervision: get SIGTERM when the server dies, so that a server killed with -9 leaves no
    unsupervised worker holding the home's lock (its successor starts its own)."""
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if not supervisor:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise click.ClickException(f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(ctypes.get_errno())}")
    if os.getppid() != int(supervisor):  # the server died before the line above
        sys.exit(0)


#: Seconds between two heartbeats of a running pseudonymizer or forwarder (``/readyz`` checks their age).
HEARTBEAT_SECONDS = 10.0


def _loop(step, poll_seconds, once, should_stop, lock, *, store=None, process=None):
    """Call ``step`` until it finds nothing to do (``--once``), or forever, sleeping ``poll_seconds`` when idle and
    writing ``process``'s heartbeat into the store at most every HEARTBEAT_SECONDS. Before each step the role's lock
    must still be held (else StoreError ends the process; its supervisor starts a new one, which waits for the
    lock)."""
    import time

    from sendemodul.worker import run_forever

    plain_step = step

    def step():
        lock.check()
        return plain_step()

    if once:
        if store is not None:
            store.heartbeat(process)
        while step():
            pass
        return
    last = [float("-inf")]

    def beating():
        now = time.monotonic()
        if store is not None and now - last[0] >= HEARTBEAT_SECONDS:
            store.heartbeat(process)
            last[0] = now
        return step()

    run_forever(beating, poll_seconds, should_stop=should_stop)


@click.command()
@home_option
@click.option("--once", is_flag=True, help="Process what is waiting now, then exit.")
def worker(home, once):
    """Run the pseudonymizer: received uploads become SSB packages in the outbox (the only holder of the TPF key).

    \b
    Example:
      sendemodul worker --home var
    """
    from sendemodul.worker import Keys, Pseudonymizer

    cfg, store, spool, should_stop, lock = _start(home, "worker")
    worker = Pseudonymizer(cfg, store, spool, Keys(cfg))
    worker.recover()
    click.echo("pseudonymizer started", err=True)
    _loop(worker.run_once, cfg.worker.poll_seconds, once, should_stop, lock, store=store, process="worker")


@click.command()
@home_option
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
def forwarder(home, once):
    """Run the forwarder: delivers the outbox to SSB (directory or SFTP), exactly once, with backoff; and collects
    SSB's answers the same way back (checked, then recorded or refused).

    \b
    Example:
      sendemodul forwarder --home var
    """
    from sendemodul.collector import AnswerCollector
    from sendemodul.forwarder import Forwarder

    cfg, store, spool, should_stop, lock = _start(home, "forwarder")
    fwd = Forwarder(cfg, store, spool)
    collector = AnswerCollector(cfg, store)
    click.echo(f"forwarder started ({cfg.forwarder.mode})", err=True)

    def step():
        delivered = fwd.run_once()
        return collector.run_if_due() or delivered

    _loop(step, cfg.forwarder.poll_seconds, once, should_stop, lock, store=store, process="forwarder")


def register(cli):
    cli.add_command(worker)
    cli.add_command(forwarder)
