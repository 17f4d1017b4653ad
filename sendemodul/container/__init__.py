"""The container ``sendemodul-container/1``: writing it, and the strict building blocks every reader shares.

docs/container.md is the specification; this package is its reference implementation. Pure: no reactor, no sockets;
files only where the caller points (the output and anonymous temporary files beside it).

- :mod:`~sendemodul.container.canonical_json`: canonical JSON and the field checks the manifest and the seal share;
- :mod:`~sendemodul.container.manifest`: ``manifest.json`` (:class:`Manifest`, :class:`PartInfo`) and its signature;
- :mod:`~sendemodul.container.tar`: the exact tar headers, :class:`TarReader` / :class:`MemberReader`,
  :class:`TarWriter`;
- :mod:`~sendemodul.container.parts`: the age parts: encryption, decryption with the digest checked, stanzas;
- :mod:`~sendemodul.container.plaintext`: a part's plaintext lines (:func:`part_header`, :class:`PartParser`);
- :mod:`~sendemodul.container.sealed`: plaintext that must not reach the disk (:class:`SealedTempFile`);
- :mod:`~sendemodul.container.atomic`: :func:`atomic_output`;
- :mod:`~sendemodul.container.shuffle`: both parts sorted by row_id with bounded memory (:class:`RowBlock`);
- :mod:`~sendemodul.container.writer`: :func:`write_container`.

Callers may keep using ``from sendemodul import container`` and ``container.X``: the names below are the package's
public surface.
"""

from sendemodul.container.atomic import atomic_output
from sendemodul.container.canonical_json import (
    canonical_json,
    check_fields,
    is_int,
    is_text,
    is_timestamp,
    parse_canonical_json,
    utc_timestamp,
)
from sendemodul.container.manifest import (
    FORMAT,
    MAX_JSON_BYTES,
    MEMBERS,
    PART_ROLES,
    SHA256_PATTERN,
    SIGNATURE_BYTES,
    UUID4_PATTERN,
    Manifest,
    PartInfo,
    check_signature,
)
from sendemodul.container.parts import (
    MAX_AGE_HEADER_BYTES,
    STANZA_TYPES,
    PartEncryptor,
    decrypt_part,
    encrypt_part,
    open_part,
    stanza_counts,
)
from sendemodul.container.plaintext import (
    HEADER_LINE_PREFIX,
    ID_TYPE_PATTERN,
    MAX_LINE_BYTES,
    ROW_ID_PATTERN,
    PartParser,
    part_header,
)
from sendemodul.container.sealed import SealedStream, SealedTempFile
from sendemodul.container.shuffle import RowBlock
from sendemodul.container.tar import (
    BLOCK,
    MAX_END_BLOCKS,
    MAX_MEMBER_BYTES,
    MemberReader,
    TarReader,
    TarWriter,
    tar_header,
)
from sendemodul.container.writer import write_container
from sendemodul.registers import REGISTERS

__all__ = [
    "BLOCK",
    "FORMAT",
    "HEADER_LINE_PREFIX",
    "ID_TYPE_PATTERN",
    "MAX_AGE_HEADER_BYTES",
    "MAX_END_BLOCKS",
    "MAX_JSON_BYTES",
    "MAX_LINE_BYTES",
    "MAX_MEMBER_BYTES",
    "MEMBERS",
    "PART_ROLES",
    "REGISTERS",
    "ROW_ID_PATTERN",
    "SHA256_PATTERN",
    "SIGNATURE_BYTES",
    "STANZA_TYPES",
    "UUID4_PATTERN",
    "Manifest",
    "MemberReader",
    "PartEncryptor",
    "PartInfo",
    "PartParser",
    "RowBlock",
    "SealedStream",
    "SealedTempFile",
    "TarReader",
    "TarWriter",
    "atomic_output",
    "canonical_json",
    "check_fields",
    "check_signature",
    "decrypt_part",
    "encrypt_part",
    "is_int",
    "is_text",
    "is_timestamp",
    "open_part",
    "parse_canonical_json",
    "part_header",
    "stanza_counts",
    "tar_header",
    "utc_timestamp",
    "write_container",
]
