"""Which delivery counts. For each unit, register and periode the newest accepted production upload is the one that
counts (DESIGN.md section 7); older ones stay visible as superseded, and test uploads never count. A file sent again
(the same container) is not a new delivery: it gets its first receipt back, and counts only if that first upload
still does.

Pure: it works on upload rows (dicts as the store returns them), so that the receipt page, the list, the API's JSON
and SFTP's ``/receipts/`` all derive "what counts now" the same way, and the texts in :mod:`messages_nb` and
:mod:`receipt` only put it into words.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Row = Mapping[str, Any]


def group(row: Row) -> tuple[str, str, int]:
    """The unit, register and periode an upload is for: among these, the newest production upload counts."""
    return (row["unit"], row["register"], row["periode"])


def is_current(row: Row) -> bool:
    """Whether ``row`` is its group's newest production upload (no newer one superseded it; not a test)."""
    return not row.get("test") and not row.get("superseded_by")


def current_uploads(rows: Iterable[Row]) -> dict[tuple[str, str, int], Row]:
    """The upload that counts for each group among ``rows`` (the newest not superseded one; there is one per group
    with production uploads, as intake supersedes all older ones in the transaction that records the new one)."""
    found: dict[tuple[str, str, int], Row] = {}
    for row in rows:
        if not is_current(row):
            continue
        key = group(row)
        held = found.get(key)
        if held is None or (row["received_at"], row["reference"]) > (held["received_at"], held["reference"]):
            found[key] = row
    return found


@dataclass(frozen=True)
class Standing:
    """What counts now, seen from one upload.

    ``counts``: this upload is the one that counts for its register and periode. ``current``: the upload that counts
    for them now (this one, a newer one, or None while only tests were sent). ``stopped``: the one that counts was
    stopped after intake (quarantined) and will not reach SSB until a new file is sent or an admin requeues it."""

    counts: bool
    current: Row | None
    test: bool

    @property
    def stopped(self) -> bool:
        return self.current is not None and self.current["status"] == "quarantined"

    @property
    def current_reference(self) -> str | None:
        return None if self.current is None else self.current["reference"]


def standing(row: Row, current: Row | None) -> Standing:
    """The standing of ``row`` given ``current``, the upload that counts for its group now (or None)."""
    if current is not None and group(current) != group(row):
        raise ValueError("the current upload is for another unit, register or periode")
    counts = is_current(row) and current is not None and current["reference"] == row["reference"]
    return Standing(counts=counts, current=current, test=bool(row.get("test")))


def sentence_keys(s: Standing, *, duplicate: bool = False) -> list[str]:
    """The keys of the sentences that say what counts now, in order: every language's texts
    (:data:`sendemodul.messages_nb.COUNTS`, :data:`sendemodul.receipt.COUNTS_EN`) have one sentence per key.
    ``duplicate``: the unit just sent this upload's file again."""
    if s.test:
        return [*(["duplicate"] if duplicate else []), "test", "test_none" if s.current is None else "test_current"]
    if s.counts:
        if duplicate:
            return ["duplicate_counts", *(["counts_stopped"] if s.stopped else [])]
        return ["counts_stopped" if s.stopped else "counts"]
    return [*(["duplicate"] if duplicate else []), "superseded_stopped" if s.stopped else "superseded", "again"]


def describe(
    texts: Mapping[str, str],
    row: Row,
    current: Row | None,
    *,
    duplicate: bool = False,
    time_text: Callable[[str], str] = str,
) -> str:
    """What counts now for ``row``, in the language of ``texts``; ``time_text`` shows a stored UTC time."""
    s = standing(row, current)
    values = {
        "reference": row["reference"],
        "register": row["register"],
        "periode": row["periode"],
        "time": time_text(row["received_at"]),
        "current": s.current_reference,
        "current_time": "" if s.current is None else time_text(s.current["received_at"]),
    }
    return " ".join(texts[key].format(**values) for key in sentence_keys(s, duplicate=duplicate))
