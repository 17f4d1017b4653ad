"""The hash-chained audit log: pure functions over rows (the SQL is in ``store``).

Each row holds the hash of the row before it, and its own hash over its content and that previous hash; a head
record holds the last sequence number and hash (updated in the same transaction), so that cutting rows off the end
shows too. SQLite triggers refuse UPDATE and DELETE; ``verify`` catches what bypasses them (a copied and edited
database file) and names the first row that was edited, deleted, inserted or reordered.

Audit details never hold a PIN, an ID number, a pseudonym, a file name or content.
"""

import hashlib
import json
from dataclasses import dataclass

GENESIS = "0" * 64


def canonical_detail(detail):
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Entry:
    seq: int
    at: str
    event: str
    actor: str
    unit: str | None
    detail: str
    prev_hash: str

    def compute_hash(self):
        body = json.dumps(
            [self.seq, self.at, self.event, self.actor, self.unit, self.detail, self.prev_hash],
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredEntry(Entry):
    hash: str


@dataclass(frozen=True)
class Problem:
    seq: int
    message: str

    def __str__(self):
        return self.message


def verify(entries, head):
    """Check the chain. ``entries`` in storage order, ``head`` = (last seq, last hash) as recorded.

    Returns None when intact, else the first :class:`Problem`.
    """
    expected_seq, prev_hash = 1, GENESIS
    for entry in entries:
        content_ok = entry.compute_hash() == entry.hash
        if entry.seq != expected_seq:
            if entry.seq > expected_seq and content_ok and entry.prev_hash != prev_hash:
                missing = (
                    f"row {expected_seq}" if entry.seq == expected_seq + 1 else f"rows {expected_seq}-{entry.seq - 1}"
                )
                return Problem(
                    expected_seq, f"{missing} deleted (the log jumps from row {expected_seq - 1} to row {entry.seq})"
                )
            return Problem(
                expected_seq,
                f"row {expected_seq} is out of order (found row {entry.seq} in its place): "
                "rows were reordered or renumbered",
            )
        if not content_ok:
            return Problem(entry.seq, f"row {entry.seq} was edited (its content does not match its hash)")
        if entry.prev_hash != prev_hash:
            return Problem(
                entry.seq,
                f"row {entry.seq} does not follow row {entry.seq - 1}: a row before it was "
                "replaced, inserted or reordered",
            )
        expected_seq, prev_hash = expected_seq + 1, entry.hash
    head_seq, head_hash = head
    last = expected_seq - 1
    if head_seq > last:
        return Problem(last + 1, f"rows {last + 1}-{head_seq} deleted from the end of the log")
    if head_seq < last or head_hash != prev_hash:
        return Problem(head_seq, f"the log's head record (row {head_seq}) does not match row {last}")
    return None
