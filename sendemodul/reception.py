"""SSB's reception control (``sendemodul ssb check``): the control rules of the municipal side, run again on the
records of a delivered package, as SSB's control programs do at reception.

The package is checked and decrypted as ``ssb open`` does (:func:`sendemodul.ssb.read_package`), but nothing is
written: each record goes straight into the rules' :class:`~sendemodul.profiles.rules.checker.Checker`, its
identifiers replaced by ``CLASS:pseudonym`` tokens (SSB has no ID number), so missing, invalid, synthetic and
duplicate identifiers are still found. The report names each row by its row id (which the unit's encryption module
gave it) and journalnummer, never by line: the rows travel sorted by row id, so a line number at SSB means nothing
to the unit.
"""

import tempfile
from dataclasses import dataclass

from sendemodul import ssb
from sendemodul.answer import package_digest
from sendemodul.container import canonical_json
from sendemodul.errors import PartContentError
from sendemodul.profiles.model import Record
from sendemodul.profiles.rules.checker import Checker
from sendemodul.profiles.rules.records import pseudonym_token
from sendemodul.profiles.rules.report import MAX_PER_RULE

REPORT_FORMAT = "sendemodul-reception/1"
_ROW_ID_BYTES = 12


@dataclass(frozen=True)
class Reception:
    """The outcome of :func:`check_package`: the rules' report, and what names the package."""

    reference: str
    manifest: object
    package_sha256: str
    report: object
    row_ids: bytes

    def row_id(self, line):
        """The row id of the ``line``-th record of the package (1-based), ``None`` for the document as a whole."""
        if line is None:
            return None
        return self.row_ids[(line - 1) * _ROW_ID_BYTES : line * _ROW_ID_BYTES].hex()

    def as_dict(self):
        report = self.report.as_dict()
        return {
            "format": REPORT_FORMAT,
            "reference": self.reference,
            "container_id": self.manifest.container_id,
            "manifest_sha256": self.manifest.sha256,
            "package_sha256": self.package_sha256,
            "unit": str(self.manifest.unit),
            "register": self.manifest.register,
            "periode": self.manifest.periode,
            "records": report["records"],
            "result": report["result"],
            "exit_code": report["exit_code"],
            "counts": report["counts"],
            "rules": report["rules"],
            "omitted": report["omitted"],
            "findings": [
                {
                    "severity": f["severity"],
                    "rule": f["rule"],
                    "row_id": self.row_id(f["line"]),
                    "journalnr": f["journalnr"],
                    "field": f["field"],
                    "message": f["message"],
                }
                for f in report["findings"]
            ],
        }

    def to_json(self):
        return canonical_json(self.as_dict()).decode("utf-8") + "\n"

    def to_text(self):
        lines = [f"sendemodul ssb check: {self.reference} ({self.manifest.unit} {self.manifest.register} "]
        lines[0] += f"{self.manifest.periode})"
        for f in self.as_dict()["findings"]:
            where = "document" if f["row_id"] is None else f"row {f['row_id']}"
            if f["journalnr"]:
                where += f", journalnr {f['journalnr']}"
            if f["field"]:
                where += f", {f['field']}"
            lines.append(f"{f['severity']:<8}{where}: {f['message']} [{f['rule']}]")
        lines.append(self.report.summary)
        return "\n".join(lines) + "\n"


class _Header:
    """The ``extract`` a :class:`Checker` reads the header lines from: the data part's header lines."""

    def __init__(self):
        self.header_lines = []


class _CheckSink:
    """The sink of :func:`sendemodul.ssb.read_package` that feeds each record to the control rules."""

    def __init__(self, checker, header, profile, pseudonyms):
        self.checker = checker
        self.header = header
        self.profile = profile
        self.rows = pseudonyms.rows()
        self.row_ids = bytearray()
        journal = profile.journal_field
        self._journal_name = journal.name if journal is not None else None

    def header_line(self, line):
        self.header.header_lines.append(line)

    def add(self, row_id, record):
        found_id, ids = next(self.rows, (None, None))
        if found_id != row_id:
            raise PartContentError.detail("the rows of data.age and pseudonyms.age do not match")
        self.row_ids += bytes.fromhex(row_id)
        line = len(self.row_ids) // _ROW_ID_BYTES
        fields = self.profile.fields(record)
        journalnr = (fields.get(self._journal_name) or None) if self._journal_name else None
        tokens = []
        for name in self.profile.id_fields:
            pseudonym, id_class = ids.get(name, ("", "MISSING"))
            tokens.append((name, "" if id_class == "MISSING" else pseudonym_token(id_class, pseudonym)))
        self.checker.feed(Record(line, journalnr, tuple(tokens), record))

    def finish(self):
        if next(self.rows, None) is not None:
            raise PartContentError.detail("pseudonyms.age has rows that data.age does not have")


def check_package(
    package_path,
    reference,
    *,
    ssb_identities,
    tpf_signing_keys,
    unit_keys=None,
    allow_synthetic=True,
    max_per_rule=MAX_PER_RULE,
    progress=None,
):
    """Check the package at ``package_path`` (delivered as ``reference``) and run the control rules over its records;
    a :class:`Reception`. Raises what ``ssb open`` raises for a package that is not intact."""
    sinks = []

    def begin(manifest, seal, profile, pseudonyms, stack):
        header = _Header()
        checker = Checker(
            profile,
            manifest.unit,
            header,
            allow_synthetic=allow_synthetic,
            source=reference,
            max_per_rule=max_per_rule,
            pseudonymized=True,
        )
        sink = _CheckSink(checker, header, profile, pseudonyms)
        sinks.append(sink)
        return sink

    with tempfile.TemporaryDirectory(prefix="sendemodul-ssb-check-") as work:
        manifest, _seal = ssb.read_package(
            package_path,
            work,
            begin,
            ssb_identities=ssb_identities,
            tpf_signing_keys=tpf_signing_keys,
            unit_keys=unit_keys,
            progress=progress,
        )
    sink = sinks[0]
    report = sink.checker.finish()
    return Reception(reference, manifest, package_digest(package_path), report, bytes(sink.row_ids))
