// Fixed-width extracts (11F, 11CF), as sendemodul/profiles/fixed.py reads them: ISO-8859-1, one record a line,
// LF or CRLF, blank lines ignored, every record exactly the profile's length.

// ISO-8859-1: every byte is the character with that code point. The browser's decoders are much faster than mapping
// by hand: ASCII text decodes alike as UTF-8 (one character a byte, none replaced, tells it is ASCII); TextDecoder's
// "latin1" label is really windows-1252, which differs only where it maps 0x80-0x9f above 0xff; anything else is
// mapped by hand.
export function latin1(bytes) {
  const ascii = new TextDecoder().decode(bytes);
  if (ascii.length === bytes.length && !ascii.includes("\ufffd")) return ascii;
  const windows1252 = new TextDecoder("latin1").decode(bytes);
  if (!/[^\x00-\xff]/.test(windows1252)) return windows1252;
  let out = "";
  const step = 0x8000;
  for (let at = 0; at < bytes.length; at += step) {
    out += String.fromCharCode.apply(null, bytes.subarray(at, at + step));
  }
  return out;
}

// Whether a line holds only spaces and CRs (no record); most lines tell at their first character.
export function blank(text) {
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 13) return false;
  }
  return true;
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
    if (blank(value)) continue;
    yield [line, value];
  }
}

// The identifier fields of a profile as [name, start, end] (0-based, end exclusive), and the blank runs (with the
// spaces that blank each).
export function layout(profile) {
  const ids = profile.fields.filter((f) => f.id_kind).map((f) => [f.name, f.from - 1, f.from - 1 + f.length]);
  const spans = [];
  for (const [, start, end] of [...ids].sort((a, b) => a[1] - b[1])) {
    const last = spans[spans.length - 1];
    if (last && last[1] === start) last[1] = end;
    else spans.push([start, end]);
  }
  for (const span of spans) span.push(" ".repeat(span[1] - span[0]));
  return { ids, spans };
}

// `text` from `start` to `end` without the spaces at either end.
function stripped(text, start, end) {
  while (start < end && text.charCodeAt(start) === 32) start += 1;
  while (end > start && text.charCodeAt(end - 1) === 32) end -= 1;
  return text.slice(start, end);
}

// [ids, data] of one record: the identifier values (stripped of spaces) and the line with those fields blanked.
export function split(text, { ids, spans }) {
  const values = ids.map(([name, start, end]) => [name, stripped(text, start, Math.min(end, text.length))]);
  let data = "";
  let at = 0;
  for (const [start, end, blanks] of spans) {
    data += text.slice(at, start) + blanks;
    at = end;
  }
  return [values, data + text.slice(at)];
}
