"""The TPF step: a checked container becomes an SSB package (docs/container.md, "The SSB package").

:func:`make_package` copies ``manifest.json``, ``manifest.sig`` and ``data.age`` byte for byte (checking the digest
of data.age, never decrypting it), decrypts only ``identities.age``, classifies and pseudonymizes each ID as it
streams, and writes ``pseudonyms.age`` (to SSB) with a signed seal binding it to the manifest. No plaintext ID
reaches the disk: the pseudonym lines wait in a :class:`~sendemodul.container.SealedSpool` until decryption has
succeeded, and on any failure nothing is kept. Pure: the worker process supplies keys and paths.
"""

import itertools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sendemodul
from sendemodul import identity
from sendemodul.container import (
    ID_TYPE_PATTERN,
    MAX_JSON_BYTES,
    SHA256_PATTERN,
    SIGNATURE_BYTES,
    UUID4_PATTERN,
    Manifest,
    PartInfo,
    PartParser,
    SealedSpool,
    SpoolWriter,
    TarReader,
    TarWriter,
    atomic_output,
    canonical_json,
    check_fields,
    decrypt_part,
    encrypt_part,
    is_int,
    is_text,
    is_timestamp,
    open_part,
    parse_canonical_json,
    part_header,
    utc_timestamp,
)
from sendemodul.errors import ManifestInvalid, ManifestUnsigned, PartContentError, SealInvalid
from sendemodul.pseudonym import ENVIRONMENT_PATTERN, Pseudonymizer, id_kind

SEAL_FORMAT = "sendemodul-seal/1"
PACKAGE_MEMBERS = ("manifest.json", "manifest.sig", "tpf-seal.json", "tpf-seal.sig", "pseudonyms.age", "data.age")
#: At most this many invalid IDs are listed in the feedback of one container; the seal counts all of them.
FEEDBACK_LIMIT = 1000


@dataclass(frozen=True)
class Seal:
    """A parsed, checked ``tpf-seal.json``; ``raw`` is its exact bytes (what ``tpf-seal.sig`` covers)."""

    container_id: str
    manifest_sha256: str
    environment: str
    register: str
    key_version: int
    records: int
    counts: dict
    created: str
    producer: str
    pseudonyms: PartInfo
    raw: bytes

    @classmethod
    def parse(cls, data):
        obj = parse_canonical_json(data, name="tpf-seal.json", expected_format=SEAL_FORMAT, not_canonical=SealInvalid,
                                   unsupported=SealInvalid, invalid=SealInvalid)
        classes = {c.value for c in identity.IdClass}
        check_fields(obj, {
            "format": (lambda v: v == SEAL_FORMAT, SEAL_FORMAT),
            "container_id": (lambda v: is_text(v, UUID4_PATTERN), "a lowercase UUID version 4"),
            "manifest_sha256": (lambda v: is_text(v, SHA256_PATTERN), "64 lowercase hex digits"),
            "pseudonym_domain": (lambda v: isinstance(v, dict) and v.keys() == {"environment", "register"}
                                 and is_text(v["environment"], ENVIRONMENT_PATTERN) and isinstance(v["register"], str),
                                 "an object with environment and register"),
            "key_version": (lambda v: is_int(v, 1), "a positive integer"),
            "records": (is_int, "a count"),
            "counts": (lambda v: isinstance(v, dict) and v.keys() == classes and all(map(is_int, v.values())),
                       "a count for each ID class"),
            "created": (is_timestamp, "a UTC time like 2026-01-05T09:30:00Z"),
            "producer": (lambda v: isinstance(v, str) and 0 < len(v) <= 100, "a short text"),
            "parts": (lambda v: isinstance(v, dict) and v.keys() == {"pseudonyms.age"},
                      "an object with pseudonyms.age"),
        }, name="tpf-seal.json", error=SealInvalid)
        domain = obj["pseudonym_domain"]
        return cls(container_id=obj["container_id"], manifest_sha256=obj["manifest_sha256"],
                   environment=domain["environment"], register=domain["register"], key_version=obj["key_version"],
                   records=obj["records"], counts=obj["counts"], created=obj["created"], producer=obj["producer"],
                   pseudonyms=PartInfo.from_json(obj["parts"]["pseudonyms.age"], name="tpf-seal.json pseudonyms.age",
                                                 error=SealInvalid),
                   raw=data)


@dataclass(frozen=True)
class Feedback:
    """One invalid ID, for the unit: which row and field, and what was wrong. Never the ID itself."""

    row_id: str
    id_type: str
    id_class: identity.IdClass


@dataclass(frozen=True)
class PackageResult:
    seal: Seal
    #: Invalid IDs (MISSING ones excepted: a blank optional field is normal), at most FEEDBACK_LIMIT of them.
    feedback: tuple
    #: How many invalid IDs were left out of ``feedback`` because of the limit.
    feedback_omitted: int


class _Pseudonymize:
    """``on_line`` for the identities part: classify, pseudonymize, count, and write a pseudonyms line."""

    def __init__(self, pseudonymizer, classify, out):
        self._pseudonymizer = pseudonymizer
        self._classify = classify
        self._out = out
        self._kinds = {}
        self.counts = dict.fromkeys(identity.IdClass, 0)
        self.feedback = []
        self.feedback_omitted = 0

    def __call__(self, row_id, id_type, raw_id):
        kind = self._kinds.get(id_type)
        if kind is None:
            if not ID_TYPE_PATTERN.fullmatch(id_type):
                raise PartContentError.detail("identities: an ID field name is not valid")
            kind = self._kinds[id_type] = id_kind(id_type)
        classified = self._classify(raw_id, kind)
        self.counts[classified.id_class] += 1
        if not classified.valid and classified.id_class is not identity.IdClass.MISSING:
            if len(self.feedback) < FEEDBACK_LIMIT:
                self.feedback.append(Feedback(row_id, id_type, classified.id_class))
            else:
                self.feedback_omitted += 1
        self._out.write(f"{row_id}\t{id_type}\t{self._pseudonymizer(classified)}\t{classified.id_class}\n"
                        .encode())


def make_package(container_path, out_path, *, tpf_identities, master_key, environment, key_version,
                 tpf_signing_key, ssb_recipients, classify=identity.classify_id):
    """Turn the container at ``container_path`` into the SSB package at ``out_path`` (written atomically).

    ``tpf_identities`` are pyrage identities that open identities.age, ``master_key`` the pseudonym master key of
    ``environment``, ``tpf_signing_key`` the TPF's Ed25519 private key, ``ssb_recipients`` the SSB keys
    (:class:`~sendemodul.keydir.RecipientKey`) pseudonyms.age is encrypted to. Returns a :class:`PackageResult`.
    """
    if not ssb_recipients or any(key.role != "ssb" for key in ssb_recipients):
        raise ValueError("ssb_recipients must be one or more ssb keys")
    out_path = Path(out_path)
    with (open(container_path, "rb") as source, SealedSpool(out_path.parent) as spool,
          tempfile.TemporaryFile(dir=out_path.parent) as pseudonyms_file):
        tar = TarReader(source)
        manifest = Manifest.parse(tar.read_member("manifest.json", max_size=MAX_JSON_BYTES, error=ManifestInvalid))
        signature = tar.read_member("manifest.sig", max_size=SIGNATURE_BYTES, error=ManifestUnsigned)
        pseudonymizer = Pseudonymizer(master_key, environment=environment, register=manifest.register,
                                      version=key_version)
        lines = SpoolWriter(spool)
        pseudonymize = _Pseudonymize(pseudonymizer, classify, lines)
        parser = PartParser(manifest.container_id, "identities", 3, pseudonymize, one_line_per_row=False)
        identities = open_part(tar, "identities.age", manifest.parts["identities.age"])
        decrypt_part(identities, tpf_identities, parser, manifest.parts["identities.age"].sha256)
        if parser.records != manifest.records:
            raise PartContentError.detail(f"identities: {parser.records} rows, the manifest says {manifest.records}")
        header = part_header(manifest.container_id, "pseudonyms", manifest.records)
        size, sha256 = encrypt_part(itertools.chain([header], lines.blocks()),
                                    [key.age_recipient() for key in ssb_recipients], pseudonyms_file)
        seal = Seal.parse(canonical_json({
            "format": SEAL_FORMAT, "container_id": manifest.container_id, "manifest_sha256": manifest.sha256,
            "pseudonym_domain": {"environment": environment, "register": manifest.register},
            "key_version": key_version, "records": manifest.records,
            "counts": {str(c): n for c, n in pseudonymize.counts.items()}, "created": utc_timestamp(),
            "producer": f"sendemodul/{sendemodul.__version__}",
            "parts": {"pseudonyms.age": PartInfo(tuple(key.key_id for key in ssb_recipients), size, sha256).to_json()},
        }))
        with atomic_output(out_path) as out:
            package = TarWriter(out)
            package.add("manifest.json", manifest.raw)
            package.add("manifest.sig", signature)
            package.add("tpf-seal.json", seal.raw)
            package.add("tpf-seal.sig", tpf_signing_key.sign(seal.raw))
            pseudonyms_file.seek(0)
            package.add_stream("pseudonyms.age", size, pseudonyms_file)
            data = open_part(tar, "data.age", manifest.parts["data.age"])
            package.add_stream("data.age", data.size, data)
            data.finish_digest(manifest.parts["data.age"].sha256)
            tar.finish()
            package.close()
    return PackageResult(seal, tuple(pseudonymize.feedback), pseudonymize.feedback_omitted)
