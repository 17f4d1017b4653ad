"""The TPF step: a checked container becomes an SSB package (docs/container.md, "The SSB package").

:func:`make_package` copies ``manifest.json``, ``manifest.sig`` and ``data.age`` byte for byte (checking the digest
of data.age, never decrypting it), decrypts only ``identities.age``, classifies and pseudonymizes each ID as it
streams, and writes ``pseudonyms.age`` (to SSB) with a signed seal binding it to the manifest. No plaintext ID
reaches the disk: the pseudonym lines are encrypted to SSB as they are made, into an anonymous temporary file that
counts only once decryption has succeeded, and on any failure nothing is kept. The worker process supplies keys and
paths; the pseudonyms of each block are made in a child process (:mod:`sendemodul.pseudonym_child`), data.age is
hashed in a thread.
"""

import contextlib
import hashlib
import mmap
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import sendemodul
from sendemodul import identity
from sendemodul.container import (
    MAX_JSON_BYTES,
    SHA256_PATTERN,
    SIGNATURE_BYTES,
    UUID4_PATTERN,
    Manifest,
    PartEncryptor,
    PartInfo,
    PartParser,
    TarReader,
    TarWriter,
    atomic_output,
    canonical_json,
    check_fields,
    decrypt_part,
    is_int,
    is_text,
    is_timestamp,
    open_part,
    parse_canonical_json,
    part_header,
    utc_timestamp,
)
from sendemodul.container.tar import tar_pieces
from sendemodul.errors import ManifestInvalid, ManifestUnsigned, PartContentError, PartDigestMismatch, SealInvalid
from sendemodul.pseudonym import ENVIRONMENT_PATTERN, Pseudonymizer
from sendemodul.pseudonymize import Pseudonymize
from sendemodul.writeback import start_writeback

SEAL_FORMAT = "sendemodul-seal/1"
#: The identities' plaintext is classified and pseudonymized in blocks of about this size (eight age chunks): each
#: block costs a few hundred numpy and list calls whatever its size; 512 KiB is about 5,800 lines of 11F (two per
#: record). 1 MiB saved no CPU that could be measured and cost 10 MiB more peak RSS.
BLOCK_BYTES = 512 * 1024
#: :class:`_Digest` maps (or reads) this much of a file at a time.
DIGEST_WINDOW_BYTES = 1024**2


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
        obj = parse_canonical_json(
            data,
            name="tpf-seal.json",
            expected_format=SEAL_FORMAT,
            not_canonical=SealInvalid,
            unsupported=SealInvalid,
            invalid=SealInvalid,
        )
        classes = {c.value for c in identity.IdClass}
        check_fields(
            obj,
            {
                "format": (lambda v: v == SEAL_FORMAT, SEAL_FORMAT),
                "container_id": (lambda v: is_text(v, UUID4_PATTERN), "a lowercase UUID version 4"),
                "manifest_sha256": (lambda v: is_text(v, SHA256_PATTERN), "64 lowercase hex digits"),
                "pseudonym_domain": (
                    lambda v: (
                        isinstance(v, dict)
                        and v.keys() == {"environment", "register"}
                        and is_text(v["environment"], ENVIRONMENT_PATTERN)
                        and isinstance(v["register"], str)
                    ),
                    "an object with environment and register",
                ),
                "key_version": (lambda v: is_int(v, 1), "a positive integer"),
                "records": (is_int, "a count"),
                "counts": (
                    lambda v: isinstance(v, dict) and v.keys() == classes and all(map(is_int, v.values())),
                    "a count for each ID class",
                ),
                "created": (is_timestamp, "a UTC time like 2026-01-05T09:30:00Z"),
                "producer": (lambda v: isinstance(v, str) and 0 < len(v) <= 100, "a short text"),
                "parts": (
                    lambda v: isinstance(v, dict) and v.keys() == {"pseudonyms.age"},
                    "an object with pseudonyms.age",
                ),
            },
            name="tpf-seal.json",
            error=SealInvalid,
        )
        domain = obj["pseudonym_domain"]
        return cls(
            container_id=obj["container_id"],
            manifest_sha256=obj["manifest_sha256"],
            environment=domain["environment"],
            register=domain["register"],
            key_version=obj["key_version"],
            records=obj["records"],
            counts=obj["counts"],
            created=obj["created"],
            producer=obj["producer"],
            pseudonyms=PartInfo.from_json(
                obj["parts"]["pseudonyms.age"], name="tpf-seal.json pseudonyms.age", error=SealInvalid
            ),
            raw=data,
        )


@dataclass(frozen=True)
class PackageResult:
    seal: Seal
    #: Invalid IDs (MISSING ones excepted: a blank optional field is normal), at most
    #: :data:`~sendemodul.pseudonymize.FEEDBACK_LIMIT` of them.
    feedback: tuple
    #: How many invalid IDs were left out of ``feedback`` because of the limit.
    feedback_omitted: int
    #: The package file's SHA-256 (hex), taken while it was written: what the worker records.
    sha256: str


class _Digest:
    """The SHA-256 of ``pieces`` in order (bytes, and ``(fd, offset, size)`` ranges of files), taken in a thread (a
    context manager: leaving stops and joins it); :meth:`result` is the hex digest, or None if a file is shorter
    than its range. hashlib releases the GIL while it hashes.

    A file some other process could change is read (``preadv`` into a buffer of :data:`DIGEST_WINDOW_BYTES`), never
    mapped: the received container belongs to the front's user, and a file truncated under a mapping faults the
    process that reads it (SIGBUS), so a front could otherwise kill the pseudonymizer at will. Only an anonymous
    temporary file (no link left: no other process can open it) is read through a window mapped at a time, where
    hashlib reads the page cache in place: about 0.85 CPU-s per GB here, against 1.4 read into a buffer; only the
    window counts in the process's RSS."""

    def __init__(self, pieces, name):
        self._pieces = pieces
        self._stop = threading.Event()
        self._digest = None
        self._error = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            digest = hashlib.sha256()
            for piece in self._pieces:
                if not isinstance(piece, tuple):
                    digest.update(piece)
                elif not self._hash_range(digest, *piece):
                    return
            self._digest = digest.hexdigest()
        except Exception as e:  # noqa: BLE001 - handed to the caller by result()
            self._error = e

    def _hash_range(self, digest, fd, offset, size):
        """Hash ``size`` bytes at ``offset`` of ``fd``; False if the file is shorter or the digest was stopped."""
        end = offset + size
        status = os.fstat(fd)
        if status.st_size < end:
            return False
        if status.st_nlink:
            return self._read_range(digest, fd, offset, end)
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        while start < end:
            if self._stop.is_set():
                return False
            length = min(DIGEST_WINDOW_BYTES, end - start)
            with mmap.mmap(fd, length, prot=mmap.PROT_READ, offset=start) as window, memoryview(window) as view:
                digest.update(view[max(offset - start, 0) :])
            start += length
        return True

    def _read_range(self, digest, fd, offset, end):
        """Hash the bytes from ``offset`` to ``end`` of ``fd`` as read; False if the file ends first (another
        process truncated it) or the digest was stopped."""
        buffer = memoryview(bytearray(DIGEST_WINDOW_BYTES))
        while offset < end:
            if self._stop.is_set():
                return False
            n = os.preadv(fd, [buffer[: min(len(buffer), end - offset)]], offset)
            if not n:
                return False
            digest.update(buffer[:n])
            offset += n
        return True

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._digest

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()


def make_package(
    container_path,
    out_path,
    *,
    tpf_identities,
    master_key,
    environment,
    key_version,
    tpf_signing_key,
    ssb_recipients,
    classify=identity.classify_id,
    pseudonym_process=True,
):
    """Turn the container at ``container_path`` into the SSB package at ``out_path`` (written atomically).

    ``tpf_identities`` are pyrage identities that open identities.age, ``master_key`` the pseudonym master key of
    ``environment``, ``tpf_signing_key`` the TPF's Ed25519 private key, ``ssb_recipients`` the SSB keys
    (:class:`~sendemodul.keydir.RecipientKey`) pseudonyms.age is encrypted to. Returns a :class:`PackageResult`.

    With ``pseudonym_process`` the HMACs of the blocks' IDs are computed in a child process
    (:class:`~sendemodul.pseudonym_pipe.PseudonymChild`) while this one does the rest of the block work: the same
    pseudonyms on a second core. Without it, all in this process (the reference the tests hold the child to).
    """
    if not ssb_recipients or any(key.role != "ssb" for key in ssb_recipients):
        raise ValueError("ssb_recipients must be one or more ssb keys")
    out_path = Path(out_path)
    with (
        open(container_path, "rb") as source,
        tempfile.TemporaryFile(dir=out_path.parent) as pseudonyms_file,
    ):
        tar = TarReader(source)
        manifest = Manifest.parse(tar.read_member("manifest.json", max_size=MAX_JSON_BYTES, error=ManifestInvalid))
        signature = tar.read_member("manifest.sig", max_size=SIGNATURE_BYTES, error=ManifestUnsigned)
        pseudonymizer = Pseudonymizer(
            master_key, environment=environment, register=manifest.register, version=key_version
        )
        # The pseudonyms lines are encrypted to SSB as they are made (into an anonymous temporary file, thrown away
        # on any failure): no plaintext on disk, and no encryption pass after the identities.
        lines = PartEncryptor([key.age_recipient() for key in ssb_recipients], pseudonyms_file)
        lines.write(part_header(manifest.container_id, "pseudonyms", manifest.records))
        pseudonymize = Pseudonymize(pseudonymizer, classify, lines)
        with pseudonymizer.child(*pseudonymize.layout[1:]) if pseudonym_process else contextlib.nullcontext() as child:
            pseudonymize.use_child(child)
            parser = PartParser(
                manifest.container_id,
                "identities",
                3,
                pseudonymize,
                one_line_per_row=False,
                on_block=pseudonymize.block,
                block_bytes=BLOCK_BYTES,
            )
            identities = open_part(tar, "identities.age", manifest.parts["identities.age"])
            decrypt_part(identities, tpf_identities, parser, manifest.parts["identities.age"].sha256)
            pseudonymize.finish()
        if parser.records != manifest.records:
            raise PartContentError.detail(f"identities: {parser.records} rows, the manifest says {manifest.records}")
        size, sha256 = lines.close()
        seal = Seal.parse(
            canonical_json(
                {
                    "format": SEAL_FORMAT,
                    "container_id": manifest.container_id,
                    "manifest_sha256": manifest.sha256,
                    "pseudonym_domain": {"environment": environment, "register": manifest.register},
                    "key_version": key_version,
                    "records": manifest.records,
                    "counts": {str(c): n for c, n in pseudonymize.counts.items()},
                    "created": utc_timestamp(),
                    "producer": f"sendemodul/{sendemodul.__version__}",
                    "parts": {
                        "pseudonyms.age": PartInfo(tuple(key.key_id for key in ssb_recipients), size, sha256).to_json()
                    },
                }
            )
        )
        data_info = manifest.parts["data.age"]
        data = open_part(tar, "data.age", data_info)
        data.skip()
        tar.finish()
        pseudonyms_file.flush()
        pieces = tar_pieces(
            [
                ("manifest.json", manifest.raw),
                ("manifest.sig", signature),
                ("tpf-seal.json", seal.raw),
                ("tpf-seal.sig", tpf_signing_key.sign(seal.raw)),
                ("pseudonyms.age", (pseudonyms_file.fileno(), 0, size)),
                ("data.age", (source.fileno(), data.offset, data.size)),
            ]
        )
        # While the kernel copies and the disk writes, two threads read the page cache: data.age against the
        # manifest's digest, and the package as it will be (what the worker records and SSB's answer repeats). The
        # package is only renamed into place once both are known and data.age's matches; else it is removed.
        with (
            _Digest([(source.fileno(), data.offset, data.size)], "data.age digest") as data_digest,
            _Digest(pieces, "package digest") as package_digest,
            atomic_output(out_path) as out,
        ):
            # The disk starts on each piece as soon as it is copied, so that the fsync at the end waits less.
            TarWriter(out).write_pieces(pieces, start_writeback)
            out.flush()
            os.fsync(out.fileno())
            if data_digest.result() != data_info.sha256:
                raise PartDigestMismatch.detail("data.age")
            package_sha256 = package_digest.result()
            if package_sha256 is None:  # cannot happen: both files were checked to be long enough
                raise AssertionError("the package's digest is missing")
    return PackageResult(seal, tuple(pseudonymize.feedback), pseudonymize.feedback_omitted, package_sha256)
