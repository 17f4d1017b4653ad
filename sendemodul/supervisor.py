"""The server started as root with ``[process]`` users: the front drops to its user, and a small root process
supervises the pseudonymizer and the forwarder under their own users.

Why a separate root process: once the front has dropped to its user it can no longer start a process as another
user, and it must not keep a way back to root (a compromised front could then become the worker's user and read the
TPF key). So, while still root, the front starts ``python -I -m sendemodul.supervisor`` (no network, no keys, reads
nothing but the configuration, keeps only CAP_SETUID, CAP_SETGID and CAP_KILL), which runs
``twisted.runner.procmon`` with each child spawned as its own user. Its
only input is its stdin, which it reads for end-of-file: the front closes it when it stops (it cannot signal a root
process). It also ends when the front dies (``PR_SET_PDEATHSIG``), and its children end with it.

Start order in the front (``makeService``): the listeners bind first (as root, so ports below 1024 work), then
:class:`DropPrivilegesService` drops, then everything else starts as the front's user. The supervisor is spawned
in ``privilegedStartService``, which twistd calls before any ``startService``.
"""

import os
import sys

from twisted.application import service
from twisted.internet import defer, protocol
from twisted.logger import Logger

from sendemodul import privileges
from sendemodul.errors import PrivilegeError

log = Logger()


class DropPrivilegesService(service.Service):
    """Drops the front to its user when it starts: after the listeners before it bound their ports, before every
    service after it starts."""

    name = "drop-privileges"

    def __init__(self, account, shared_gid, log_dir=None):
        self.account = account
        self.shared_gid = shared_gid
        self.log_dir = log_dir

    def startService(self):
        # the log file was opened (and maybe created) by root before the drop: the front must be able to reopen it
        # when it rotates or next runs as its own user (systemd)
        if self.log_dir is not None and self.log_dir.is_dir():
            for path in self.log_dir.iterdir():
                if not path.is_symlink() and path.stat().st_uid == 0:
                    os.chown(path, self.account.uid, self.account.gid, follow_symlinks=False)
        privileges.drop_to(self.account, self.shared_gid)
        log.info(
            "front now runs as user {user} (uid {uid}, gid {gid})",
            user=self.account.name,
            uid=self.account.uid,
            gid=self.account.gid,
        )
        super().startService()


def front_services(config, reactor):
    """``(drop, children)`` for ``makeService``: the service that drops the front to its user (None when there is
    nothing to drop) and the supervisor of the pseudonymizer and forwarder under their users (None when no users are
    configured: then the caller supervises them itself, as one user).

    Raises ConfigError for an unknown user and PrivilegeError when the configuration cannot be honoured."""
    found, me = check_front(config)
    if found is None:
        return None, None
    drop = DropPrivilegesService(me, found.gid, config.log_path.parent) if me is not None else None
    children = ChildSupervisorService(config, reactor) if config.worker.embedded else None
    return drop, children


def check_front(config):
    """``(accounts, account to drop to)`` for the front, ``(None, None)`` with no users configured; raises
    ConfigError or PrivilegeError at once when it cannot run as configured (``sendemodul serve`` calls it before it
    starts anything)."""
    found = privileges.accounts(config)
    if found is None:
        return None, None
    me = privileges.plan(config, "front")
    if config.worker.embedded and me is None:
        raise PrivilegeError(
            "with [process] users, the server starts the pseudonymizer and the forwarder only when "
            "started as root; under systemd set [worker] embedded = false and run "
            "sendemodul-worker.service and sendemodul-forwarder.service"
        )
    return found, me


#: The only environment variables the supervisor inherits (as CHILD_ENV_KEYS for the children).
SUPERVISOR_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")


class _SupervisorProtocol(protocol.ProcessProtocol):
    def __init__(self, owner):
        self.owner = owner
        self.ended = defer.Deferred()
        self._buffers = {1: b"", 2: b""}

    def childDataReceived(self, fd, data):
        lines = (self._buffers.get(fd, b"") + data).split(b"\n")
        self._buffers[fd] = lines.pop()
        for line in lines:
            if line.strip():
                log.info("supervisor: {line}", line=line.decode("utf-8", "replace"))

    def processEnded(self, reason):
        self.owner.supervisor_ended(reason)
        self.ended.callback(None)


class ChildSupervisorService(service.Service):
    """Runs the root supervisor process (``python -m sendemodul.supervisor``) while the front runs; relays its log.

    If it ends while the front runs, the front stops too: nothing unprivileged could restart the pseudonymizer."""

    name = "child-supervisor"
    stop_timeout_seconds = 30

    def __init__(self, config, reactor):
        self.config = config
        self.reactor = reactor
        self.process = None
        self.protocol = None
        self._stopping = False

    def privilegedStartService(self):
        super().privilegedStartService()
        self._spawn()

    def startService(self):
        super().startService()
        if self.process is None:  # started without twistd's privileged phase
            self._spawn()

    def _spawn(self):
        env = {k: os.environ[k] for k in SUPERVISOR_ENV_KEYS if k in os.environ}
        env["SENDEMODUL_SUPERVISOR_PID"] = str(os.getpid())  # it ends when this process does
        # -I and cwd /: nothing from the home (which the front can write to) or the environment reaches sys.path of
        # a root process
        args = [sys.executable, "-I", "-m", "sendemodul.supervisor", "--home", str(self.config.home)]
        self.protocol = _SupervisorProtocol(self)
        self.process = self.reactor.spawnProcess(self.protocol, sys.executable, args, env=env, path="/")
        log.info("started the child supervisor (pid {pid})", pid=self.process.pid)

    def supervisor_ended(self, reason):
        if self._stopping:
            log.info("child supervisor ended")
            return
        log.critical(
            "the child supervisor ended ({reason}); stopping: the pseudonymizer and the forwarder cannot "
            "be restarted without it",
            reason=reason.getErrorMessage(),
        )
        self.reactor.callLater(0, self._stop_reactor)

    def _stop_reactor(self):
        from twisted.internet.error import ReactorNotRunning

        try:
            self.reactor.stop()
        except ReactorNotRunning:
            pass

    def stopService(self):
        super().stopService()
        if self.process is None or self.protocol.ended.called:
            return None
        self._stopping = True
        self.process.closeStdin()  # the supervisor's signal to stop its children and end
        d = self.protocol.ended
        d.addTimeout(self.stop_timeout_seconds, self.reactor)
        d.addErrback(lambda f: log.warn("the child supervisor did not end in time: {e}", e=f.getErrorMessage()))
        return d


# -- the supervisor process (root) --------------------------------------------------------------------------------


class _StopOnEndOfInput(protocol.Protocol):
    def __init__(self, reactor):
        self.reactor = reactor

    def dataReceived(self, data):
        pass  # the front's only message is the end of input

    def connectionLost(self, reason):
        if self.reactor.running:
            self.reactor.stop()


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
        # as the front's own user: its PYTHONPATH too, so the children run the code the front runs (e.g. a second
        # checkout's), not whichever the interpreter has installed
        same_user = user is None and "PYTHONPATH" in os.environ
        child_env = {**env, "PYTHONPATH": os.environ["PYTHONPATH"]} if same_user else env
        monitor.addProcess(
            name,
            [sys.executable, *isolated, "-m", "sendemodul", name, "--home", str(config.home)],
            env=child_env,
            cwd=str(config.home),
            uid=user and user.uid,
            gid=user and user.gid,
        )
    return monitor


def main(argv=None):
    """``python -m sendemodul.supervisor --home HOME``: run the pseudonymizer and the forwarder as their users."""
    import argparse

    from twisted.internet import reactor, stdio
    from twisted.logger import formatEvent, globalLogBeginner

    from sendemodul import config, logs
    from sendemodul.cli.worker import _end_with_supervisor

    parser = argparse.ArgumentParser(prog="python -m sendemodul.supervisor")
    parser.add_argument("--home", required=True)
    args = parser.parse_args(argv)
    cfg = config.load(args.home)
    found = privileges.accounts(cfg)
    if found is None or os.geteuid() != 0:
        print("ERROR: the child supervisor runs as root with [process] users configured", file=sys.stderr)
        return 2
    _end_with_supervisor()
    # root, but only to start its children as their users and signal them: no file access beyond root's own files
    privileges.keep_only_capabilities(privileges.CAP_SETUID, privileges.CAP_SETGID, privileges.CAP_KILL)

    def observer(event):
        text = formatEvent(event)
        if text:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    globalLogBeginner.beginLoggingTo([logs.RedactingObserver(observer)], redirectStandardIO=False)
    monitor = make_process_monitor(cfg, reactor, accounts=found)

    def stop_children():
        """Stop both children and wait until they are gone (procmon kills a child still there after killTime)."""
        monitor.stopService()
        ended = defer.Deferred()
        deadline = reactor.seconds() + monitor.killTime + 2

        def check():
            if not monitor.protocols or reactor.seconds() > deadline:
                ended.callback(None)
            else:
                reactor.callLater(0.1, check)

        check()
        return ended

    reactor.callWhenRunning(monitor.startService)
    reactor.addSystemEventTrigger("before", "shutdown", stop_children)
    stdio.StandardIO(_StopOnEndOfInput(reactor))
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
