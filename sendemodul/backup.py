"""Backups of a state home while the server runs (``sendemodul admin backup DIR``), and restoring one into an empty
home (``sendemodul admin restore DIR --home NEW``), each checked the same way.

A backup holds: ``sendemodul.db`` (SQLite's online backup API: a consistent snapshot while others write), the spool
files that snapshot references, ``config.toml``, the key directory ``keys/``, the TLS certificate and the SSH host
key (so a restored server keeps its identity), the front's keys (``front/``: persons' TOTP secrets) and, only when
asked, ``private/`` (the TPF's identities and the pseudonym master key: keep those apart in production).
``manifest.json`` lists every file with its size and SHA-256.

Consistency without stopping anything: the pipeline changes the database before it removes a file (intake renames
into ``received/`` before it records; the pseudonymizer writes the package before ``queued`` and removes the
container after; the forwarder removes a package after ``delivered``). So each file a snapshot references exists
until a later state is committed. If a file has gone by the time it is copied, a newer snapshot is taken and the
missing files are copied for it, until one snapshot has all its files (an upload's file never changes once named).

The check (after the backup and after a restore): ``PRAGMA integrity_check``; every referenced file present with the
size and SHA-256 recorded in the database (the container's) or in the manifest (a package, whose hash the database
does not keep); the audit chain verified.
"""

import datetime
import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

from sendemodul import audit as auditmod
from sendemodul.errors import BackupError
from sendemodul.spool import Spool
from sendemodul.store import Store

FORMAT = "sendemodul-backup/1"
MANIFEST = "manifest.json"
DB_NAME = "sendemodul.db"
#: Copied whole when present: the config, the key directory, the TLS certificate and key, the SSH host key, and the
#: front's own keys (``front/``: the key of persons' TOTP secrets, without which no person could log in after a
#: restore, and the web key of "Ingen deltakere" containers; docs/persons.md).
HOME_ITEMS = ("config.toml", "keys", "tls", "ssh", "front")
PRIVATE = "private"
SNAPSHOT_ATTEMPTS = 20


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def referenced_files(db_path):
    """``{relative spool path: (size, sha256 or None)}`` for every file the database at ``db_path`` needs."""
    conn = sqlite3.connect(db_path)  # a copy's (not the live one): read-write, so a WAL file can get its -shm
    try:
        rows = conn.execute(
            "SELECT reference, status, test, size, sha256, package_size FROM uploads"
            " WHERE status IN ('received', 'pseudonymizing', 'quarantined', 'queued')"
        ).fetchall()
    finally:
        conn.close()
    files = {}
    for reference, status, test, size, sha256, package_size in rows:
        if status in ("received", "pseudonymizing"):
            files[f"received/{reference}.tar"] = (size, sha256)
        elif status == "quarantined":
            files[f"quarantine/{reference}.tar"] = (size, sha256)
        elif status == "queued" and not test:
            files[f"outbox/{reference}.tar"] = (package_size, None)
    return files


def _snapshot(source_db, target_db):
    """Copy the live database with SQLite's online backup API (readers and the writer go on meanwhile)."""
    tmp = target_db.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source_db}?mode=ro", uri=True)
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()
    os.replace(tmp, target_db)


def _copy_tree_items(home, out, items):
    for name in items:
        source = home / name
        if source.is_dir():
            shutil.copytree(source, out / name, dirs_exist_ok=True)
        elif source.is_file():
            shutil.copy2(source, out / name)


def make_backup(home, out, *, with_private=False):
    """Back ``home`` up into the new or empty directory ``out``; returns the manifest (after checking it)."""
    home, out = Path(home).absolute(), Path(out).absolute()
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty: back up into a new or empty directory")
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    if not (home / DB_NAME).exists():
        raise BackupError(f"{home} has no {DB_NAME}: not a state home")
    spool_out = out / "spool"
    copied = {}
    for _attempt in range(SNAPSHOT_ATTEMPTS):
        _snapshot(home / DB_NAME, out / DB_NAME)
        wanted = referenced_files(out / DB_NAME)
        missing = False
        for relative in wanted:
            if relative in copied:
                continue
            target = spool_out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(home / "spool" / relative, target)
            except FileNotFoundError:
                missing = True  # the pipeline moved on: a newer snapshot references its new place
                continue
            copied[relative] = target.stat().st_size
        if not missing:
            break
    else:
        raise BackupError("the spool kept changing under the backup; try again")
    for relative in set(copied) - set(wanted):
        (spool_out / relative).unlink()
    _copy_tree_items(home, out, HOME_ITEMS)
    if with_private and (home / PRIVATE).is_dir():
        _copy_tree_items(home, out, (PRIVATE,))
    # The check first (it opens the database, which may touch its header), then the manifest of what is final.
    report = check(out, out / "spool", {"files": _listing(out, under="spool")})
    manifest = {
        "format": FORMAT,
        "made_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": str(home),
        "files": _listing(out),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest, report


def _listing(root, under=None):
    """``{relative path: {size, sha256}}`` of the files under ``root`` (or its ``under`` folder), without the
    manifest and SQLite's -wal and -shm files (the database is whole without them once its connections closed)."""
    files = {}
    top = root / under if under else root
    for path in sorted(p for p in top.rglob("*") if p.is_file()):
        if path.name == MANIFEST or path.name.endswith(("-wal", "-shm")):
            continue
        files[path.relative_to(root).as_posix()] = {"size": path.stat().st_size, "sha256": _sha256(path)}
    return files


def check(db_dir, spool_dir, manifest):
    """Check the database in ``db_dir`` and the spool files it references under ``spool_dir`` (a backup's or a
    restored home's); raises BackupError naming the first problem. Returns a short report."""
    db_path = Path(db_dir) / DB_NAME
    conn = sqlite3.connect(db_path)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    if result != [("ok",)]:
        raise BackupError(f"integrity_check of {db_path}: {result[:3]}")
    recorded = manifest["files"]
    wanted = referenced_files(db_path)
    for relative, (size, sha256) in sorted(wanted.items()):
        path = Path(spool_dir) / relative
        if not path.is_file():
            raise BackupError(f"spool/{relative} is referenced by the database but missing")
        actual_size = path.stat().st_size
        if size is not None and actual_size != size:
            raise BackupError(f"spool/{relative} has {actual_size} bytes, the database says {size}")
        actual = _sha256(path)
        expected = sha256 or recorded.get(f"spool/{relative}", {}).get("sha256")
        if expected is None or actual != expected:
            raise BackupError(f"spool/{relative} does not have its recorded SHA-256")
    store = Store.open(db_path)
    try:
        problem = auditmod.verify(store.audit_entries(), store.audit_head())
        seq, _head = store.audit_head()
        uploads = len(store.list_uploads())
    finally:
        store.close()
    if problem is not None:
        raise BackupError(f"audit log damaged: {problem}")
    return {"uploads": uploads, "files": len(wanted), "audit_rows": seq}


def restore(backup_dir, home):
    """Restore the backup in ``backup_dir`` into ``home`` (new or empty), then check it there. Returns the report."""
    backup_dir, home = Path(backup_dir).absolute(), Path(home).absolute()
    try:
        manifest = json.loads((backup_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BackupError(f"{backup_dir} is not a backup: cannot read {MANIFEST} ({e})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{backup_dir}/{MANIFEST} is not a {FORMAT} manifest")
    if home.exists() and any(home.iterdir()):
        raise BackupError(f"{home} is not empty: restore into a new or empty home")
    for relative, info in manifest["files"].items():
        path = backup_dir / relative
        if not path.is_file() or path.stat().st_size != info["size"] or _sha256(path) != info["sha256"]:
            raise BackupError(f"{relative} in the backup is missing or changed since the backup was made")
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    for relative in manifest["files"]:
        target = home / relative
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copy2(backup_dir / relative, target)
    for private in (home / PRIVATE).rglob("*") if (home / PRIVATE).exists() else ():
        if private.is_file():
            os.chmod(private, 0o600)
    Spool(home / "spool").ensure()
    from sendemodul import config

    cfg = config.load(home)
    if cfg.forwarder.mode == "dir" and not cfg.forwarder.directory:
        (home / "ssb-inbox").mkdir(mode=0o700, exist_ok=True)
    (home / "log").mkdir(mode=0o700, exist_ok=True)
    return check(home, home / "spool", manifest)
