"""Writing a container (:func:`write_container`).

Writing streams with bounded memory: the rows get random row_ids and both parts are sorted by them through
:class:`~sendemodul.container.shuffle.Shuffle` (a sealed bucket sort); then each part is encrypted straight into its
place in the output tar, and the manifest, its signature and the tar headers are written last.
"""

import itertools
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import sendemodul
from sendemodul import agepq
from sendemodul.container.atomic import atomic_output
from sendemodul.container.canonical_json import canonical_json, is_int, utc_timestamp
from sendemodul.container.manifest import FORMAT, Manifest, PartInfo
from sendemodul.container.parts import PositionedWriter, encrypt_part, encrypted_size
from sendemodul.container.plaintext import HEADER_LINE_PREFIX, part_header
from sendemodul.container.sealed import SealedTempFile
from sendemodul.container.shuffle import Row, Shuffle
from sendemodul.container.tar import BLOCK, tar_header
from sendemodul.errors import ContainerInputError, UsageError
from sendemodul.identity import Unit
from sendemodul.keydir import RecipientKey
from sendemodul.registers import REGISTERS

if TYPE_CHECKING:  # imported where used (a block of rows): most commands never need numpy
    pass

#: An age recipient of a part (post-quantum or X25519).
AgeRecipient = agepq.X25519Recipient | agepq.MlKem768X25519Recipient


def _check_recipients(keys: Sequence[RecipientKey], role: str) -> tuple[list[AgeRecipient], list[str]]:
    if not keys or any(key.role != role for key in keys):
        raise ValueError(f"expected one or more {role} keys, got {[key.key_id for key in keys]}")
    if len({key.stanza_type for key in keys}) > 1:
        raise ValueError(
            f"the {role} keys mix post-quantum and classic types: {[key.key_id for key in keys]}"
            " (KeyDirectory.sealing_keys picks one type)"
        )
    return [key.age_recipient() for key in keys], [key.key_id for key in keys]


def write_container(
    out_path: str | os.PathLike[str],
    *,
    unit: Unit,
    register: str,
    periode: int,
    signing_key: Ed25519PrivateKey,
    tpf_recipients: Sequence[RecipientKey],
    ssb_recipients: Sequence[RecipientKey],
    rows: Iterable[Row],
    header_lines: Iterable[str] = (),
    no_participants: bool = False,
    progress: Callable[[int], object] | None = None,
    producer: str | None = None,
) -> Manifest:
    """Write a container to ``out_path`` (atomically) and return its :class:`Manifest`.

    ``rows`` yields ``(ids, record)``: ``ids`` a sequence of ``(id_type, value)`` (the profile's ID field names and
    the raw values, blank ones included), ``record`` the extract's line with the ID fields blanked. ``header_lines``
    are document-level lines that travel in the data part as ``#header<TAB>line``. ``progress(n)``, if given, is
    called with the number of rows consumed since its previous call. ``producer`` names what made the container
    (default ``sendemodul/<version>``; the server's own "Ingen deltakere" containers say ``sendemodul-web/...``).
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
    with SealedTempFile(directory) as sealed:
        shuffle = Shuffle(sealed)
        records = shuffle.add_rows(rows, progress)
        if no_participants and records:
            raise ContainerInputError(f"'no participants' was given, but there are {records} rows")
        ids_header = part_header(container_id, "identities", records)
        data_header = part_header(container_id, "data", records) + "".join(
            f"{HEADER_LINE_PREFIX}{line}\n" for line in header_lines
        ).encode("utf-8")
        sizes = {
            "identities.age": encrypted_size(tpf_keys, len(ids_header) + shuffle.sizes["ids"]),
            "data.age": encrypted_size(ssb_keys, len(data_header) + shuffle.sizes["data"]),
        }
        created = utc_timestamp()

        def manifest_json(digests: dict[str, str]) -> bytes:
            return canonical_json(
                {
                    "format": FORMAT,
                    "container_id": container_id,
                    "register": register,
                    "periode": periode,
                    "kommunenr": unit.kommunenr,
                    "bydel": unit.bydel,
                    "orgnr": unit.orgnr,
                    "created": created,
                    "producer": producer or f"sendemodul/{sendemodul.__version__}",
                    "records": records,
                    "no_participants": bool(no_participants),
                    "parts": {
                        "identities.age": PartInfo(tuple(tpf_ids), sizes["identities.age"], digests["ids"]).to_json(),
                        "data.age": PartInfo(tuple(ssb_ids), sizes["data.age"], digests["data"]).to_json(),
                    },
                }
            )

        # The manifest comes first in the tar but names the parts' digests: its length is known now (a digest is 64
        # hex digits whatever it is), so each part is encrypted straight into its place in the output, both at
        # once (age's ChaCha20-Poly1305, SHA-256 and the writes release the GIL), and the manifest written last.
        manifest_end = 2 * BLOCK + _padded(len(manifest_json({"ids": "0" * 64, "data": "0" * 64}))) + BLOCK
        ids_at = manifest_end + BLOCK
        data_at = ids_at + _padded(sizes["identities.age"]) + BLOCK
        end = data_at + _padded(sizes["data.age"])
        with atomic_output(out_path) as out:
            fd = out.fileno()
            digests = _encrypt_parts_at(
                fd,
                (
                    itertools.chain([ids_header], shuffle.sorted_blocks("ids")),
                    tpf_keys,
                    ids_at,
                    sizes["identities.age"],
                ),
                (itertools.chain([data_header], shuffle.sorted_blocks("data")), ssb_keys, data_at, sizes["data.age"]),
            )
            manifest = Manifest.parse(manifest_json({"ids": digests[0], "data": digests[1]}))
            head = bytearray()
            for name, member in (("manifest.json", manifest.raw), ("manifest.sig", signing_key.sign(manifest.raw))):
                head += tar_header(name, len(member)) + member + bytes(-len(member) % BLOCK)
            if len(head) != manifest_end:
                raise AssertionError("the manifest's length changed with its digests")
            positioned = PositionedWriter(fd, 0)
            positioned.write(head)
            for name, at in (("identities.age", ids_at), ("data.age", data_at)):
                positioned.offset = at - BLOCK
                positioned.write(tar_header(name, sizes[name]))
                positioned.offset = at + sizes[name]
                positioned.write(bytes(-sizes[name] % BLOCK))
            positioned.offset = end
            positioned.write(bytes(2 * BLOCK))
    return manifest


def _padded(size: int) -> int:
    return size + -size % BLOCK


def _encrypt_parts_at(
    fd: int, *parts: tuple[Iterable[bytes | memoryview], Sequence[AgeRecipient], int, int]
) -> list[str]:
    """Encrypt each part (its plaintext blocks, its recipients' age keys, its offset in ``fd`` and its predicted
    size) into its place in ``fd``, the first in a thread of its own, the others in this one; their SHA-256 digests.
    A part of another size than predicted is an error (the manifest and the tar headers already count on it)."""
    results: list[tuple[int, str] | BaseException | None] = [None] * len(parts)

    def encrypt(k: int) -> None:
        blocks, keys, offset, _ = parts[k]
        try:
            results[k] = encrypt_part(blocks, keys, PositionedWriter(fd, offset))
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread, which raises it
            results[k] = e

    helper = threading.Thread(target=encrypt, args=(0,), name="sendemodul-part")
    helper.start()
    try:
        for k in range(1, len(parts)):
            encrypt(k)
    finally:
        helper.join()
    digests = []
    for result, (_, _, _, size) in zip(results, parts):
        if isinstance(result, BaseException):
            raise result
        assert result is not None
        if result[0] != size:
            raise AssertionError(f"an age part of {result[0]} bytes, not the {size} predicted")
        digests.append(result[1])
    return digests
