#!/usr/bin/env python3
"""The encryption module's two halves, each alone in a process of its own (issue 25 item 4, session 9).

What a second process for the control rules could give, measured before building it: ``checks`` runs only the
checks (``Checker.feed_block`` over every block of the extract, as the encryption module's checks thread does);
``writer`` only the rest (each block split into identifier columns and the blanked records by numpy slices of the
profile's ID fields, then ``container.write_container``, as the main thread does). Run both at once under
``/usr/bin/time`` to see the two-process design's CPU per process, the sum of their peak RSS, and the critical path
(the larger CPU) without any pipe between them: an upper bound of what the design could reach.

Examples (from the repository root; the extract and home as ``scripts/bench --only records`` makes them):
  /usr/bin/time -f '%e %U %S %M' .venv/bin/python scripts/encrypt_halves.py checks extract.dat
  /usr/bin/time -f '%e %U %S %M' .venv/bin/python scripts/encrypt_halves.py writer extract.dat --home HOME -o x.tar
"""

import argparse
import datetime
import io
import sys
import time
from pathlib import Path

DEMO = "0301-00-958935420"


def checks(profile, unit, path):
    from sendemodul.profiles.rules.checker import Checker

    with open(path, "rb", buffering=0) as raw:
        extract = profile.open_extract(io.BufferedReader(raw, 1 << 20))
        checker = Checker(profile, unit, extract, source=str(path))
        for first_line, block in extract.blocks():
            if first_line is None:
                for item in block:
                    checker.feed(item)
            else:
                checker.feed_block(first_line, block)
        report = checker.finish()
    return f"{report.records} records, worst {report.worst}"


def writer(profile, unit, path, home, output):
    import numpy as np

    from sendemodul import container, keydir, signing

    keys = keydir.load_key_dir(keydir.find_key_dir(None, home))
    today = datetime.date.today()
    length = profile.record_length

    def rows():
        with open(path, "rb", buffering=0) as raw:
            for first_line, block in profile.open_extract(io.BufferedReader(raw, 1 << 20)).blocks():
                if first_line is None or getattr(block, "data", None) is None:
                    raise SystemExit("only clean fixed-width extracts (every line the record length and an LF)")
                lines = np.frombuffer(block.data, np.uint8).reshape(len(block), length + 1)[:, :length]
                data = lines[~(lines == 32).all(axis=1)]
                ids = tuple((name, data[:, start:end].copy()) for name, start, end in profile.id_slices)
                for start, end, _ in profile.blank_spans:
                    data[:, start:end] = 32
                yield container.RowBlock(ids, data)

    manifest = container.write_container(
        output,
        unit=unit,
        register=profile.register,
        periode=profile.periode,
        signing_key=signing.load_private_key(home / "demo" / "unit.key"),
        tpf_recipients=keys.sealing_keys("tpf", today),
        ssb_recipients=keys.sealing_keys("ssb", today),
        rows=rows(),
    )
    return f"{manifest.records} records written"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("half", choices=("checks", "writer"))
    parser.add_argument("extract", type=Path)
    parser.add_argument("--register", default="11F")
    parser.add_argument("--periode", type=int, default=datetime.date.today().year)
    parser.add_argument("--home", type=Path, help="writer: a home from 'sendemodul admin init --dev'")
    parser.add_argument("-o", "--output", type=Path, help="writer: the container to write")
    args = parser.parse_args()
    from sendemodul import identity
    from sendemodul.profiles import load_profile

    profile = load_profile(args.register, args.periode)
    unit = identity.parse_unit(DEMO, args.periode)
    if args.half == "checks":
        said = checks(profile, unit, args.extract)
    else:
        if args.home is None or args.output is None:
            parser.error("writer needs --home and --output")
        said = writer(profile, unit, args.extract, args.home, args.output)
    print(f"{args.half}: {said}, {time.process_time():.2f} CPU-s", file=sys.stderr)


if __name__ == "__main__":
    main()
