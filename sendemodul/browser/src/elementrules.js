// SSB's controls over a whole record element (15F's barnevern controls over an <Individ>), run from the same table
// the CLI interprets (sendemodul/profiles/15F.controls.json; docs/profiles.md specifies it, CPython is the reference).
// loadElementRules(table) checks the table once (the load errors name the control) and compiles every expression
// to a closure (the page's CSP forbids eval); run(element, facts) gives one element's findings in emission order as
// [id, severity, field, message in Bokmål, message in Nynorsk]. The element is xml.js's tree ({tag, attrs: [[name,
// value]], children, text}); attribute values and texts are read stripped as Python's str.strip() strips them.

import { pyStrip } from "./xml.js";

export class ElementRulesError extends Error {}

const SEVERITIES = new Set(["ERROR", "WARNING", "INFO"]);
const BUILTINS = ["number", "age", "fnr", "duf", "kommunenr"];

// -- Days as Python's date.toordinal() counts them (0001-01-01 is day 1) -------------------------------------------

const leap = (y) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const monthDays = (y, m) => [31, leap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
const before = (y) => {
  const p = y - 1;
  return p * 365 + Math.floor(p / 4) - Math.floor(p / 100) + Math.floor(p / 400);
};
const CUMULATIVE = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

export function ordinal(y, m, d) {
  return before(y) + CUMULATIVE[m - 1] + (m > 2 && leap(y) ? 1 : 0) + d;
}

export function yearOf(n) {
  let y = Math.floor((n - 1) / 365.2425) + 1;
  while (before(y) >= n) y -= 1;
  while (before(y + 1) < n) y += 1;
  return y;
}

const validYmd = (y, m, d) => y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= monthDays(y, m);
const ASCII10 = /^[\x00-\x7f]{10}$/;
const isDigits = (text, from, n) => {
  for (let i = from; i < from + n; i++) {
    const c = text.charCodeAt(i);
    if (!(c >= 48 && c <= 57)) return false;
  }
  return true;
};

// Python's date.fromisoformat on a text of exactly 10 characters (CPython 3.11's parser: YYYY-MM-DD, YYYYMMDD and the
// ISO week forms, whatever follows the date itself), as a day number, or null.
export function isoDay(text) {
  if (typeof text !== "string" || !ASCII10.test(text) || !isDigits(text, 0, 4)) return null;
  const year = Number(text.slice(0, 4));
  const sep = text[4] === "-";
  let p = sep ? 5 : 4;
  if (text[p] === "W") {
    p += 1;
    if (!isDigits(text, p, 2)) return null;
    const week = Number(text.slice(p, p + 2));
    p += 2;
    if (sep && text[p++] !== "-") return null;
    if (!isDigits(text, p, 1)) return null;
    const day = Number(text[p]);
    if (week <= 0 || week >= 53) {
      const first = (ordinal(year, 1, 1) + 6) % 7; // Monday 0
      if (!(week === 53 && (first === 3 || (first === 2 && leap(year))))) return null;
    }
    if (day <= 0 || day >= 8) return null;
    const jan1 = ordinal(year, 1, 1);
    const weekday = (jan1 + 6) % 7;
    const monday = jan1 - weekday + (weekday > 3 ? 7 : 0);
    const n = monday + (week - 1) * 7 + day - 1;
    const y = yearOf(n);
    return y >= 1 && y <= 9999 ? n : null;
  }
  if (!isDigits(text, p, 2)) return null;
  const month = Number(text.slice(p, p + 2));
  p += 2;
  if (sep && text[p++] !== "-") return null;
  if (!isDigits(text, p, 2)) return null;
  const day = Number(text.slice(p, p + 2));
  return validYmd(year, month, day) ? ordinal(year, month, day) : null;
}

// -- Elements --------------------------------------------------------------------------------------------------------

const attrOf = (node, name) => {
  for (const [k, v] of node.attrs) if (k === name) return pyStrip(v);
  return "";
};

const PATH = /^[A-Za-z_][A-Za-z0-9_]*(?:\/[A-Za-z_][A-Za-z0-9_]*)*$/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CONTROL_KEYS = new Set(["id", "severity", "field", "each", "let", "when", "message"]);
const GROUP_KEYS = new Set(["each", "let", "controls"]);

// ElementTree's iterfind on a plain path of tags: the elements in document order.
function compilePath(path, where) {
  if (typeof path !== "string" || !PATH.test(path)) {
    throw new ElementRulesError(`${where}: ${JSON.stringify(path)} is not a path of element names`);
  }
  const steps = path.split("/");
  return (node) => {
    let found = [node];
    for (const tag of steps) {
      const next = [];
      for (const n of found) for (const c of n.children) if (c.tag === tag) next.push(c);
      found = next;
    }
    return found;
  };
}

function firstAt(steps, node) {
  const found = steps(node);
  return found.length ? found[0] : null;
}

function subtree(node, tags, out) {
  if (tags.has(node.tag)) out.push(node);
  for (const c of node.children) subtree(c, tags, out);
  return out;
}

// -- Values as a message shows them: a text as written, a whole number in decimal, null as nothing -------------------

const shown = (v) => (v === null || v === undefined ? "" : String(v));
const isNull = (v) => v === null || v === undefined;
const lessThan = (a, b) => {
  if (typeof a === "string" && typeof b === "string") {
    const x = [...a].map((c) => c.codePointAt(0));
    const y = [...b].map((c) => c.codePointAt(0));
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
    return x.length - y.length;
  }
  return a < b ? -1 : a > b ? 1 : 0;
};
const truthy = (v) => !(v === null || v === undefined || v === false || v === 0 || v === "");

// -- The compiler ----------------------------------------------------------------------------------------------------

// Each operator: [fewest arguments, most (Infinity: any)].
const ARITY = {
  attr: [1, 2],
  text: [1, 1],
  count: [1, 1],
  tag: [0, 0],
  var: [1, 1],
  macro: [1, 1],
  year: [0, 0],
  date: [1, 1],
  ymd: [3, 3],
  year_of: [1, 1],
  "+": [2, 2],
  "-": [2, 2],
  min: [2, 2],
  max: [2, 2],
  "<": [2, 2],
  "<=": [2, 2],
  ">": [2, 2],
  ">=": [2, 2],
  "==": [2, 2],
  "!=": [2, 2],
  and: [1, Infinity],
  or: [1, Infinity],
  not: [1, 1],
  if: [3, 3],
  null: [1, 1],
  coalesce: [2, 2],
  blank: [1, 1],
  filled: [1, 1],
  in: [2, 2],
  starts: [2, Infinity],
  some_after: [1, 1],
  some: [2, 2],
};

const text = (x) => (typeof x === "string" ? x : null);

// The macros with their uses expanded (a macro may use the macros before it; a cycle is an error).
function expandMacros(macros, file) {
  const done = new Map();
  const expanding = new Set();
  const expand = (expr, where) => {
    if (!Array.isArray(expr)) return expr;
    if (expr[0] === "macro") {
      const name = expr[1];
      if (expr.length !== 2 || typeof name !== "string") throw new ElementRulesError(`${where}: "macro" takes one name`);
      if (!Object.hasOwn(macros, name)) throw new ElementRulesError(`${where}: no macro ${JSON.stringify(name)}`);
      if (done.has(name)) return done.get(name);
      if (expanding.has(name)) throw new ElementRulesError(`${where}: macro ${JSON.stringify(name)} uses itself (a macro cycle)`);
      expanding.add(name);
      const body = expand(macros[name], `${file} macros.${name}`);
      expanding.delete(name);
      done.set(name, body);
      return body;
    }
    return expr.map((e, i) => (i === 0 ? e : expand(e, where)));
  };
  for (const name of Object.keys(macros)) expand(["macro", name], `${file} macros.${name}`);
  return expand;
}

// An expression to a function of (node, env, group): the current element, the names visible (an object whose
// prototype chain holds the outer scopes), and the group's iteration ({items, index}, for some_after); `names`: the
// names visible here; `inGroup`: inside a group.
function compileExpr(expr, names, inGroup, where) {
  const c = (e) => compileExpr(e, names, inGroup, where);
  if (expr === null || typeof expr === "string" || typeof expr === "boolean") return () => expr;
  if (typeof expr === "number") {
    if (!Number.isInteger(expr)) throw new ElementRulesError(`${where}: ${expr} is not a whole number`);
    return () => expr;
  }
  if (!Array.isArray(expr) || !expr.length || typeof expr[0] !== "string") {
    throw new ElementRulesError(`${where}: ${JSON.stringify(expr)} is not an expression`);
  }
  const [op, ...a] = expr;
  if (!Object.hasOwn(ARITY, op)) throw new ElementRulesError(`${where}: unknown operator ${JSON.stringify(op)}`);
  const [least, most] = ARITY[op];
  if (a.length < least || a.length > most) {
    throw new ElementRulesError(`${where}: ${JSON.stringify(op)} takes ${least === most ? least : `${least} or more`} argument(s), not ${a.length}`);
  }
  const literalText = (x, what) => {
    if (typeof x !== "string") throw new ElementRulesError(`${where}: ${JSON.stringify(op)} wants ${what} as a literal text`);
    return x;
  };
  switch (op) {
    case "attr": {
      const name = literalText(a[0], "an attribute name");
      if (a.length === 1) return (node) => attrOf(node, name);
      const steps = compilePath(a[1], where);
      return (node) => {
        const found = firstAt(steps, node);
        return found ? attrOf(found, name) : "";
      };
    }
    case "text": {
      const steps = compilePath(a[0], where);
      return (node) => {
        const found = firstAt(steps, node);
        return found ? pyStrip(found.text ?? "") : "";
      };
    }
    case "count": {
      const steps = compilePath(a[0], where);
      return (node) => steps(node).length;
    }
    case "tag":
      return (node) => node.tag;
    case "var": {
      const name = literalText(a[0], "a name");
      if (!names.has(name)) throw new ElementRulesError(`${where}: ${JSON.stringify(name)} is used before it is defined`);
      return (node, env) => env[name];
    }
    case "macro":
      throw new ElementRulesError(`${where}: macro left unexpanded`); // (expandMacros replaces each)
    case "year":
      return (node, env) => env.$year;
    case "date": {
      const x = c(a[0]);
      return (node, env, group) => isoDay(x(node, env, group));
    }
    case "ymd": {
      if (!a.every((v) => Number.isInteger(v))) {
        const [y, m, d] = a.map(c);
        return (node, env, group) => {
          const [yy, mm, dd] = [y(node, env, group), m(node, env, group), d(node, env, group)];
          if (![yy, mm, dd].every(Number.isInteger) || !validYmd(yy, mm, dd)) {
            throw new ElementRulesError(`${where}: ["ymd", ${yy}, ${mm}, ${dd}] is not a date`);
          }
          return ordinal(yy, mm, dd);
        };
      }
      if (!validYmd(...a)) throw new ElementRulesError(`${where}: ${JSON.stringify(expr)} is not a date`);
      const day = ordinal(...a);
      return () => day;
    }
    case "year_of": {
      const x = c(a[0]);
      return (node, env, group) => {
        const v = x(node, env, group);
        return isNull(v) ? null : yearOf(v);
      };
    }
    case "+":
    case "-":
    case "min":
    case "max": {
      const [x, y] = a.map(c);
      const f = { "+": (p, q) => p + q, "-": (p, q) => p - q, min: Math.min, max: Math.max }[op];
      return (node, env, group) => {
        const p = x(node, env, group);
        if (isNull(p)) return null;
        const q = y(node, env, group);
        return isNull(q) ? null : f(p, q);
      };
    }
    case "<":
    case "<=":
    case ">":
    case ">=": {
      const [x, y] = a.map(c);
      const f = { "<": (r) => r < 0, "<=": (r) => r <= 0, ">": (r) => r > 0, ">=": (r) => r >= 0 }[op];
      return (node, env, group) => {
        const p = x(node, env, group);
        if (isNull(p)) return false;
        const q = y(node, env, group);
        return !isNull(q) && f(lessThan(p, q));
      };
    }
    case "==":
    case "!=": {
      const [x, y] = a.map(c);
      const same = (p, q) => (isNull(p) ? isNull(q) : p === q);
      return op === "==" ? (n, e, g) => same(x(n, e, g), y(n, e, g)) : (n, e, g) => !same(x(n, e, g), y(n, e, g));
    }
    case "and": {
      const xs = a.map(c);
      return (n, e, g) => xs.every((x) => truthy(x(n, e, g)));
    }
    case "or": {
      const xs = a.map(c);
      return (n, e, g) => xs.some((x) => truthy(x(n, e, g)));
    }
    case "not": {
      const x = c(a[0]);
      return (n, e, g) => !truthy(x(n, e, g));
    }
    case "if": {
      const [cond, yes, no] = a.map(c);
      return (n, e, g) => (truthy(cond(n, e, g)) ? yes(n, e, g) : no(n, e, g));
    }
    case "null": {
      const x = c(a[0]);
      return (n, e, g) => isNull(x(n, e, g));
    }
    case "coalesce": {
      const [x, y] = a.map(c);
      return (n, e, g) => {
        const v = x(n, e, g);
        return isNull(v) ? y(n, e, g) : v;
      };
    }
    case "blank":
    case "filled": {
      const x = c(a[0]);
      return op === "blank" ? (n, e, g) => x(n, e, g) === "" : (n, e, g) => x(n, e, g) !== "";
    }
    case "in": {
      const x = c(a[0]);
      const set = a[1];
      if (!Array.isArray(set) || set[0] !== "set" || !set.slice(1).every((v) => typeof v === "string")) {
        throw new ElementRulesError(`${where}: "in" wants ["set", text, ...] as its second argument`);
      }
      const members = new Set(set.slice(1));
      return (n, e, g) => members.has(x(n, e, g));
    }
    case "starts": {
      const x = c(a[0]);
      const prefixes = a.slice(1).map((p) => literalText(p, "its prefixes"));
      return (n, e, g) => {
        const v = text(x(n, e, g));
        return v !== null && prefixes.some((p) => v.startsWith(p));
      };
    }
    case "some": {
      // whether any element at the path (below the current one) makes the expression true, with it current
      const steps = compilePath(a[0], where);
      const x = c(a[1]);
      return (node, env, group) => steps(node).some((found) => truthy(x(found, env, group)));
    }
    case "some_after": {
      if (!inGroup) throw new ElementRulesError(`${where}: "some_after" outside a group`);
      const x = c(a[0]);
      return (node, env, group) => {
        for (let i = group.index + 1; i < group.items.length; i++) if (truthy(x(group.items[i], env, group))) return true;
        return false;
      };
    }
  }
  throw new ElementRulesError(`${where}: unknown operator ${JSON.stringify(op)}`);
}

// A message {nb, nn}: each a template ("{name}" a visible name) or ["if", cond, m, m], to a function of (node, env,
// group) giving [nb, nn].
function compileMessage(message, names, inGroup, where) {
  const keys = message !== null && typeof message === "object" && !Array.isArray(message) ? Object.keys(message).sort() : [];
  if (keys.join() !== "nb,nn") {
    throw new ElementRulesError(`${where}: a message is {"nb": ..., "nn": ...}`);
  }
  const one = (m) => {
    if (typeof m === "string") {
      // [text, name, text, name, ..., text]; "{{" and "}}" are a literal brace
      const parts = [""];
      const token = /\{\{|\}\}|\{([^{}]*)\}|[{}]/g;
      let last = 0;
      for (const found of m.matchAll(token)) {
        parts[parts.length - 1] += m.slice(last, found.index);
        last = found.index + found[0].length;
        if (found[0] === "{{" || found[0] === "}}") parts[parts.length - 1] += found[0][0];
        else if (found[1] === undefined) throw new ElementRulesError(`${where}: a single ${found[0]} in a message (write it twice)`);
        else if (!names.has(found[1])) throw new ElementRulesError(`${where}: the message names {${found[1]}}, which is not visible there`);
        else parts.push(found[1], "");
      }
      parts[parts.length - 1] += m.slice(last);
      return (node, env) => {
        let out = parts[0];
        for (let i = 1; i < parts.length; i += 2) out += shown(env[parts[i]]) + parts[i + 1];
        return out;
      };
    }
    if (Array.isArray(m) && m[0] === "if" && m.length === 4) {
      const cond = compileExpr(m[1], names, inGroup, where);
      const [yes, no] = [one(m[2]), one(m[3])];
      return (n, e, g) => (truthy(cond(n, e, g)) ? yes(n, e, g) : no(n, e, g));
    }
    throw new ElementRulesError(`${where}: a message is a text or ["if", condition, message, message]`);
  };
  const nb = one(message.nb);
  const nn = one(message.nn);
  return (n, e, g) => [nb(n, e, g), nn(n, e, g)];
}

// EACH: a path, or {"tags": [...]} (the element's subtree, itself included, in document order).
function compileEach(each, where) {
  if (each !== null && typeof each === "object" && !Array.isArray(each)) {
    const tags = each.tags;
    if (Object.keys(each).length !== 1 || !Array.isArray(tags) || !tags.every((t) => typeof t === "string")) {
      throw new ElementRulesError(`${where}: "each" is a path or {"tags": [...]}`);
    }
    if (!tags.length || !tags.every((t) => NAME.test(t))) throw new ElementRulesError(`${where}: "tags" lists element names`);
    const set = new Set(tags);
    return (node) => subtree(node, set, []);
  }
  return compilePath(each, where);
}

// `let` ({name: expr}, in order) to [names, functions]; each name new on its path.
function compileLet(lets, names, inGroup, where) {
  if (lets === undefined) return [names, []];
  if (lets === null || typeof lets !== "object" || Array.isArray(lets)) throw new ElementRulesError(`${where}: "let" is an object`);
  const inner = new Set(names);
  const steps = [];
  for (const [name, expr] of Object.entries(lets)) {
    if (!NAME.test(name)) throw new ElementRulesError(`${where}: ${JSON.stringify(name)} is not a plain name`);
    if (inner.has(name) || BUILTINS.includes(name)) throw new ElementRulesError(`${where}: ${JSON.stringify(name)} is defined twice`);
    const f = compileExpr(expr, inner, inGroup, `${where}, let ${JSON.stringify(name)}`);
    inner.add(name);
    steps.push([name, f]);
  }
  return [inner, steps];
}

// The lets (or defs) of `node` on `env`, each computed the first time it is read (as CPython does: an expression
// has no side effects, but one that would fail, an impossible ["ymd", ...], fails only where it is read), with
// its own element current wherever it is read from (inside some_after too).
const bind = (steps, node, env, group) => {
  for (const [name, f] of steps) {
    Object.defineProperty(env, name, {
      configurable: true,
      get() {
        const value = f(node, env, group);
        Object.defineProperty(env, name, { value, configurable: true });
        return value;
      },
    });
  }
};

// An item at `place` (`15F.controls.json controls[3].controls[1]`, the name its load errors give, with its id).
function compileItem(item, names, inGroup, expand, place, oneControl = false) {
  if (item === null || typeof item !== "object" || Array.isArray(item)) {
    throw new ElementRulesError(`${place}: an item is a control or a group`);
  }
  const where = item.id !== undefined ? `${place} (${item.id})` : place;
  const ex = (e) => expand(e, where);
  const unknown = Object.keys(item).filter((k) => !(item.id !== undefined ? CONTROL_KEYS : GROUP_KEYS).has(k));
  if (unknown.length) throw new ElementRulesError(`${where}: unknown keys ${JSON.stringify(unknown.sort())}`);
  if (item.each !== undefined && item.id !== undefined) {
    // a control with "each": a group of that one control (at the control's own place)
    const { each, ...control } = item;
    return compileItem({ each, controls: [control] }, names, inGroup, expand, place, true);
  }
  if (item.id === undefined) {
    if (item.each === undefined || !Array.isArray(item.controls) || !item.controls.length) {
      throw new ElementRulesError(`${where}: a group has "each" and "controls" (not empty)`);
    }
    const each = compileEach(item.each, where);
    const withNumber = new Set(names).add("number"); // (a nested group's number is its own element's)
    const [inner, steps] = compileLet(
      item.let === undefined ? undefined : Object.fromEntries(Object.entries(item.let).map(([k, v]) => [k, ex(v)])),
      withNumber,
      true,
      where,
    );
    const children = item.controls.map((child, i) =>
      compileItem(child, inner, true, expand, oneControl ? place : `${place}.controls[${i}]`),
    );
    return (node, env, out) => {
      const items = each(node);
      const numbers = new Map();
      const group = { items, index: 0 };
      for (let i = 0; i < items.length; i++) {
        const element = items[i];
        const number = (numbers.get(element.tag) || 0) + 1;
        numbers.set(element.tag, number);
        const scope = Object.create(env);
        scope.number = number;
        group.index = i;
        bind(steps, element, scope, group);
        for (const child of children) child(element, scope, out, group);
      }
    };
  }
  if (typeof item.id !== "string" || !item.id) throw new ElementRulesError(`${place}: a control's id is a text`);
  if (!SEVERITIES.has(item.severity)) throw new ElementRulesError(`${where}: unknown severity ${JSON.stringify(item.severity)}`);
  if (item.field !== null && typeof item.field !== "string") throw new ElementRulesError(`${where}: "field" is a text or null`);
  if (item.when === undefined) throw new ElementRulesError(`${where}: a control has "when"`);
  const [inner, steps] = compileLet(
    item.let === undefined ? undefined : Object.fromEntries(Object.entries(item.let).map(([k, v]) => [k, ex(v)])),
    names,
    inGroup,
    where,
  );
  const when = compileExpr(ex(item.when), inner, inGroup, where);
  const messages = item.message;
  const expandedMessage =
    messages && typeof messages === "object" && !Array.isArray(messages)
      ? Object.fromEntries(Object.entries(messages).map(([lang, m]) => [lang, expandMessage(m, ex)]))
      : messages;
  const message = compileMessage(expandedMessage, inner, inGroup, where);
  const { id, severity, field } = item;
  return (node, env, out, group) => {
    const scope = steps.length ? Object.create(env) : env;
    bind(steps, node, scope, group);
    if (truthy(when(node, scope, group))) {
      const [nb, nn] = message(node, scope, group);
      out.push([id, severity, field, nb, nn]);
    }
  };
}

const expandMessage = (m, ex) => (Array.isArray(m) && m[0] === "if" && m.length === 4 ? ["if", ex(m[1]), expandMessage(m[2], ex), expandMessage(m[3], ex)] : m);

// The table (15F.controls.json, or the export's "element_controls") checked and compiled for reporting year
// `periode` (which the table must list):
// {register, titles, recordControls, headerControls, headerPatterns, ids, run(element, facts)}, where facts is
// {periode, kommunenr, age, fnr, duf} and run gives [[id, severity, field, nb, nn], ...].
export function loadElementRules(table, periode) {
  if (table === null || typeof table !== "object") throw new ElementRulesError("the table is not an object");
  if (!Array.isArray(table.periodes) || !table.periodes.includes(periode)) {
    // (a new year is a decision: docs/profiles.md)
    throw new ElementRulesError(`${table.register}.controls.json does not list the reporting year ${periode} in "periodes"`);
  }
  for (const key of ["titles", "record_controls", "header_controls", "header_patterns", "controls"]) {
    if (!(key in table)) throw new ElementRulesError(`the table has no ${JSON.stringify(key)}`);
  }
  const file = `${table.register}.controls.json`;
  const macros = table.macros || {};
  const expand = expandMacros(macros, file);
  // the defs: named values of the individ, in order, after the built-ins
  const names = new Set(BUILTINS.filter((n) => n !== "number"));
  const defs = [];
  for (const [name, expr] of Object.entries(table.defs || {})) {
    const where = `${file} defs.${name}`;
    if (!NAME.test(name)) throw new ElementRulesError(`${where}: not a plain name`);
    if (names.has(name) || name === "number") throw new ElementRulesError(`${where}: ${JSON.stringify(name)} is defined twice`);
    const f = compileExpr(expand(expr, where), names, false, where);
    names.add(name);
    defs.push([name, f]);
  }
  if (!Array.isArray(table.controls)) throw new ElementRulesError('"controls" is a list');
  const items = table.controls.map((item, i) => compileItem(item, names, false, expand, `${file} controls[${i}]`));
  const ids = new Set();
  const collect = (list) => {
    for (const item of list) {
      if (item.id !== undefined) ids.add(item.id);
      if (Array.isArray(item.controls)) collect(item.controls);
    }
  };
  collect(table.controls);
  function run(element, facts) {
    const env = {
      $year: facts.periode,
      age: facts.age ?? null,
      fnr: facts.fnr,
      duf: facts.duf,
      kommunenr: facts.kommunenr,
    };
    const group = null;
    bind(defs, element, env, group);
    const out = [];
    for (const item of items) item(element, env, out, group);
    return out;
  }
  return {
    register: table.register,
    titles: table.titles,
    recordControls: table.record_controls,
    headerControls: table.header_controls,
    headerPatterns: table.header_patterns,
    ids,
    run,
  };
}
