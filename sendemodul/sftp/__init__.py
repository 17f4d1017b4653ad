"""The SFTP front: a Conch SSH server that offers only SFTP, a write-only drop box per unit, delegating to intake.

- ``server``: the hardened SSH factory and transport, the login glue and ``SFTPService``.
- ``dropbox``: the ``ISFTPServer`` adapter (paths, uploads in progress, receipts).
- ``checker``: the ``ISSHPrivateKey`` checker for the units' registered SSH keys.
"""
