// Fixed-width extracts (11F, 11CF), as sendemodul/profiles/fixed.py reads them: ISO-8859-1, one record a line,
// LF or CRLF, blank lines ignored, every record exactly the profile's length.

// ISO-8859-1: every byte is the character with that code point.
export function latin1(bytes) {
  // (TextDecoder's "latin1" label is really windows-1252, which maps 0x80-0x9f elsewhere: map by hand.)
  let out = "";
  const step = 0x8000;
  for (let at = 0; at < bytes.length; at += step) {
    out += String.fromCharCode.apply(null, bytes.subarray(at, at + step));
  }
  return out;
}

// The lines of an extract with their 1-based line numbers; blank lines are skipped (they are no records).
export function* lines(text) {
  let line = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    line += 1;
    let value = text.slice(start, end);
    if (value.endsWith("\r") && end < text.length) value = value.slice(0, -1);
    start = end + 1;
    if (!value.replace(/[ \r]/g, "")) continue;
    yield [line, value];
  }
}

// The identifier fields of a profile as [name, start, end] (0-based, end exclusive), and the blank runs.
export function layout(profile) {
  const ids = profile.fields.filter((f) => f.id_kind).map((f) => [f.name, f.from - 1, f.from - 1 + f.length]);
  const spans = [];
  for (const [, start, end] of [...ids].sort((a, b) => a[1] - b[1])) {
    const last = spans[spans.length - 1];
    if (last && last[1] === start) last[1] = end;
    else spans.push([start, end]);
  }
  return { ids, spans };
}

// [ids, data] of one record: the identifier values (stripped of spaces) and the line with those fields blanked.
export function split(text, { ids, spans }) {
  const values = ids.map(([name, start, end]) => [name, text.slice(start, end).replace(/^ +| +$/g, "")]);
  let data = text;
  for (const [start, end] of spans) data = data.slice(0, start) + " ".repeat(end - start) + data.slice(end);
  return [values, data];
}
