"""The container ``sendemodul-container/1``: writing it, and the strict building blocks every reader shares.

docs/container.md is the specification; this module is its reference implementation. Pure: no reactor, no sockets;
files only where the caller points (the output and anonymous temporary files beside it).

Writing streams with bounded memory. Rows get random 96-bit row_ids and both parts must be sorted by row_id, which
is a shuffle of the whole extract. It is done as a bucket sort: each row's lines go to one of 256 buckets by the
first byte of its row_id; when the buffered lines reach a budget, every bucket's buffer is sealed (AES-256-GCM under
a key held only in memory) and appended to one anonymous temporary file (:class:`SealedSpool`). Afterwards each
bucket alone is read back, sorted in memory and streamed into age. Memory is the budget (24 MiB) plus about three
times one bucket (1/256 of the extract): no plaintext touches the disk, and a 1 GiB extract needs about 72 MiB RSS.
"""

import contextlib
import hashlib
import itertools
import json
import operator
import os
import re
import secrets
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyrage
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import sendemodul
from sendemodul.errors import (
    ContainerInputError,
    ContainerMembersError,
    ContainerTarError,
    ContainerTrailingData,
    ContainerTruncated,
    FormatUnsupported,
    ManifestInvalid,
    ManifestNotCanonical,
    ManifestUnsigned,
    NoSigningKey,
    PartContentError,
    PartDecryptionFailed,
    PartDigestMismatch,
    PartSizeMismatch,
    SignatureInvalid,
    UsageError,
)
from sendemodul.identity import Unit
from sendemodul.keydir import KEY_ID_PATTERN

FORMAT = "sendemodul-container/1"
REGISTERS = ("IPLOS", "11F", "11CF", "15F")
MEMBERS = ("manifest.json", "manifest.sig", "identities.age", "data.age")
#: Each part and the role of the keys it is encrypted to.
PART_ROLES = {"identities.age": "tpf", "data.age": "ssb"}
MAX_JSON_BYTES = 64 * 1024
SIGNATURE_BYTES = 64
MAX_AGE_HEADER_BYTES = 64 * 1024
BLOCK = 512
#: Readers accept this many zero blocks at the end at most (a writer padding to a 10240-byte record needs 21).
MAX_END_BLOCKS = 22
MAX_MEMBER_BYTES = 8**11 - 1  # the largest size an 11-digit octal size field holds

#: A decrypted line longer than this is refused (a part without line breaks must not fill the memory).
MAX_LINE_BYTES = 16 * 1024**2
HEADER_LINE_PREFIX = "#header\t"

ROW_ID_PATTERN = re.compile(r"[0-9a-f]{24}")
ID_TYPE_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
UUID4_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_CREATED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_TAR_SIZE = re.compile(rb"[0-7]{11}\0")
_KOMMUNENR, _BYDEL, _ORGNR = re.compile(r"\d{4}"), re.compile(r"\d{2}"), re.compile(r"\d{9}")
_PRODUCER = re.compile(r"[\x21-\x7e]{1,100}")
_PART_HEADER = re.compile(r"#sendemodul/1 container_id=(\S+) part=([a-z]+) records=(0|[1-9][0-9]{0,11})")

_BUCKETS = 256
_BUDGET_BYTES = 24 * 1024**2
_COPY_BYTES = 1024**2


# ---------------------------------------------------------------------------------------------------------------------
# Canonical JSON and the manifest


def canonical_json(obj):
    """The canonical encoding: UTF-8, keys sorted, separators ``,`` and ``:``, no escapes beyond JSON's minimum."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def parse_canonical_json(data, *, name, expected_format, not_canonical, unsupported, invalid):
    """Decode a canonical JSON object whose ``format`` must be ``expected_format``.

    ``not_canonical`` is raised when ``data`` is not the canonical encoding of a JSON object, ``unsupported`` for
    another format, ``invalid`` for a missing format.
    """
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise not_canonical.detail(f"{name}: {e}") from None
    if not isinstance(obj, dict):
        raise not_canonical.detail(f"{name} is not a JSON object")
    if "format" not in obj:
        raise invalid.detail(f"{name} has no format")
    if obj["format"] != expected_format:
        raise unsupported.detail(f"{name} says {str(obj['format'])[:40]!r}")
    try:
        canonical = canonical_json(obj)
    except ValueError as e:
        raise not_canonical.detail(f"{name}: {e}") from None
    if canonical != data:
        raise not_canonical.detail(f"{name} differs from its canonical form")
    return obj


def check_fields(obj, checks, *, name, error):
    """Require exactly the keys of ``checks`` in ``obj``, each passing its check ``(predicate, expectation)``."""
    problems = [f"{label} {', '.join(sorted(keys))}" for label, keys in
                (("missing", checks.keys() - obj.keys()), ("unknown", obj.keys() - checks.keys())) if keys]
    if problems:
        raise error.detail(f"{name}: {'; '.join(problems)}")
    for key, (predicate, expectation) in checks.items():
        if not predicate(obj[key]):
            raise error.detail(f"{name}: {key} must be {expectation}")


def is_int(value, low=0, high=None):
    return type(value) is int and value >= low and (high is None or value <= high)


def is_text(value, pattern):
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def is_timestamp(value):
    if not is_text(value, _CREATED):
        return False
    try:
        datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return False
    return True


def utc_timestamp():
    """Now, as the manifest writes it: ``2026-01-05T09:30:00Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class PartInfo:
    """What a manifest (or seal) says about one encrypted part."""

    recipients: tuple[str, ...]
    size: int
    sha256: str

    def to_json(self):
        return {"recipients": list(self.recipients), "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_json(cls, obj, *, name, error):
        if not isinstance(obj, dict):
            raise error.detail(f"{name} must be an object")
        check_fields(obj, {
            "recipients": (lambda v: isinstance(v, list) and 0 < len(v) == len(set(v)) <= 16
                           and all(is_text(k, KEY_ID_PATTERN) for k in v), "a list of distinct key ids"),
            "size": (lambda v: is_int(v, 0, MAX_MEMBER_BYTES), "a size in bytes"),
            "sha256": (lambda v: is_text(v, SHA256_PATTERN), "64 lowercase hex digits"),
        }, name=name, error=error)
        return cls(tuple(obj["recipients"]), obj["size"], obj["sha256"])


_MANIFEST_CHECKS = {
    "format": (lambda v: v == FORMAT, FORMAT),
    "container_id": (lambda v: is_text(v, UUID4_PATTERN), "a lowercase UUID version 4"),
    "register": (lambda v: v in REGISTERS, "one of " + ", ".join(REGISTERS)),
    "periode": (lambda v: is_int(v, 2000, 2099), "a year (2000-2099)"),
    "kommunenr": (lambda v: is_text(v, _KOMMUNENR), "4 digits"),
    "bydel": (lambda v: is_text(v, _BYDEL), "2 digits"),
    "orgnr": (lambda v: is_text(v, _ORGNR), "9 digits"),
    "created": (is_timestamp, "a UTC time like 2026-01-05T09:30:00Z"),
    "producer": (lambda v: is_text(v, _PRODUCER), "1-100 printable ASCII characters without spaces"),
    "records": (lambda v: is_int(v, 0, 10**12 - 1), "a count (0 or more)"),
    "no_participants": (lambda v: isinstance(v, bool), "true or false"),
    "parts": (lambda v: isinstance(v, dict) and v.keys() == PART_ROLES.keys(),
              "an object with exactly " + " and ".join(PART_ROLES)),
}


@dataclass(frozen=True)
class Manifest:
    """A parsed, checked ``manifest.json``; ``raw`` is its exact bytes (what the signature covers)."""

    container_id: str
    register: str
    periode: int
    kommunenr: str
    bydel: str
    orgnr: str
    created: str
    producer: str
    records: int
    no_participants: bool
    parts: dict
    raw: bytes

    @property
    def unit(self):
        return Unit(self.kommunenr, self.bydel, self.orgnr)

    @property
    def sha256(self):
        return hashlib.sha256(self.raw).hexdigest()

    @classmethod
    def parse(cls, data):
        """Check ``data`` (canonical JSON, format, schema) and return the manifest it holds."""
        obj = parse_canonical_json(data, name="manifest.json", expected_format=FORMAT,
                                   not_canonical=ManifestNotCanonical, unsupported=FormatUnsupported,
                                   invalid=ManifestInvalid)
        check_fields(obj, _MANIFEST_CHECKS, name="manifest.json", error=ManifestInvalid)
        if obj["no_participants"] and obj["records"]:
            raise ManifestInvalid.detail("manifest.json: no_participants is true but records is not 0")
        parts = {name: PartInfo.from_json(obj["parts"][name], name=f"manifest.json {name}", error=ManifestInvalid)
                 for name in PART_ROLES}
        return cls(**{key: obj[key] for key in _MANIFEST_CHECKS if key not in ("format", "parts")}, parts=parts,
                   raw=data)


def check_signature(data, signature, public_keys, *, name="manifest.json"):
    """Require ``signature`` (the bytes of a .sig member) to be a valid Ed25519 signature of ``data`` by one key."""
    if not public_keys:
        raise NoSigningKey()
    if len(signature) != SIGNATURE_BYTES:
        raise ManifestUnsigned.detail(f"{name}'s signature has {len(signature)} bytes")
    for key in public_keys:
        try:
            key.verify(signature, data)
            return key
        except InvalidSignature:
            continue
    raise SignatureInvalid.detail(f"tried {len(public_keys)} key(s)")


# ---------------------------------------------------------------------------------------------------------------------
# Tar: one exact header per member, read strictly


def tar_header(name, size):
    """The only header a member may have: ustar, regular file, mode 0644, uid/gid/mtime 0, no owner names."""
    encoded = name.encode("ascii")
    if not 0 < len(encoded) < 100 or not 0 <= size <= MAX_MEMBER_BYTES:
        raise ValueError(f"cannot make a tar header for {name!r} of {size} bytes")
    header = bytearray(BLOCK)
    header[0:len(encoded)] = encoded
    header[100:108] = b"0000644\0"
    header[108:116] = b"0000000\0"
    header[116:124] = b"0000000\0"
    header[124:136] = b"%011o\0" % size
    header[136:148] = b"00000000000\0"
    header[148:156] = b" " * 8
    header[156:157] = b"0"
    header[257:265] = b"ustar\x0000"
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def _parse_header(block, position):
    """``(name, size)`` of a header block that :func:`tar_header` would write; else :class:`ContainerTarError`."""
    name_field, size_field = block[0:100], block[124:136]
    name = name_field.split(b"\0", 1)[0]
    try:
        text = name.decode("ascii")
        size = int(size_field[:11], 8) if _TAR_SIZE.fullmatch(size_field) else -1
        if text and size >= 0 and tar_header(text, size) == bytes(block):
            return text, size
    except (UnicodeDecodeError, ValueError):
        pass
    # Echo the member name only when it is a plain short name: anything else is not a container at all.
    text = name.decode("ascii", "replace")
    shown = repr(text) if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", text) else "unnamed"
    kind = {b"0": "file", b"\0": "file", b"1": "hard link", b"2": "symbolic link", b"5": "directory",
            b"x": "pax extended header", b"g": "pax global header", b"L": "GNU long name"}.get(block[156:157], "entry")
    raise ContainerTarError.detail(f"member {position} ({kind} {shown}) does not have the required header")


class TarReader:
    """Reads the members of a container or package in order from a stream: every header must be exactly
    :func:`tar_header`'s, padding zero, and the archive must end with 2 to 22 zero blocks and nothing else.

    ``progress(n)``, if given, is called with the number of bytes consumed by each read.
    """

    def __init__(self, stream, progress=None):
        self._stream = stream
        self._progress = progress
        self._position = 0
        self._last = None

    def _read(self, n, what):
        chunks, left = [], n
        while left:
            chunk = self._stream.read(left)
            if not chunk:
                raise ContainerTruncated.detail(what)
            chunks.append(chunk)
            left -= len(chunk)
        if self._progress:
            self._progress(n)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _read_some(self, n, what):
        """Up to ``n`` bytes, at least one: what the stream gives in one read, never joined (hashing a member's
        content needs no exact sizes, and an upload arrives in pieces)."""
        chunk = self._stream.read(n)
        if not chunk:
            raise ContainerTruncated.detail(what)
        if self._progress:
            self._progress(len(chunk))
        return chunk

    def member(self, name):
        """The next member, which must be called ``name``, as a :class:`MemberReader`."""
        after = f"after {self._last}" if self._last else "at the start"
        block = self._read(BLOCK, f"{name} is missing")
        if not any(block):
            raise ContainerMembersError.detail(f"{name} is missing")
        self._position += 1
        found, size = _parse_header(block, self._position)
        if found != name:
            raise ContainerMembersError.detail(f"expected {name} {after}, found {found}")
        self._last = name
        return MemberReader(self, name, size)

    def read_member(self, name, *, max_size, error):
        """The whole content of the next member ``name``; ``error`` if it is larger than ``max_size`` bytes."""
        member = self.member(name)
        if member.size > max_size:
            raise error.detail(f"{name} has {member.size} bytes; at most {max_size} are allowed")
        data = member.read(member.size)
        member.finish()
        return data

    def finish(self):
        """Check that the archive ends after the last member: only zero blocks, at least two, at most 22."""
        block = self._read(BLOCK, "the end-of-archive marker is missing")
        if any(block):
            try:
                found, _ = _parse_header(block, self._position + 1)
            except ContainerTarError:
                raise ContainerTrailingData.detail(f"after {self._last}") from None
            raise ContainerMembersError.detail(f"unexpected member {found} after {self._last}")
        self._read(BLOCK, "the end-of-archive marker is cut off")
        for _ in range(MAX_END_BLOCKS - 1):
            rest = self._stream.read(BLOCK)
            while rest and len(rest) < BLOCK and (more := self._stream.read(BLOCK - len(rest))):
                rest += more
            if not rest:
                return
            if len(rest) < BLOCK or any(rest):
                break
        raise ContainerTrailingData.detail("after the end of the archive")


class MemberReader:
    """One member's content as a binary stream (``read``), hashed as it is read; :meth:`finish` drains the rest,
    checks the padding and returns the SHA-256 hex digest of the whole content. Records the first error it raised
    in ``error`` (pyrage replaces a reader's exceptions with its own)."""

    def __init__(self, tar, name, size):
        self._tar = tar
        self.name = name
        self.size = size
        self._left = size
        self._hash = hashlib.sha256()
        self.error = None

    def read(self, n=-1):
        n = self._left if n is None or n < 0 else min(n, self._left)
        if not n:
            return b""
        try:
            data = self._tar._read(n, f"{self.name} is cut off")
        except ContainerTruncated as e:
            self.error = self.error or e
            raise
        self._hash.update(data)
        self._left -= n
        return data

    def finish(self):
        while self._left:
            try:
                data = self._tar._read_some(min(self._left, _COPY_BYTES), f"{self.name} is cut off")
            except ContainerTruncated as e:
                self.error = self.error or e
                raise
            self._hash.update(data)
            self._left -= len(data)
        padding = self._tar._read(-self.size % BLOCK, f"{self.name} is cut off")
        if any(padding):
            raise ContainerTarError.detail(f"the padding after {self.name} is not zero")
        return self._hash.hexdigest()

    def finish_digest(self, expected):
        """:meth:`finish`, then :class:`PartDigestMismatch` unless the digest is ``expected``."""
        if self.finish() != expected:
            raise PartDigestMismatch.detail(self.name)


def open_part(tar, name, info):
    """The next member, the part ``name``, whose size must be the one ``info`` (a :class:`PartInfo`) states."""
    member = tar.member(name)
    if member.size != info.size:
        raise PartSizeMismatch.detail(f"{name} has {member.size} bytes, {info.size} are stated")
    return member


class TarWriter:
    """Writes members with :func:`tar_header` headers to a binary file, then :meth:`close` ends the archive."""

    def __init__(self, out):
        self._out = out

    def add(self, name, data):
        self._out.write(tar_header(name, len(data)))
        self._out.write(data)
        self._out.write(bytes(-len(data) % BLOCK))

    def add_stream(self, name, size, source):
        """A member of ``size`` bytes read from ``source`` (a file positioned at its start or a MemberReader)."""
        self._out.write(tar_header(name, size))
        left = size
        while left:
            chunk = source.read(min(left, _COPY_BYTES))
            if not chunk:
                raise ValueError(f"{name}: the source ended {left} bytes early")
            self._out.write(chunk)
            left -= len(chunk)
        self._out.write(bytes(-size % BLOCK))

    def close(self):
        self._out.write(bytes(2 * BLOCK))


@contextlib.contextmanager
def atomic_output(path):
    """A binary file that appears at ``path`` (replacing it) only when the block succeeds: temporary file in the
    same directory, fsync, rename, fsync of the directory. On an exception the temporary file is removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# ---------------------------------------------------------------------------------------------------------------------
# age parts: plaintext grammar, streaming encryption and decryption


def part_header(container_id, part, records):
    """The first plaintext line of a part: ``#sendemodul/1 container_id=<id> part=<part> records=<n>``."""
    return f"#sendemodul/1 container_id={container_id} part={part} records={records}\n".encode("ascii")


def count_x25519_stanzas(head, name):
    """How many ``X25519`` recipient stanzas the age v1 header at the start of ``head`` has.

    Stanzas whose type ends in ``-grease`` (random padding that rage adds) are ignored; any other stanza type (scrypt,
    ssh-ed25519, plugins) would let someone else decrypt the part and is refused.
    """
    end = head.find(b"\n--- ")
    if not head.startswith(b"age-encryption.org/v1\n") or end < 0:
        raise PartContentError.detail(f"{name} does not start with an age v1 header")
    count = 0
    for line in head[:end].split(b"\n")[1:]:
        if line.startswith(b"-> "):
            kind = line[3:].split(b" ", 1)[0]
            if kind == b"X25519":
                count += 1
            elif not kind.endswith(b"-grease"):
                raise PartContentError.detail(f"{name} has a {kind.decode('ascii', 'replace')[:40]} recipient stanza")
    return count


class _HashingWriter:
    """A writer for pyrage that writes to ``out`` and counts and hashes what passes; records its first error."""

    def __init__(self, out):
        self._out = out
        self._hash = hashlib.sha256()
        self.size = 0
        self.error = None

    def write(self, data):
        try:
            self._out.write(data)
        except Exception as e:
            self.error = e
            raise
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    @property
    def sha256(self):
        return self._hash.hexdigest()


class _BlocksReader:
    """A reader for pyrage over an iterable of byte blocks; records the first error the iterable raised."""

    def __init__(self, blocks):
        self._blocks = iter(blocks)
        self._buffer = memoryview(b"")
        self.error = None

    def read(self, n=-1):
        try:
            while not self._buffer:
                block = next(self._blocks, None)
                if block is None:
                    return b""
                self._buffer = memoryview(block)
        except Exception as e:
            self.error = e
            raise
        n = len(self._buffer) if n is None or n < 0 else n
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return bytes(data)


def encrypt_part(blocks, recipients, out):
    """Encrypt the concatenation of ``blocks`` to the age ``recipients`` into ``out``; returns ``(size, sha256)``."""
    reader, writer = _BlocksReader(blocks), _HashingWriter(out)
    try:
        pyrage.encrypt_io(reader, writer, recipients)
    except pyrage.EncryptError:
        for own in (reader.error, writer.error):
            if own is not None:
                raise own from None
        raise
    return writer.size, writer.sha256


def decrypt_part(member, identities, parser, sha256):
    """Decrypt ``member`` (a :class:`MemberReader`) with ``identities`` into ``parser`` (a :class:`PartParser`), then
    check the member's digest against ``sha256`` and the parser's row count.

    Nothing the parser saw may be trusted unless this returns: pyrage emits plaintext before it detects a truncated
    or altered part. A failed decryption is :class:`PartDigestMismatch` if the part is not the one its manifest
    names, else :class:`PartDecryptionFailed`; the reader's and the parser's own errors pass through unchanged.
    """
    try:
        pyrage.decrypt_io(member, parser, identities)
    except Exception as e:
        for own in (member.error, parser.error):
            if own is not None:
                raise own from None
        if not isinstance(e, (pyrage.DecryptError, OSError)):
            raise
        member.finish_digest(sha256)
        raise PartDecryptionFailed.detail(member.name) from None
    member.finish_digest(sha256)
    parser.close()


class PartParser:
    """A writer for ``pyrage.decrypt_io`` that checks a part's plaintext as it streams and hands on its lines.

    The first line must be the part header for ``container_id`` and ``part``; in the data part ``#header<TAB>``
    lines may follow. Every other line is split at its first ``fields - 1`` TABs and passed to ``on_line(*values)``;
    its first value must be a row_id, in order: strictly increasing if ``one_line_per_row``, else non-decreasing
    (several lines per row). :meth:`close` checks that the last line ended and that the rows counted match the
    header's ``records``, which is then ``self.records``. Records the first error it raised in ``error``.

    ``on_block(block)``, if given, replaces ``on_line`` for the rows checked in bulk: ``block`` is the bytes of whole
    lines (each ended by its line break), each already checked as above, and valid UTF-8. Blocks of plain rows in
    order are checked with a few C-level passes (row_ids sliced out and joined, TABs counted, row_ids compared
    pairwise); any other block is read line by line, with the same results.
    """

    def __init__(self, container_id, part, fields, on_line, *, one_line_per_row, on_header_line=None,
                 on_block=None):
        self._container_id = container_id
        self._part = part
        self._fields = fields
        self._on_line = on_line
        self._one_line_per_row = one_line_per_row
        self._on_header_line = on_header_line
        self._on_block = on_block
        self._in_order = operator.lt if one_line_per_row else operator.le
        self._tail = b""
        self._previous = None
        self._rows = 0
        self.records = None
        self.error = None

    def _bad(self, problem):
        return PartContentError.detail(f"{self._part}: {problem}")

    def write(self, chunk):
        try:
            data = self._tail + chunk if self._tail else bytes(chunk)
            end = data.rfind(b"\n") + 1
            self._tail = data[end:]
            if len(self._tail) > MAX_LINE_BYTES:
                raise self._bad(f"a line is longer than {MAX_LINE_BYTES} bytes")
            if end:
                self._block(data[:end] if end < len(data) else data)
        except Exception as e:
            self.error = e
            raise
        return len(chunk)

    def _block(self, block):
        """The complete lines in ``block`` (which ends with a line break): all at once where they are plain rows in
        order, else line by line (:meth:`_line`), which gives the same results and says what is wrong."""
        start = 0
        while self.records is None or (self._on_header_line is not None and self._previous is None):
            end = block.find(b"\n", start)
            if end < 0:
                return
            self._line(block[start:end])
            start = end + 1
        if start:
            block = block[start:]
        if not block:
            return
        lines = block.split(b"\n")
        lines.pop()
        row_ids = list(map(_ROW_ID_OF, lines))
        # Each line: a row_id (24 lowercase hex digits), a TAB, and at least fields - 2 more TABs; valid UTF-8.
        joined = b"".join(row_ids)
        if (len(joined) != 24 * len(lines) or joined.translate(None, b"0123456789abcdef")
                or b"".join(map(_AFTER_ROW_ID, lines)) != b"\t" * len(lines)
                or self._fields > 2 and min(map(bytes.count, lines, itertools.repeat(b"\t"))) < self._fields - 1
                or not block.isascii() and not _is_utf8(block)):
            self._lines_one_by_one(block)
            return
        previous = self._previous
        if previous is not None:
            row_ids.insert(0, previous.encode("ascii"))
        if not all(map(self._in_order, row_ids, itertools.islice(row_ids, 1, None))):
            self._lines_one_by_one(block)
            return
        self._rows += sum(map(operator.ne, row_ids, itertools.islice(row_ids, 1, None))) + (previous is None)
        self._previous = row_ids[-1].decode("ascii")
        if self._on_block is not None:
            self._on_block(block)
        else:
            on_line, fields = self._on_line, self._fields - 1
            for line in lines:
                on_line(*line.decode("utf-8").split("\t", fields))

    def _lines_one_by_one(self, block):
        lines = block.split(b"\n")
        lines.pop()
        for line in lines:
            self._line(line)

    def _line(self, raw):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self._bad(f"line {self._rows + 1} after the header is not UTF-8") from None
        if self.records is None:
            self._header(line)
            return
        if line.startswith(HEADER_LINE_PREFIX) and self._on_header_line and self._previous is None:
            self._on_header_line(line[len(HEADER_LINE_PREFIX):])
            return
        values = line.split("\t", self._fields - 1)
        row_id = values[0]
        if len(values) != self._fields or not ROW_ID_PATTERN.fullmatch(row_id):
            raise self._bad(f"a line is not {self._fields} TAB-separated fields starting with a row_id")
        previous = self._previous
        if previous is None or row_id > previous:
            self._rows += 1
            self._previous = row_id
        elif row_id < previous or self._one_line_per_row:
            raise self._bad("rows are not sorted by row_id, or a row_id repeats")
        self._on_line(*values)

    def _header(self, line):
        match = _PART_HEADER.fullmatch(line)
        if not match:
            raise self._bad("the first line is not a '#sendemodul/1 container_id=... part=... records=...' header")
        container_id, part, records = match.groups()
        if container_id != self._container_id or part != self._part:
            raise self._bad(f"the part belongs to another container or part ({part})")
        self.records = int(records)

    def close(self):
        if self.records is None or self._tail:
            raise self._bad("the part ends in the middle of a line")
        if self._rows != self.records:
            raise self._bad(f"it has {self._rows} rows but its header says {self.records}")


_ROW_ID_OF = operator.itemgetter(slice(0, 24))
_AFTER_ROW_ID = operator.itemgetter(slice(24, 25))


def _is_utf8(data):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# ---------------------------------------------------------------------------------------------------------------------
# Plaintext that must not reach the disk


class SealedSpool:
    """Temporary storage for plaintext that must never reach the disk in the clear.

    :meth:`put` seals a chunk with AES-256-GCM under a random key that exists only in this object (nonce: a chunk
    counter) and appends it to an anonymous temporary file, returning a handle; :meth:`get` reads a chunk back and
    checks it. The file has no name and disappears on :meth:`close` (or when the process ends).
    """

    def __init__(self, directory=None):
        self._file = tempfile.TemporaryFile(dir=directory)
        self._aead = AESGCM(AESGCM.generate_key(bit_length=256))
        self._end = 0
        self._count = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._file.close()

    def put(self, data):
        nonce = self._count.to_bytes(12, "big")
        self._count += 1
        sealed = self._aead.encrypt(nonce, data, None)
        view, offset = memoryview(sealed), self._end
        while view:
            written = os.pwrite(self._file.fileno(), view, offset)
            view, offset = view[written:], offset + written
        handle = (self._end, len(sealed), nonce)
        self._end += len(sealed)
        return handle

    def get(self, handle):
        offset, length, nonce = handle
        return self._aead.decrypt(nonce, os.pread(self._file.fileno(), length, offset), None)


class SpoolWriter:
    """Buffers lines and seals them into a :class:`SealedSpool` in chunks; :meth:`blocks` reads them back in order."""

    def __init__(self, spool, chunk_bytes=1024**2):
        self._spool = spool
        self._chunk_bytes = chunk_bytes
        self._buffer = bytearray()
        self._handles = []

    def write(self, data):
        self._buffer += data
        if len(self._buffer) >= self._chunk_bytes:
            self._handles.append(self._spool.put(self._buffer))
            self._buffer = bytearray()

    def blocks(self):
        if self._buffer:
            self._handles.append(self._spool.put(self._buffer))
            self._buffer = bytearray()
        for handle in self._handles:
            yield self._spool.get(handle)


class _Shuffle:
    """The rows' identities and data lines, sorted by row_id with bounded memory (see the module's docstring).

    The ID lines of one row are joined with NUL (which no ID may contain) while they wait, so that every entry is one
    line starting with a unique row_id and a plain sort orders both kinds; the NULs become line breaks on the way out.
    """

    def __init__(self, spool):
        self._spool = spool
        self._ids = [bytearray() for _ in range(_BUCKETS)]
        self._data = [bytearray() for _ in range(_BUCKETS)]
        self._handles = {"ids": [[] for _ in range(_BUCKETS)], "data": [[] for _ in range(_BUCKETS)]}

    def add_rows(self, rows, progress):
        """Give each row a row_id and buffer its lines; returns the number of rows."""
        ids_buffers, data_buffers = self._ids, self._data
        known_types = set()
        buffered = count = 0
        for (ids, record), (bucket, row_id) in zip(rows, itertools.chain.from_iterable(_row_ids())):
            count += 1
            for id_type, value in ids:
                if id_type not in known_types:
                    if not is_text(id_type, ID_TYPE_PATTERN):
                        raise ContainerInputError(f"row {count}: {id_type!r} is not a valid ID field name")
                    known_types.add(id_type)
                if "\t" in value or "\n" in value or "\r" in value or "\0" in value:
                    raise ContainerInputError(f"row {count}: the {id_type} field contains a TAB or line break")
            if not ids:
                raise ContainerInputError(f"row {count} has no ID field")
            if "\n" in record or "\r" in record:
                raise ContainerInputError(f"row {count}: the record contains a line break")
            entry = "\0".join([f"{row_id}\t{id_type}\t{value}" for id_type, value in ids]).encode() + b"\n"
            ids_buffers[bucket] += entry
            line = f"{row_id}\t{record}\n".encode()
            data_buffers[bucket] += line
            buffered += len(entry) + len(line)
            if buffered >= _BUDGET_BYTES:
                self._flush()
                buffered = 0
            if progress and not count % 4096:
                progress(4096)
        if progress and count % 4096:
            progress(count % 4096)
        self._flush()
        return count

    def _flush(self):
        for kind, buffers in (("ids", self._ids), ("data", self._data)):
            for bucket, buffer in enumerate(buffers):
                if buffer:
                    self._handles[kind][bucket].append(self._spool.put(buffer))
                    buffers[bucket] = bytearray()

    def sorted_blocks(self, kind):
        """The ``"ids"`` or ``"data"`` lines in row_id order, one block per bucket."""
        for handles in self._handles[kind]:
            lines = b"".join(self._spool.get(handle) for handle in handles).split(b"\n")
            handles.clear()
            lines.pop()
            lines.sort()
            lines.append(b"")
            block = b"\n".join(lines)
            yield block.replace(b"\0", b"\n") if kind == "ids" else block


def _row_ids():
    """Batches of ``(bucket, row_id)``: a random 96-bit row_id in hex and its first byte (its bucket)."""
    while True:
        pool = secrets.token_bytes(12 * 4096)
        hex_pool = pool.hex()
        yield zip(pool[::12], [hex_pool[start:start + 24] for start in range(0, len(hex_pool), 24)])


def _check_recipients(keys, role):
    if not keys or any(key.role != role for key in keys):
        raise ValueError(f"expected one or more {role} keys, got {[key.key_id for key in keys]}")
    return [key.age_recipient() for key in keys], [key.key_id for key in keys]


def write_container(out_path, *, unit, register, periode, signing_key, tpf_recipients, ssb_recipients, rows,
                    header_lines=(), no_participants=False, progress=None):
    """Write a container to ``out_path`` (atomically) and return its :class:`Manifest`.

    ``rows`` yields ``(ids, record)``: ``ids`` a sequence of ``(id_type, value)`` (the profile's ID field names and
    the raw values, blank ones included), ``record`` the extract's line with the ID fields blanked. ``header_lines``
    are document-level lines that travel in the data part as ``#header<TAB>line``. ``progress(n)``, if given, is
    called with the number of rows consumed since its previous call.
    """
    if register not in REGISTERS:
        raise UsageError(f"the register must be one of {', '.join(REGISTERS)}, not {register!r}")
    if not is_int(periode, 2000, 2099):
        raise UsageError(f"the periode must be a year 2000-2099, not {periode!r}")
    tpf_keys, tpf_ids = _check_recipients(tpf_recipients, "tpf")
    ssb_keys, ssb_ids = _check_recipients(ssb_recipients, "ssb")
    header_lines = list(header_lines)
    if any("\n" in line or "\r" in line for line in header_lines):
        raise ContainerInputError("a header line contains a line break")
    out_path = Path(out_path)
    directory = out_path.parent
    container_id = str(uuid.uuid4())
    with (SealedSpool(directory) as spool, tempfile.TemporaryFile(dir=directory) as identities_file,
          tempfile.TemporaryFile(dir=directory) as data_file):
        shuffle = _Shuffle(spool)
        records = shuffle.add_rows(rows, progress)
        if no_participants and records:
            raise ContainerInputError(f"'no participants' was given, but there are {records} rows")
        identities = encrypt_part(
            itertools.chain([part_header(container_id, "identities", records)], shuffle.sorted_blocks("ids")),
            tpf_keys, identities_file)
        data_header = part_header(container_id, "data", records) + "".join(
            f"{HEADER_LINE_PREFIX}{line}\n" for line in header_lines).encode("utf-8")
        data = encrypt_part(itertools.chain([data_header], shuffle.sorted_blocks("data")), ssb_keys, data_file)
        manifest = Manifest.parse(canonical_json({
            "format": FORMAT, "container_id": container_id, "register": register, "periode": periode,
            "kommunenr": unit.kommunenr, "bydel": unit.bydel, "orgnr": unit.orgnr, "created": utc_timestamp(),
            "producer": f"sendemodul/{sendemodul.__version__}", "records": records,
            "no_participants": bool(no_participants),
            "parts": {"identities.age": PartInfo(tuple(tpf_ids), *identities).to_json(),
                      "data.age": PartInfo(tuple(ssb_ids), *data).to_json()},
        }))
        with atomic_output(out_path) as out:
            tar = TarWriter(out)
            tar.add("manifest.json", manifest.raw)
            tar.add("manifest.sig", signing_key.sign(manifest.raw))
            for name, part_file in (("identities.age", identities_file), ("data.age", data_file)):
                part_file.seek(0)
                tar.add_stream(name, manifest.parts[name].size, part_file)
            tar.close()
    return manifest
