"""SSB's side: open an SSB package (``sendemodul ssb open``).

Checks the package (tar shape, manifest, the TPF seal and its signature, the binding of seal to manifest, both part
digests; the unit's manifest signature too when its key is given), decrypts ``pseudonyms.age`` into a
:class:`~sendemodul.container.SealedTempFile`, then decrypts ``data.age`` and joins the two by row_id as they stream
(both are sorted by row_id). The outputs are written to temporary files in the output directory and renamed only when
everything has been decrypted and checked, so a failure leaves no plaintext behind. Never needs the TPF's private key.
"""

import contextlib
import csv
import itertools
import operator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sendemodul.container import (
    ID_TYPE_PATTERN,
    MAX_JSON_BYTES,
    SIGNATURE_BYTES,
    Manifest,
    PartParser,
    SealedStream,
    SealedTempFile,
    TarReader,
    atomic_output,
    check_signature,
    decrypt_part,
    open_part,
)
from sendemodul.errors import (
    AlreadyExists,
    ManifestInvalid,
    ManifestUnsigned,
    PartContentError,
    SealInvalid,
    SealSignatureInvalid,
    SignatureInvalid,
)
from sendemodul.identity import IdClass
from sendemodul.package import Seal
from sendemodul.profiles import load_profile
from sendemodul.pseudonym import PSEUDONYM_PATTERN

CSV_NAME = "records.csv"
_CLASSES = frozenset(c.value for c in IdClass)


@dataclass(frozen=True)
class Opened:
    """What :func:`open_package` wrote."""

    manifest: Manifest
    seal: Seal
    csv_path: Path
    dat_path: Path


def open_package(package_path, out_dir, *, ssb_identities, tpf_signing_keys, unit_keys=None, progress=None):
    """Check and open the package at ``package_path`` into ``out_dir`` (which must exist); returns :class:`Opened`.

    ``ssb_identities`` are pyrage identities that open the SSB parts; ``tpf_signing_keys`` the ``tpf-signing``
    :class:`~sendemodul.keydir.RecipientKey` objects the seal may be signed with (each only on the dates it is
    valid); ``unit_keys``, if given, the unit's Ed25519 public keys to check ``manifest.sig`` with.
    ``progress(n)`` is called with the number of package bytes read by each read.
    """
    paths = {}

    def begin(manifest, seal, profile, pseudonyms, stack):
        csv_path, dat_path = Path(out_dir) / CSV_NAME, Path(out_dir) / f"{manifest.register}-{manifest.periode}.dat"
        for path in (csv_path, dat_path):
            if path.exists():
                raise AlreadyExists(f"{path} already exists; not overwriting it")
        paths.update(csv=csv_path, dat=dat_path)
        csv_file = stack.enter_context(atomic_output(csv_path))
        dat_file = stack.enter_context(atomic_output(dat_path))
        return _Join(profile, pseudonyms, csv_file, dat_file)

    manifest, seal = read_package(
        package_path,
        out_dir,
        begin,
        ssb_identities=ssb_identities,
        tpf_signing_keys=tpf_signing_keys,
        unit_keys=unit_keys,
        progress=progress,
    )
    return Opened(manifest, seal, paths["csv"], paths["dat"])


def read_package(package_path, work_dir, begin, *, ssb_identities, tpf_signing_keys, unit_keys=None, progress=None):
    """Check a package and stream its records, joined with their pseudonyms, into a sink; ``(manifest, seal)``.

    ``begin(manifest, seal, profile, pseudonyms, stack)`` is called once the seal and the pseudonyms part have been
    checked and returns the sink: ``header_line(line)`` for each header line of the data part, ``add(row_id,
    record)`` for each record in row_id order (``pseudonyms.rows()`` gives each row's pseudonyms in the same order),
    ``finish()`` at the end. Context managers the sink needs go on ``stack`` (an ExitStack that is left with the
    error if anything fails). The pseudonyms wait sealed in an anonymous file in ``work_dir``.
    """
    with open(package_path, "rb") as source, SealedTempFile(work_dir) as sealed:
        tar = TarReader(source, progress)
        manifest = Manifest.parse(tar.read_member("manifest.json", max_size=MAX_JSON_BYTES, error=ManifestInvalid))
        signature = tar.read_member("manifest.sig", max_size=SIGNATURE_BYTES, error=ManifestUnsigned)
        if unit_keys is not None:
            check_signature(manifest.raw, signature, unit_keys)
        seal = Seal.parse(tar.read_member("tpf-seal.json", max_size=MAX_JSON_BYTES, error=SealInvalid))
        _check_seal(
            seal,
            tar.read_member("tpf-seal.sig", max_size=SIGNATURE_BYTES, error=SealSignatureInvalid),
            manifest,
            tpf_signing_keys,
        )
        profile = load_profile(manifest.register, manifest.periode)

        pseudonyms = _Pseudonyms(SealedStream(sealed))
        parser = PartParser(manifest.container_id, "pseudonyms", 4, pseudonyms.add, one_line_per_row=False)
        member = open_part(tar, "pseudonyms.age", seal.pseudonyms)
        decrypt_part(member, ssb_identities, parser, seal.pseudonyms.sha256)
        if parser.records != manifest.records:
            raise PartContentError.detail(f"pseudonyms: {parser.records} rows, the manifest says {manifest.records}")

        with contextlib.ExitStack() as stack:
            sink = begin(manifest, seal, profile, pseudonyms, stack)
            parser = PartParser(
                manifest.container_id, "data", 2, sink.add, one_line_per_row=True, on_header_line=sink.header_line
            )
            member = open_part(tar, "data.age", manifest.parts["data.age"])
            decrypt_part(member, ssb_identities, parser, manifest.parts["data.age"].sha256)
            sink.finish()
            tar.finish()
    return manifest, seal


def _check_seal(seal, signature, manifest, tpf_signing_keys):
    """The seal must be signed by a TPF signing key valid on the seal's date and bind this manifest."""
    signed_on = date.fromisoformat(seal.created[:10])
    keys = [key.signing_key() for key in tpf_signing_keys if key.role == "tpf-signing" and key.valid_on(signed_on)]
    if not keys:
        raise SealSignatureInvalid.detail(f"no TPF signing key is valid on {signed_on}")
    try:
        check_signature(seal.raw, signature, keys, name="tpf-seal.json")
    except (SignatureInvalid, ManifestUnsigned):
        raise SealSignatureInvalid.detail(f"tried {len(keys)} key(s)") from None
    expected = {
        "manifest_sha256": manifest.sha256,
        "container_id": manifest.container_id,
        "register": manifest.register,
        "records": manifest.records,
    }
    for name, value in expected.items():
        if getattr(seal, name) != value:
            raise SealInvalid.detail(f"its {name} does not match the manifest")


class _Pseudonyms:
    """``on_line`` for the pseudonyms part: checks each line and keeps it sealed; :meth:`rows` reads them back."""

    def __init__(self, out):
        self._out = out
        #: The ID fields in the order first seen.
        self.id_types = {}

    def add(self, row_id, id_type, pseudonym, id_class):
        if (
            id_class not in _CLASSES
            or not ID_TYPE_PATTERN.fullmatch(id_type)
            or (pseudonym and not PSEUDONYM_PATTERN.fullmatch(pseudonym))
        ):
            raise PartContentError.detail("pseudonyms: a line is not row_id, ID field, pseudonym, class")
        self.id_types.setdefault(id_type, None)
        self._out.write(f"{row_id}\t{id_type}\t{pseudonym}\t{id_class}\n".encode())

    def rows(self):
        """``(row_id, {id_type: (pseudonym, class)})`` per row, in row_id order."""
        lines = (line.split("\t") for block in self._out.blocks() for line in block.decode("utf-8").splitlines())
        for row_id, group in itertools.groupby(lines, key=lambda fields: fields[0]):
            yield row_id, {id_type: (pseudonym, id_class) for _, id_type, pseudonym, id_class in group}


class _TextOut:
    """A text writer for ``csv`` over a binary file (no TextIOWrapper that could outlive the file)."""

    def __init__(self, out, encoding):
        self._out = out
        self._encoding = encoding

    def write(self, text):
        self._out.write(text.encode(self._encoding))


class _Join:
    """``on_line`` for the data part: joins each record with its row's pseudonyms and writes both outputs.

    ``records.csv`` (UTF-8): ``row_id``, then ``<ID field>_pseudonym`` and ``<ID field>_class`` per ID field, then
    the record's other fields as the register's profile names them. The ``.dat`` file: the records as they came (ID
    fields blank), one a line, in the profile's encoding; for an XML register inside the root element, after the
    header lines.
    """

    def __init__(self, profile, pseudonyms, csv_file, dat_file):
        self._profile = profile
        self._id_types = list(dict.fromkeys([*profile.id_fields, *pseudonyms.id_types]))
        self._fields = [name for name in profile.field_names if name not in self._id_types]
        self._field_values = operator.itemgetter(*self._fields)
        self._rows = pseudonyms.rows()
        self._dat = _TextOut(dat_file, profile.encoding)
        self._csv = csv.writer(_TextOut(csv_file, "utf-8"), lineterminator="\n")
        self._csv.writerow(
            [
                "row_id",
                *itertools.chain.from_iterable((f"{name}_pseudonym", f"{name}_class") for name in self._id_types),
                *self._fields,
            ]
        )
        self._root = profile.root if profile.kind == "xml" else None
        if self._root:
            self._dat.write(f"<{self._root}>\n")

    def header_line(self, line):
        self._dat.write(line + "\n")

    def add(self, row_id, record):
        found_id, ids = next(self._rows, (None, None))
        if found_id != row_id:
            raise PartContentError.detail("the rows of data.age and pseudonyms.age do not match")
        self._csv.writerow(
            [
                row_id,
                *itertools.chain.from_iterable(ids.get(name, ("", "")) for name in self._id_types),
                *self._field_values(self._profile.fields(record)),
            ]
        )
        self._dat.write(record + "\n")

    def finish(self):
        if next(self._rows, None) is not None:
            raise PartContentError.detail("pseudonyms.age has rows that data.age does not have")
        if self._root:
            self._dat.write(f"</{self._root}>\n")
