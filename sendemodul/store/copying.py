"""Copying a whole store into another (``sendemodul admin migrate-store``): a SQLite home into PostgreSQL, the step
from one machine to a cluster. Every table, every row, in insertion order, in one transaction of the target; then
the counts and the audit chain are checked on the target, so a copy that would lose or bend anything fails."""

from dataclasses import dataclass

from sendemodul import audit
from sendemodul.errors import StoreError

#: Rows per INSERT batch.
BATCH_ROWS = 500


@dataclass(frozen=True)
class CopyReport:
    counts: dict  # table -> rows copied
    audit_rows: int
    audit_head: str


def copy_store(source, target, *, progress=lambda table, rows: None):
    """Copy every row of ``source`` into the empty ``target`` (both open :class:`~sendemodul.store.Store`s at the
    same schema version), then verify. Returns a :class:`CopyReport`; raises StoreError when the check fails."""
    if source.schema_version() != target.schema_version():
        raise StoreError(
            f"the source has schema version {source.schema_version()}, the target {target.schema_version()}"
        )
    tables = sorted(source.table_names())
    missing = set(tables) - set(target.table_names())
    if missing:
        raise StoreError(f"the target has no table {', '.join(sorted(missing))}")
    for table in tables:
        if target.conn().execute(f"SELECT count(*) FROM {table}").fetchone()[0]:
            raise StoreError(f"the target's table {table} is not empty")
    counts = {}
    with target.transaction() as conn:
        target.engine.defer_constraints(conn)  # rows may point forward (uploads.superseded_by)
        for table in tables:
            columns = [c for c in source.columns(table) if c in set(target.columns(table))]
            names = ", ".join(columns)
            insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
            cursor = source.conn().execute(f"SELECT {names} FROM {table} ORDER BY rowid")
            counts[table] = 0
            while batch := cursor.fetchmany(BATCH_ROWS):
                conn.executemany(insert, batch)
                counts[table] += len(batch)
                progress(table, len(batch))
        target.engine.after_copy(conn)
    _verify(source, target, counts)
    seq, head = target.audit_head()
    return CopyReport(counts=counts, audit_rows=seq, audit_head=head)


def _verify(source, target, counts):
    for table, copied in counts.items():
        there = target.conn().execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        here = source.conn().execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if not here == copied == there:
            raise StoreError(f"table {table}: {here} rows in the source, {copied} copied, {there} in the target")
    problem = audit.verify(target.audit_entries(), target.audit_head())
    if problem is not None:
        raise StoreError(f"the copied audit log does not verify: {problem}")
    if target.audit_head() != source.audit_head():
        raise StoreError("the copied audit log's head differs from the source's")
