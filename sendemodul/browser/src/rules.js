// SSB's record controls of 11F and 11CF, run from the same rule table (sendemodul/profiles/<REGISTER>.controls.json)
// that the CLI compiles in Python (sendemodul/profiles/rules/rule_table.py, the reference). docs/profiles.md specifies
// the table and its expression language. This is a small interpreter: each expression becomes a closure once, so
// the page needs no eval or new Function (its CSP forbids both), and a record is a plain object of field name ->
// text with its padding spaces stripped (identifiers included), exactly what the Python side reads.

const PY_SPACE = /^[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;
const DIGITS = /^[0-9]+$/;
const PLACEHOLDER_SUFFIXES = new Set(["00100", "00200", "99999"]);
const DUF_WEIGHTS = [4, 6, 3, 2, 4, 6, 3, 2, 7, 5];
const STRICT_DATE = /^(?:0[1-9]|[12][0-9]|3[01])(?:0[1-9]|1[0-2])[0-9]{4}$/;

const leap = (y) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const monthDays = (y, m) => [31, leap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];

// A number field as SSB reads it: the whole number (a sign allowed), 0 if it is not one (as Python's str.strip()).
export function ssbInt(text) {
  if (text.length <= 9 && DIGITS.test(text)) return Number(text); // the common case: digits alone, nothing to strip
  const t = text.replace(PY_SPACE, "");
  const body = t[0] === "+" || t[0] === "-" ? t.slice(1) : t;
  if (!DIGITS.test(body) || body.length > 9) return 0;
  const n = Number(body);
  return t[0] === "-" ? -n : n;
}

// A ddMMyyyy date as SSB reads it: day 01-31, month 01-12, a day past the month's end is its last day; or null.
export function ssbDate(text) {
  if (text.length !== 8 || !DIGITS.test(text)) return null;
  let day = Number(text.slice(0, 2));
  const month = Number(text.slice(2, 4));
  const year = Number(text.slice(4));
  if (!(day >= 1 && day <= 31 && month >= 1 && month <= 12 && year >= 1)) return null;
  day = Math.min(day, monthDays(year, month));
  return { year, month, day };
}

// A ddMMyyyy date read strictly (a day past the month's end is no date), or null.
export function strictDate(text) {
  if (!STRICT_DATE.test(text)) return null;
  const day = Number(text.slice(0, 2));
  const month = Number(text.slice(2, 4));
  const year = Number(text.slice(4));
  if (year < 1 || day > monthDays(year, month)) return null;
  return { year, month, day };
}

// The birth year SSB reads from a fødselsnummer in reporting year `year`, or null (rule_table.ssb_birth_year).
export function ssbBirthYear(fnr, year) {
  if (fnr.length !== 11 || !DIGITS.test(fnr)) return null;
  let day = Number(fnr.slice(0, 2));
  let month = Number(fnr.slice(2, 4));
  const yy = Number(fnr.slice(4, 6));
  if (PLACEHOLDER_SUFFIXES.has(fnr.slice(6))) {
    if (!(day >= 1 && day <= 31 && month >= 1 && month <= 12)) return null;
    return 2000 + yy > year + 1 ? 1900 + yy : 2000 + yy;
  }
  if (day >= 40) day -= 40;
  if (month >= 80) month -= 80;
  if (!(day >= 1 && day <= 31 && month >= 1 && month <= 12)) return null;
  const individual = Number(fnr.slice(6, 9));
  if (individual >= 500 && yy <= 39) return 2000 + yy;
  if (individual >= 500 && individual <= 749 && yy >= 54) return 1800 + yy;
  if (individual <= 499 || individual >= 900) return 1900 + yy;
  return 2000 + yy;
}

export function dufOk(digits) {
  if (digits.length !== 12 || !DIGITS.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < 10; i += 1) sum += DUF_WEIGHTS[i] * Number(digits[i]);
  return digits.slice(10) === String(sum % 11).padStart(2, "0");
}

const shown = (value) => (value.length > 0 && value.length <= 4 ? ` (fant '${value}')` : "");
const isNull = (x) => x === null || x === undefined;
const compare = (op) => (a, b) => !isNull(a) && !isNull(b) && op(a, b);
const COMPARISONS = {
  "<": compare((a, b) => a < b),
  "<=": compare((a, b) => a <= b),
  ">": compare((a, b) => a > b),
  ">=": compare((a, b) => a >= b),
};
// Python's str(): the only values a message shows are texts, whole numbers and null (never a date).
const pyStr = (x) => (isNull(x) ? "None" : typeof x === "boolean" ? (x ? "True" : "False") : String(x));

// The controls of one profile (the combined table's entry: fields with codes, periode, and `controls`), compiled to
// closures; `kommuner`: the kommunenummer in force in the profile's year.
export function compileControls(profile, table, kommuner) {
  const specs = new Map(profile.fields.map((f) => [f.name, f]));
  const year = profile.periode;
  const valid = new Set(kommuner);
  const field = (name) => {
    if (!specs.has(name)) throw new Error(`${table.register}: no field ${name}`);
    return specs.get(name);
  };
  const codes = (name) => new Set(field(name).codes);

  function set(e) {
    if (Array.isArray(e) && e[0] === "codes") return codes(e[1]);
    if (Array.isArray(e) && e[0] === "set") return new Set(e.slice(1));
    throw new Error(`${table.register}: not a set: ${JSON.stringify(e)}`);
  }

  // scope: {defs: Map name -> closure of the record's memo, lets: Map name -> closure}
  function compile(e, scope) {
    if (!Array.isArray(e)) return () => e;
    const [op, ...a] = e;
    const c = (x) => compile(x, scope);
    switch (op) {
      case "f": {
        field(a[0]);
        const name = a[0];
        return (r) => r.values[name] ?? "";
      }
      case "var": {
        const name = a[0];
        const found = scope.lets.get(name) || scope.defs.get(name);
        if (!found) throw new Error(`${table.register}: no value ${name}`);
        return found;
      }
      case "year":
        return () => year;
      case "in": {
        const x = c(a[0]);
        const members = set(a[1]);
        return (r) => members.has(x(r));
      }
      case "==":
      case "!=": {
        const x = c(a[0]);
        const y = c(a[1]);
        const same = (p, q) => (isNull(p) && isNull(q)) || p === q;
        return op === "==" ? (r) => same(x(r), y(r)) : (r) => !same(x(r), y(r));
      }
      case "<":
      case "<=":
      case ">":
      case ">=": {
        const x = c(a[0]);
        const y = c(a[1]);
        const cmp = COMPARISONS[op];
        return (r) => cmp(x(r), y(r));
      }
      case "and": {
        const parts = a.map(c);
        return (r) => parts.every((p) => p(r));
      }
      case "or": {
        const parts = a.map(c);
        return (r) => parts.some((p) => p(r));
      }
      case "not": {
        const x = c(a[0]);
        return (r) => !x(r);
      }
      case "if": {
        const [cond, yes, no] = a.map(c);
        return (r) => (cond(r) ? yes(r) : no(r));
      }
      case "blank": {
        const x = c(a[0]);
        return (r) => x(r) === "";
      }
      case "filled": {
        const x = c(a[0]);
        return (r) => x(r) !== "";
      }
      case "null": {
        const x = c(a[0]);
        return (r) => isNull(x(r));
      }
      case "coalesce": {
        const x = c(a[0]);
        const y = c(a[1]);
        return (r) => {
          const v = x(r);
          return isNull(v) ? y(r) : v;
        };
      }
      case "+":
      case "-": {
        const x = c(a[0]);
        const y = c(a[1]);
        const sign = op === "+" ? 1 : -1;
        return (r) => {
          const p = x(r);
          const q = y(r);
          return isNull(p) || isNull(q) ? null : p + sign * q;
        };
      }
      case "ssb_int": {
        const x = c(a[0]);
        return (r) => ssbInt(x(r));
      }
      case "ssb_date": {
        const x = c(a[0]);
        return (r) => ssbDate(x(r));
      }
      case "date": {
        const x = c(a[0]);
        return (r) => strictDate(x(r));
      }
      case "year_of": {
        const x = c(a[0]);
        return (r) => {
          const d = x(r);
          return isNull(d) ? null : d.year;
        };
      }
      case "ssb_birth_year": {
        const x = c(a[0]);
        return (r) => ssbBirthYear(x(r), year);
      }
      case "month_sum": {
        a.forEach(field);
        return (r) => a.reduce((sum, name) => sum + ssbInt(r.values[name] ?? ""), 0);
      }
      case "any_code": {
        const sets = a.map((name) => [name, codes(name)]);
        return (r) => sets.some(([name, s]) => s.has(r.values[name] ?? ""));
      }
      case "kommunenr_valid": {
        const x = c(a[0]);
        return (r) => {
          const code = x(r);
          return DIGITS.test(code) && valid.has(code);
        };
      }
      case "duf_ok": {
        const x = c(a[0]);
        return (r) => dufOk(x(r));
      }
      case "shown": {
        const x = c(a[0]);
        return (r) => shown(x(r));
      }
      case "join": {
        const text = [...set(a[1])].sort().join(a[0]);
        return () => text;
      }
      default:
        throw new Error(`${table.register}: unknown operator ${JSON.stringify(op)}`);
    }
  }

  // A value computed at most once per record: its memo lives on the record.
  function memo(key, fn) {
    return (r) => {
      if (!(key in r.memo)) r.memo[key] = fn(r);
      return r.memo[key];
    };
  }

  function message(m, scope) {
    if (Array.isArray(m)) {
      const cond = compile(m[1], scope);
      const yes = message(m[2], scope);
      const no = message(m[3], scope);
      return (r) => (cond(r) ? yes(r) : no(r));
    }
    const parts = m.split(/\{(\w+)\}/);
    const values = parts.map((part, i) => {
      if (i % 2 === 0) return () => part;
      const found = part === "year" ? () => year : scope.lets.get(part) || scope.defs.get(part);
      if (!found) throw new Error(`${table.register}: no value ${part} in a message`);
      return (r) => pyStr(found(r));
    });
    return (r) => values.map((v) => v(r)).join("");
  }

  const defs = new Map();
  for (const [name, e] of Object.entries(table.defs || {})) {
    defs.set(name, memo(`d:${name}`, compile(e, { defs, lets: new Map() })));
  }
  const controls = table.controls.map((control) => {
    const lets = new Map();
    const scope = { defs, lets };
    for (const [name, e] of Object.entries(control.let || {})) {
      lets.set(name, memo(`l:${control.id}:${name}`, compile(e, scope)));
    }
    return {
      id: control.id,
      severity: control.severity,
      field: control.field ?? null,
      when: compile(control.when, scope),
      message: message(control.message.nb, scope),
    };
  });

  // [{severity, id, field, message}] for each control the record's values break, in table order.
  function violations(values) {
    const record = { values, memo: Object.create(null) };
    const found = [];
    for (const control of controls) {
      if (control.when(record)) {
        found.push({ severity: control.severity, id: control.id, field: control.field, message: control.message(record) });
      }
    }
    return found;
  }
  return { violations, ids: controls.map((c) => c.id), titles: table.titles };
}
