"""The receipt: what the server promises for an accepted upload, as both fronts show it (the web API's JSON and
``/receipts/<reference>.json`` over SFTP). Intake makes one from the upload's database row.

A receipt also says what counts now for its register and periode (:mod:`sendemodul.standing`): ``counts``, the
reference and time of the upload that counts (``counting_reference``, ``counting_received_at``), and the same in words,
in English (``message``, for scripts and logs) and in Bokmål (``melding``, what a person reads), so that a file sent
again after a newer one is never mistaken for the delivery that counts."""

from dataclasses import asdict, dataclass

from sendemodul import messages_nb, standing

#: What counts now, in English (``message``); the Bokmål texts are :data:`messages_nb.COUNTS`.
COUNTS_EN = {
    "counts": "This upload is the newest for {register} {periode}; it is the one that counts.",
    "counts_stopped": "This upload is the newest for {register} {periode}, but it was stopped and will not be "
    "delivered to SSB. Correct the error and send a new file; the new file will count.",
    "superseded": "This upload no longer counts: the newest upload for {register} {periode}, {current} "
    "(received {current_time}), is the one that counts.",
    "superseded_stopped": "This upload no longer counts: the newest upload for {register} {periode}, {current} "
    "(received {current_time}), was stopped and will not be delivered to SSB. Correct the error and send a new file.",
    "test": "A test upload: checked, never forwarded to SSB, and it does not count.",
    "test_current": "For {register} {periode} the upload {current} (received {current_time}) counts.",
    "test_none": "No upload counts for {register} {periode} yet.",
    "again": "To make {reference} count again, encrypt the extract again with the encryption module and send the new "
    "file: a file sent before is not taken as new.",
    "duplicate": "This file was sent before, at {time}, as {reference}; nothing new was stored.",
    "duplicate_counts": "This file was sent before, at {time}, as {reference}; nothing new was stored, and "
    "{reference} still counts for {register} {periode}.",
}


@dataclass(frozen=True)
class Receipt:
    reference: str
    status: str
    unit: str
    register: str
    periode: int
    size: int
    sha256: str
    received_at: str
    late: bool
    test: bool
    duplicate: bool = False
    superseded_by: str | None = None
    counts: bool = True
    counting_reference: str | None = None
    counting_received_at: str | None = None
    message: str = ""
    melding: str = ""

    @classmethod
    def from_row(cls, row, current, duplicate=False):
        """The receipt for the upload ``row``; ``current`` is the upload that counts now for its register and
        periode (``row`` itself for a new production upload; None while only tests were sent)."""
        s = standing.standing(row, current)
        return cls(
            reference=row["reference"],
            status=row["status"],
            unit=row["unit"],
            register=row["register"],
            periode=row["periode"],
            size=row["size"],
            sha256=row["sha256"],
            received_at=row["received_at"],
            late=bool(row["late"]),
            test=bool(row["test"]),
            duplicate=duplicate,
            superseded_by=row.get("superseded_by"),
            counts=s.counts,
            counting_reference=s.current_reference,
            counting_received_at=None if s.current is None else s.current["received_at"],
            message=standing.describe(COUNTS_EN, row, current, duplicate=duplicate),
            melding=messages_nb.counts_nb(row, current, duplicate=duplicate),
        )

    def to_json(self):
        return asdict(self)
