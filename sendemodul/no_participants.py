""" "Ingen deltakere" from the browser (issue 16): a person confirms that the unit has no participants in a register
and periode, and the server records an empty delivery that travels to SSB like any empty container, so the unit
counts as delivered (and gets no reminder).

The simplest faithful form is a real ``sendemodul-container/1`` with ``records: 0`` and ``no_participants: true``,
made here with the same writer as ``sendemodul encrypt --empty``: its two (empty) parts are encrypted to the current
TPF and SSB keys (public keys only; the front still holds nothing that decrypts), it goes into ``received/`` and is
recorded as the person's upload, and from there the pseudonymizer, the forwarder and SSB treat it as every other
container. One difference, stated in the manifest: the unit's signing key lives with the municipality's encryption
module, not on the server, so ``manifest.sig`` is made by the front's own web key (``<home>/front/web-signing.key``,
its public half beside it) and ``producer`` says ``sendemodul-web``; the TPF's seal binds it as always. The audit
names the person (opaque id) who confirmed it. Blocking: intake runs it in an I/O thread.
"""

import uuid

import sendemodul
from sendemodul import container, signing
from sendemodul.errors import UsageError

WEB_PRODUCER = f"sendemodul-web/{sendemodul.__version__}"


def web_signing_key(home):
    """The front's Ed25519 key for containers it makes itself (created on first use)."""
    path = home / "front" / "web-signing.key"
    if not path.exists():
        path.parent.mkdir(mode=0o700, exist_ok=True)
        try:
            return signing.write_new_key(path, "sendemodul-web")
        except UsageError:  # made by another process meanwhile
            pass
    return signing.load_private_key(path)


def write_empty_container(path, *, unit, register, periode, key_dir, today, home):
    """Write the no-participants container to ``path`` (atomically); returns its Manifest."""
    return container.write_container(
        path,
        unit=unit,
        register=register,
        periode=periode,
        signing_key=web_signing_key(home),
        tpf_recipients=key_dir.sealing_keys("tpf", today),
        ssb_recipients=key_dir.sealing_keys("ssb", today),
        rows=[],
        no_participants=True,
        producer=WEB_PRODUCER,
    )


def incoming_path(spool):
    return spool.incoming / f"{uuid.uuid4()}.part"
