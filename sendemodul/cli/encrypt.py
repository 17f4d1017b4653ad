"""``sendemodul encrypt``: the encryption module (municipal side). Checks the extract with the control rules, then
splits it into identities (to the TPF) and data (to SSB) and writes a signed container."""

import datetime
import io
import os
import sys
from pathlib import Path

import click

from sendemodul import config, container, glibc_malloc, identity, keydir, signing
from sendemodul.ahead import Ahead
from sendemodul.cli.progress import ProgressReader
from sendemodul.errors import ContainerInputError, ExtractError, InputError, UsageError
from sendemodul.profiles import FixedWidthExtract, load_profile
from sendemodul.profiles.rules.checker import Checker
from sendemodul.profiles.rules.report import Severity
from sendemodul.registers import REGISTERS

_READ_BUFFER_BYTES = 1 << 20


class ExtractRefused(UsageError):
    """The extract has ERROR or FATAL findings: correct them and encrypt again (nothing was written)."""

    code = "extract_refused"


def _open(path):
    try:
        return open(path, "rb", buffering=0)
    except OSError as e:
        raise InputError(f"Cannot read {path}: {e.strerror}.") from None


def _pass(path, label, work):
    """Run ``work(stream)`` over the file with a progress bar on stderr (bytes read)."""
    with _open(path) as raw:
        size = os.fstat(raw.fileno()).st_size
        with click.progressbar(length=size, label=label, file=sys.stderr, show_pos=False) as bar:
            stream = io.BufferedReader(ProgressReader(raw, bar.update), _READ_BUFFER_BYTES)
            return work(stream)


def _header_lines(profile, path):
    """The extract's document-level lines (XML: the Avgiver element); they are complete after the first record.
    Empty for an extract that cannot be read that far (the checks then refuse it)."""
    with _open(path) as raw:
        extract = profile.open_extract(io.BufferedReader(raw, _READ_BUFFER_BYTES))
        try:
            next(iter(extract), None)
        except ExtractError:
            return []
        return list(extract.header_lines)


class _Refused(Exception):
    """Raised through write_container (which then writes nothing) when the checks block the extract."""


def _check_and_write(profile, stream, unit, production, source, write):
    """One pass over the extract: every item goes to the control rules, and the records to ``write(rows)`` (the
    container writer) at the same time. Returns ``(report, manifest)``; ``manifest`` is ``None`` when the report
    blocks the extract, and then nothing was written: the rows stop at the first ERROR or FATAL finding and the
    writer is interrupted. If the writer refuses a row itself, the checks still run to the end, so that an extract
    with findings is reported as such first, exactly as checking before encrypting would."""
    extract = profile.open_extract(stream)
    checker = Checker(profile, unit, extract, allow_synthetic=not production, source=source)
    report = checker.report

    def rows():
        if isinstance(extract, FixedWidthExtract):
            # In blocks of lines: the rules run over a whole block at once (Checker.feed_block), and its rows go to
            # the writer as columns (container.RowBlock). A block with a finding is not written (nothing will be).
            # The extract read and cut into lines a block ahead, in a thread of its own (the decoding and the file
            # reads beside the checks). A (None, items) block reads on from an in-memory copy of its bytes, or is the
            # last block: either way the thread reads nothing more while its items are consumed.
            blocks = Ahead(extract.blocks(), depth=0, name="sendemodul-read")
            try:
                for first_line, block in blocks:
                    if first_line is None:
                        yield from checked(block)
                        continue
                    counts = report.severity_counts
                    if Severity.ERROR in counts or Severity.FATAL in counts:
                        checker.feed_block(first_line, block)  # nothing will be written: only the checks
                        continue
                    result = checker.feed_block(first_line, block)
                    counts = report.severity_counts
                    if Severity.ERROR not in counts and Severity.FATAL not in counts:
                        if result.rows is not None:
                            yield from result.rows
                        elif result.data is not None:
                            yield container.RowBlock(result.ids, result.data)
                    else:  # the rows before the first finding that blocks, as record by record
                        stop = checker.first_blocking_line
                        rows = (
                            result.rows
                            if result.rows is not None
                            else list(container.RowBlock(result.ids, result.data).rows())
                        )
                        yield from (row for row, line in zip(rows, result.lines) if stop is not None and line < stop)
            finally:
                blocks.close()
        else:
            yield from checked(extract.scan())
        if checker.finish().blocking:
            raise _Refused()

    def checked(items):
        for item in items:
            checker.feed(item)
            counts = report.severity_counts  # a new dict after the first FATAL finding
            if Severity.ERROR not in counts and Severity.FATAL not in counts:
                yield item.ids, item.data

    items = Ahead(rows(), depth=0, name="sendemodul-checks")  # one block checked while the last is written
    try:
        return checker.report, write(items)
    except _Refused:
        return checker.report, None
    except ContainerInputError:
        try:
            for _ in items:  # finish the checks: their findings come first
                pass
        except _Refused:
            return checker.report, None
        raise
    finally:
        items.close()


def one_malloc_arena() -> bool:
    """Have every thread of this process allocate from glibc's one main arena. Left to itself glibc gives each new
    thread an arena of its own (up to eight a core), and what one thread frees stays in its arena for that thread
    alone: the reader's and the checks' threads each held a few MiB freed by the other. On this VM's kernel, which
    maps more of the shared libraries resident (numpy's, cryptography's: ~33 MiB of the peak), that put the
    encryption of the bench's 2,000,000 11F records at 100.6-102.0 MiB (14 runs) against the target of 100; in one
    arena 95.0-98.0 MiB (8 runs), at the same CPU within its run-to-run swing (docs/performance.md, session 9).
    The threads take turns at the GIL, so one arena's lock is seldom contended. Before any thread starts."""
    return glibc_malloc.mallopt((glibc_malloc.M_ARENA_MAX, 1))


@click.command()
@click.option("--register", "-r", required=True, type=click.Choice(REGISTERS))
@click.option("--periode", "-p", required=True, type=click.IntRange(2000, 2099), help="The reporting year.")
@click.option("--unit", "-u", "unit_text", required=True, metavar="UNIT", help="KOMMUNENR-BYDEL-ORGNR.")
@click.option(
    "--signing-key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The unit's private signing key (from 'sendemodul keygen').",
)
@click.option(
    "--keys",
    "keys_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The key directory with the TPF and SSB recipient keys [default: <home>/keys, else the project's keys/].",
)
@click.option("--empty", is_flag=True, help="Deliver 'no participants': an empty container, no FILE.")
@click.option("--production", is_flag=True, help="Production policy: synthetic test IDs are WARNINGs.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The container to write (.tar); written atomically, never over an existing file.",
)
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def encrypt(register, periode, unit_text, signing_key, keys_dir, empty, production, output, file):
    """Check an extract and encrypt it into a signed container for upload.

    The control rules (as 'sendemodul check') run in the same pass over the extract as the encryption; any ERROR or
    FATAL finding refuses the extract, prints the report and writes nothing. Person IDs are encrypted only to the
    TPF's keys, the records (IDs blanked) only to SSB's, both under random row ids.

    \b
    Example:
      sendemodul encrypt -r 11F -p 2026 -u 0301-00-958935420 --signing-key unit.key sosialhjelp.txt -o 11f.tar
      sendemodul encrypt -r 15F -p 2026 -u 1103-00-964965226 --signing-key unit.key --empty -o 15f-tom.tar
    """
    if empty == (file is not None):
        raise UsageError("give either FILE or --empty (for a delivery with no participants)")
    if output.exists():
        raise UsageError(f"{output} already exists; not overwriting it")
    one_malloc_arena()
    profile = load_profile(register, periode)
    unit = identity.parse_unit(unit_text, periode)
    key = signing.load_private_key(signing_key)
    today = datetime.date.today()
    keys = keydir.load_key_dir(keydir.find_key_dir(keys_dir, config.default_home()))
    tpf, ssb = keys.sealing_keys("tpf", today), keys.sealing_keys("ssb", today)
    if empty:
        manifest = container.write_container(
            output,
            unit=unit,
            register=register,
            periode=periode,
            signing_key=key,
            tpf_recipients=tpf,
            ssb_recipients=ssb,
            rows=[],
            no_participants=True,
        )
    else:
        header_lines = _header_lines(profile, file)
        report, manifest = _pass(
            file,
            "Checking and encrypting",
            lambda stream: _check_and_write(
                profile,
                stream,
                unit,
                production,
                str(file),
                lambda rows: container.write_container(
                    output,
                    unit=unit,
                    register=register,
                    periode=periode,
                    signing_key=key,
                    tpf_recipients=tpf,
                    ssb_recipients=ssb,
                    rows=rows,
                    header_lines=header_lines,
                ),
            ),
        )
        if report.blocking:
            click.echo(report.to_text(), err=True, nl=False)
            raise ExtractRefused()
        if report.worst is not None:
            click.echo(report.summary, err=True)
    click.echo(
        f"Wrote {output}: {manifest.register} {manifest.periode} for {manifest.unit}, "
        f"{manifest.records} records" + (" (no participants)" if manifest.no_participants else "")
    )
    click.echo(f"  container id {manifest.container_id}")
    click.echo(
        f"  identities -> {', '.join(manifest.parts['identities.age'].recipients)}; "
        f"data -> {', '.join(manifest.parts['data.age'].recipients)}"
    )


def register(cli):
    cli.add_command(encrypt)
