"""scripts/sftp_clients_doc.py writes docs/sftp-clients.md's table and ssh-audit section from a matrix run."""

import importlib.util

from conftest import ROOT

spec = importlib.util.spec_from_file_location("sftp_clients_doc", ROOT / "scripts" / "sftp_clients_doc.py")
doc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(doc)

CELL = {
    "client": "curl",
    "login": "rsa",
    "ok": False,
    "server": "default",
    "kex": "curve25519-sha256",
    "cipher_in": "aes128-ctr",
    "cipher_out": "aes128-ctr",
    "mac_in": "hmac-sha2-256",
    "mac_out": "hmac-sha2-256",
    "strict_kex": "no",
    "signature": "ssh-rsa",
    "refusal": "ssh-rsa (SHA-1) signatures are not accepted",
    "upload": None,
}


def test_a_cell_becomes_a_row_with_the_client_version_and_the_refusal():
    found = {"clients": {"curl": "curl 7.88.1, libssh2 1.10.0"}, "cells": [CELL]}
    table = doc.matrix_table(found).splitlines()
    assert table[2] == (
        "| curl `sftp://` (curl 7.88.1, libssh2 1.10.0) | RSA 3072 key | **refused**: ssh-rsa (SHA-1) "
        "signatures are not accepted | curve25519-sha256 | aes128-ctr | hmac-sha2-256 | no | ssh-rsa |"
    )


def test_only_the_marked_sections_are_replaced():
    text = "intro\n<!-- matrix:begin -->\nold\n<!-- matrix:end -->\noutro\n"
    assert doc.replace(text, "matrix", "new") == "intro\n<!-- matrix:begin -->\nnew\n<!-- matrix:end -->\noutro\n"


def test_the_committed_doc_holds_a_run():
    text = (ROOT / "docs" / "sftp-clients.md").read_text()
    assert "| curl `sftp://` (curl" in text and "**refused**" in text and "accept_ssh_rsa_sha1 = true` | RSA" in text
    assert "# key exchange algorithms" in text and "(kex) mlkem768x25519-sha256" in text
