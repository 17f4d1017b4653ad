// The field rules of a fixed-width record (mandatory, the unit's and the year's values, type, date, length, code
// list, the bydel rule), as sendemodul/profiles/rules/fields.py (FieldRule.problem, the reference) judges them, from
// the combined table (`sendemodul profiles export`): field specifications, code lists, the kommunenummer in force
// and the kommuner's reporting bydeler are data there, not here. Identifier fields are the identifier rules' work.

const DIGITS = /^[0-9]+$/;
const DATE_SHAPES = {
  ddMMyyyy: /^(?:0[1-9]|[12][0-9]|3[01])(?:0[1-9]|1[0-2])[0-9]{4}$/,
  "yyyy-MM-dd": /^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])$/,
};
const SHOW_MAX_CHARS = 4;
const MEMO_MAX = 1 << 15;
// The rule a role's other value breaks, and that value in words (fields.py's _ROLE_RULES).
const ROLE_RULES = {
  kommunenr: ["KOMMUNENR", "the unit's kommunenr"],
  orgnr: ["ORGNR", "the unit's orgnr"],
  version: ["VERSION", "the last two digits of the periode"],
  periode: ["VERSION", "the periode"],
};
// SSB's K003 in these registers: a kommune without bydeler leaves the field blank (00 is not accepted).
const BLANK_BYDEL_ONLY = new Set(["sosialhjelp", "kvalifisering"]);

const leap = (y) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const monthDays = (y, m) => [31, leap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
const codePoints = (text) => [...text].length;

// Python's str.isprintable() for one character (the Unicode classes it rejects; a space is printable).
const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

// Python's repr() of a text: the quote it picks, and its escapes.
export function pyRepr(text) {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = "";
  for (const ch of text) {
    const code = ch.codePointAt(0);
    if (ch === "\\" || ch === quote) out += `\\${ch}`;
    else if (ch === "\t") out += "\\t";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch !== " " && NOT_PRINTABLE.test(ch)) {
      if (code < 0x100) out += `\\x${code.toString(16).padStart(2, "0")}`;
      else if (code < 0x10000) out += `\\u${code.toString(16).padStart(4, "0")}`;
      else out += `\\U${code.toString(16).padStart(8, "0")}`;
    } else out += ch;
  }
  return quote + out + quote;
}

// ` (found 'x')` for a short value; nothing for a longer one, which could be (part of) an identifier.
const show = (value) => {
  const n = codePoints(value);
  return n > 0 && n <= SHOW_MAX_CHARS ? ` (found ${pyRepr(value)})` : "";
};

export function parseDate(value, format) {
  if (!DATE_SHAPES[format].test(value)) return null;
  const [day, month, year] =
    format === "ddMMyyyy"
      ? [Number(value.slice(0, 2)), Number(value.slice(2, 4)), Number(value.slice(4))]
      : [Number(value.slice(8, 10)), Number(value.slice(5, 7)), Number(value.slice(0, 4))];
  if (year < 1 || day > monthDays(year, month)) return null;
  return { year, month, day };
}

// The values a record's bydel field may hold for the unit ("" = blank), and that rule in words (allowed_bydeler).
function allowedBydeler(profile, unit, table) {
  if (unit.bydel !== "00") return [new Set([unit.bydel]), `must be the unit's bydel ${unit.bydel}`];
  const reporting = (table.bydeler || {})[unit.kommunenr];
  if (reporting && reporting.length) {
    const rule = `must be one of ${unit.kommunenr}'s bydeler ${reporting[0]}-${reporting[reporting.length - 1]}`;
    return [new Set(reporting), rule];
  }
  if (BLANK_BYDEL_ONLY.has(profile.controls)) return [new Set([""]), `must be blank: ${unit.kommunenr} has no bydeler`];
  return [new Set(["", "00"]), `must be blank (or 00): ${unit.kommunenr} has no bydeler`];
}

// The field rules of one profile (the combined table's entry) for `unit` ({kommunenr, bydel, orgnr}): a function of a
// record's values (field name -> text) giving [{field, rule, control, message}] for each field that breaks a rule,
// in field order (the first rule a field breaks, as fields.py).
export function compileFieldRules(profile, unit, table) {
  const year = profile.periode;
  const expected = {
    kommunenr: unit.kommunenr,
    orgnr: unit.orgnr,
    version: String(year % 100).padStart(2, "0"),
    periode: String(year),
  };
  const [bydeler, bydelRule] = allowedBydeler(profile, unit, table);
  const kommuner = new Set(table.kommuner);

  function codesInWords(spec) {
    // spec.codes keeps the profile's order (an object's number-like keys would come first, sorted).
    const codes = spec.codes;
    if (spec.codes_from) {
      const extra = codes.map((code) => ` or ${code} (${spec.code_texts[code]})`).join("");
      return `a kommunenummer valid in ${year}${extra}`;
    }
    return codes.length > 1 ? `one of the codes ${codes.slice(0, -1).join(", ")} or ${codes[codes.length - 1]}` : codes[0];
  }

  function rule(spec) {
    const label = spec.name;
    const want = spec.role ? expected[spec.role] : undefined;
    const roleRule = want !== undefined ? ROLE_RULES[spec.role] : null;
    const codes = new Set(spec.codes);
    const words = spec.codes.length || spec.codes_from ? codesInWords(spec) : "";
    return (value) => {
      const v = value.replace(/^ +| +$/g, "");
      if (spec.role === "bydel") return bydeler.has(v) ? null : ["BYDEL", `${label} ${bydelRule}${show(v)}`];
      if (!v) return spec.mandatory ? ["MANDATORY", `${label} must be filled in`] : null;
      if (roleRule && v !== want) return [roleRule[0], `${label} must be ${roleRule[1]}, ${want}${show(v)}`];
      if (spec.type === "integer" && !DIGITS.test(v)) {
        return ["INTEGER", `${label} must be a whole number (digits only)${show(v)}`];
      }
      if (spec.format && parseDate(v, spec.format) === null) {
        return ["DATE", `${label} must be a valid date written ${spec.format}${show(v)}`];
      }
      const length = codePoints(v);
      if (spec.max_length !== null && length > spec.max_length) {
        return ["LENGTH", `${label} is ${length} characters long; at most ${spec.max_length} are allowed`];
      }
      if (spec.min_length !== null && length < spec.min_length) {
        return ["LENGTH", `${label} is ${length} characters long; at least ${spec.min_length} are needed`];
      }
      if ((codes.size || spec.codes_from) && !codes.has(v) && !(spec.codes_from && DIGITS.test(v) && kommuner.has(v))) {
        return ["CODE", `${label} must be ${words}${show(v)}`];
      }
      return null;
    };
  }

  // SSB's control id of a finding (sosial_ids.ssb_control, its constants from the table); none without SSB's controls.
  const ssbIds = table.ssb_ids || {};
  const fieldRules = new Set(table.field_rules || []);
  const controlOf = (spec, rule) => {
    if (!profile.controls) return null;
    if (rule in ssbIds) return ssbIds[rule];
    if (fieldRules.has(rule)) return spec.control || profile.field_control || null;
    return null;
  };

  // A field's verdict on a text, remembered (bounded): values repeat a lot in an extract (codes, dates, blanks).
  const remembered = (check) => {
    const memo = new Map();
    return (value) => {
      let found = memo.get(value);
      if (found === undefined) {
        found = check(value);
        if (memo.size < MEMO_MAX) memo.set(value, found);
      }
      return found;
    };
  };
  const rules = profile.fields
    .filter((spec) => spec.checked && !spec.id_kind)
    .map((spec) => [spec, remembered(rule(spec))]);
  return function problems(values) {
    const found = [];
    for (const [spec, check] of rules) {
      const problem = check(values[spec.name] ?? "");
      if (problem) found.push({ field: spec.name, rule: problem[0], control: controlOf(spec, problem[0]), message: problem[1] });
    }
    return found;
  };
}
