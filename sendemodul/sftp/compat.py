"""Which SFTP clients a unit's SSH key will log in with, as the client matrix found it (pure: no I/O).

The figures behind these words are tests/test_sftp_matrix.py's run against the real server, written up in
docs/sftp-clients.md. The one key that does not work everywhere is RSA: libssh2 before 1.11 (curl's ``sftp://``,
PHP's ssh2 extension) signs with ``ssh-rsa`` (RSA with SHA-1) only, which the server refuses unless
``[sftp] accept_ssh_rsa_sha1 = true`` (sftp/checker.py).
"""

#: The clients of the matrix, each as a municipality knows it, with the oldest release that signs with an RSA key
#: using rsa-sha2-256/512 (RFC 8332), where that matters.
RSA_SHA2_CLIENTS = ("OpenSSH >= 7.2", "paramiko >= 2.9", "PuTTY >= 0.75/WinSCP", "rclone", "lftp")
LIBSSH2_OLD = "libssh2 < 1.11 (curl, PHP ssh2)"
ALL_CLIENTS = ("OpenSSH", "paramiko", "PuTTY/WinSCP", "libssh2 (curl, PHP ssh2)", "rclone", "lftp")

#: Key algorithms (the public key line's first word) every client of the matrix logs in with.
EVERYWHERE = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")


def key_clients(algorithm: str, *, accept_ssh_rsa_sha1: bool = False) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(clients the key works with, clients it does not work with) for a key of ``algorithm``; None for a key
    type the matrix has not tried."""
    if algorithm in EVERYWHERE:
        return ALL_CLIENTS, ()
    if algorithm == "ssh-rsa":
        if accept_ssh_rsa_sha1:
            return (*RSA_SHA2_CLIENTS, LIBSSH2_OLD), ()
        return RSA_SHA2_CLIENTS, (LIBSSH2_OLD,)
    return None


def key_clients_text(algorithm: str, *, accept_ssh_rsa_sha1: bool = False) -> str:
    """One line for ``sendemodul admin sshkey add``: which clients this key will work with."""
    found = key_clients(algorithm, accept_ssh_rsa_sha1=accept_ssh_rsa_sha1)
    if found is None:
        return f"{algorithm}: not tried with the SFTP clients of docs/sftp-clients.md"
    works, not_with = found
    if algorithm in EVERYWHERE:
        return "Works with all the SFTP clients of docs/sftp-clients.md: " + ", ".join(works)
    if not not_with:
        return (
            "Works with " + ", ".join(works[:-1]) + f"; and with {works[-1]}, which signs with ssh-rsa (SHA-1), "
            "only because [sftp] accept_ssh_rsa_sha1 = true"
        )
    return (
        "Works with "
        + ", ".join(works)
        + "; not with "
        + ", ".join(not_with)
        + " unless [sftp] accept_ssh_rsa_sha1 = true (better: an Ed25519 key, a newer libssh2, or the PIN)"
    )
