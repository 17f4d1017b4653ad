"""Unit tier for ``service.makeService``: building the tree does no I/O, listeners come from endpoint strings, the
realm is given its factories, and no module of the package imports another in a cycle."""

import ast
import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

from twisted.application.service import IServiceCollection
from twisted.conch.interfaces import IConchUser
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

import sendemodul
from sendemodul import auth, config, service
from sendemodul import home as homemod
from sendemodul.listening import LISTEN_BACKLOG
from sendemodul.spool import Spool

PACKAGE = Path(sendemodul.__file__).resolve().parent


def temp_dir(case):
    """A fresh directory removed after the test (trial's ``mktemp`` would leave it in the current directory)."""
    path = Path(tempfile.mkdtemp(prefix="sendemodul-test-"))
    case.addCleanup(shutil.rmtree, path, ignore_errors=True)
    return path


def _all_files(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*"))


def _without_workers(cfg, **server):
    return dataclasses.replace(
        cfg, worker=dataclasses.replace(cfg.worker, embedded=False), server=dataclasses.replace(cfg.server, **server)
    )


class CollectLog:
    def __init__(self, case):
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        case.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def formats(self):
        return [e.get("log_format", "") for e in self.events]


class MakeServiceDoesNoIO(SynchronousTestCase):
    def test_building_against_a_missing_home_creates_nothing(self):
        """makeService only builds objects: a home that does not exist is still absent afterwards, and nothing
        listens."""
        root = temp_dir(self)
        cfg = config.Config(home=root / "no-such-home")
        reactor = MemoryReactorClock()
        top = service.makeService(cfg, reactor)
        self.assertEqual(_all_files(root), [])
        self.assertEqual(reactor.tcpServers, [])
        self.assertFalse(top.running)

    def test_starting_against_a_missing_home_logs_why_stops_and_creates_nothing(self):
        """The store service opens the database when the tree starts; a missing one is a critical log line and a
        stop, and the services after it (spool, listeners) never start."""
        root = temp_dir(self)
        cfg = _without_workers(config.Config(home=root / "no-such-home"))
        reactor = MemoryReactorClock()
        log = CollectLog(self)
        top = service.makeService(cfg, reactor)
        top.startService()
        reactor.run()  # runs the when-running hooks; the memory reactor stops at once
        self.assertEqual(_all_files(root), [])
        self.assertEqual(reactor.tcpServers, [])
        self.assertIn("cannot start: {error}; stopping", log.formats())
        self.assertNotIn("sendemodul started (environment {environment}, home {home})", log.formats())
        top.stopService()


class StartingDoesTheIO(SynchronousTestCase):
    def setUp(self):
        self.home = temp_dir(self) / "home"
        cfg, store = homemod.init_home(self.home, environment="test")
        store.close()
        self.cfg = cfg

    def start(self, cfg):
        reactor = MemoryReactorClock()
        top = service.makeService(cfg, reactor)
        return reactor, top

    def test_spool_and_recovery_happen_at_start_not_while_building(self):
        spool = Spool(self.cfg.spool_dir)
        leftover = spool.incoming / "crashed.part"
        leftover.write_bytes(b"half an upload")
        reactor, top = self.start(_without_workers(self.cfg))
        self.assertTrue(leftover.exists(), "makeService recovered the spool while building")
        top.startService()
        self.addCleanup(top.stopService)
        self.assertFalse(leftover.exists())
        self.assertEqual(len(reactor.tcpServers), 2)

    def test_the_store_service_comes_first_and_stops_last(self):
        _reactor, top = self.start(_without_workers(self.cfg))
        children = list(IServiceCollection(top))
        self.assertIs(children[0], top.db)
        top.startService()
        stopped = []
        for child in children:
            original = child.stopService
            child.stopService = lambda c=child, f=original: (stopped.append(c), f())[1]
        top.stopService()
        self.assertIs(stopped[-1], top.db)

    def test_listeners_come_from_the_endpoint_strings(self):
        """Both fronts listen where ``server.https_endpoint`` and ``server.sftp_endpoint`` say, with our backlog
        unless the string names one."""
        cfg = _without_workers(
            self.cfg,
            https_endpoint="tcp:18443:interface=127.0.0.2",
            sftp_endpoint="tcp:18022:interface=127.0.0.3:backlog=7",
        )
        reactor, top = self.start(cfg)
        top.startService()
        self.addCleanup(top.stopService)
        servers = {port: (backlog, interface) for port, _factory, backlog, interface in reactor.tcpServers}
        self.assertEqual(servers, {18443: (LISTEN_BACKLOG, "127.0.0.2"), 18022: (7, "127.0.0.3")})
        self.assertIsNotNone(top.web.port)
        self.assertIsNotNone(top.sftp.port)

    def test_a_unix_socket_is_an_endpoint_like_any_other(self):
        socket_path = str(self.home / "https.sock")
        cfg = _without_workers(self.cfg, https_endpoint=f"unix:{socket_path}:lockfile=0")
        reactor, top = self.start(cfg)
        top.startService()
        self.addCleanup(top.stopService)
        self.assertEqual(
            [(address, backlog) for address, _f, backlog, _m, _p in reactor.unixServers],
            [(socket_path, LISTEN_BACKLOG)],
        )

    def test_old_port_keys_in_config_toml_still_choose_the_listeners(self):
        path = self.cfg.config_path
        path.write_text(
            path.read_text().replace(
                "[server]\n", '[server]\nhttps_port = 18444\nsftp_port = 0\ninterface = "127.0.0.4"\n', 1
            )
        )
        reactor, top = self.start(_without_workers(config.load(self.home)))
        top.startService()
        self.addCleanup(top.stopService)
        self.assertEqual(
            sorted((port, interface) for port, _f, _b, interface in reactor.tcpServers),
            [(0, "127.0.0.4"), (18444, "127.0.0.4")],
        )


class RealmIsGivenItsFactories(SynchronousTestCase):
    def test_the_realm_gets_the_sftp_factory_in_its_constructor(self):
        """No module registers avatars on the realm afterwards: makeService passes the IConchUser factory in."""
        top = service.makeService(config.Config(home=temp_dir(self) / "home"), MemoryReactorClock())
        self.assertEqual(set(top.realm.factories), {auth.IUnitAvatar, IConchUser})
        self.assertFalse(hasattr(top.realm, "register"))

    def test_the_realm_hands_factories_the_parsed_unit(self):
        seen = []
        realm = auth.UnitRealm({IConchUser: lambda unit, epoch: seen.append(unit) or ("avatar", lambda: None)})
        interface, avatar, _logout = realm.requestAvatar("0301-12-958935420", None, IConchUser)
        self.assertEqual((interface, avatar), (IConchUser, "avatar"))
        self.assertEqual((seen[0].kommunenr, seen[0].bydel, seen[0].orgnr), ("0301", "12", "958935420"))
        _, unit_avatar, _ = realm.requestAvatar(b"0301-12-958935420", None, auth.IUnitAvatar)
        self.assertEqual(unit_avatar.unit, "0301-12-958935420")
        self.assertEqual(str(unit_avatar.parsed), "0301-12-958935420")


def _imports(path, module):
    """The ``sendemodul`` modules ``path`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("sendemodul"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            if not base.startswith("sendemodul"):
                continue
            for alias in node.names:  # "from sendemodul import keydir" imports a module
                found.add(f"{base}.{alias.name}")
            found.add(base)
    return found


def test_no_module_of_the_package_imports_itself_in_a_cycle():
    """Lazy imports inside functions count too: they hide a cycle, they do not remove it."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {
        name: {m for m in _imports(path, name) if m in modules and m != name and m != "sendemodul"}
        for name, path in modules.items()
    }
    cycles = []
    state = {}

    def visit(name, trail):
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == [], f"import cycles: {cycles}"


def test_makeService_builds_without_touching_the_filesystem(tmp_path, monkeypatch):
    """No open, stat, mkdir or listdir of anything while the tree is built (the pieces connect on first use)."""
    import builtins

    touched = []
    for owner, name in [
        (builtins, "open"),
        (os, "open"),
        (os, "stat"),
        (os, "mkdir"),
        (os, "listdir"),
        (os, "scandir"),
    ]:
        original = getattr(owner, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            touched.append((_name, str(args[0]) if args else ""))
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)
    cfg = config.Config(home=tmp_path / "home")  # embedded workers by default; the morning e-mail too:
    cfg = dataclasses.replace(cfg, mail=dataclasses.replace(cfg.mail, enabled=True))
    top = service.makeService(cfg, MemoryReactorClock())
    assert top.workers is not None and top.mail is not None
    monkeypatch.undo()
    assert [t for t in touched if str(tmp_path) in t[1]] == []


def test_the_hash_pool_has_at_most_one_thread_per_core_and_the_heap_gives_large_blocks_back():
    """Argon2id is pure CPU: hash threads beyond the cores only add 19 MiB each (issue 25). And with the mmap
    threshold fixed, a freed 19 MiB block leaves the process instead of staying in a thread's malloc arena."""
    import concurrent.futures

    from sendemodul import auth
    from sendemodul.config.sections import AuthConfig
    from sendemodul.service import bound_heap, hash_pool_size

    assert hash_pool_size(AuthConfig(hash_threads=4), cores=2) == 2
    assert hash_pool_size(AuthConfig(hash_threads=4), cores=16) == 4
    assert hash_pool_size(AuthConfig(hash_threads=1), cores=2) == 1
    assert bound_heap()

    def rss_kib():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

    pin = auth.generate_pin()
    phc = auth.hash_pin(pin)
    before = rss_kib()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert all(pool.map(lambda _: auth.verify_pin(pin, phc), range(8)))
        assert rss_kib() - before < 19 * 1024  # not even one Argon2id block stays resident


def test_the_started_front_freezes_its_startup_objects_out_of_the_collectors_walks():
    """Once the service tree has started, what it made is in the collector's permanent generation (issue 25: each
    full collection in a login storm walked them all again); a later object is not."""
    import gc

    gc.unfreeze()
    try:
        cfg = config.parse("", "/nonexistent/sendemodul-home")
        service.SendemodulService(cfg, MemoryReactorClock())._started()
        frozen = gc.get_freeze_count()
        assert frozen > 1000
        later = [object()]
        assert gc.get_freeze_count() == frozen and gc.is_tracked(later)
    finally:
        gc.unfreeze()
