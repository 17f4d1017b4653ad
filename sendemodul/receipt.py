"""The receipt: what the server promises for an accepted upload, as both fronts show it (the web API's JSON and
``/receipts/<reference>.json`` over SFTP). Intake makes one from the upload's database row."""

from dataclasses import asdict, dataclass


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

    @classmethod
    def from_row(cls, row, duplicate=False):
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
        )

    def to_json(self):
        return asdict(self)
