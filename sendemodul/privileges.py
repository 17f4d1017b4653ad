"""Separation between users, not just processes: the front, the pseudonymizer (worker) and the forwarder each run as a
user of their own (``[process] front_user``, ``worker_user``, ``forwarder_user``), sharing one group
(``[process] group``) for the database and the spool. Only the worker's user can open the TPF key and the pseudonym
master key, so a compromised front cannot read them.

- Started as root, a process drops to its user at once (the front after binding its ports: see
  :mod:`sendemodul.supervisor`): supplementary groups = the shared group only, primary group and user of its account,
  no way back (checked), ``PR_SET_NO_NEW_PRIVS``.
- Started as its own user (systemd ``User=``), a process only checks that it is that user and in the shared group.
- Started as anyone else while users are configured, it refuses to run.
- With no users configured (the dev default) nothing here does anything.

:func:`ownership` is the table ``admin init`` applies when run as root with users configured (and
docs/operations.md explains); :func:`apply_ownership` never lets a key become readable by the front's user.
"""

import ctypes
import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from sendemodul.config import PROCESS_ROLES
from sendemodul.errors import ConfigError, PrivilegeError


@dataclass(frozen=True)
class Account:
    """One process's user: its name, uid and primary gid."""

    role: str
    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class Accounts:
    """The three accounts and the group they share (``gid``)."""

    front: Account
    worker: Account
    forwarder: Account
    group: str
    gid: int

    def of(self, role):
        return getattr(self, role)


def accounts(cfg):
    """The accounts ``cfg.process`` names, looked up now; None when none are configured (dev).

    Raises ConfigError naming the key for an unknown user or group, a user with uid 0, two names for one uid, or a
    user that is not a member of the shared group (it needs it for the database and the spool)."""
    process = cfg.process
    if not process.front_user:
        return None
    try:
        group = grp.getgrnam(process.group)
    except KeyError:
        raise ConfigError(
            f"config key 'process.group': there is no group {process.group!r} on this machine "
            f"(create it: groupadd --system {process.group})"
        ) from None
    found = {}
    for role in PROCESS_ROLES:
        key = f"process.{role}_user"
        name = getattr(process, f"{role}_user")
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise ConfigError(
                f"config key {key!r}: there is no user {name!r} on this machine (create it: useradd "
                f"--system --user-group --groups {process.group} --no-create-home "
                f"--shell /usr/sbin/nologin {name})"
            ) from None
        if entry.pw_uid == 0:
            raise ConfigError(f"config key {key!r}: user {name!r} has uid 0 (root)")
        if entry.pw_gid != group.gr_gid and name not in group.gr_mem:
            raise ConfigError(
                f"config key {key!r}: user {name!r} is not a member of group {process.group!r} "
                f"(usermod --append --groups {process.group} {name})"
            )
        found[role] = Account(role, name, entry.pw_uid, entry.pw_gid)
    if len({a.uid for a in found.values()}) != len(found):
        raise ConfigError("config keys 'process.*_user' name the same uid twice: each process needs a user of its own")
    return Accounts(**found, group=process.group, gid=group.gr_gid)


def plan(cfg, role):
    """What a process of ``role`` must do to run as configured: the Account to drop to (started as root), or None
    (no users configured, or already running as its user). Raises PrivilegeError when it runs as someone else."""
    found = accounts(cfg)
    if found is None:
        return None
    me = found.of(role)
    if os.geteuid() == 0:
        return me
    if os.getuid() != me.uid or os.geteuid() != me.uid:
        raise PrivilegeError(
            f"the {role} must run as user {me.name!r} (config key 'process.{role}_user') or be "
            f"started as root to drop to it; it was started as uid {os.geteuid()}"
        )
    if found.gid not in os.getgroups() and os.getegid() != found.gid:
        raise PrivilegeError(
            f"the {role} runs as {me.name!r} but not in group {found.group!r} (config key "
            f"'process.group'; under systemd: SupplementaryGroups={found.group})"
        )
    return None


def become(cfg, role):
    """Run as ``role``'s configured user from now on (see :func:`plan`). Returns the Account dropped to, or None."""
    me = plan(cfg, role)
    if me is not None:
        drop_to(me, accounts(cfg).gid)
    elif cfg.process.front_user:  # spawned as its user already (supervisor, systemd): still no way up
        no_new_privs()
    return me


PR_SET_NO_NEW_PRIVS = 38


def drop_to(account, shared_gid):
    """Irreversibly become ``account`` (real, effective and saved ids) with the shared group as the only
    supplementary group; then check every thread and that root cannot be regained."""
    os.setgroups([shared_gid])
    os.setgid(account.gid)
    os.setuid(account.uid)
    no_new_privs()
    check_dropped(account, shared_gid)


def no_new_privs():
    """``PR_SET_NO_NEW_PRIVS``: nothing this process executes can gain privileges (setuid binaries, file caps)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise PrivilegeError(f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(ctypes.get_errno())}")


#: What the root supervisor keeps: start children as other users, and signal them.
CAP_KILL, CAP_SETGID, CAP_SETUID = 5, 6, 7
PR_CAPBSET_DROP = 24
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def keep_only_capabilities(*caps):
    """Drop every capability but ``caps`` (all below 32) from this root process: from the bounding set, then the
    effective and permitted sets; then ``PR_SET_NO_NEW_PRIVS``. The uid stays 0 (so root-owned files still open)."""
    libc = ctypes.CDLL(None, use_errno=True)
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for cap in range(last + 1):
        if cap not in caps and libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise PrivilegeError(f"prctl(PR_CAPBSET_DROP, {cap}) failed: {os.strerror(ctypes.get_errno())}")
    mask = 0
    for cap in caps:
        mask |= 1 << cap
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)(_CapData(mask, mask, 0), _CapData(0, 0, 0))
    if libc.capset(ctypes.byref(header), data) != 0:
        raise PrivilegeError(f"capset failed: {os.strerror(ctypes.get_errno())}")
    no_new_privs()


def check_dropped(account, shared_gid):
    """Raise PrivilegeError unless every thread of this process runs as ``account`` only, and setuid(0) fails."""
    for task in Path("/proc/self/task").iterdir():
        ids = task_ids(task / "status")
        if set(ids["Uid"]) != {account.uid} or set(ids["Gid"]) != {account.gid} or ids["Groups"] != [shared_gid]:
            raise PrivilegeError(f"thread {task.name} still runs with other ids ({ids})")
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise PrivilegeError("root could be regained after dropping privileges")


def task_ids(status_path):
    """``{"Uid": [real, effective, saved, fs], "Gid": [...], "Groups": [...]}`` from a /proc status file."""
    ids = {}
    for line in Path(status_path).read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Uid", "Gid", "Groups"):
            ids[key] = [int(v) for v in value.split()]
    return ids


# -- file ownership (admin init as root) --------------------------------------------------------------------------

#: The key files only the worker may open, under ``<home>/private/``.
WORKER_KEYS = ("tpf.agekey", "ssb.agekey", "tpf-signing.key", "pseudonym-master.key")


@dataclass(frozen=True)
class Owned:
    path: Path
    uid: int
    gid: int
    mode: int
    why: str


def _inside(home, value):
    """``value`` (a configured path, relative to the home) if it lies inside the home, else None."""
    if not value:
        return None
    path = Path(value) if Path(value).is_absolute() else home / value
    path = Path(os.path.normpath(path))
    return path if path.is_relative_to(home) else None


def ownership(cfg, found):
    """The owner, group and mode of everything in the home, in the order :func:`apply_ownership` sets them.

    Keys first (while the home is still closed to everyone but root), the home itself last."""
    home, front, worker, forwarder, shared = cfg.home, found.front, found.worker, found.forwarder, found.gid
    rows = []
    forwarder_key = _inside(home, cfg.forwarder.private_key) if cfg.forwarder.mode == "sftp" else None
    private = cfg.private_dir
    if private.is_dir():
        for path in sorted(private.iterdir()):
            if path == forwarder_key:
                continue
            rows.append(Owned(path, worker.uid, worker.gid, 0o600, "a key only the pseudonymizer opens"))
        rows.append(Owned(private, 0, 0, 0o711, "keys: each file owned by the one process that opens it"))
    if forwarder_key is not None and forwarder_key.exists():
        rows.append(Owned(forwarder_key, forwarder.uid, forwarder.gid, 0o600, "the forwarder's SSH key to SSB"))
    for d in (cfg.tls_cert_path.parent, cfg.ssh_host_key_path.parent, home / "front"):
        if d.is_dir():
            for path in sorted(d.iterdir()):
                mode = 0o644 if path.suffix == ".pub" else 0o600
                rows.append(Owned(path, front.uid, front.gid, mode, "the front's TLS / SSH host key, person key"))
            rows.append(Owned(d, front.uid, front.gid, 0o700, "the front's keys"))
    if cfg.log_path.parent.is_dir():
        for path in sorted(cfg.log_path.parent.iterdir()):
            rows.append(Owned(path, front.uid, front.gid, 0o600, "the server's log"))
        rows.append(Owned(cfg.log_path.parent, front.uid, front.gid, 0o700, "the front writes and rotates logs"))
    inbox = _inside(home, cfg.forwarder.directory or "ssb-inbox") if cfg.forwarder.mode == "dir" else None
    if inbox is not None and inbox.is_dir():
        rows.append(Owned(inbox, forwarder.uid, forwarder.gid, 0o700, "the forwarder's delivery directory"))
    answers = _inside(home, cfg.forwarder.answers_directory or "ssb-answers") if cfg.forwarder.mode == "dir" else None
    if answers is not None and answers.is_dir():
        rows.append(Owned(answers, forwarder.uid, forwarder.gid, 0o700, "SSB's answers, which the forwarder reads"))
    if cfg.keys_dir.is_dir():
        for path in sorted(cfg.keys_dir.iterdir()):
            rows.append(Owned(path, 0, shared, 0o640, "public keys: read by all, written by root"))
        rows.append(Owned(cfg.keys_dir, 0, shared, 0o2750, "public keys"))
    for suffix in ("", "-wal", "-shm"):
        path = cfg.db_path.with_name(cfg.db_path.name + suffix)
        if path.exists():
            rows.append(Owned(path, front.uid, shared, 0o660, "the database: all three write it"))
    if cfg.config_path.exists():
        rows.append(Owned(cfg.config_path, 0, shared, 0o640, "configuration: read by all, written by root"))
    spool = cfg.spool_dir
    if spool.is_dir():
        # Each directory belongs to the process that removes files from it; sticky, so no other process can remove
        # or replace a file it did not create (a compromised front cannot swap a package in the outbox).
        for name, owner, mode, why in (
            ("incoming", front, 0o2750, "the front receives uploads here (0640 files: the group reads them)"),
            ("received", worker, 0o3770, "the front renames accepted uploads in, the worker removes them"),
            ("outbox", forwarder, 0o3770, "the worker writes packages, the forwarder removes delivered ones"),
            ("quarantine", worker, 0o2750, "the worker moves failed uploads here"),
        ):
            if (spool / name).is_dir():
                rows.append(Owned(spool / name, owner.uid, shared, mode, why))
        rows.append(Owned(spool, 0, shared, 0o3770, "spool root: each process's lock file"))
    demo = home / "demo"
    if demo.is_dir():
        rows.append(Owned(demo, 0, 0, 0o700, "dev only: the demo unit's PIN and signing key, for root"))
    rows.append(
        Owned(
            home,
            0,
            shared,
            0o3770,
            "the home: SQLite creates -wal/-shm here; sticky: no process can rename what it does not own",
        )
    )
    return rows


def apply_ownership(cfg):
    """As root with users configured: give every file in the home its owner and mode (:func:`ownership`), then
    check that no key is readable by the front. Returns the rows applied; [] when nothing is configured."""
    found = accounts(cfg)
    if found is None:
        return []
    if os.geteuid() != 0:
        raise PrivilegeError("setting the owners of the home's files (config [process]) needs root")
    rows = ownership(cfg, found)
    for row in rows:
        # lchown/chmod on the path itself: never follow a symlink someone planted
        if row.path.is_symlink():
            raise PrivilegeError(f"{row.path} is a symbolic link; refusing to change its owner")
        os.chown(row.path, row.uid, row.gid, follow_symlinks=False)
        os.chmod(row.path, row.mode)
    check_keys_private(cfg, found)
    return rows


def check_keys_private(cfg, found):
    """Raise PrivilegeError if the front's user could open a file under ``private/`` (by owner, group or mode)."""
    private = cfg.private_dir
    if not private.is_dir():
        return
    front_groups = {found.front.gid, found.gid, *(g.gr_gid for g in grp.getgrall() if found.front.name in g.gr_mem)}
    for path in private.iterdir():
        st = path.lstat()
        mode = stat.S_IMODE(st.st_mode)
        readable = st.st_uid == found.front.uid or (st.st_gid in front_groups and mode & 0o040) or mode & 0o004
        if readable:
            raise PrivilegeError(f"{path} could be read by the front's user {found.front.name!r}")
