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
import functools
import hashlib
import mmap
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import sendemodul
from sendemodul import glibc_malloc, identity
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
from sendemodul.writeback import WRITEBACK_BYTES, background, pwrite_all, start_writeback

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


#: The values :func:`_keep_block_memory` fixes glibc's thresholds at.
_MMAP_THRESHOLD_BYTES, _TRIM_THRESHOLD_BYTES = 4 << 20, 8 << 20


@functools.cache
def _keep_block_memory():
    """Have glibc's malloc keep the memory of a block's arrays for the next block, instead of giving it back to the
    system and faulting it in again (zeroed) at the next: each block makes and frees arrays of a few hundred KiB.

    glibc raises these thresholds itself after it has freed a mapping of that size, so what it does depended on
    the largest array the code happened to make (an index array of 2.2 MB, before round six); without one, the
    bench's pseudonymizer took 139,000 page faults instead of 20,000 (0.2-0.4 CPU-s). Fixed here at what they
    were: arrays under 4 MiB from the heap, and the heap given back only when 8 MiB at its top are free. The peak
    RSS is unchanged (a freed block's memory is what the next block takes). Nothing where malloc is not glibc's."""
    glibc_malloc.mallopt(
        (glibc_malloc.M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES), (glibc_malloc.M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)
    )


def _seal_json(*, manifest, environment, key_version, recipients, counts, size, sha256, created):
    """The bytes of ``tpf-seal.json``."""
    return canonical_json(
        {
            "format": SEAL_FORMAT,
            "container_id": manifest.container_id,
            "manifest_sha256": manifest.sha256,
            "pseudonym_domain": {"environment": environment, "register": manifest.register},
            "key_version": key_version,
            "records": manifest.records,
            "counts": counts,
            "created": created,
            "producer": f"sendemodul/{sendemodul.__version__}",
            "parts": {"pseudonyms.age": PartInfo(recipients, size, sha256).to_json()},
        }
    )


def _head_size(signature, signature_size, identities_size, **seal_fields):
    """The bytes of the package before pseudonyms.age's content (the members before it and its header), if they
    are known before the identities are read: the seal's only unknowns are its counts and pseudonyms.age's size
    (the time and the digest have a fixed width), and where the smallest and the largest seal they can give take
    as many 512-byte blocks, so does the real one. None where they do not.

    Each count is at most the identities' lines, fewer than their ciphertext's bytes; pseudonyms.age is at most a
    few times that (a pseudonym and a class label a line of at least 27 bytes, and age's overhead)."""
    sizes = set()
    for count, size in ((0, 0), (identities_size, 4 * identities_size + (1 << 24))):
        seal = _seal_json(
            counts={str(c): count for c in identity.IdClass},
            size=size,
            sha256="0" * 64,
            created=utc_timestamp(),
            **seal_fields,
        )
        members = [
            ("manifest.json", seal_fields["manifest"].raw),
            ("manifest.sig", signature),
            ("tpf-seal.json", seal),
            ("tpf-seal.sig", bytes(signature_size)),
            ("pseudonyms.age", (-1, 0, 0)),
        ]
        sizes.add(len(tar_pieces(members)[0]))
    return sizes.pop() if len(sizes) == 1 else None


class _PositionalWriter:
    """Writes what it is given one piece after the other into ``fd`` from ``offset`` (``pwrite``: no buffer, and
    the file's position is left alone); with ``writeback``, the disk is asked to start on each
    :data:`~sendemodul.writeback.WRITEBACK_BYTES` written (by the write-back thread, so that this one never waits
    for it). :meth:`close` before the file is closed."""

    def __init__(self, fd, offset, *, writeback):
        self.fd = fd
        self._offset = self._started = offset
        self._writeback = writeback

    def write(self, data):
        pwrite_all(self.fd, data, self._offset)
        self._offset += len(data)
        if self._writeback and self._offset - self._started >= WRITEBACK_BYTES:
            background.submit(self, self.fd, self._started, self._offset - self._started)
            self._started = self._offset
        return len(data)

    def close(self):
        background.forget(self)


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
    _keep_block_memory()
    out_path = Path(out_path)
    with contextlib.ExitStack() as files:
        source = files.enter_context(open(container_path, "rb"))
        tar = TarReader(source)
        manifest = Manifest.parse(tar.read_member("manifest.json", max_size=MAX_JSON_BYTES, error=ManifestInvalid))
        signature = tar.read_member("manifest.sig", max_size=SIGNATURE_BYTES, error=ManifestUnsigned)
        pseudonymizer = Pseudonymizer(
            master_key, environment=environment, register=manifest.register, version=key_version
        )
        seal_fields = {
            "manifest": manifest,
            "environment": environment,
            "key_version": key_version,
            "recipients": tuple(key.key_id for key in ssb_recipients),
        }
        # The package's temporary file from the start (removed on any failure). Where the members before
        # pseudonyms.age are sure to take the same room whatever the counts and sizes (:func:`_head_size`), the
        # pseudonyms are encrypted straight into their place in it, and the disk writes them while the identities
        # are worked on; else into an anonymous temporary file, copied into the package after.
        out = files.enter_context(atomic_output(out_path))
        head = _head_size(
            signature, len(tpf_signing_key.sign(b"")), manifest.parts["identities.age"].size, **seal_fields
        )
        if head is None:
            pseudonyms_file = files.enter_context(tempfile.TemporaryFile(dir=out_path.parent))
            lines_out = _PositionalWriter(pseudonyms_file.fileno(), 0, writeback=False)
        else:
            lines_out = _PositionalWriter(out.fileno(), head, writeback=True)
        files.callback(lines_out.close)  # before the file is closed, on any way out
        # The pseudonyms lines are encrypted to SSB as they are made: no plaintext on disk, and no encryption pass
        # after the identities.
        lines = PartEncryptor([key.age_recipient() for key in ssb_recipients], lines_out)
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
            _seal_json(
                counts={str(c): n for c, n in pseudonymize.counts.items()},
                size=size,
                sha256=sha256,
                created=utc_timestamp(),
                **seal_fields,
            )
        )
        data_info = manifest.parts["data.age"]
        data = open_part(tar, "data.age", data_info)
        data.skip()
        tar.finish()
        pieces = tar_pieces(
            [
                ("manifest.json", manifest.raw),
                ("manifest.sig", signature),
                ("tpf-seal.json", seal.raw),
                ("tpf-seal.sig", tpf_signing_key.sign(seal.raw)),
                ("pseudonyms.age", (lines_out.fd, head or 0, size)),
                ("data.age", (source.fileno(), data.offset, data.size)),
            ]
        )
        # While the kernel copies and the disk writes, two threads read the page cache: data.age against the
        # manifest's digest, and the package as it will be (what the worker records and SSB's answer repeats). The
        # package is only renamed into place once both are known and data.age's matches; else it is removed.
        with (
            _Digest([(source.fileno(), data.offset, data.size)], "data.age digest") as data_digest,
            _Digest(pieces, "package digest") as package_digest,
        ):
            # The disk starts on each piece as soon as it is copied, so that the fsync at the end waits less.
            if head is None:
                TarWriter(out).write_pieces(pieces, start_writeback)
            else:  # pseudonyms.age is in place already: the rest after it, then the members before it
                if len(pieces[0]) != head:  # cannot happen: _head_size took the largest seal it could be
                    raise AssertionError("the seal took more room than it could")
                out.seek(head + size)
                TarWriter(out).write_pieces(pieces[2:], start_writeback)
                out.seek(0)
                out.write(pieces[0])
            out.flush()
            os.fsync(out.fileno())
            if data_digest.result() != data_info.sha256:
                raise PartDigestMismatch.detail("data.age")
            package_sha256 = package_digest.result()
            if package_sha256 is None:  # cannot happen: both files were checked to be long enough
                raise AssertionError("the package's digest is missing")
    return PackageResult(seal, tuple(pseudonymize.feedback), pseudonymize.feedback_omitted, package_sha256)
