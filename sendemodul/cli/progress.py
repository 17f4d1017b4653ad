"""A raw reader that counts the bytes read, for the progress bars of the commands that read an extract (check,
encrypt)."""

from __future__ import annotations

import io


class ProgressReader(io.RawIOBase):
    """A raw reader that reports how many bytes it has read to ``update``."""

    def __init__(self, raw, update):
        super().__init__()
        self._raw = raw
        self._update = update

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self._raw.readinto(buffer)
        if count:
            self._update(count)
        return count
