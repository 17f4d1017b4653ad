// The container format sendemodul-container/1 (docs/container.md), written in the browser exactly as
// `sendemodul encrypt` writes it: canonical JSON, the strict ustar headers, random 96-bit row ids, both parts
// sorted by row id.

const encoder = new TextEncoder();

// Canonical JSON: keys sorted, no insignificant spaces, UTF-8 (as Python's
// json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)).
export function canonicalJson(value) {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isInteger(value)) throw new Error("only integers in a manifest");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return "[" + value.map(canonicalJson).join(",") + "]";
  const keys = Object.keys(value).sort();
  return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalJson(value[k])).join(",") + "}";
}

// The only header a member may have: ustar, regular file, mode 0644, uid/gid/mtime 0, no owner names.
export function tarHeader(name, size) {
  const header = new Uint8Array(512);
  const ascii = (text, at) => header.set(encoder.encode(text), at);
  ascii(name, 0);
  ascii("0000644\0", 100);
  ascii("0000000\0", 108);
  ascii("0000000\0", 116);
  ascii(size.toString(8).padStart(11, "0") + "\0", 124);
  ascii("00000000000\0", 136);
  ascii("        ", 148);
  ascii("0", 156);
  ascii("ustar\x0000", 257);
  let sum = 0;
  for (const byte of header) sum += byte;
  ascii(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return header;
}

// A tar of the members in order, then two zero blocks.
export function tar(members) {
  const chunks = [];
  for (const [name, data] of members) {
    chunks.push(tarHeader(name, data.length), data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) chunks.push(new Uint8Array(pad));
  }
  chunks.push(new Uint8Array(1024));
  return new Blob(chunks, { type: "application/x-tar" });
}

export function partHeader(containerId, part, records) {
  return `#sendemodul/1 container_id=${containerId} part=${part} records=${records}\n`;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

// `count` distinct random 96-bit row ids in hex (a repeat, at 2^-96 per pair, is drawn again).
export function rowIds(count) {
  const ids = new Array(count);
  const seen = new Set();
  const pool = new Uint8Array(12 * 4096);
  for (let done = 0; done < count; ) {
    crypto.getRandomValues(pool);
    for (let at = 0; at + 12 <= pool.length && done < count; at += 12) {
      let id = "";
      for (let i = at; i < at + 12; i++) id += HEX[pool[i]];
      if (seen.has(id)) continue;
      seen.add(id);
      ids[done++] = id;
    }
  }
  return ids;
}

export function uuid4() {
  return crypto.randomUUID();
}

// Now as the manifest writes it: 2026-01-05T09:30:00Z.
export function utcTimestamp(date = new Date()) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  let hex = "";
  for (const byte of digest) hex += HEX[byte];
  return hex;
}

export function utf8(text) {
  return encoder.encode(text);
}
