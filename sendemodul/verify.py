"""The intake check of a container: everything that can be checked without decrypting (docs/container.md, "Verifying").

Streams: reads the headers, the manifest and its signature, and hashes the parts in bounded memory. Fails early, in
the order of the file, with a distinct :class:`~sendemodul.errors.ContainerError` for each kind of failure. Pure: the
caller passes the stream, the unit's keys, the key directory, the date and the replay check.
"""

from sendemodul.container import (
    MAX_AGE_HEADER_BYTES,
    MAX_JSON_BYTES,
    PART_ROLES,
    SIGNATURE_BYTES,
    Manifest,
    TarReader,
    check_signature,
    open_part,
    stanza_counts,
)
from sendemodul.errors import (
    ContainerReplayed,
    ManifestInvalid,
    ManifestUnsigned,
    RecipientCountMismatch,
    RecipientNotCurrent,
    RecipientTypeMismatch,
    RecipientUnknown,
    RecipientWrongRole,
    UnitMismatch,
)


def verify_container(stream, *, unit, signing_keys, key_dir, today, is_replay=lambda container_id: False):
    """Check the container read from ``stream`` for ``unit`` (the logged-in :class:`~sendemodul.identity.Unit`);
    return its :class:`~sendemodul.container.Manifest` or raise the first failure found.

    ``signing_keys`` are the unit's registered Ed25519 public keys, ``key_dir`` the
    :class:`~sendemodul.keydir.KeyDirectory` whose keys must be valid on ``today``, ``is_replay(container_id)`` says
    whether that container was delivered before.
    """
    tar = TarReader(stream)
    manifest = Manifest.parse(tar.read_member("manifest.json", max_size=MAX_JSON_BYTES, error=ManifestInvalid))
    if manifest.unit != unit:
        raise UnitMismatch.detail(f"the manifest names {manifest.unit}")
    signature = tar.read_member("manifest.sig", max_size=SIGNATURE_BYTES, error=ManifestUnsigned)
    check_signature(manifest.raw, signature, signing_keys)
    stanza_types = {}
    for part, role in PART_ROLES.items():
        stanza_types[part] = _check_recipients(part, role, manifest.parts[part].recipients, key_dir, today)
    if is_replay(manifest.container_id):
        raise ContainerReplayed.detail(manifest.container_id)
    for part in PART_ROLES:
        _check_part(tar, part, manifest.parts[part], stanza_types[part])
    tar.finish()
    return manifest


def _check_recipients(part, role, key_ids, key_dir, today):
    """Check the part's key ids; returns the one stanza type they share (``mlkem768x25519`` or ``X25519``)."""
    types = set()
    for key_id in key_ids:
        key = key_dir.get(key_id)
        if key is None:
            raise RecipientUnknown.detail(f"{part}: {key_id}")
        if key.role != role:
            raise RecipientWrongRole.detail(f"{part} names {key_id}, a {key.role.upper()} key")
        if not key.valid_on(today):
            raise RecipientNotCurrent.detail(f"{part}: {key_id} is valid {key.valid_from} to {key.valid_to}")
        types.add(key.stanza_type)
    if len(types) > 1:
        raise RecipientTypeMismatch.detail(f"{part} names post-quantum and classic keys together")
    return types.pop()


def _check_part(tar, name, info, stanza_type):
    """Size, stanzas and digest of a part. Its keys are all of ``stanza_type``: the header must carry exactly one
    stanza of that type per key and none of the other (a classic stanza for a post-quantum key is a downgrade)."""
    member = open_part(tar, name, info)
    counts = stanza_counts(member.read(MAX_AGE_HEADER_BYTES), name)
    for other, count in counts.items():
        if other != stanza_type and count:
            raise RecipientTypeMismatch.detail(f"{name} has {count} {other} stanza(s) for its {stanza_type} key(s)")
    if counts[stanza_type] != len(info.recipients):
        raise RecipientCountMismatch.detail(
            f"{name} has {counts[stanza_type]} {stanza_type} stanzas for {len(info.recipients)} keys"
        )
    member.finish_digest(info.sha256)
