"""Write the measured parts of docs/sftp-clients.md from a run of tests/test_sftp_matrix.py.

    scripts/sftp_clients_doc.py             runs the matrix (SFTP_MATRIX_JSON set) and rewrites the doc
    scripts/sftp_clients_doc.py found.json  rewrites the doc from an earlier run's JSON

Only the text between the ``<!-- matrix:begin -->``/``<!-- matrix:end -->`` and ``<!-- ssh-audit:begin -->``/
``<!-- ssh-audit:end -->`` markers is replaced; the prose around them is written by hand.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "sftp-clients.md"
LOGINS = {"pin": "PIN", "ed25519": "Ed25519 key", "ecdsa": "ECDSA P-256 key", "rsa": "RSA 3072 key"}
CLIENTS = {
    "openssh": ("OpenSSH `sftp`", "openssh", ""),
    "paramiko": ("paramiko", "paramiko", "defaults"),
    "paramiko-aead-first": ("paramiko", "paramiko", "AES-GCM put first (`get_security_options().ciphers`)"),
    "psftp": ("PuTTY `psftp`", "psftp", "defaults"),
    "psftp-aead-first": ("PuTTY `psftp`", "psftp", "saved session with ChaCha20, AES-GCM before AES"),
    "curl": ("curl `sftp://`", "curl", ""),
    "rclone": ("rclone", "rclone", ""),
    "lftp": ("lftp `sftp://`", "lftp", "runs the OpenSSH client"),
}


def _mac(cell):
    return cell["mac_in"] if cell["mac_in"] == cell["mac_out"] else f"{cell['mac_in']} / {cell['mac_out']}"


def _cipher(cell):
    c = cell["cipher_in"] if cell["cipher_in"] == cell["cipher_out"] else f"{cell['cipher_in']} / {cell['cipher_out']}"
    return c.replace("@openssh.com", "")


def matrix_table(found):
    lines = [
        "| client (version) | login | result | key exchange | cipher | MAC | strict KEX | signature |",
        "|---|---|---|---|---|---|---|---|",
    ]
    order = {name: i for i, name in enumerate(CLIENTS)}
    cells = sorted(
        found["cells"], key=lambda c: (c["server"] != "default", order[c["client"]], list(LOGINS).index(c["login"]))
    )
    for cell in cells:
        label, version_key, note = CLIENTS[cell["client"]]
        version = found["clients"].get(version_key, "")
        who = f"{label} ({version})" + (f", {note}" if note else "")
        if cell["server"] != "default":
            who += ", server with `accept_ssh_rsa_sha1 = true`"
        result = f"upload {cell['upload']}" if cell["ok"] else f"**refused**: {cell['refusal']}"
        lines.append(
            f"| {who} | {LOGINS[cell['login']]} | {result} | {cell['kex']} | {_cipher(cell)} | "
            f"{_mac(cell).replace('@openssh.com', '')} | {cell['strict_kex']} | {cell['signature']} |"
        )
    return "\n".join(lines)


def audit_block(found):
    audit = found.get("ssh_audit")
    if not audit:
        return "(ssh-audit did not run)"
    text = re.sub(r"\x1b\[[0-9;]*m", "", audit["output"]).rstrip()
    return f"{audit['version']}, exit code {audit['exit_code']} (2: warnings, no failure):\n\n```\n{text}\n```"


def replace(doc, name, body):
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(doc):
        raise SystemExit(f"{DOC}: no {begin} ... {end} markers")
    return pattern.sub(lambda _: f"{begin}\n{body}\n{end}", doc)


def main(argv):
    if argv:
        found = json.loads(Path(argv[0]).read_text())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "found.json"
            subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_sftp_matrix.py"],
                cwd=ROOT,
                check=True,
                env={**os.environ, "SFTP_MATRIX_JSON": str(target)},
            )
            found = json.loads(target.read_text())
    doc = DOC.read_text()
    doc = replace(doc, "matrix", matrix_table(found))
    doc = replace(doc, "ssh-audit", audit_block(found))
    DOC.write_text(doc)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main(sys.argv[1:])
