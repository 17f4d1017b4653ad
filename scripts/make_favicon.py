"""Draw templates/static/favicon.ico: the service's blue with a white upward arrow (sending), 16 and 32 px, as PNG
images inside an ICO file (what every current browser reads). Run once; the icon is committed.

    python scripts/make_favicon.py templates/static/favicon.ico
"""

import struct
import sys
import zlib

BLUE = (0x06, 0x38, 0x6D, 255)
WHITE = (255, 255, 255, 255)
CLEAR = (0, 0, 0, 0)


def pixel(x, y, size):
    """The colour at (x, y) of a ``size`` px icon, drawn on a 16-unit grid."""
    u, v = (x + 0.5) * 16 / size, (y + 0.5) * 16 / size
    corner = 2.5
    cx = min(max(u, corner), 16 - corner)
    cy = min(max(v, corner), 16 - corner)
    if (u - cx) ** 2 + (v - cy) ** 2 > corner**2:
        return CLEAR
    head = 3 <= v <= 8 and abs(u - 8) <= (v - 3) + 0.5
    shaft = 8 <= v <= 13 and abs(u - 8) <= 1.5
    return WHITE if head or shaft else BLUE


def png(size):
    rows = b"".join(b"\0" + b"".join(bytes(pixel(x, y, size)) for x in range(size)) for y in range(size))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def ico(sizes):
    images = [png(s) for s in sizes]
    out = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    for size, image in zip(sizes, images, strict=True):
        out += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(image), offset)
        offset += len(image)
    return out + b"".join(images)


if __name__ == "__main__":
    with open(sys.argv[1], "wb") as f:
        f.write(ico([16, 32]))
