// XML extracts (15F, IPLOS) as sendemodul/profiles/xmldoc.py reads them with expat (the reference): a root element
// holding one header element (Avgiver) and then the record elements. DOMParser does not exist in a Worker, and it
// would read a DOCTYPE's entities: this small reader refuses a DOCTYPE, knows only XML's five entities and character
// references, and says what expat says for the usual errors (with expat's line). Each record element becomes a small
// tree ({tag, attrs: [[name, value]], children, text, tail}); `oneLine` serializes it as ElementTree does.

const NAME = /[A-Za-z_:\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF\u200C\u200D\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD][-.0-9A-Za-z_:\u00B7\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u037D\u037F-\u1FFF\u200C\u200D\u203F\u2040\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD]*/y;
const SPACE = /[ \t\n]*/y;
// Characters XML does not allow (expat: "not well-formed (invalid token)").
const BAD_CHAR = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const DECLARATION =
  /^<\?xml[ \t\n]+version[ \t\n]*=[ \t\n]*(?:"1\.[0-9]+"|'1\.[0-9]+')(?:[ \t\n]+encoding[ \t\n]*=[ \t\n]*(?:"[A-Za-z][-A-Za-z0-9._]*"|'[A-Za-z][-A-Za-z0-9._]*'))?(?:[ \t\n]+standalone[ \t\n]*=[ \t\n]*(?:"(?:yes|no)"|'(?:yes|no)'))?[ \t\n]*\?>$/;
const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
// Python's str.strip() whitespace.
const PY_SPACE = "[\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const PY_STRIP = new RegExp(`^${PY_SPACE}+|${PY_SPACE}+$`, "g");
export const pyStrip = (text) => text.replace(PY_STRIP, "");

export class XmlError extends Error {
  constructor(line, message) {
    super(message);
    this.line = line;
  }
}

const INVALID = "not well-formed (invalid token)";

// The first byte offset where `bytes` stops being UTF-8 (TextDecoder's fatal mode says only that it does), or -1.
function badUtf8(bytes) {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    if (b < 0x80) {
      i += 1;
      continue;
    }
    const n = b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    const c1 = bytes[i + 1];
    const low = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
    const high = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
    if (c1 === undefined || c1 < low || c1 > high) return i;
    for (let k = 2; k <= n; k++) if (bytes[i + k] === undefined || (bytes[i + k] & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return -1;
}

// The document's text: UTF-8 (the profiles' encoding, and XML's default), or ISO-8859-1 / US-ASCII where the XML
// declaration says so, as expat reads them.
export function decodeXml(bytes) {
  let start = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
  else if ((bytes[0] === 0xfe && bytes[1] === 0xff) || (bytes[0] === 0xff && bytes[1] === 0xfe) || bytes[0] === 0) {
    throw new XmlError(1, "the page reads UTF-8 and ISO-8859-1 documents only (not UTF-16)");
  }
  let head = "";
  for (let i = start; i < Math.min(bytes.length, start + 200); i++) head += String.fromCharCode(bytes[i]);
  const declared = /^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["'])1\.[0-9]+\1[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(["'])([A-Za-z][A-Za-z0-9._-]*)\2/.exec(head);
  const encoding = declared ? declared[3].toLowerCase() : "utf-8";
  const body = bytes.subarray(start);
  if (["iso-8859-1", "latin1", "latin-1", "iso_8859-1", "l1"].includes(encoding)) {
    let out = "";
    for (let at = 0; at < body.length; at += 0x8000) out += String.fromCharCode.apply(null, body.subarray(at, at + 0x8000));
    return out;
  }
  if (encoding === "us-ascii" || encoding === "ascii") {
    const bad = body.findIndex((b) => b >= 0x80);
    if (bad >= 0) return new TextDecoder().decode(body.subarray(0, bad)) + "\u0000";
  } else if (encoding !== "utf-8" && encoding !== "utf8") {
    throw new XmlError(1, `the page reads UTF-8 and ISO-8859-1 documents only (not ${declared[3]})`);
  }
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const bad = badUtf8(body);
  if (bad < 0) return decoder.decode(body);
  // expat reads up to the bad byte (the records before it are read), then stops there: the text up to it, and
  // one character that XML does not allow in its place
  return decoder.decode(body.subarray(0, bad)) + "\u0000";
}

// Reads `text` (a decoded document) and calls handler.start(tag, attrs, line), handler.end(tag),
// handler.data(text, line) (text between markup, merged across comments as expat's buffered text is),
// handler.doctype(line); throws XmlError for a document that is not well-formed.
export function parseXml(text, handler) {
  text = text.replace(/\r\n?/g, "\n");
  const n = text.length;
  const badChar = text.search(BAD_CHAR);
  let pos = 0;
  let line = 1;
  const stack = [];
  let rootDone = false;
  let pending = "";
  // the next line break at or after pos (n: none), kept so that a document on one line is not searched to its end
  // at every token
  let nextBreak = text.indexOf("\n");
  if (nextBreak < 0) nextBreak = n;
  const advance = (to) => {
    while (nextBreak < to) {
      line += 1;
      nextBreak = text.indexOf("\n", nextBreak + 1);
      if (nextBreak < 0) nextBreak = n;
    }
    pos = to;
  };
  const lineOf = (at) => {
    let l = line;
    for (let i = text.indexOf("\n", pos); i >= 0 && i < at; i = text.indexOf("\n", i + 1)) l += 1;
    return l;
  };
  // (expat reads in order: a character XML does not allow before the error, or in a token left open, comes first)
  const fail = (at, message) => {
    const upTo = message === "unclosed token" || message === "unclosed CDATA section" ? n : at;
    if (badChar >= 0 && badChar < upTo) throw new XmlError(lineOf(badChar), INVALID);
    throw new XmlError(lineOf(at), message);
  };
  const checkChars = (end) => {
    if (badChar >= 0 && badChar < end) fail(badChar, INVALID);
  };
  const name = (at) => {
    NAME.lastIndex = at;
    const m = NAME.exec(text);
    return m ? m[0] : null;
  };
  const skipSpace = (at) => {
    SPACE.lastIndex = at;
    SPACE.exec(text);
    return SPACE.lastIndex;
  };
  // A text with its references replaced; `attribute`: whitespace characters become spaces (attribute normalization).
  const unescape = (from, to, attribute) => {
    const raw = text.slice(from, to); // (searched within the span only: a search to the end of the text each time is
    // quadratic in a large extract)
    let out = "";
    let at = 0;
    while (at < raw.length) {
      const amp = raw.indexOf("&", at);
      const stop = amp < 0 ? raw.length : amp;
      const chunk = raw.slice(at, stop);
      out += attribute ? chunk.replace(/[\t\n]/g, " ") : chunk;
      if (stop === raw.length) break;
      const semi = raw.indexOf(";", amp);
      if (semi < 0) fail(from + amp, INVALID);
      const ref = raw.slice(amp + 1, semi);
      if (ref[0] === "#") {
        const m = /^#(?:x([0-9a-fA-F]+)|([0-9]+))$/.exec(ref);
        if (!m) fail(from + amp, INVALID);
        const code = m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2], 10);
        const ok =
          code === 9 || code === 10 || code === 13 || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
        if (!ok) fail(from + amp, "reference to invalid character number");
        out += String.fromCodePoint(code);
      } else if (ENTITIES[ref] !== undefined) out += ENTITIES[ref];
      else if (name(from + amp + 1) === ref) fail(from + amp, "undefined entity");
      else fail(from + amp, INVALID);
      at = semi + 1;
    }
    return out;
  };
  const flush = () => {
    if (pending) handler.data(pending, line); // (expat's line for buffered text: the markup after it)
    pending = "";
  };

  while (pos < n) {
    const lt = text.indexOf("<", pos);
    const stop = lt < 0 ? n : lt;
    if (stop > pos) {
      checkChars(stop);
      if (!stack.length) {
        if (/[^ \t\n]/.test(text.slice(pos, stop))) fail(pos + text.slice(pos, stop).search(/[^ \t\n]/), rootDone ? "junk after document element" : "syntax error");
      } else {
        const gt = text.indexOf(">", pos);
        if (gt >= 0 && gt < stop && text.startsWith("]]>", gt - 2) && gt - 2 >= pos) fail(gt - 2, INVALID);
        pending += unescape(pos, stop, false);
      }
      advance(stop);
    }
    if (lt < 0) break;
    if (text.startsWith("<!--", pos)) {
      const end = text.indexOf("-->", pos + 4);
      if (end < 0) fail(pos, "unclosed token");
      const dash = text.slice(pos + 4, end).indexOf("--");
      if (dash >= 0) fail(pos + 4 + dash, INVALID);
      checkChars(end);
      advance(end + 3);
      continue;
    }
    if (text.startsWith("<?", pos)) {
      const end = text.indexOf("?>", pos + 2);
      if (end < 0) fail(pos, "unclosed token");
      const target = name(pos + 2);
      if (!target) fail(pos, INVALID);
      const afterTarget = pos + 2 + target.length;
      if (afterTarget !== end && !/[ \t\n]/.test(text[afterTarget])) fail(afterTarget, INVALID);
      if (target === "xml" && pos !== 0) fail(pos, "XML or text declaration not at start of entity");
      if (target === "xml" && !DECLARATION.test(text.slice(pos, end + 2))) fail(pos, "XML declaration not well-formed");
      checkChars(end);
      advance(end + 2);
      continue;
    }
    if (text.startsWith("<![CDATA[", pos)) {
      if (!stack.length) fail(pos, INVALID);
      const end = text.indexOf("]]>", pos + 9);
      if (end < 0) fail(pos, "unclosed CDATA section");
      checkChars(end);
      pending += text.slice(pos + 9, end);
      advance(end + 3);
      continue;
    }
    if (text.startsWith("<!DOCTYPE", pos)) {
      flush();
      handler.doctype(line);
      fail(pos, INVALID); // (the handler throws first)
    }
    if (text.startsWith("</", pos)) {
      const tag = name(pos + 2);
      if (!tag) fail(pos + 2, INVALID);
      const close = skipSpace(pos + 2 + tag.length);
      if (close >= n) fail(pos, "unclosed token");
      if (text[close] !== ">") fail(close, INVALID);
      checkChars(close);
      if (stack[stack.length - 1] !== tag) fail(pos, "mismatched tag");
      flush();
      stack.pop();
      handler.end(tag);
      if (!stack.length) rootDone = true;
      advance(close + 1);
      continue;
    }
    // a start tag
    const tag = name(pos + 1);
    if (!tag) fail(pos + 1, pos + 1 >= n ? "unclosed token" : INVALID);
    if (rootDone) fail(pos, "junk after document element");
    let at = pos + 1 + tag.length;
    const attrs = [];
    const seen = new Set();
    let empty = false;
    for (;;) {
      const after = skipSpace(at);
      if (after >= n) fail(pos, "unclosed token");
      if (text[after] === ">") {
        at = after + 1;
        break;
      }
      if (text.startsWith("/>", after)) {
        empty = true;
        at = after + 2;
        break;
      }
      if (after === at) fail(after, INVALID);
      const attr = name(after);
      if (!attr) fail(after, INVALID);
      let eq = skipSpace(after + attr.length);
      if (text[eq] !== "=") fail(eq, INVALID);
      const q = skipSpace(eq + 1);
      const quote = text[q];
      if (quote !== '"' && quote !== "'") fail(q, INVALID);
      const close = text.indexOf(quote, q + 1);
      if (close < 0) fail(pos, "unclosed token");
      const lt2 = text.indexOf("<", q + 1);
      if (lt2 >= 0 && lt2 < close) fail(lt2, INVALID);
      checkChars(close);
      if (seen.has(attr)) fail(after, "duplicate attribute");
      seen.add(attr);
      attrs.push([attr, unescape(q + 1, close, true)]);
      at = close + 1;
    }
    checkChars(at);
    flush();
    const startLine = line;
    stack.push(tag);
    handler.start(tag, attrs, startLine);
    advance(at);
    if (empty) {
      stack.pop();
      handler.end(tag);
      if (!stack.length) rootDone = true;
    }
  }
  if (!rootDone) throw new XmlError(line, "no element found");
  return line;
}

// ElementTree's escapes (ET.tostring): text, and attribute values.
const escapeText = (t) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const escapeAttr = (t) =>
  escapeText(t).replace(/"/g, "&quot;").replace(/\r/g, "&#13;").replace(/\n/g, "&#10;").replace(/\t/g, "&#09;");
const ONE_LINE = { "\n": "&#10;", "\r": "&#13;", "\t": "&#9;" };

function serialize(node, out) {
  out.push("<", node.tag);
  for (const [k, v] of node.attrs) out.push(" ", k, '="', escapeAttr(v), '"');
  if (node.text || node.children.length) {
    out.push(">");
    if (node.text) out.push(escapeText(node.text));
    for (const child of node.children) serialize(child, out);
    out.push("</", node.tag, ">");
  } else out.push(" />");
  if (node.tail) out.push(escapeText(node.tail));
}

// The element on one line, without the whitespace that only indented it (XmlProfile.one_line).
export function oneLine(element) {
  const strip = (node) => {
    if (node.text !== null && !pyStrip(node.text)) node.text = null;
    if (node.tail !== null && !pyStrip(node.tail)) node.tail = null;
    node.children.forEach(strip);
  };
  strip(element);
  element.tail = null;
  const out = [];
  serialize(element, out);
  return out.join("").replace(/[\n\r\t]/g, (c) => ONE_LINE[c]);
}

// The items of an extract as XmlExtract.scan yields them: the header element (once), each record element with the
// line of its start tag, and at most one malformation ({line, message}), after which nothing more comes.
// on.header(element), on.record(line, element), on.malformed(line, message).
export function scanExtract(bytes, profile, on) {
  let depth = 0;
  let headerSeen = false;
  let current = null; // the stack of open elements inside a depth-2 element
  let startLine = 0;
  class Stop extends Error {}
  const stop = (line, message) => {
    on.malformed(line, message);
    throw new Stop();
  };
  const handler = {
    start(tag, attrs, line) {
      depth += 1;
      if (depth === 1) {
        if (tag !== profile.root) stop(line, `the document must be a <${profile.root}>, not a <${tag}>`);
        return;
      }
      if (depth === 2) {
        if (tag === profile.header_element) {
          if (headerSeen) stop(line, `a second <${tag}>; a document has one`);
        } else if (tag === profile.record) {
          if (!headerSeen) stop(line, `<${profile.header_element}> must come before the first <${tag}>`);
        } else {
          stop(line, `<${tag}> is not expected in <${profile.root}>: only <${profile.header_element}> and <${profile.record}>`);
        }
        startLine = line;
        current = [];
      }
      const node = { tag, attrs, children: [], text: null, tail: null };
      if (current.length) current[current.length - 1].children.push(node);
      current.push(node);
    },
    end() {
      if (depth >= 2) {
        const node = current.pop();
        if (depth === 2) {
          current = null;
          if (node.tag === profile.header_element) {
            headerSeen = true;
            on.header(node);
          } else on.record(startLine, node);
        }
      }
      depth -= 1;
    },
    data(text, line) {
      if (current && current.length) {
        const open = current[current.length - 1];
        const last = open.children[open.children.length - 1];
        if (last) last.tail = (last.tail ?? "") + text;
        else open.text = (open.text ?? "") + text;
      } else if (depth === 1 && pyStrip(text)) stop(line, `text is not allowed directly in <${profile.root}>`);
    },
    doctype(line) {
      stop(line, "a DOCTYPE is not allowed");
    },
  };
  let lastLine = 1;
  try {
    lastLine = parseXml(decodeXml(bytes), handler);
  } catch (error) {
    if (error instanceof Stop) return;
    if (error instanceof XmlError) {
      on.malformed(error.line, `not well-formed XML: ${error.message}`);
      return;
    }
    throw error;
  }
  if (!headerSeen) on.malformed(lastLine, `the document has no <${profile.header_element}>`);
}

const XML_NS = "http://www.w3.org/XML/1998/namespace";

// The element as ElementTree parses its one line again (XmlProfile.element_of does where the names hold a prefix or
// an attribute declares a namespace): prefixed and default-namespaced names become {uri}local, the declarations go.
// null where a prefix is not declared (ElementTree cannot read that line).
export function resolveNamespaces(node, scope = { xml: XML_NS }) {
  const inner = { ...scope };
  for (const [k, v] of node.attrs) {
    if (k === "xmlns") inner[""] = v;
    else if (k.startsWith("xmlns:")) inner[k.slice(6)] = v;
  }
  const qualify = (name, element) => {
    const colon = name.indexOf(":");
    if (colon < 0) return element && inner[""] ? `{${inner[""]}}${name}` : name;
    const uri = inner[name.slice(0, colon)];
    if (!uri) throw new XmlError(0, "unbound prefix");
    return `{${uri}}${name.slice(colon + 1)}`;
  };
  const attrs = node.attrs.filter(([k]) => k !== "xmlns" && !k.startsWith("xmlns:")).map(([k, v]) => [qualify(k, false), v]);
  const children = node.children.map((child) => resolveNamespaces(child, inner));
  return { ...node, tag: qualify(node.tag, true), attrs, children };
}

// Whether ElementTree reads the element's line back unchanged (xmldoc._reparses_unchanged).
export function reparsesUnchanged(node) {
  if (node.tag.includes(":") || node.attrs.some(([k]) => k.includes(":") || k === "xmlns")) return false;
  return node.children.every(reparsesUnchanged);
}

// A record element split as XmlExtract._record splits it: [ids, data], the identifier attributes' values (stripped;
// "" for one that is not there) in the profile's order, and the element on one line without them. Takes them out
// of `element`.
export function splitRecord(element, idFields) {
  const ids = idFields.map((name) => {
    const at = element.attrs.findIndex(([k]) => k === name);
    if (at < 0) return [name, ""];
    const [[, value]] = element.attrs.splice(at, 1);
    return [name, pyStrip(value)];
  });
  return [ids, oneLine(element)];
}

// The header lines and the records' [ids, data] of an extract the check accepted (the Worker's split);
// progress(n) every 20,000 records.
export function splitXml(bytes, profile, progress = () => {}) {
  const idFields = profile.fields.filter((f) => f.id_kind).map((f) => f.name);
  const header = [];
  const rows = [];
  scanExtract(bytes, profile, {
    header: (element) => header.push(oneLine(element)),
    record(line, element) {
      rows.push(splitRecord(element, idFields));
      if (rows.length % 20000 === 0) progress(rows.length);
    },
    malformed(line) {
      throw new Error(`malformed extract (line ${line})`);
    },
  });
  return { header, rows };
}
