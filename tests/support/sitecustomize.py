"""Loaded by a server under test (PYTHONPATH): records every file the process opens, to prove what it never reads.

Writes one path per line to $SENDEMODUL_TEST_OPENED. Only for tests; production never loads this.
"""

import os
import sys

_path = os.environ.get("SENDEMODUL_TEST_OPENED")
if _path:
    _out = open(_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the whole process, for the hook

    def _hook(event, args):
        if event in ("open", "sqlite3.connect") and args and isinstance(args[0], (str, bytes, os.PathLike)):
            _out.write(os.fsdecode(args[0]) + "\n")

    sys.addaudithook(_hook)
